"""Verification spread over cores, with the same verdict as :func:`verify_entries`.

Everything that is checked about one entry on its own — its body, its hash, its subject index,
its seal — runs in worker processes, a chunk of entries at a time. What ties entries together —
the sequence and the hash links — is checked here, in order, while the rows stream in; it needs
only stored values. Chunks are answered in order and at most ``2 × workers`` are in flight, so
memory stays flat at any ledger size.

The verdict is the sequential one: a failure is reported for the first entry, in order, at which
the sequential verifier would stop, with the same message (per entry the sequential order is:
sequence, content and hash, link, subject index, seal). A test holds the two to that.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import islice
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.errors import LedgerCorrupted, LedgerUnavailable
from gateway.ledger.entry import GENESIS
from gateway.ledger.stores.base import LedgerStore, StoredEntry, StoredHead
from gateway.ledger.verify import (
    VerifyReport,
    _fail,
    check_content,
    check_head,
    check_index_and_seal,
    seal_failure,
    verify_entries,
)

CHUNK = 5_000
SEQUENTIAL_BELOW = 20_000
"""Ledgers smaller than this are verified in this process: starting workers costs more."""

# Per entry, the order in which the sequential verifier checks (lower comes first).
_SEQUENCE, _CONTENT, _LINK, _INDEX, _SEAL = range(5)


@dataclass(frozen=True)
class _Finding:
    """Plain values (exceptions do not all survive the trip between processes)."""

    seq: int
    stage: int
    message: str | None
    """None for a bad seal: its message names the last valid seal, known only in order."""
    sequence: int | None = None
    """The entry the failure names."""

    @classmethod
    def of(cls, seq: int, stage: int, exc: LedgerCorrupted) -> _Finding:
        return cls(seq, stage, exc.args[0] if exc.args else str(exc), exc.sequence)

    def error(self) -> LedgerCorrupted:
        return LedgerCorrupted(self.message or "", sequence=self.sequence)


_worker_key: Ed25519PublicKey | None = None
_worker_shredded: frozenset[str] = frozenset()
_worker_store: LedgerStore | None = None


def _init(key_raw: bytes, shredded: frozenset[str], url: str | None) -> None:
    global _worker_key, _worker_shredded, _worker_store
    _worker_key = Ed25519PublicKey.from_public_bytes(key_raw)
    _worker_shredded = shredded
    if url is not None:
        from gateway.ledger.stores import open_store

        _worker_store = open_store(url)  # read-only, as the auditor's own


def _check_range(first: int, last: int) -> _Finding | None:
    """Read entries ``first``..``last`` from the store itself (nothing crosses the process
    boundary but two numbers) and check them."""
    assert _worker_store is not None
    entries = _worker_store.entry_range(first, last)
    # What is read here must be the range the chain was checked on in order (a row that
    # changed or went away meanwhile fails; it never passes unchecked).
    wanted = range(first, last + 1)
    got = [e.seq for e in entries]
    if got != list(wanted):
        at = next((w for w, g in zip(wanted, got, strict=False) if w != g), first + len(got))
        message = "changed while it was being verified (read twice, not the same)"
        return _Finding.of(at, _CONTENT, _fail(at, message))
    return _check_chunk(entries)


def _check_chunk(entries: Iterable[StoredEntry]) -> _Finding | None:
    """The first entry of ``entries`` that fails a check of its own, if any."""
    assert _worker_key is not None
    for entry in entries:
        try:
            body = check_content(entry)
        except LedgerCorrupted as exc:
            return _Finding.of(entry.seq, _CONTENT, exc)
        try:
            sealed = check_index_and_seal(entry, body, _worker_shredded, _worker_key)
        except LedgerCorrupted as exc:
            return _Finding.of(entry.seq, _INDEX, exc)
        if not sealed:
            return _Finding(entry.seq, _SEAL, None)
    return None


def verify_store_parallel(
    store: LedgerStore,
    key: Ed25519PublicKey,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
    sequential_below: int = SEQUENTIAL_BELOW,
) -> VerifyReport:
    """Like :func:`~gateway.ledger.verify.verify_store`, on ``workers`` processes (default: one
    per core). ``progress`` is called with the number of entries each step verified."""
    malformed = store.first_malformed()
    if malformed is not None:
        raise _fail(malformed, "a public column holds a value outside its hashed form")
    shredded = frozenset(
        k.key_id for k in store.period_keys(live=False) if k.destroyed_at is not None
    )
    workers = workers or os.cpu_count() or 1
    if workers == 1 or store.count() < sequential_below:
        step = (lambda _seq: progress(1)) if progress is not None else None
        return verify_entries(store.entries(), store.head(), key, shredded, step)
    try:
        return _verify(store, store.head(), key, shredded, workers, progress, chunk)
    except BrokenProcessPool as exc:  # a worker could not start or read (its store, memory)
        raise LedgerUnavailable("the verification workers could not read the ledger") from exc


def _verify(
    store: LedgerStore,
    head: StoredHead | None,
    key: Ed25519PublicKey,
    shredded: frozenset[str],
    workers: int,
    progress: Callable[[int], None] | None,
    chunk: int,
) -> VerifyReport:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    url = store.reopen_url()
    expected, prev = 1, GENESIS
    covered = 0  # the last seal in the chunks answered so far (all valid)
    ordered: _Finding | None = None  # a sequence or link failure found here
    pending: deque[tuple[Future[_Finding | None], list[int], int]] = deque()

    def settle(future: Future[_Finding | None], seals: list[int], size: int) -> None:
        nonlocal covered
        found = future.result()
        if found is not None:
            if ordered is not None and (ordered.seq, ordered.stage) < (found.seq, found.stage):
                raise ordered.error()
            if found.message is not None:
                raise found.error()
            before = [s for s in seals if s < found.seq]
            raise seal_failure(found.seq, before[-1] if before else covered)
        if seals:
            covered = seals[-1]
        if progress is not None:
            progress(size)

    # A store another process can open is read by the workers themselves, a range each; here
    # only the chain's columns are read. Otherwise (a store in this process) entries are sent.
    links: Iterator[tuple[int, str, str, bool]] | Iterator[StoredEntry]
    links = store.links() if url is not None else store.entries()
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init, initargs=(raw, shredded, url)
        ) as pool:
            try:
                for batch in _batches(links, chunk):
                    sent: list[Any] = []
                    seals: list[int] = []
                    for item in batch:
                        seq, prev_hash, stored_hash, sealed = _link(item)
                        if seq != expected:
                            message = f"expected sequence {expected} (entry missing or reordered)"
                            ordered = _Finding.of(seq, _SEQUENCE, _fail(seq, message))
                            break
                        sent.append(item)
                        if sealed:
                            seals.append(seq)
                        if prev_hash != prev:
                            message = f"does not link to entry {seq - 1}"
                            ordered = _Finding.of(seq, _LINK, _fail(seq, message))
                            break
                        prev = stored_hash
                        expected += 1
                    if sent:
                        job = (
                            pool.submit(_check_range, _link(sent[0])[0], _link(sent[-1])[0])
                            if url is not None
                            else pool.submit(_check_chunk, sent)
                        )
                        pending.append((job, seals, len(sent)))
                    while len(pending) > 2 * workers or (ordered is not None and pending):
                        settle(*pending.popleft())
                    if ordered is not None:
                        raise ordered.error()
                while pending:
                    settle(*pending.popleft())
            finally:
                for future, _, _ in pending:
                    future.cancel()
    finally:
        close = getattr(links, "close", None)
        if close is not None:
            close()  # a streaming read holds a transaction open
    return check_head(expected - 1, prev, covered, head, key)


def _link(item: Any) -> tuple[int, str, str, bool]:
    if isinstance(item, StoredEntry):
        return item.seq, item.header.prev_hash, item.entry_hash, item.seal is not None
    seq, prev_hash, stored_hash, sealed = item
    return seq, prev_hash, stored_hash, sealed


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


__all__ = ["verify_store_parallel"]
