"""Two organisations signalling the same person at the same moment find each other exactly once
— on SQLite (one writer) and on PostgreSQL (side by side, serialised per person)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import select

from gateway.auth.principal import Principal
from gateway.bsn import Bsn
from gateway.signals.tables import signal_match
from gateway.testing import TestGateway, demo_bsn, synthetic_bsn

PAIRS = [("woco-consulent", "schulden"), ("zaanstad-regie", "overlast")]


@pytest.fixture
def home(each_db_gw: TestGateway) -> TestGateway:
    return each_db_gw


def test_simultaneous_registrations_match_exactly_once(home: TestGateway) -> None:
    gw = home
    who = [(gw.principal(c), area) for c, area in PAIRS]
    people = [synthetic_bsn(600 + n) for n in range(15)]
    for bsn in people:
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def go(
            p: Principal,
            area: str,
            bsn: str = bsn,
            start: threading.Barrier = start,
            errors: list[BaseException] = errors,
        ) -> None:
            start.wait()
            try:
                asyncio.run(gw.gateway.signals.register(p, Bsn(bsn), area, {"name": "T"}, False))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=go, args=pair) for pair in who]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
    with gw.gateway.db.connect() as conn:
        rows = conn.execute(select(signal_match.c.state)).all()
    assert len(rows) == len(people)  # one match per person, never none, never two
    gw.gateway.signals.run_clock()  # (a match a process left pending would be settled here)
    matches = gw.client.get("/v1/signals/matches?limit=200", headers=gw.auth("woco-consulent"))
    assert len(matches.json()["matches"]) == len(people)


def test_the_case_context_reads_the_same_on_both_databases(home: TestGateway) -> None:
    # The disclosure path's case reads run as driver-level SQL (gateway.db.Sql), rendered per
    # database; on either one they find the demo case, its participants and the linked person.
    gw = home
    case, subject = gw.gateway.cases.context(gw.case_ids["mda"], Bsn(demo_bsn("mda.ex_partner")))
    assert case.found and case.purpose and case.status == "open"
    assert gw.principal("veiligthuis").oin in case.participants
    assert subject.linked and subject.relation
    unknown, nobody = gw.gateway.cases.context("case-000000000000", Bsn(demo_bsn("mda.ex_partner")))
    assert not unknown.found and not nobody.linked
    r = gw.client.post(
        "/v1/disclosures",
        json={"case_id": gw.case_ids["mda"], "bsn": demo_bsn("mda.ex_partner")},
        headers=gw.auth("veiligthuis"),
    )
    assert r.status_code == 200, r.text
