"""Verification spread over cores, with the same verdict as :func:`verify_entries`.

The ledger is cut into spans of consecutive sequence numbers. A worker process reads a span
itself (a store another process can open: nothing crosses the process boundary but two numbers)
and checks everything the span allows, in the sequential order — each entry's body, hash,
subject index and seal, and the sequence numbers and hash links inside the span. This process
checks only what joins the spans: that each span's first entry follows the one before and links
to its hash. Spans are answered in order and at most ``2 × workers`` are in flight, so memory
stays flat at any ledger size, and this process reads nothing but the last sequence number.

The verdict is the sequential one: a failure is reported for the first entry, in order, at which
the sequential verifier would stop, with the same message (per entry the sequential order is:
sequence, content and hash, link, subject index, seal). A test holds the two to that.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.exc import SQLAlchemyError

from gateway.errors import LedgerCorrupted, LedgerUnavailable
from gateway.ledger import pgscan, spanscan
from gateway.ledger.entry import GENESIS, head_signature_valid
from gateway.ledger.spanscan import ScannedSpan
from gateway.ledger.stores.base import EntryFilter, LedgerStore, StoredEntry, StoredHead
from gateway.ledger.stores.sql import SqlStore, entry_from_row, entry_values
from gateway.ledger.tables import ENTRY_AT
from gateway.ledger.verify import (
    VerifyReport,
    _fail,
    check_content,
    check_head,
    check_index_and_seal,
    row_is_sound,
    seal_failure,
    verify_entries,
)

CHUNK = 5_000
SEQUENTIAL_BELOW = 20_000
"""Ledgers smaller than this are verified in this process: starting workers costs more."""

# Per entry, the order in which the sequential verifier checks (lower comes first).
_SEQUENCE, _CONTENT, _LINK, _INDEX, _SEAL = range(5)

Scanner = Callable[[int, int], "ScannedSpan | None"]
"""Reads and checks entries first..last where they are stored (spanscan, pgscan)."""


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


@dataclass(frozen=True)
class _Span:
    """What a worker found in a run of consecutive entries: its ends (for the links between
    spans, checked in order by the parent), its last valid seal, and its first failure."""

    first: int | None
    """The first entry's sequence number; None when the range held no entry."""
    first_prev: str
    last: int
    last_hash: str
    last_seal: int | None
    """The last entry with a valid seal before any failure."""
    finding: _Finding | None
    checked: int
    compiled: bool = False
    """Every row passed a fast path, compiled or PostgreSQL's (so none holds a malformed public
    column)."""


_EMPTY = _Span(None, "", 0, "", None, None, 0, compiled=True)
_SEQ, _PREV, _HASH, _SEAL = (ENTRY_AT[n] for n in ("seq", "prev_hash", "entry_hash", "seal"))


@dataclass(frozen=True)
class _Checker:
    """Checks spans: in a worker process (``_worker``), or on this process's threads where
    the compiled fast path does the work without the GIL."""

    key: Ed25519PublicKey
    shredded: frozenset[str]
    store: LedgerStore | None = None
    """The store spans are read from (None: rows are sent)."""
    scan: Scanner | None = None
    """The fast path that reads and checks a span where the store is, where there is one."""

    def range(self, first: int, last: int) -> _Span:
        """Read entries ``first``..``last`` from the store itself (nothing crosses a process
        boundary but two numbers) and check them."""
        assert isinstance(self.store, SqlStore)
        if self.scan is not None:
            span = self.compiled(first, last)
            if span is not None:
                return span
        return self.rows(self.store.entry_rows(first, last))

    def compiled(self, first: int, last: int) -> _Span | None:
        """The span checked by the compiled fast path, or None: "check it the long way" (it
        found a row outside its plain form, or a seal that does not verify; the long way
        names why)."""
        assert self.scan is not None
        found = self.scan(first, last)
        if found is None:
            return None
        if found.count == 0:
            return _EMPTY
        last_seal = None
        for seq, entry_hash, seal in found.seals:
            if not head_signature_valid(seq, entry_hash, seal, self.key):
                return None
            last_seal = seq
        return _Span(
            found.first_seq,
            found.first_prev,
            found.last_seq,
            found.last_hash,
            last_seal,
            None,
            found.count,
            compiled=True,
        )

    def rows(self, rows: Sequence[Sequence[Any]]) -> _Span:
        """Every check of the sequential verifier, in its order, that a span allows (all but
        its first entry's sequence number and link, which need the span before): each row on
        the fast path, and the long way (an entry built and checked as the sequential verifier
        does) wherever that says no."""
        if not rows:
            return _EMPTY
        first_row, last_row = rows[0], rows[-1]
        expected, prev, last_seal = first_row[_SEQ], None, None
        finding: _Finding | None = None
        for row in rows:
            if not row_is_sound(row, expected, prev, self.key):
                finding = self.entry(entry_from_row(row), expected, prev)
                if finding is not None:
                    break
            if row[_SEAL] is not None:
                last_seal = expected
            prev = row[_HASH]
            expected += 1
        return _Span(
            first_row[_SEQ],
            first_row[_PREV],
            last_row[_SEQ],
            last_row[_HASH],
            last_seal,
            finding,
            len(rows),
        )

    def entry(self, entry: StoredEntry, expected: int, prev: str | None) -> _Finding | None:
        """Every check of the sequential verifier on one entry, in its order (``prev`` None:
        the link is checked by the parent); the first failure."""
        seq = entry.seq
        if seq != expected:
            message = f"expected sequence {expected} (entry missing or reordered)"
            return _Finding.of(seq, _SEQUENCE, _fail(seq, message))
        try:
            body = check_content(entry)
        except LedgerCorrupted as exc:
            return _Finding.of(seq, _CONTENT, exc)
        if prev is not None and entry.header.prev_hash != prev:
            return _Finding.of(seq, _LINK, _fail(seq, f"does not link to entry {seq - 1}"))
        try:
            sealed = check_index_and_seal(entry, body, self.shredded, self.key)
        except LedgerCorrupted as exc:
            return _Finding.of(seq, _INDEX, exc)
        return None if sealed else _Finding(seq, _SEAL, None)


