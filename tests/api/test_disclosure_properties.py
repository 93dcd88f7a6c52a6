"""Properties that must hold for *any* request (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.catalog import Catalog
from gateway.demo.region import region
from gateway.policy.bundle import load_policy_set
from gateway.settings import bundled_policy_dir
from gateway.testing import TestGateway

CATALOG_SOURCES = [
    "gemeente.brp",
    "gemeente.wijkteam",
    "politie.incidenten",
    "om.strafzaken",
    "reclassering.toezicht",
    "veilig_thuis.meldingen",
    "rvdk.onderzoeken",
    "ggz.behandeling",
    "woningcorporatie.huur",
]
CATALOG = Catalog(load_policy_set(bundled_policy_dir()).catalog)
CASE_KEYS = ["mda", "wvggz", "pga", "zvh", "huisverbod", "afgesloten", "case-onbekend0"]


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """Well-formed requests (malformed ones are 400 before any decision: tests/api)."""
    sources = draw(
        st.none() | st.lists(st.sampled_from(CATALOG_SOURCES), min_size=1, max_size=4, unique=True)
    )
    fields = None
    if draw(st.booleans()):
        chosen = draw(
            st.lists(st.sampled_from(sources or CATALOG_SOURCES), max_size=3, unique=True)
        )
        fields = {
            s: draw(st.lists(st.sampled_from(sorted(CATALOG.fields(s))), max_size=3, unique=True))
            for s in chosen
        }
    return {
        "client": draw(st.sampled_from(list(region().clients))),
        "case": draw(st.sampled_from(CASE_KEYS)),
        "person": draw(st.sampled_from([p.bsn for p in region().persons.values()])),
        "sources": sources,
        "fields": fields,
        "urgency": draw(st.sampled_from(["regulier", "spoed"])),
        "justification": draw(st.none() | st.sampled_from(["", "Acute dreiging voor kinderen"])),
    }


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(req=requests())
def test_response_never_exceeds_the_decision_and_is_always_ledgered(
    shared_gw: TestGateway, req: dict[str, Any]
) -> None:
    gw = shared_gw
    body: dict[str, Any] = {
        "case_id": gw.case_ids.get(req["case"], req["case"]),
        "bsn": req["person"],
        "urgency": req["urgency"],
    }
    for key in ("sources", "fields", "justification"):
        if req[key] is not None:
            body[key] = req[key]
    before = gw.gateway.store.count()
    r = gw.client.post("/v1/disclosures", json=body, headers=gw.auth(req["client"]))

    # Every decided response has a decision entry, whose hash is the receipt; a response with
    # data also has the fetch entry after it, linked to the decision.
    assert r.status_code in (200, 403)
    added = list(gw.gateway.store.entries())[before:]
    decision = added[0]
    assert decision.facts.action == "disclosure.decision"
    assert r.json()["receipt"]["entry_hash"] == decision.entry_hash
    if r.status_code == 403:
        assert len(added) == 1 and decision.facts.outcome == "deny"
        assert all(not s["fields"] for s in r.json()["sources"])
        return
    assert len(added) == 2 and added[1].facts.action == "disclosure.fetch"
    fetched = gw.ledgered(added[1].entry_hash)
    assert fetched["decision_entry"] == decision.entry_hash
    assert {f["source"]: f["status"] for f in fetched["sources"]} == {
        s["source"]: s["status"] for s in r.json()["sources"]
    }

    # The auditor's view of the decision: what it granted, per source.
    ledgered = gw.ledgered(decision.entry_hash)
    granted = {d["source"]: d["fields"] for d in ledgered["decisions"]}

    catalog = gw.gateway.catalog
    for src in r.json()["sources"]:
        specs = catalog.fields(src["source"])
        for name, released in src["fields"].items():
            # Never a field the decision did not grant, never a geheim or unknown field.
            assert name in specs and specs[name].sensitivity != "geheim"
            assert granted[src["source"]][name]["transform"] == released["transform"]
            assert src["status"] == "released"
            assert name not in src["withheld"]
            assert released["legal_basis"]
            if req["fields"] and req["fields"].get(src["source"]):
                assert name in req["fields"][src["source"]]
        if src["status"] != "released":
            assert src["fields"] == {}
    if req["urgency"] != "spoed" or not req["justification"]:
        assert all(not f["break_glass"] for s in r.json()["sources"] for f in s["fields"].values())
