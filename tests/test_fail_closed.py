"""Engine error, timeout, malformed result, ledger unavailable, connector error: no data."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from connectors.memory import InMemoryConnector
from gateway.catalog import Catalog
from gateway.ledger.stores import MemoryStore
from gateway.policy.bundle import load_policy_set
from gateway.policy.decision import parse_decision
from gateway.policy.engine import EngineError
from gateway.settings import bundled_policy_dir
from gateway.testing import demo_bsn, make_test_gateway, memory_connectors
from gateway.typing import SourceId


class BrokenEngine:
    """A policy engine fake that fails in a chosen way."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    @property
    def version(self) -> str:
        return "sha256:broken"

    def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
        if self.mode == "error":
            raise EngineError("boom")
        if self.mode == "crash":
            raise KeyError("an engine bug")
        if self.mode == "slow":
            time.sleep(0.5)
            return None
        if self.mode == "undefined":
            return None
        if self.mode == "lying":
            # Grants a geheim field and claims another source: must never be released.
            return {
                "allow": True,
                "source": "politie.incidenten",
                "reasons": [],
                "obligations": [],
                "withheld": {},
                "fields": {"processen_verbaal": {"transform": "plain", "basis": "x"}},
            }
        return {"allow": "yes"}


def request(gw: Any, **extra: Any) -> Any:
    body = {"case_id": gw.case_ids["mda"], "bsn": demo_bsn("mda.ex_partner"), **extra}
    return gw.client.post("/v1/disclosures", json=body, headers=gw.auth("zaanstad-regie"))


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("error", "engine_error"),
        ("crash", "engine_error"),
        ("undefined", "policy_undefined"),
        ("garbage", "malformed_decision"),
        ("lying", "malformed_decision"),
    ],
)
def test_engine_failures_deny_and_are_ledgered(tmp_path: Path, mode: str, reason: str) -> None:
    gw = make_test_gateway(tmp_path, engine=BrokenEngine(mode))
    r = request(gw, sources=["gemeente.brp"])
    assert r.status_code == 403
    assert [(s["source"], s["reasons"]) for s in r.json()["sources"]] == [
        ("gemeente.brp", [reason])
    ]
    [entry] = gw.new_entries()
    assert entry.facts.outcome == "deny" and entry.facts.action == "disclosure.decision"


def test_engine_timeout_denies(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path, engine=BrokenEngine("slow"))
    gw.gateway.disclosures.policy_timeout = 0.05
    r = request(gw, sources=["gemeente.brp"])
    assert r.status_code == 403
    assert r.json()["sources"][0]["reasons"] == ["engine_timeout"]


def test_safety_net_drops_geheim_even_if_a_decision_grants_it(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    forged = parse_decision(
        {
            "allow": True,
            "source": "politie.incidenten",
            "reasons": [],
            "obligations": [],
            "withheld": {},
            "fields": {
                "processen_verbaal": {"transform": "plain", "basis": "wpg_20"},
                "wapens": {"transform": "exists", "basis": "wpg_20"},
            },
        },
        SourceId("politie.incidenten"),
    )
    decision = gw.gateway.disclosures._safety_net(gw.gateway.active.current, forged)
    assert set(decision.fields) == {"wapens"}
    assert decision.withheld["processen_verbaal"] == "not_releasable"


@pytest.mark.parametrize("failure", ["unreachable", "appends fail", "file replaced"])
def test_ledger_unavailable_releases_nothing(tmp_path: Path, failure: str) -> None:
    store = MemoryStore()
    gw = make_test_gateway(tmp_path, store=store)
    fetched = gw.connectors["gemeente.brp"]
    if failure == "unreachable":
        store.broken = "the database server does not answer"
    elif failure == "appends fail":
        store.fail_appends = True  # e.g. a full disk
    else:
        store.replaced = True
    r = request(gw)
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert "ledger" in r.json()["title"].lower()
    assert "Proefweg" not in r.text
    assert isinstance(fetched, InMemoryConnector) and fetched.projections == []


def test_connector_failure_is_per_source_and_never_widens(tmp_path: Path) -> None:
    catalog = Catalog(load_policy_set(bundled_policy_dir()).catalog)
    connectors = memory_connectors(catalog)
    connectors["politie.incidenten"].fail = True
    connectors["om.strafzaken"].delay_seconds = 0.3
    gw = make_test_gateway(tmp_path, connectors=connectors)
    gw.gateway.disclosures.connector_timeout = 0.1
    r = request(gw)
    assert r.status_code == 200
    by_source = {s["source"]: s for s in r.json()["sources"]}
    assert by_source["politie.incidenten"]["status"] == "error"
    assert by_source["politie.incidenten"]["fields"] == {}
    assert by_source["om.strafzaken"]["status"] == "error"
    assert "in time" in by_source["om.strafzaken"]["error"]
    assert by_source["gemeente.brp"]["status"] == "released"


def test_missing_connector_is_an_error_not_a_release(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path, connectors={})
    r = request(gw, sources=["gemeente.brp"])
    assert r.json()["sources"][0]["status"] == "error"
    assert r.json()["sources"][0]["fields"] == {}


def test_connectors_are_asked_only_for_granted_fields(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    request(gw, sources=["politie.incidenten"])
    brp = gw.connectors["politie.incidenten"]
    assert isinstance(brp, InMemoryConnector)
    assert brp.projections == [
        ("aantal_incidenten_12m", "incidentsoorten", "laatste_incident", "risicotaxatie", "wapens")
    ]


def test_unexpected_errors_are_bare_problems(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    gw.gateway.cases.context = None  # type: ignore[assignment,method-assign]  # break the registry
    r = request(gw)
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in r.text and "NoneType" not in r.text