def _scanner(store: LedgerStore | None) -> Scanner | None:
    """The fast path for ``store``: the compiled scan of its SQLite file (where it was built),
    or PostgreSQL's own (gateway/ledger/pgscan.py); None for anything else."""
    if isinstance(store, SqlStore) and store.engine.dialect.name == "postgresql":
        engine = store.engine

        def on_server(first: int, last: int) -> ScannedSpan | None:
            try:
                with engine.connect() as conn:
                    return pgscan.span(conn, first, last)
            except SQLAlchemyError as exc:  # as the store's own reads say it (sql.py)
                raise LedgerUnavailable("the ledger's entries cannot be read") from exc

        return on_server
    path = _compiled_file(store)
    if path is None:
        return None
    return lambda first, last: spanscan.span(path, first, last)


def _compiled_file(store: LedgerStore | None) -> str | None:
    if store is None or not spanscan.available() or not isinstance(store, SqlStore):
        return None
    return spanscan.sqlite_file(store.engine.url)


_worker: _Checker | None = None
"""A worker process's checker (set by :func:`_init`)."""


def _init(key_raw: bytes, shredded: frozenset[str], url: str | None, compiled: bool = True) -> None:
    global _worker
    store = None
    if url is not None:
        from gateway.ledger.stores import open_store

        store = open_store(url)  # read-only, as the auditor's own
    key = Ed25519PublicKey.from_public_bytes(key_raw)
    _worker = _Checker(key, shredded, store, _scanner(store) if compiled else None)


def _check_range(first: int, last: int) -> _Span:
    assert _worker is not None
    return _worker.range(first, last)


def _check_rows(rows: Sequence[Sequence[Any]]) -> _Span:
    assert _worker is not None
    return _worker.rows(rows)


def _check_entry(entry: StoredEntry, expected: int, prev: str | None) -> _Finding | None:
    assert _worker is not None
    return _worker.entry(entry, expected, prev)


def verify_store_parallel(
    store: LedgerStore,
    key: Ed25519PublicKey,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
    sequential_below: int = SEQUENTIAL_BELOW,
    compiled: bool = True,
) -> VerifyReport:
    """Like :func:`~gateway.ledger.verify.verify_store`, on ``workers`` processes (default: one
    per core), or threads where the compiled fast path reads the store (``compiled=False``:
    never; the pure-Python path, as where it was not built). ``progress`` is called with the
    number of entries each step verified."""

    def check_malformed() -> None:
        malformed = store.first_malformed()
        if malformed is not None:
            raise _fail(malformed, "a public column holds a value outside its hashed form")

    shredded = frozenset(
        k.key_id for k in store.period_keys(live=False) if k.destroyed_at is not None
    )
    workers = workers or os.cpu_count() or 1
    count = store.count()
    if workers == 1 or count < sequential_below:
        check_malformed()
        step = (lambda _seq: progress(1)) if progress is not None else None
        return verify_entries(store.entries(), store.head(), key, shredded, step)
    scan = _scanner(store) if compiled else None
    if scan is None:
        check_malformed()  # before any span's verdict, as the sequential verifier does
    # A malformed public column (a boolean stored as 2) is one the long way could misread, so
    # it decides first. A span a fast path passed holds none, so where every span passed one
    # the whole-table scan is skipped; otherwise it runs before a failure is reported or
    # success is.
    try:
        report, fast = _verify_spans(
            store, store.head(), count, key, shredded, workers, progress, chunk, scan
        )
    except BrokenProcessPool as exc:  # a worker could not start or read (its store, memory)
        raise LedgerUnavailable("the verification workers could not read the ledger") from exc
    except LedgerCorrupted:
        if scan is not None:
            check_malformed()
        raise
    if scan is not None and not fast:
        check_malformed()
    return report


