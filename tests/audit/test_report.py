"""The auditor's tools on a demo ledger: the art. 15 report lists exactly the disclosures made
about one person; queries find entries without decrypting the rest; anomalies point at
break-glass and requests on closed cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from gateway.cli import app
from gateway.testing import TEST_AUDITOR_PASSPHRASE, TestGateway, demo_bsn, make_test_gateway

ENV = {"GATEWAY_AUDITOR_PASSPHRASE": TEST_AUDITOR_PASSPHRASE.decode()}
runner = CliRunner()


def ask(gw: TestGateway, client: str, case: str, person: str, **extra: Any) -> Any:
    return gw.client.post(
        "/v1/disclosures",
        json={"case_id": gw.case_ids[case], "bsn": demo_bsn(person), **extra},
        headers=gw.auth(client),
    )


def test_the_art_15_report_lists_exactly_the_persons_disclosures(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    overview = ask(gw, "zaanstad-regie", "mda", "mda.ex_partner")
    police = ask(gw, "politie-wijkagent", "mda", "mda.ex_partner", sources=["om.strafzaken"])
    refused = ask(gw, "purmerend-regie", "mda", "mda.ex_partner")
    other = ask(gw, "zaanstad-regie", "mda", "mda.moeder")
    assert [r.status_code for r in (overview, police, refused, other)] == [200, 200, 403, 200]
    gw.close()

    html = tmp_path / "report.html"
    r = runner.invoke(
        app,
        ["audit", "report", "--home", str(tmp_path), "--html", str(html)],
        input=demo_bsn("mda.ex_partner") + "\n",
        env=ENV,
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert [d["ledger_entry"] for d in report["disclosures"]] == [
        overview.json()["receipt"]["entry_hash"],
        police.json()["receipt"]["entry_hash"],
    ]
    assert report["refused_requests"] == 1
    first = report["disclosures"][0]
    assert first["recipient"]["organisation"] == "Gemeente Zaanstad"
    assert first["data"]["politie.incidenten"]["wapens"] == {
        "transform": "exists",
        "legal_basis": "wpg_20",
    }
    assert demo_bsn("mda.ex_partner") not in r.output
    page = html.read_text()
    assert "Politie Zaanstreek-Waterland" in page and demo_bsn("mda.ex_partner") not in page


def test_queries_and_anomalies(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    ask(gw, "zaanstad-regie", "pga", "pga.veelpleger")
    ask(gw, "zaanstad-regie", "afgesloten", "mda.moeder")  # a closed case: denied
    glass = ask(
        gw,
        "zaanstad-meldpunt",
        "wvggz",
        "wvggz.man",
        sources=["ggz.behandeling"],
        urgency="spoed",
        justification="Acute crisis; contact needed now",
    )
    assert glass.json()["review_required"] is True
    gw.close()
    home = ["--home", str(tmp_path)]

    r = runner.invoke(app, ["audit", "entries", *home, "--case", gw.case_ids["pga"]], env=ENV)
    lines = [json.loads(line) for line in r.output.splitlines()]
    # Everything done with the case is there: its creation, the person linked, each stage,
    # then the disclosure's decision and its fetch.
    assert r.exit_code == 0 and [e["action"] for e in lines] == [
        "case.create",
        "case.link",
        "case.stage",
        "case.stage",
        "case.stage",
        "disclosure.decision",
        "disclosure.fetch",
    ]
    assert "body" not in lines[0]
    decisions = ["--action", "disclosure.decision"]
    r = runner.invoke(
        app,
        ["audit", "entries", *home, "--bsn", "--open", *decisions],
        input="999990044\n",
        env=ENV,
    )
    opened = [json.loads(line) for line in r.output.splitlines()]
    assert len(opened) == 1 and opened[0]["body"]["request"]["urgency"] == "spoed"

    r = runner.invoke(app, ["audit", "anomalies", *home], env=ENV)
    found = json.loads(r.stdout)
    assert [e["case"] for e in found["break_glass_to_review"]] == [gw.case_ids["wvggz"]]
    assert len(found["requests_on_closed_cases"]) == 1
    assert found["denials_per_organisation"] == {"00000099000000000001": 1}


def test_the_auditor_tools_need_the_auditors_passphrase(tmp_path: Path) -> None:
    make_test_gateway(tmp_path).close()
    r = runner.invoke(
        app,
        ["audit", "anomalies", "--home", str(tmp_path)],
        env={"GATEWAY_AUDITOR_PASSPHRASE": "not the auditor's"},
    )
    assert r.exit_code == 76 and "auditor.key" in r.output


def test_the_art_15_report_includes_the_signals_about_the_person(tmp_path: Path) -> None:
    from gateway.testing import synthetic_bsn

    gw = make_test_gateway(tmp_path)
    bsn, other = synthetic_bsn(31), synthetic_bsn(32)

    def signal(client: str, person: str, area: str) -> Any:
        body = {"bsn": person, "area": area, "contact": {"name": "Team"}}
        return gw.client.post("/v1/signals", json=body, headers=gw.auth(client))

    woco = signal("woco-consulent", bsn, "schulden").json()["signal"]["signal_id"]
    signal("zaanstad-regie", bsn, "overlast")
    assert signal("woco-consulent", bsn, "psychische_gezondheid").status_code == 403
    signal("politie-wijkagent", other, "overlast")  # another person: not in the report
    gw.client.delete(f"/v1/signals/{woco}", headers=gw.auth("woco-consulent"))
    gw.close()

    r = runner.invoke(app, ["audit", "report", "--home", str(tmp_path)], input=bsn + "\n", env=ENV)
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    signals = {s["organisation"]["name"]: s for s in report["signals"]}
    assert set(signals) == {"Woningcorporatie Parteon", "Gemeente Zaanstad"}
    assert signals["Woningcorporatie Parteon"]["area"] == "schulden"
    assert [e["event"] for e in signals["Woningcorporatie Parteon"]["events"]] == ["withdraw"]
    assert "vroegsignalering" in signals["Woningcorporatie Parteon"]["legal_basis"]
    (match,) = report["signal_matches"]
    assert {o["name"] for o in match["organisations"]} == set(signals)
    assert report["refused_signals"] == 1
    assert bsn not in r.output
