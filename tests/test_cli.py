from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway import errors
from gateway.cli import app
from gateway.demo.region import region
from gateway.settings import bundled_policy_dir
from gateway.testing import make_test_gateway

runner = CliRunner()


def test_help_explains_every_command() -> None:
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for command in ("demo", "serve", "token", "keys", "policy", "ledger", "openapi"):
        assert command in r.output


@pytest.mark.parametrize(
    "command", [["demo"], ["serve"], ["ledger", "verify"], ["policy", "test"], ["openapi"]]
)
def test_help_shows_the_defaults(command: list[str]) -> None:
    r = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert r.exit_code == 0
    assert "[default:" in r.output
    assert "--home" in r.output and "current directory" in " ".join(r.output.split())


def test_every_error_class_has_its_own_exit_code() -> None:
    def tree(cls: type[errors.GatewayError]) -> list[type[errors.GatewayError]]:
        return [cls] + [c for sub in cls.__subclasses__() for c in tree(sub)]

    classes = tree(errors.GatewayError)
    codes = [c.exit_code for c in classes]
    assert len(classes) >= 19 and len(set(codes)) == len(codes)
    assert errors.UNEXPECTED_EXIT not in codes and 2 not in codes  # bugs and usage errors
    documented = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    for cls in classes:
        assert f"| `{cls.__name__}` | {cls.exit_code} |" in documented, cls.__name__


AUDITOR_ENV = {"GATEWAY_AUDITOR_PASSPHRASE": "the auditor's passphrase"}


def test_keys_init_then_refuses_to_overwrite(tmp_path: Path) -> None:
    home = ["--home", str(tmp_path)]
    # The auditor's key must be encrypted with the auditor's own passphrase.
    assert runner.invoke(app, ["keys", "init", *home]).exit_code == 78
    assert runner.invoke(app, ["keys", "init", *home], env=AUDITOR_ENV).exit_code == 0
    assert (tmp_path / "keys" / "auditor.pub").exists()
    assert not (tmp_path / "keys" / "auditor.key").exists()
    assert (tmp_path / "auditor" / "auditor.key").exists()
    again = runner.invoke(app, ["keys", "init", *home], env=AUDITOR_ENV)
    assert again.exit_code == 72  # Conflict


def test_demo_seed_token_and_verify(tmp_path: Path) -> None:
    r = runner.invoke(app, ["demo", "--home", str(tmp_path), "--no-serve"])
    assert r.exit_code == 0, r.output
    assert "zaanstad-regie" in r.output and "/v1/disclosures" in r.output
    # A newcomer can try every case: each person with test BSN and cases, each case with
    # who may ask which sources.
    for person in region().persons.values():
        assert person.bsn in r.output and person.label in r.output
    assert "politie-wijkagent" in r.output and "closed: every request is denied" in r.output
    # Operator-blind even in a demo: the auditor key is not among the server's keys, and the
    # published demo passphrase is called out.
    assert not (tmp_path / "keys" / "auditor.key").exists() and "DEMO ONLY" in r.output
    listed = runner.invoke(app, ["token", "--list", "--home", str(tmp_path)])
    assert "politie-wijkagent" in listed.output
    token = runner.invoke(app, ["token", "politie-wijkagent", "--home", str(tmp_path)])
    assert token.exit_code == 0 and token.stdout.count(".") == 2
    assert runner.invoke(app, ["token", "nobody", "--home", str(tmp_path)]).exit_code == 71
    # Seeding is processing too: the policy's activation, then creating the cases, linking the
    # people and moving the stages are ledgered.
    verify = runner.invoke(app, ["ledger", "verify", "--home", str(tmp_path)])
    assert verify.exit_code == 0 and "ledger intact: 32 entries" in verify.output


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
    with sqlite3.connect(tmp_path / "var" / "gateway.db") as db:
        db.execute("UPDATE ledger_entry SET purpose='persoonsgerichte_aanpak' WHERE seq=2")
        db.execute("UPDATE ledger_entry SET review=2 WHERE seq=3")
    r = runner.invoke(app, ["ledger", "verify", "--home", str(tmp_path)])
    assert r.exit_code == 1 and "entry 3" in r.output and "public column" in r.output


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