def _verify_spans(
    store: LedgerStore,
    head: StoredHead | None,
    count: int,
    key: Ed25519PublicKey,
    shredded: frozenset[str],
    workers: int,
    progress: Callable[[int], None] | None,
    chunk: int,
    scan: Scanner | None,
) -> tuple[VerifyReport, bool]:
    """The verdict, and whether every entry passed the compiled fast path."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    url = store.reopen_url()
    expected, prev, covered = 1, GENESIS, 0
    compiled = True
    pending: deque[Future[_Span]] = deque()

    def settle(span: _Span) -> None:
        """In order: the link into this span from the one before, then what the worker found;
        the failure the sequential verifier would meet first is the one reported."""
        nonlocal expected, prev, covered, compiled
        compiled = compiled and span.compiled
        found = span.finding
        if span.first is not None:
            boundary = None
            if span.first != expected:
                message = f"expected sequence {expected} (entry missing or reordered)"
                boundary = _Finding.of(span.first, _SEQUENCE, _fail(span.first, message))
            elif span.first_prev != prev:
                message = f"does not link to entry {span.first - 1}"
                boundary = _Finding.of(span.first, _LINK, _fail(span.first, message))
            if boundary is not None and (
                found is None or (boundary.seq, boundary.stage) < (found.seq, found.stage)
            ):
                found = boundary
        if found is not None:
            if found.message is not None:
                raise found.error()
            raise seal_failure(found.seq, covered if span.last_seal is None else span.last_seal)
        if span.first is not None:
            expected, prev = span.last + 1, span.last_hash
            covered = covered if span.last_seal is None else span.last_seal
        if progress is not None:
            progress(span.checked)

    # A store another process can open is read by the workers themselves, a range of sequence
    # numbers each: this process reads nothing but the last number. Otherwise (a store in this
    # process) the entries are read here and sent.
    entries = store.entries() if url is None else None
    jobs: Iterator[tuple[Callable[..., _Span], tuple[Any, ...]]]
    last = store.last() if entries is None else None
    # NOTE: not past the number of entries: one entry numbered far beyond the end must not
    # make the spans up to it (empty, and endless); it is met after them (below).
    top = 0 if last is None else min(last.seq, count)
    if entries is None:
        below = _first_entry(store, EntryFilter(last_seq=0))
        if below is not None:  # numbered below 1: the first entry in order, and a failure
            raise _fail(below.seq, "expected sequence 1 (entry missing or reordered)")
        jobs = (
            (_check_range, (start, min(start + chunk - 1, top)))
            for start in range(1, top + 1, chunk)
        )
    else:
        jobs = (
            (_check_rows, ([entry_values(e) for e in batch],)) for batch in _batches(entries, chunk)
        )
    try:
        with _executor(store, key, shredded, workers, raw, url, scan) as (pool, checker):
            try:
                for fn, args in jobs:
                    if checker is not None:  # this process's threads: the compiled path
                        fn = checker.range
                    pending.append(pool.submit(fn, *args))
                    while len(pending) > 2 * workers:
                        settle(pending.popleft().result())
                while pending:
                    settle(pending.popleft().result())
            finally:
                for future in pending:
                    future.cancel()
    finally:
        close = getattr(entries, "close", None)
        if close is not None:
            close()  # a streaming read holds a transaction open
    if last is not None and last.seq > top:
        stray = _first_entry(store, EntryFilter(first_seq=top + 1))
        if stray is not None:  # the next entry in order, where the sequential verifier stops
            message = f"expected sequence {expected} (entry missing or reordered)"
            raise _fail(stray.seq, message)
    return check_head(expected - 1, prev, covered, head, key), compiled


@contextmanager
def _executor(
    store: LedgerStore,
    key: Ed25519PublicKey,
    shredded: frozenset[str],
    workers: int,
    raw: bytes,
    url: str | None,
    scan: Scanner | None,
) -> Iterator[tuple[Executor, _Checker | None]]:
    """Where spans are checked: on threads of this process when the compiled fast path reads
    the store (``scan``: it runs without the GIL, and threads cost no start-up), else on
    worker processes, each with a store of its own (and the pure-Python path)."""
    if scan is not None:
        with ThreadPoolExecutor(workers, thread_name_prefix="ledger-verify") as threads:
            yield threads, _Checker(key, shredded, store, scan)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init, initargs=(raw, shredded, url, False)
    ) as processes:
        yield processes, None


def _first_entry(store: LedgerStore, where: EntryFilter) -> StoredEntry | None:
    found = store.entries(where)
    try:
        return next(found, None)
    finally:
        close = getattr(found, "close", None)
        if close is not None:
            close()  # a streaming read holds a transaction open


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


__all__ = ["verify_store_parallel"]
