"""Exports checked against the field lists of Logboek Dataverwerkingen 1.0 and Authorization
Decision Log 1.0 (../shared/standards/README.md)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from gateway.cli import app
from gateway.testing import TEST_AUDITOR_PASSPHRASE, demo_bsn, make_test_gateway

ENV = {"GATEWAY_AUDITOR_PASSPHRASE": TEST_AUDITOR_PASSPHRASE.decode()}
TRACE, PARENT = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
HEX32, HEX16 = re.compile(r"^[0-9a-f]{32}$"), re.compile(r"^[0-9a-f]{16}$")


def exported(home: Path, fmt: str) -> list[str]:
    r = CliRunner().invoke(app, ["audit", "export", "--format", fmt, "--home", str(home)], env=ENV)
    assert r.exit_code == 0, r.output
    return r.stdout.splitlines()


def test_ldv_adl_jsonl_and_csv(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    headers = {**gw.auth("zaanstad-regie"), "traceparent": f"00-{TRACE}-{PARENT}-01"}
    ok = gw.client.post(
        "/v1/disclosures",
        json={"case_id": gw.case_ids["pga"], "bsn": demo_bsn("pga.veelpleger")},
        headers=headers,
    )
    denied = gw.client.post(
        "/v1/disclosures",
        json={"case_id": gw.case_ids["afgesloten"], "bsn": demo_bsn("mda.moeder")},
        headers=gw.auth("zaanstad-regie"),
    )
    assert (ok.status_code, denied.status_code) == (200, 403)
    gw.close()

    ldv = [json.loads(line) for line in exported(tmp_path, "ldv")]
    fetch = [r for r in ldv if r["trace_id"] == TRACE]
    assert len(fetch) == 1
    for record in ldv:
        assert HEX32.match(record["trace_id"]) and HEX16.match(record["span_id"])
        assert record["name"] and record["status"] in ("Unset", "Ok", "Error")
        assert isinstance(record["start_time"], int) and record["end_time"] >= record["start_time"]
        assert record["attributes"]["dpl.core.processing_activity_id"].startswith("https://")
    linked = [r for r in ldv if "dpl.core.data_subject_id" in r["attributes"]]
    assert linked and all(
        r["attributes"]["dpl.core.data_subject_id_type"].startswith("BSN") for r in linked
    )
    assert (
        fetch[0]["parent_span_id"] == PARENT
        and fetch[0]["span_id"] == ok.headers["traceparent"].split("-")[2]
    )
    text = "\n".join(exported(tmp_path, "ldv"))
    assert "zs-u-0001" not in text and "zaanstad-regie" not in text  # no user in LDV
    assert demo_bsn("pga.veelpleger") not in text

    adl = [json.loads(line) for line in exported(tmp_path, "adl")]
    assert len(adl) == 2  # one per call to the decision engine
    for record in adl:
        assert HEX32.match(record["trace_id"]) and HEX16.match(record["span_id"])
        assert record["event_name"] == "adl.access_evaluation"
        assert isinstance(record["timestamp"], int)
        assert record["status"] == "Ok"  # a denial is not an error
        attributes = record["attributes"]
        for name in ("request", "response", "policies", "information", "configuration"):
            assert f"adl.core.{name}" in attributes
    mine = next(r for r in adl if r["trace_id"] == TRACE)
    assert mine["parent_span_id"] == PARENT
    assert mine["attributes"]["adl.core.request"]["context"]["case"]["stage"] == "plan"
    assert exported(tmp_path, "adl") == exported(tmp_path, "adl")  # idempotent

    rows = list(csv.DictReader(io.StringIO("\n".join(exported(tmp_path, "csv")))))
    assert rows[-1]["outcome"] == "deny" and rows[-1]["action"] == "disclosure.decision"
    jsonl = [json.loads(line) for line in exported(tmp_path, "jsonl")]
    assert len(jsonl) == len(rows) and all("body" in e for e in jsonl)
