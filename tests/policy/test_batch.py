"""One request's unremembered decisions, evaluated together in one policy-lane job
(gateway/policy/engine.py, ``evaluated_each``): the same decisions as one job each, and every
failure still a denial — of that input alone where it can be told apart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from gateway.lanes import Lane
from gateway.policy.bundle import load_policy_set
from gateway.policy.decision import Decision
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.engine import evaluated, evaluated_each
from gateway.settings import bundled_policy_dir
from gateway.testing import InstrumentedEngine, sample_policy_input
from gateway.typing import SourceId

SOURCES = [
    SourceId(s)
    for s in (
        "politie.incidenten",
        "gemeente.brp",
        "veiligthuis.meldingen",
        "woningcorporatie.huur",
        "ggz.behandeling",
        "geen.bron",
    )
]


@pytest.fixture(scope="module")
def engine() -> EmbeddedEngine:
    return EmbeddedEngine(load_policy_set(bundled_policy_dir()))


@pytest.fixture
def lane() -> Iterator[Lane]:
    lane = Lane("policy", 2)
    yield lane
    lane.close()


def _inputs(minor: bool = False) -> list[dict[str, object]]:
    return [sample_policy_input(s, minor=minor) for s in SOURCES]


def _one_by_one(engine: EmbeddedEngine, lane: Lane, minor: bool = False) -> list[Decision]:
    """Each input in a job of its own (the reference)."""
    return [
        asyncio.run(evaluated(engine, lane, i, s, 5.0, 5.0))
        for i, s in zip(_inputs(minor), SOURCES, strict=True)
    ]


@pytest.mark.parametrize("minor", [False, True])
def test_together_the_same_decisions_as_one_by_one(
    engine: EmbeddedEngine, lane: Lane, minor: bool
) -> None:
    together = asyncio.run(evaluated_each(engine, lane, _inputs(minor), SOURCES, 5.0, 5.0))
    assert together == _one_by_one(engine, lane, minor)
    assert any(d.allow for d in together) and any(not d.allow for d in together)


def test_an_input_whose_evaluation_raises_is_denied_alone(
    engine: EmbeddedEngine, lane: Lane
) -> None:
    broken = InstrumentedEngine(engine, fail=lambda i: i["request"]["source"] == SOURCES[1])
    decisions = asyncio.run(evaluated_each(broken, lane, _inputs(), SOURCES, 5.0, 5.0))
    expected = _one_by_one(engine, lane)
    expected[1] = Decision.deny(SOURCES[1], "engine_error")
    assert decisions == expected


def test_an_overrun_denies_only_what_was_not_answered(engine: EmbeddedEngine, lane: Lane) -> None:
    """Two workers, so two jobs of three inputs; the third input hangs. Its job keeps the two
    answers given before it and denies it engine_timeout; the other job is not held up."""
    slow = InstrumentedEngine(
        engine, stall=lambda i: i["request"]["source"] == SOURCES[2], stall_seconds=2.0
    )
    decisions = asyncio.run(evaluated_each(slow, lane, _inputs(), SOURCES, 0.5, 5.0))
    expected = _one_by_one(engine, lane)
    expected[2] = Decision.deny(SOURCES[2], "engine_timeout")
    assert decisions == expected
    assert slow.calls == len(SOURCES)


def test_a_hung_job_denies_the_inputs_after_the_overrun(engine: EmbeddedEngine) -> None:
    one = Lane("policy", 1)  # one worker: one job for all six
    slow = InstrumentedEngine(
        engine, stall=lambda i: i["request"]["source"] == SOURCES[2], stall_seconds=2.0
    )
    try:
        decisions = asyncio.run(evaluated_each(slow, one, _inputs(), SOURCES, 0.5, 5.0))
        assert decisions[:2] == _one_by_one(engine, one)[:2]
    finally:
        one.close()
    assert decisions[2:] == [Decision.deny(s, "engine_timeout") for s in SOURCES[2:]]
    assert slow.calls == 3  # nothing after the hung input was evaluated


def test_a_full_lane_denies_every_input_engine_busy(engine: EmbeddedEngine) -> None:
    closed = Lane("policy", 1)
    closed.close()
    decisions = asyncio.run(evaluated_each(engine, closed, _inputs(), SOURCES, 5.0, 5.0))
    assert decisions == [Decision.deny(s, "engine_busy") for s in SOURCES]


def test_a_request_takes_a_queue_slot_a_worker(engine: EmbeddedEngine) -> None:
    """A burst of requests takes as many queue slots each as the lane has workers, not one a
    source: 40 requests of six unremembered decisions on two workers fit a queue of 100 (as
    one job a source, 240 would not)."""
    counting = InstrumentedEngine(engine)
    lane = Lane("policy", 2, queue_limit=100)

    async def burst() -> list[list[Decision]]:
        return list(
            await asyncio.gather(
                *(evaluated_each(counting, lane, _inputs(), SOURCES, 30.0, 30.0) for _ in range(40))
            )
        )

    try:
        results = asyncio.run(burst())
    finally:
        lane.close()
    assert counting.calls == 40 * len(SOURCES)
    assert all("engine_busy" not in d.reasons for r in results for d in r)
    assert all(r == results[0] for r in results)
