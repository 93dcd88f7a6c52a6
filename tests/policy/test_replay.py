"""`gateway policy replay`: the ledger's past requests under a candidate policy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from gateway.cli import app
from gateway.settings import bundled_policy_dir
from gateway.testing import TEST_AUDITOR_PASSPHRASE, demo_bsn, make_test_gateway

VT_ROW = "gemeente.brp: {naam: plain, geboortedatum: age, adres: plain, huishouden: count}"


def test_a_candidate_that_removes_one_field_from_one_role_reports_exactly_those_requests(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    gw = make_test_gateway(home)
    asked = [
        ("veiligthuis", "mda", "mda.ex_partner"),
        ("veiligthuis", "mda", "mda.ex_partner"),
        ("politie-wijkagent", "mda", "mda.ex_partner"),
        ("zaanstad-regie", "pga", "pga.veelpleger"),
        ("om-officier", "pga", "pga.veelpleger"),
    ]
    affected = []
    for client, case, person in asked:
        r = gw.client.post(
            "/v1/disclosures",
            json={"case_id": gw.case_ids[case], "bsn": demo_bsn(person)},
            headers=gw.auth(client),
        )
        assert r.status_code == 200
        brp = next(s for s in r.json()["sources"] if s["source"] == "gemeente.brp")
        if client == "veiligthuis":
            assert "huishouden" in brp["fields"]  # what the change takes away
            affected.append(r.json()["receipt"]["entry_hash"])
    gw.close()

    candidate = tmp_path / "candidate"
    shutil.copytree(bundled_policy_dir(), candidate)
    necessity = candidate / "catalog" / "necessity.yaml"
    text = necessity.read_text()
    # The first such row is Veilig Thuis's in MDA++ case meetings (plan reuses it).
    under_vt = "veilig_thuis_medewerker:\n        " + VT_ROW
    assert text.index(under_vt) + len(under_vt) - len(VT_ROW) == text.index(VT_ROW)
    assert text.index(VT_ROW) < text.index("wvggz_verkennend_onderzoek:")  # in MDA++
    necessity.write_text(text.replace(VT_ROW, VT_ROW.replace(", huishouden: count", ""), 1))

    result = CliRunner().invoke(
        app,
        [
            *("policy", "replay", "--candidate", str(candidate)),
            *("--format", "json", "--home", str(home)),
        ],
        env={"GATEWAY_AUDITOR_PASSPHRASE": TEST_AUDITOR_PASSPHRASE.decode()},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["requests_replayed"] == len(asked)
    assert report["requests_changed"] == len(affected)
    assert sorted(c["entry_hash"] for c in report["changes"]) == sorted(affected)
    for change in report["changes"]:
        assert change["source"] == "gemeente.brp" and change["kind"] == "fields_changed"
        assert change["lost"] == {"huishouden": "count"} and change["gained"] == {}
        assert change["role"] == "veilig_thuis_medewerker"
    [group] = report["per_purpose_and_organisation"]
    assert group["purpose"] == "mda_plus_plus" and group["decisions"] == len(affected)


def test_the_policy_in_force_replays_without_a_change(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    gw.client.post(
        "/v1/disclosures",
        json={"case_id": gw.case_ids["mda"], "bsn": demo_bsn("mda.ex_partner")},
        headers=gw.auth("veiligthuis"),
    )
    gw.close()
    env = {"GATEWAY_AUDITOR_PASSPHRASE": TEST_AUDITOR_PASSPHRASE.decode()}
    for fmt in ("text", "html"):
        result = CliRunner().invoke(
            app,
            [
                *("policy", "replay", "--candidate", str(bundled_policy_dir())),
                *("--format", fmt, "--home", str(tmp_path)),
            ],
            env=env,
        )
        assert result.exit_code == 0, result.output
        assert ("changed   0 requests" if fmt == "text" else "0 would change") in result.stdout
