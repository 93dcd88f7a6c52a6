"""Group commit: concurrent appends sequenced and committed together, each answered only when
its group is durable."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.db import create_schema, make_engine
from gateway.errors import LedgerUnavailable
from gateway.ledger.batcher import GroupCommitter
from gateway.ledger.stores import MemoryStore, store_for
from gateway.ledger.stores.base import Build
from gateway.ledger.verify import verify_store
from gateway.ledger.writer import Ledger
from gateway.testing import sample_record

SIGNING = Ed25519PrivateKey.generate()
AUDITOR = X25519PrivateKey.generate().public_key()


class SlowStore(MemoryStore):
    """A store whose commits take a while, so that appends queue up behind one."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.committing = threading.Event()

    def append(self, build: Build) -> None:
        self.committing.set()
        time.sleep(self.delay)
        super().append(build)


def test_appends_that_queue_behind_a_commit_are_committed_as_one_group() -> None:
    store = SlowStore(delay=0.2)
    ledger = Ledger(store, SIGNING, AUDITOR)
    committer = GroupCommitter(ledger)
    try:
        first = committer.submit(ledger.prepare(sample_record(0)))
        assert store.committing.wait(5)  # the first group is on its way to disk …
        rest = [committer.submit(ledger.prepare(sample_record(i))) for i in range(1, 11)]
        receipts = [f.result(timeout=10) for f in [first, *rest]]
        # … and the ten that arrived meanwhile went in one commit after it.
        assert committer.groups == 2
        assert [r.seq for r in receipts] == list(range(1, 12))
        sealed = [e.seal is not None for e in store.entries()]
        assert sealed == [True] + [False] * 9 + [True]  # one seal per group
        assert verify_store(store, SIGNING.public_key()).entries == 11
    finally:
        committer.close()


def test_a_failed_group_fails_every_waiter_and_writes_nothing() -> None:
    store = SlowStore(delay=0.2)
    ledger = Ledger(store, SIGNING, AUDITOR)
    committer = GroupCommitter(ledger)
    try:
        committer.append(ledger.prepare(sample_record(0)))
        store.fail_appends = True
        futures = [committer.submit(ledger.prepare(sample_record(i))) for i in range(1, 6)]
        for f in futures:
            with pytest.raises(LedgerUnavailable):
                f.result(timeout=10)
        assert store.count() == 1
    finally:
        committer.close()


def _hammer(append: Callable[[int], int], threads: int, each: int) -> list[int]:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return sorted(pool.map(append, range(threads * each)))


def test_many_threads_on_sqlite_one_order_no_gaps(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'l.db'}")
    create_schema(engine)
    store = store_for(engine)
    ledger = Ledger(store, SIGNING, AUDITOR)
    committer = GroupCommitter(ledger)
    ledger.attach(committer)  # Ledger.append now goes through the committer
    try:
        seqs = _hammer(lambda i: ledger.append(sample_record(i)).seq, threads=16, each=10)
        assert seqs == list(range(1, 161))
        assert committer.groups <= 160
        assert verify_store(store, SIGNING.public_key()).entries == 160
    finally:
        committer.close()
        store.close()


def test_a_closed_committer_refuses_new_entries() -> None:
    ledger = Ledger(MemoryStore(), SIGNING, AUDITOR)
    committer = GroupCommitter(ledger)
    committer.close()
    with pytest.raises(LedgerUnavailable, match="shutting down"):
        committer.append(ledger.prepare(sample_record(0)))


def test_callers_on_an_event_loop_are_answered_there_and_may_give_up() -> None:
    store = SlowStore(delay=0.2)
    ledger = Ledger(store, SIGNING, AUDITOR)
    committer = GroupCommitter(ledger)
    ledger.attach(committer)

    async def scenario() -> tuple[list[int], int]:
        loop = asyncio.get_running_loop()
        first = ledger.submit_on(sample_record(0), loop)
        while not store.committing.is_set():  # the first group is on its way to disk …
            await asyncio.sleep(0.01)
        rest = [ledger.submit_on(sample_record(i), loop) for i in range(1, 9)]
        rest[3].cancel()  # … one caller gives up before its group is taken: not written
        done = [await f for f in [first, *rest[:3], *rest[4:]]]
        return [r.seq for r in done], store.count()

    try:
        seqs, count = asyncio.run(scenario())
        assert seqs == list(range(1, 9))
        assert count == 8
        assert committer.groups == 2
        store.fail_appends = True

        async def failing() -> None:
            await ledger.submit_on(sample_record(9), asyncio.get_running_loop())

        with pytest.raises(LedgerUnavailable):
            asyncio.run(failing())
    finally:
        committer.close()


def test_an_answer_for_a_closed_loop_does_not_stop_the_committer() -> None:
    store = SlowStore(delay=0.2)
    ledger = Ledger(store, SIGNING, AUDITOR)
    committer = GroupCommitter(ledger, timeout=5)
    loop = asyncio.new_event_loop()
    try:
        orphan = committer.submit_on(sample_record(0), loop)
        assert store.committing.wait(5)
        loop.close()  # its caller is gone before the group is durable
        assert committer.append(sample_record(1)).seq == 2  # the committer lives on
        assert not orphan.done()
    finally:
        committer.close()
