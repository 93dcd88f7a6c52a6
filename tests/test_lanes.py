"""Lanes: bounded, separate, and not held by a job that overran."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from gateway.lanes import Lane, LaneFull


def test_an_overrun_job_is_retired_and_the_lane_keeps_serving() -> None:
    lane = Lane("t", 1, max_stuck=1)
    release = threading.Event()

    async def scenario() -> tuple[str, int]:
        with pytest.raises(TimeoutError):
            await lane.run(release.wait, 10, timeout=0.05)
        # The one worker is still inside the hung job; a fresh one answers this.
        answer = await lane.run(str.upper, "ok", timeout=5)
        return answer, lane.stuck

    answer, stuck = asyncio.run(scenario())
    assert answer == "OK" and stuck == 1
    release.set()
    lane.close()


def test_stuck_workers_are_bounded_and_then_the_lane_fails_fast() -> None:
    lane = Lane("t", 1, max_stuck=1, queue_limit=1)
    release = threading.Event()

    async def scenario() -> None:
        for _ in range(2):  # the worker and its one replacement both hang
            with pytest.raises(TimeoutError):
                await lane.run(release.wait, 10, timeout=0.05)
        assert lane.threads == 2
        # No third thread: the queued job waits, times out, and is dropped unstarted.
        with pytest.raises(TimeoutError):
            await lane.run(str.upper, "never", timeout=0.05)
        assert lane.threads == 2

    asyncio.run(scenario())
    release.set()
    lane.close()


def test_a_full_queue_is_refused_at_once() -> None:
    lane = Lane("t", 1, queue_limit=1)
    release = threading.Event()
    running = threading.Event()
    lane.submit(lambda: (running.set(), release.wait(10)))
    assert running.wait(5)  # the worker holds the first job; the queue is empty again
    lane.submit(str, 1)  # fills the queue
    with pytest.raises(LaneFull):
        lane.submit(str, 2)
    release.set()
    lane.close()


def test_a_job_dropped_before_it_started_never_runs() -> None:
    lane = Lane("t", 1)
    release = threading.Event()
    ran: list[int] = []
    lane.submit(release.wait, 10)

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            await lane.run(ran.append, 1, timeout=0.05)

    asyncio.run(scenario())
    release.set()
    lane.submit(str, 0).result(timeout=5)  # the queue has drained past the dropped job
    assert ran == []
    lane.close()


def test_workers_are_daemon_threads_so_a_hung_job_cannot_block_exit() -> None:
    lane = Lane("t", 2)
    lane.submit(str, 1).result(timeout=5)
    names = [t for t in threading.enumerate() if t.name == "lane-t"]
    assert names and all(t.daemon for t in names)
    lane.close()


def test_a_closed_lane_refuses_work() -> None:
    lane = Lane("t", 1)
    lane.close()
    with pytest.raises(LaneFull):
        lane.submit(str, 1)


def test_a_job_that_waits_too_long_for_a_worker_is_dropped_but_a_started_one_may_run_on() -> None:
    lane = Lane("t", 1)
    release = threading.Event()
    ran: list[str] = []
    lane.submit(release.wait, 10)

    async def scenario() -> str:
        with pytest.raises(TimeoutError, match="no worker free"):
            await lane.run(ran.append, "queued", timeout=5, queue_timeout=0.05)
        release.set()
        # A worker is free now: the queue bound is met, and the run may take longer than it.
        return await lane.run(
            lambda: (time.sleep(0.1), ran.append("started"), "done")[2],
            timeout=5,
            queue_timeout=0.05,
        )

    assert asyncio.run(scenario()) == "done"
    assert ran == ["started"]
    lane.close()


def test_an_answer_for_a_closed_event_loop_does_not_break_the_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    lane = Lane("t", 1, max_stuck=1)
    release = threading.Event()

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            await lane.run(release.wait, 10, timeout=0.05)

    asyncio.run(scenario())  # the loop is closed before the hung job answers
    release.set()
    deadline = time.monotonic() + 10
    while lane.stuck and time.monotonic() < deadline:  # a bound for a hung test, not a timing
        time.sleep(0.01)
    assert lane.stuck == 0
    assert errors == []
    assert lane.submit(str.upper, "still serving").result(timeout=5) == "STILL SERVING"
    lane.close()