def test_verify_tells_tampered_unreachable_and_unreadable_apart(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    gw.close()
    missing = tmp_path / "var" / "no-such.db"
    r = runner.invoke(
        app, ["ledger", "verify", "--home", str(tmp_path), "--database-url", f"sqlite:///{missing}"]
    )
    assert r.exit_code == 74 and not missing.exists()  # unreachable, and nothing created
    garbage = tmp_path / "garbage.pub"
    garbage.write_bytes(b"\x00not a key")
    r = runner.invoke(
        app, ["ledger", "verify", "--home", str(tmp_path), "--public-key", str(garbage)]
    )
    assert r.exit_code == 76 and "Traceback" not in r.output  # unreadable key, clearly
    assert "garbage.pub" in r.output
    # An auditor's copy of the key may have any name.
    copy = tmp_path / "ledger-2026.pub"
    shutil.copy(tmp_path / "keys" / "ledger-signing.pub", copy)
    r = runner.invoke(
        app, ["ledger", "verify", "--new", "--home", str(tmp_path), "--public-key", str(copy)]
    )
    assert r.exit_code == 0, r.output


def test_a_garbage_key_file_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    assert (
        runner.invoke(app, ["keys", "init", "--home", str(tmp_path)], env=AUDITOR_ENV).exit_code
        == 0
    )
    (tmp_path / "keys" / "pseudonym.key").write_bytes(b"garbage")
    r = runner.invoke(app, ["token", "--list", "--home", str(tmp_path)])
    assert r.exit_code == 76
    assert "pseudonym.key" in r.output and "Traceback" not in r.output


def test_the_openapi_command_prints_the_served_document(tmp_path: Path) -> None:
    r = runner.invoke(
        app, ["openapi", "--home", str(tmp_path), "--public-url", "https://gw.example"]
    )
    assert r.exit_code == 0
    doc = json.loads(r.output)
    assert doc["servers"] == [{"url": "https://gw.example/v1", "description": "This gateway"}]


def test_checkpoint_verify_against_and_prove(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    hashes = []
    for _ in range(3):
        r = gw.client.post(
            "/v1/disclosures",
            headers=gw.auth("zaanstad-regie"),
            json={"case_id": gw.case_ids["pga"], "bsn": "999990056"},
        )
        hashes.append(r.json()["receipt"]["entry_hash"])
    gw.close()
    size = gw.seeded + 6  # each disclosure: its decision and its fetch
    home = ["--home", str(tmp_path)]
    made = runner.invoke(app, ["ledger", "checkpoint", *home])
    assert made.exit_code == 0 and f"{size} entries" in made.output
    checkpoint = next((tmp_path / "checkpoints").glob("checkpoint-*.json"))
    assert runner.invoke(app, ["ledger", "checkpoint", *home]).output.startswith("no new")
    ok = runner.invoke(app, ["ledger", "verify", *home, "--against", str(checkpoint)])
    assert ok.exit_code == 0 and f"still holds its {size} entries" in ok.output
    proved = runner.invoke(app, ["ledger", "prove", hashes[1], *home, "--against", str(checkpoint)])
    assert proved.exit_code == 0
    proof = json.loads(proved.output)
    assert (proof["index"], proof["size"]) == (gw.seeded + 2, size) and proof["proof"]
    unknown = runner.invoke(
        app, ["ledger", "prove", "ab" * 32, *home, "--against", str(checkpoint)]
    )
    assert unknown.exit_code == 71
    # Wiping the ledger: the chain alone still "verifies", the checkpoint does not.
    with sqlite3.connect(tmp_path / "var" / "gateway.db") as db:
        db.execute("DELETE FROM ledger_entry")
        db.execute("DELETE FROM ledger_head")
    empty = runner.invoke(app, ["ledger", "verify", *home])
    assert empty.exit_code == 1 and "--new" in empty.output  # new, or emptied?
    assert runner.invoke(app, ["ledger", "verify", "--new", *home]).exit_code == 0
    wiped = runner.invoke(app, ["ledger", "verify", *home, "--against", str(checkpoint)])
    assert wiped.exit_code == 1 and "older copy" in wiped.output
    # And the server will not start on it.
    assert runner.invoke(app, ["token", "--list", *home]).exit_code == 1
