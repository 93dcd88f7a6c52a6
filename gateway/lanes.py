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
import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
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


_QUEUED, _RUNNING, _DONE, _DROPPED = range(4)


class _Job:
    """One call, queued or running. Answered on the caller's event loop (``waiter``, and
    ``started`` when the caller bounds its time in the queue) or, for a synchronous caller,
    through ``future``.

    NOTE: plain slots and the loop's own futures, not ``concurrent.futures.Future`` and
    ``wrap_future``: a family overview makes seven jobs, and two Futures (a Condition each) plus
    their chaining cost more than a fast source's fetch (measured: a quarter of a guarded
    request's time holding the GIL went to this plumbing)."""

    __slots__ = ("args", "fn", "future", "loop", "started", "state", "waiter", "worker")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        loop: asyncio.AbstractEventLoop | None = None,
        waiter: asyncio.Future[Any] | None = None,
        started: asyncio.Future[None] | None = None,
        future: Future[Any] | None = None,
    ) -> None:
        self.fn = fn
        self.args = args
        self.loop = loop
        self.waiter = waiter
        self.started = started
        self.future = future
        self.state = _QUEUED
        self.worker: _Worker | None = None


def _settle(waiter: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if waiter.done():  # the caller stopped waiting (timeout, cancellation)
        return
    if error is None:
        waiter.set_result(result)
    else:
        waiter.set_exception(error)


def _answer(
    loop: asyncio.AbstractEventLoop,
    waiter: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    # A RuntimeError: the caller's loop is closed, nobody is waiting any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, waiter, result, error)


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
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        started = loop.create_future() if queue_timeout is not None else None
        job = self._submit(_Job(fn, args, loop, waiter, started))
        if (
            started is not None
            and queue_timeout is not None
            and not await within(loop, started, queue_timeout)
        ):
            self._abandon(job)
            waiter.cancel()  # a late answer is dropped, not left unretrieved
            raise TimeoutError(f"{self.name}: no worker free within {queue_timeout} s")
        try:
            answered = await within(loop, waiter, timeout)
        except asyncio.CancelledError:
            self._abandon(job)
            waiter.cancel()
            raise
        if not answered:
            self._abandon(job)
            waiter.cancel()
            raise TimeoutError(f"{self.name}: no answer within {timeout} s")
        return waiter.result()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``fn(*args)`` without waiting (for synchronous callers)."""
        future: Future[T] = Future()
        self._submit(_Job(fn, args, future=future))
        return future

    # -- bookkeeping -----------------------------------------------------------------------------

    @property
    def stuck(self) -> int:
        """Workers retired on a timeout that have not finished their job yet."""
        return self._stuck

    @property
    def workers(self) -> int:
        """The lane's size: at most this many jobs run at once."""
        return self._size

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

    def _submit(self, job: _Job) -> _Job:
        if self._closed:
            raise LaneFull(f"{self.name}: the lane is closed")
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            raise LaneFull(f"{self.name}: too much work queued") from None
        self._grow()
        return job

    def _grow(self) -> None:
        """Start a worker if the lane is below its size and the stuck ones leave room."""
        if self._active >= self._size:
            # Without the lock (on every job's path): a stale read is harmless, since whoever
            # lowers the count (a retirement, an exiting worker) calls this itself afterwards.
            return
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
        with self._lock:
            if job.state == _QUEUED:
                job.state = _DROPPED  # never started: its worker will skip it
                return
            worker = job.worker
            if job.state != _RUNNING or worker is None or worker.retired:
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
                with self._lock:
                    if job.state != _QUEUED:
                        continue  # dropped while it waited
                    job.state = _RUNNING
                    job.worker = worker  # before running: an abandon must find whom to retire
                if job.future is not None and not job.future.set_running_or_notify_cancel():
                    continue
                if job.started is not None and job.loop is not None:
                    _answer(job.loop, job.started, None, None)
                result, error = None, None
                try:
                    result = job.fn(*job.args)
                except BaseException as exc:
                    error = exc
                job.state = _DONE
                if job.future is not None:
                    if error is None:
                        job.future.set_result(result)
                    else:
                        job.future.set_exception(error)
                elif job.loop is not None and job.waiter is not None:
                    _answer(job.loop, job.waiter, result, error)
                del job, result, error  # nothing of a finished job outlives it here
        finally:
            with self._lock:
                if worker.retired:
                    self._stuck -= 1
                else:
                    self._active -= 1
            if not self._jobs.empty():
                self._grow()  # jobs queued while every worker was stuck still get a worker
