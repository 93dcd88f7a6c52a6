from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from gateway.cli import app
from gateway.settings import bundled_policy_dir
from gateway.testing import make_test_gateway

runner = CliRunner()


def test_help_explains_every_command() -> None:
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for command in ("demo", "serve", "token", "keys", "policy", "ledger"):
        assert command in r.output


def test_keys_init_then_refuses_to_overwrite(tmp_path: Path) -> None:
    assert runner.invoke(app, ["keys", "init", "--home", str(tmp_path)]).exit_code == 0
    assert (tmp_path / "keys" / "auditor.pub").exists()
    again = runner.invoke(app, ["keys", "init", "--home", str(tmp_path)])
    assert again.exit_code == 72  # Conflict


def test_demo_seed_token_and_verify(tmp_path: Path) -> None:
    r = runner.invoke(app, ["demo", "--home", str(tmp_path), "--no-serve"])
    assert r.exit_code == 0, r.output
    assert "zaanstad-regie" in r.output and "/v1/disclosures" in r.output
    listed = runner.invoke(app, ["token", "--list", "--home", str(tmp_path)])
    assert "politie-wijkagent" in listed.output
    token = runner.invoke(app, ["token", "politie-wijkagent", "--home", str(tmp_path)])
    assert token.exit_code == 0 and token.output.count(".") == 2
    assert runner.invoke(app, ["token", "nobody", "--home", str(tmp_path)]).exit_code == 71
    verify = runner.invoke(app, ["ledger", "verify", "--home", str(tmp_path)])
    assert verify.exit_code == 0 and "ledger intact: 0 entries" in verify.output


def test_ledger_verify_names_the_first_bad_entry(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    for _ in range(3):
        gw.client.post(
            "/v1/disclosures",
            headers=gw.auth("zaanstad-regie"),
            json={"case_id": gw.case_ids["pga"], "bsn": "999990056"},
        )
    assert runner.invoke(app, ["ledger", "verify", "--home", str(tmp_path)]).exit_code == 0
    with sqlite3.connect(tmp_path / "var" / "gateway.db") as db:
        db.execute("UPDATE ledger_entry SET purpose='huisverbod' WHERE seq=2")
    r = runner.invoke(app, ["ledger", "verify", "--home", str(tmp_path)])
    assert r.exit_code == 1
    assert "entry 2" in r.output


def test_policy_test_exit_codes(tmp_path: Path) -> None:
    assert runner.invoke(app, ["policy", "test"]).exit_code == 0
    broken = tmp_path / "policies"
    shutil.copytree(bundled_policy_dir(), broken)
    rego = broken / "sharing.rego"
    rego.write_text(rego.read_text().replace('"geheim"} if', '"nooit"} if'))
    r = runner.invoke(app, ["policy", "test", "--policy-dir", str(broken)])
    assert r.exit_code == 1
    assert "FAIL" in r.output


def test_serve_without_keys_fails_clearly(tmp_path: Path) -> None:
    r = runner.invoke(app, ["serve", "--home", str(tmp_path)])
    assert r.exit_code == 76  # KeyUnavailable
    assert "gateway keys init" in r.output
