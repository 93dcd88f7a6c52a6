"""For any set of registrations, the stored signals are exactly those the policy permits and the
matches are exactly the pairs the policy permits in both directions — with OPA's own evaluator
as the oracle, so the gateway's embedded engine is held to a second engine too."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from gateway.auth.clients import get_client
from gateway.policy.bundle import load_policy_set
from gateway.signals.tables import signal_match
from gateway.testing import TestGateway, make_test_gateway, synthetic_bsn

CLIENTS = [
    "woco-consulent",
    "zaanstad-regie",
    "zaanstad-meldpunt",
    "purmerend-regie",
    "politie-wijkagent",
    "om-officier",
    "reclassering-toezicht",
    "veiligthuis",
    "rvdk-onderzoek",
    "ggd-oggz",
    "ggz-behandelaar",
]
AREAS = [
    "schulden",
    "overlast",
    "jeugd",
    "huiselijk_geweld",
    "psychische_gezondheid",
    "criminaliteit",
]
_people = itertools.count(500)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestGateway, Any]]:
    from gateway.policy.golib import GolibEngine

    gw = make_test_gateway(tmp_path_factory.mktemp("signals-property"))
    oracle = GolibEngine(load_policy_set(gw.gateway.settings.resolved_policy_dir))
    yield gw, oracle
    gw.close()


registration = st.tuples(
    st.sampled_from(CLIENTS), st.sampled_from(AREAS), st.booleans(), st.integers(0, 2)
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(registrations=st.lists(registration, min_size=1, max_size=8))
def test_matches_are_exactly_the_pairs_the_policy_permits(
    world: tuple[TestGateway, Any], registrations: list[tuple[str, str, bool, int]]
) -> None:
    gw, oracle = world
    people = [synthetic_bsn(next(_people)) for _ in range(3)]  # fresh people per example
    signals: dict[str, dict[str, Any]] = {}  # signal id -> who, area, person
    for client_id, area, consent, who in registrations:
        client = get_client(gw.gateway.db, client_id)
        assert client is not None
        requester = {
            "verified": True,
            "oin": client.oin,
            "org_type": client.org_type,
            "role": client.role,
            "user": client.user_ref,
        }
        expected = oracle.evaluate_signal(
            {"action": "register", "requester": requester, "area": area, "consent": consent}
        )
        r = gw.client.post(
            "/v1/signals",
            json={"bsn": people[who], "area": area, "contact": {"name": "T"}, "consent": consent},
            headers=gw.auth(client_id),
        )
        if not expected["allow"]:
            assert r.status_code == 403 and r.json()["reasons"] == expected["reasons"]
            continue
        assert r.status_code in (200, 201), r.text
        sid = r.json()["signal"]["signal_id"]
        signals.setdefault(
            sid,
            {
                "oin": client.oin,
                "side": {"org_type": client.org_type, "role": client.role, "area": area},
                "person": who,
            },
        )

    def learns(a: dict[str, Any], b: dict[str, Any]) -> Any:
        return oracle.evaluate_signal({"action": "match", "signal": a["side"], "other": b["side"]})

    expected_pairs = {
        frozenset((s, t))
        for (s, a), (t, b) in itertools.combinations(signals.items(), 2)
        if a["person"] == b["person"]
        and a["oin"] != b["oin"]
        and learns(a, b)["allow"]
        and learns(b, a)["allow"]
    }
    with gw.gateway.db.connect() as conn:
        rows = conn.execute(
            select(signal_match).where(signal_match.c.signal_a.in_(list(signals)))
        ).all()
    actual = {frozenset((r.signal_a, r.signal_b)) for r in rows}
    assert actual == expected_pairs
    assert all(r.state == "ledgered" for r in rows)
    for r in rows:  # each side sees the other's area exactly where the policy reveals it
        a, b = signals[r.signal_a], signals[r.signal_b]
        assert r.reveal_to_a == learns(a, b)["reveal_area"]
        assert r.reveal_to_b == learns(b, a)["reveal_area"]


def test_the_oracle_is_another_engine(world: tuple[TestGateway, Any], tmp_path: Path) -> None:
    gw, oracle = world
    assert type(oracle).__name__ == "GolibEngine"
    assert type(gw.gateway.engine).__name__ in ("MemoEngine", "EmbeddedEngine")
