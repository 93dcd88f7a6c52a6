"""The disclosure core on its own (no HTTP): bounds, outsiders, and isolation of slow parts."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connectors.memory import AsyncInMemoryConnector, InMemoryConnector
from gateway.bsn import Bsn
from gateway.demo.region import region
from gateway.disclosure import NO_SOURCE, DisclosureRequest, DisclosureResult
from gateway.errors import DisclosureDenied, InvalidRequest
from gateway.lanes import Lane
from gateway.policy.engine import PolicyEngine
from gateway.testing import InstrumentedEngine, TestGateway, make_test_gateway, memory_connectors
from gateway.typing import FieldName, SourceId


def ask(gw: TestGateway, client: str, case: str, person: str, **extra: Any) -> DisclosureResult:
    """Run one disclosure through the core, as the HTTP layer would."""
    demo = region()
    request = DisclosureRequest(
        case_id=gw.case_ids.get(case, case), bsn=Bsn(demo.persons[person].bsn), **extra
    )
    ctx, subject = gw.gateway.cases.context(request.case_id, request.bsn)
    principal = demo.clients[client].principal()
    return asyncio.run(gw.gateway.disclosures.disclose(principal, request, ctx, subject))


def instrumented(tmp_path: Path, **kwargs: Any) -> tuple[TestGateway, InstrumentedEngine]:
    box: list[InstrumentedEngine] = []

    def wrap(inner: PolicyEngine) -> PolicyEngine:
        box.append(InstrumentedEngine(inner, **kwargs))
        return box[0]

    return make_test_gateway(tmp_path, engine=wrap), box[0]


# -- bounds, before any policy work --------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "location"),
    [
        ({"sources": (SourceId("gemeente.brp"), SourceId("gemeente.brp"))}, "/sources"),
        (
            {
                "sources": (SourceId("gemeente.brp"),),
                "fields": {SourceId("politie.incidenten"): (FieldName("wapens"),)},
            },
            "/fields/politie.incidenten",
        ),
        ({"fields": {SourceId("gemeente.brp"): (FieldName("naam"),) * 2}}, "/fields/gemeente.brp"),
        (
            {"fields": {SourceId("gemeente.brp"): tuple(FieldName(f"f{i}") for i in range(6))}},
            "/fields/gemeente.brp",
        ),
        ({"fields": {SourceId("geen.bron"): (FieldName("x"),)}}, "/fields/*"),
    ],
)
def test_malformed_requests_are_refused_before_any_decision(
    tmp_path: Path, extra: dict[str, Any], location: str
) -> None:
    gw, engine = instrumented(tmp_path)
    with pytest.raises(InvalidRequest) as info:
        ask(gw, "zaanstad-regie", "mda", "mda.ex_partner", **extra)
    assert location in {p.location for p in info.value.problems}
    assert engine.calls == 0 and gw.new_entries() == []
    gw.close()


# -- outsiders -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "person"),
    [
        ("case-onbekend000", "mda.moeder"),  # no such case
        ("mda", "mda.moeder"),  # someone else's case, a linked person
        ("mda", "buiten.casus"),  # someone else's case, a person not in it
        ("mda", "mda.kind1"),  # someone else's case, a linked child
        ("afgesloten", "mda.moeder"),  # someone else's closed case
    ],
)
def test_an_outsider_gets_one_decision_one_entry_and_one_answer(
    tmp_path: Path, case: str, person: str
) -> None:
    gw, engine = instrumented(tmp_path)
    with pytest.raises(DisclosureDenied) as info:
        ask(gw, "purmerend-regie", case, person)
    assert engine.calls == 1 and len(gw.new_entries()) == 1
    assert info.value.extra["reasons"] == ["no_access_to_case"]
    assert info.value.extra["sources"] == []
    ledgered = gw.ledgered(info.value.extra["receipt"]["entry_hash"])
    assert [d["source"] for d in ledgered["decisions"]] == [NO_SOURCE]
    exact = ledgered["decisions"][0]["reasons"][0]
    assert exact in {"case_not_found", "case_closed", "not_a_participant"}
    gw.close()


# -- a slow engine or a hung source holds up no one else -----------------------------------------


def test_an_overrunning_evaluation_does_not_deny_a_concurrent_request(tmp_path: Path) -> None:
    gw, _ = instrumented(
        tmp_path, stall=lambda i: i["requester"]["role"] == "woonconsulent", stall_seconds=3
    )
    gw.gateway.disclosures.policy_timeout = 0.3
    demo = region()

    async def both() -> list[Any]:
        core = gw.gateway.disclosures

        async def one(client: str, case: str, person: str, **extra: Any) -> Any:
            request = DisclosureRequest(gw.case_ids[case], Bsn(demo.persons[person].bsn), **extra)
            ctx, subject = gw.gateway.cases.context(request.case_id, request.bsn)
            try:
                return await core.disclose(demo.clients[client].principal(), request, ctx, subject)
            except DisclosureDenied as exc:
                return exc

        # Two evaluations stall as long as there are policy workers: before lanes, they held
        # the one engine lock and every other request timed out behind them.
        brp = (SourceId("woningcorporatie.huur"),)
        stalled = [one("woco-consulent", "pga", "pga.veelpleger", sources=brp) for _ in range(2)]
        normal = [one("zaanstad-regie", "mda", "mda.ex_partner") for _ in range(3)]
        return list(await asyncio.gather(*stalled, *normal))

    gw.gateway.disclosures.lanes.policy.close()
    gw.gateway.disclosures.lanes = replace(
        gw.gateway.disclosures.lanes, policy=Lane("policy", 2, max_stuck=2)
    )
    outcomes = asyncio.run(both())
    for stalled in outcomes[:2]:
        assert isinstance(stalled, DisclosureDenied)
        assert {r for s in stalled.extra["sources"] for r in s["reasons"]} == {"engine_timeout"}
    for normal in outcomes[2:]:
        assert isinstance(normal, DisclosureResult), normal.extra
        assert all("engine_timeout" not in s.decision.reasons for s in normal.sources)
        assert any(s.status == "released" for s in normal.sources)
    gw.close()


def test_a_hung_source_delays_only_its_own_part(tmp_path: Path) -> None:
    catalog_sources = memory_connectors(make_test_gateway(tmp_path / "probe").gateway.catalog)
    hung = catalog_sources["politie.incidenten"]
    assert isinstance(hung, InMemoryConnector)
    hung.delay_seconds = 5.0
    gw = make_test_gateway(tmp_path / "home", connectors=catalog_sources)
    gw.gateway.disclosures.connector_timeout = 0.3

    async def many() -> list[DisclosureResult]:
        core = gw.gateway.disclosures
        demo = region()
        principal = demo.clients["zaanstad-regie"].principal()

        async def one() -> DisclosureResult:
            request = DisclosureRequest(gw.case_ids["mda"], Bsn(demo.persons["mda.ex_partner"].bsn))
            ctx, subject = gw.gateway.cases.context(request.case_id, request.bsn)
            return await core.disclose(principal, request, ctx, subject)

        # More concurrent family overviews than the old shared pool had threads.
        return list(await asyncio.gather(*(one() for _ in range(8))))

    for result in asyncio.run(many()):
        status = {s.source: s.status for s in result.sources}
        assert status.pop("politie.incidenten") == "error"
        assert "released" in status.values() and "error" not in status.values()
    brp_only = ask(
        gw, "zaanstad-regie", "mda", "mda.ex_partner", sources=(SourceId("gemeente.brp"),)
    )
    assert brp_only.sources[0].status == "released"
    gw.close()


# -- the async path for connectors that offer one ----------------------------------------------


def _async_sources(tmp_path: Path) -> dict[str, AsyncInMemoryConnector]:
    catalog = make_test_gateway(tmp_path / "probe").gateway.catalog
    return {
        s: AsyncInMemoryConnector(s, c.records)  # the same demo records
        for s, c in memory_connectors(catalog).items()
    }


def test_every_fetch_path_answers_alike(tmp_path: Path) -> None:
    """The same demo records through the lanes, the async path and the local path."""
    catalog = make_test_gateway(tmp_path / "probe").gateway.catalog
    threaded = make_test_gateway(
        tmp_path / "threads", connectors=memory_connectors(catalog, local=False)
    )
    direct = make_test_gateway(tmp_path / "async", connectors=_async_sources(tmp_path))
    here = make_test_gateway(tmp_path / "local")
    gateways = (threaded, direct, here)
    results = [ask(gw, "veiligthuis", "mda", "mda.ex_partner") for gw in gateways]
    views = [[(s.source, s.status, dict(s.values)) for s in r.sources] for r in results]
    assert views[0] == views[1] == views[2]
    assert any(status == "released" for _, status, _ in views[0])
    calls = direct.connectors["gemeente.brp"]
    assert isinstance(calls, AsyncInMemoryConnector) and calls.projections  # it was used
    # Which path each took: only the threaded gateway started a source lane's worker.
    assert threaded.gateway.disclosures.lanes.sources["gemeente.brp"].threads == 1
    for gw in (direct, here):
        assert all(lane.threads == 0 for lane in gw.gateway.disclosures.lanes.sources.values())
    for gw in gateways:
        gw.close()


# -- the local path ------------------------------------------------------------------------------


def test_a_local_source_that_declines_is_fetched_on_its_lane_and_paused(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    core = gw.gateway.disclosures
    police = gw.connectors["politie.incidenten"]
    assert isinstance(police, InMemoryConnector)
    police.delay_seconds = 0.01  # it would stall the event loop: the local path declines
    first = ask(gw, "zaanstad-regie", "mda", "mda.ex_partner")
    assert {s.source: s.status for s in first.sources}["politie.incidenten"] == "released"
    lane = gw.gateway.disclosures.lanes.sources["politie.incidenten"]
    assert lane.threads == 1  # fetched on its lane after all
    assert set(core._local_off) == {"politie.incidenten"}  # and paused, alone
    # Paused: fetched on its lane even once it could answer locally again.
    police.delay_seconds = 0.0
    before = len(police.projections)
    ask(gw, "zaanstad-regie", "mda", "mda.ex_partner")
    assert len(police.projections) == before + 1 and "politie.incidenten" in core._local_off
    # Once the pause is over, the local path is tried again (and answers).
    core._local_off["politie.incidenten"] = 0.0
    again = ask(gw, "zaanstad-regie", "mda", "mda.ex_partner")
    assert {s.source: s.status for s in again.sources}["politie.incidenten"] == "released"
    assert core._local_off == {}
    gw.close()


def test_a_failing_local_source_fails_alone(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    police = gw.connectors["politie.incidenten"]
    assert isinstance(police, InMemoryConnector)
    police.fail = True
    result = ask(gw, "zaanstad-regie", "mda", "mda.ex_partner")
    status = {s.source: s.status for s in result.sources}
    assert status.pop("politie.incidenten") == "error"
    assert "released" in status.values() and "error" not in status.values()
    assert gw.gateway.disclosures._local_off == {}  # a failure is not a reason to pause
    gw.close()


def _concurrent(gw: TestGateway, count: int) -> list[DisclosureResult]:
    """``count`` family overviews at once, on one event loop (as one server process runs)."""
    demo = region()
    principal = demo.clients["zaanstad-regie"].principal()

    async def one() -> DisclosureResult:
        request = DisclosureRequest(gw.case_ids["mda"], Bsn(demo.persons["mda.ex_partner"].bsn))
        ctx, subject = gw.gateway.cases.context(request.case_id, request.bsn)
        return await gw.gateway.disclosures.disclose(principal, request, ctx, subject)

    async def many() -> list[DisclosureResult]:
        return list(await asyncio.gather(*(one() for _ in range(count))))

    return asyncio.run(many())


def test_an_async_source_has_its_own_bound_and_its_timeout_cancels(tmp_path: Path) -> None:
    sources = _async_sources(tmp_path)
    sources["politie.incidenten"].delay_seconds = 0.5
    gw = make_test_gateway(tmp_path / "home", connectors=sources)
    core = gw.gateway.disclosures
    core.connector_timeout = 0.8
    # Room for both calls at once: both answered.
    core.connector_concurrency = 2
    for result in _concurrent(gw, 2):
        assert {s.source: s.status for s in result.sources}["politie.incidenten"] == "released"
    # One call at a time: the second waits its turn (0.5 s) and then runs out of time; the
    # other sources are not held up by it.
    core.connector_concurrency = 1
    core._gates.clear()
    statuses = sorted(
        {s.source: s.status for s in r.sources}["politie.incidenten"] for r in _concurrent(gw, 2)
    )
    assert statuses == ["error", "released"]
    gw.close()
