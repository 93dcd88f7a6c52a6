"""Lanes: bounded, separate thread pools for the blocking work of one kind.

Policy evaluation, ledger appends, secret checks and each source system get a lane of their own,
so that one of them being slow or hung cannot take the threads the others need (before lanes,
one stalled source made every later request wait for the default pool and denied it everywhere).

A lane has a fixed number of daemon worker threads and a bounded queue:

* a full queue is refused at once (:class:`LaneFull`) instead of growing without bound;
* a job that overruns its timeout is abandoned: if it had not started it is dropped, if it is
  running its worker is *retired* — it finishes the job and exits, taking its thread-local state
  (e.g. a policy interpreter) with it — and a fresh worker takes its place, up to ``max_stuck``
  retired workers at a time;
* workers are daemon threads, so a hung job never keeps the process from shutting down.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


async def within(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], seconds: float
) -> bool:
    """Wait for ``future`` at most ``seconds``; False if it is not done by then (it is left as
    it is). Lighter than ``asyncio.wait`` (no sets, no extra waiter): this runs for every job."""
    if future.done():
        return True
    expired = loop.create_future()

    def wake(_: object = None) -> None:
        if not expired.done():
            expired.set_result(None)

    handle = loop.call_later(seconds, wake)
    future.add_done_callback(wake)
    try:
        await expired
    finally:
        handle.cancel()
        future.remove_done_callback(wake)
    return future.done()


class LaneFull(Exception):
    """The lane's queue is full (or the lane is closed): the work was not started."""


@dataclass(eq=False)
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: Future[Any] = field(default_factory=Future)
    started: Future[None] = field(default_factory=Future)
    worker: _Worker | None = None


@dataclass(eq=False)
class _Worker:
    retired: bool = False


class Lane:
    """``workers`` threads at most (started on demand), plus up to ``max_stuck`` retired ones
    still finishing an abandoned job; ``queue_limit`` jobs waiting at most."""

    def __init__(
        self, name: str, workers: int, *, queue_limit: int = 256, max_stuck: int | None = None
    ) -> None:
        if workers < 1:
            raise ValueError("a lane needs at least one worker")
        self.name = name
        self._size = workers
        self._max_stuck = workers if max_stuck is None else max_stuck
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=queue_limit)
        self._lock = threading.Lock()
        self._active = 0
        self._stuck = 0
        self._closed = False

    # -- the async side ---------------------------------------------------------------------------

    async def run(
        self, fn: Callable[..., T], *args: Any, timeout: float, queue_timeout: float | None = None
    ) -> T:
        """Run ``fn(*args)`` on a worker; raise :class:`LaneFull` if it cannot even be queued and
        :class:`TimeoutError` if it overruns.

        Without ``queue_timeout``, ``timeout`` counts from now (time in the queue included).
        With it, the job may wait ``queue_timeout`` seconds for a worker and then run for
        ``timeout`` seconds: a burst of work queues instead of turning into timeouts, while an
        overrun is still cut off (and its worker retired) after ``timeout``.
        """
        job = self._submit(fn, args)
        loop = asyncio.get_running_loop()
        if queue_timeout is not None:
            started = asyncio.wrap_future(job.started)
            if not await within(loop, started, queue_timeout):
                self._abandon(job)
                raise TimeoutError(f"{self.name}: no worker free within {queue_timeout} s")
        waiter = asyncio.wrap_future(job.future)
        try:
            answered = await within(loop, waiter, timeout)
        except asyncio.CancelledError:
            self._abandon(job)
            raise
        if not answered:
            self._abandon(job)
            raise TimeoutError(f"{self.name}: no answer within {timeout} s")
        result: T = waiter.result()
        return result

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``fn(*args)`` without waiting (for synchronous callers)."""
        return self._submit(fn, args).future

    # -- bookkeeping -----------------------------------------------------------------------------

    @property
    def stuck(self) -> int:
        """Workers retired on a timeout that have not finished their job yet."""
        return self._stuck

    @property
    def threads(self) -> int:
        return self._active + self._stuck

    def close(self) -> None:
        """Stop taking work; idle workers exit, busy ones after their job."""
        with self._lock:
            self._closed = True
            count = self._active
        for _ in range(count):
            try:
                self._jobs.put_nowait(None)
            except queue.Full:
                break  # busy workers see `_closed` after their job

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> _Job:
        if self._closed:
            raise LaneFull(f"{self.name}: the lane is closed")
        job = _Job(fn, args)
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            raise LaneFull(f"{self.name}: too much work queued") from None
        self._grow()
        return job

    def _grow(self) -> None:
        """Start a worker if the lane is below its size and the stuck ones leave room."""
        with self._lock:
            if (
                self._closed
                or self._active >= self._size
                or self._active + self._stuck >= self._size + self._max_stuck
            ):
                return
            self._active += 1
        threading.Thread(
            target=self._loop, args=(_Worker(),), name=f"lane-{self.name}", daemon=True
        ).start()

    def _abandon(self, job: _Job) -> None:
        if job.future.cancel():
            return  # never started: dropped from the queue without using a worker
        with self._lock:
            worker = job.worker
            if worker is None or worker.retired or job.future.done():
                return
            worker.retired = True
            self._active -= 1
            self._stuck += 1
        self._grow()  # a fresh worker (with fresh thread-local state) takes its place

    def _loop(self, worker: _Worker) -> None:
        try:
            while not worker.retired and not self._closed:
                job = self._jobs.get()
                if job is None:
                    return
                job.worker = worker  # before running: an abandon must find whom to retire
                if not job.future.set_running_or_notify_cancel():
                    continue
                if job.started.set_running_or_notify_cancel():
                    job.started.set_result(None)
                try:
                    result = job.fn(*job.args)
                except BaseException as exc:
                    job.future.set_exception(exc)
                else:
                    job.future.set_result(result)
        finally:
            with self._lock:
                if worker.retired:
                    self._stuck -= 1
                else:
                    self._active -= 1
            if not self._jobs.empty():
                self._grow()  # jobs queued while every worker was stuck still get a worker
