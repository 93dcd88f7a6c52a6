"""An in-memory ledger store: the fake the tests use instead of dropping tables.

It keeps the same promises as the SQL stores (one order, a head that moves only with its
entries, an append that either lands whole or not at all) and can be told to fail: ``broken``
makes every operation raise :class:`LedgerUnavailable` as an unreachable database would;
``fail_appends`` fails only appends (a full disk); ``replaced`` makes ``check_alive`` fail as a
deleted database file does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace

from sqlalchemy import Engine

from gateway.errors import LedgerUnavailable
from gateway.ledger.stores.base import (
    Also,
    Build,
    EntryFilter,
    PeriodKey,
    StoredEntry,
    StoredHead,
    Tip,
)


def _matches(entry: StoredEntry, where: EntryFilter) -> bool:
    facts = entry.header.facts
    for name in ("requester_oin", "purpose", "case_id", "outcome", "review", "action"):
        wanted = getattr(where, name)
        if wanted is not None and getattr(facts, name) != wanted:
            return False
    if where.subject is not None and entry.subject != where.subject:
        return False
    if where.since and entry.header.time < where.since:
        return False
    if where.first_seq is not None and entry.seq < where.first_seq:
        return False
    if where.last_seq is not None and entry.seq > where.last_seq:
        return False
    return not (where.until and entry.header.time >= where.until)


class MemoryStore:
    name = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[StoredEntry] = []
        self._head: StoredHead | None = None
        self._keys: dict[str, PeriodKey] = {}
        self.broken: str | None = None
        self.fail_appends = False
        self.replaced = False

    def _up(self) -> None:
        if self.broken is not None:
            raise LedgerUnavailable(self.broken)

    # -- tampering, for drills ----------------------------------------------------------------

    def rewrite(self, seq: int, entry: StoredEntry) -> None:
        """Replace the stored entry at ``seq`` (as someone with database access could)."""
        self._entries[seq - 1] = entry

    def truncate(self, size: int) -> None:
        del self._entries[size:]

    # -- LedgerStore --------------------------------------------------------------------------

    def close(self) -> None:
        return None

    def check_alive(self) -> None:
        self._up()
        if self.replaced:
            raise LedgerUnavailable("the ledger's database file was removed or replaced")

    def ensure_genesis(self, head: StoredHead) -> None:
        self._up()
        with self._lock:
            if self._head is None:
                self._head = head

    def head(self) -> StoredHead | None:
        self._up()
        return self._head

    def joins(self, engine: Engine) -> bool:
        return False  # no database: a caller's rows are written in a transaction of their own

    def append(self, build: Build, also: Also | None = None) -> None:
        if also is not None:
            raise TypeError("a memory store joins no database transaction (see joins())")
        self._up()
        with self._lock:
            if self._head is None:
                raise LedgerUnavailable("the ledger has no head (its store was emptied?)")
            seq = self._head.seq
            named = self._entries[seq - 1].entry_hash if 0 < seq <= len(self._entries) else None
            in_force = next(
                (
                    e.header.facts.policy_version
                    for e in reversed(self._entries)
                    if e.header.facts.action == "policy.activate"
                ),
                None,
            )
            entries, head = build(self._head, Tip(named, in_force))
            if self.fail_appends:
                raise LedgerUnavailable("the access ledger could not record the decision")
            if any(e.seq != len(self._entries) + i + 1 for i, e in enumerate(entries)):
                raise LedgerUnavailable("sequence conflict")  # as a primary key would
            self._entries.extend(entries)
            self._head = replace(head, store_id=self._head.store_id)

    def entries(self, where: EntryFilter | None = None) -> Iterator[StoredEntry]:
        self._up()
        for entry in list(self._entries):
            if where is None or _matches(entry, where):
                yield entry

    def entry(self, seq: int) -> StoredEntry | None:
        self._up()
        return self._entries[seq - 1] if 0 < seq <= len(self._entries) else None

    def last(self) -> StoredEntry | None:
        self._up()
        return self._entries[-1] if self._entries else None

    def head_and_last(self) -> tuple[StoredHead | None, tuple[int, str] | None]:
        self._up()
        with self._lock:
            last = self._entries[-1] if self._entries else None
            return self._head, None if last is None else (last.seq, last.entry_hash)

    def reopen_url(self) -> str | None:
        return None

    def entry_hashes(self) -> Iterator[str]:
        self._up()
        return iter([e.entry_hash for e in self._entries])

    def count(self) -> int:
        self._up()
        return len(self._entries)

    def first_malformed(self) -> int | None:
        self._up()
        for e in self._entries:
            if not isinstance(e.header.facts.review, bool):
                return e.seq
        return None

    def add_period_key(self, key: PeriodKey) -> PeriodKey:
        self._up()
        with self._lock:
            for existing in self._keys.values():
                if (existing.scope, existing.period, existing.auditor_key_id) == (
                    key.scope,
                    key.period,
                    key.auditor_key_id,
                ):
                    return existing
            self._keys[key.key_id] = key
            return key

    def period_key(self, key_id: str) -> PeriodKey | None:
        self._up()
        return self._keys.get(key_id)

    def period_keys(self, *, live: bool) -> list[PeriodKey]:
        self._up()
        keys = sorted(self._keys.values(), key=lambda k: (k.period, k.scope))
        return [k for k in keys if not live or k.destroyed_at is None]

    def shred(self, key_ids: Sequence[str], destroyed_at: str) -> None:
        self._up()
        with self._lock:
            for key_id in key_ids:
                key = self._keys.get(key_id)
                if key is None or key.destroyed_at is not None:
                    continue
                self._keys[key_id] = replace(key, sealed_private="", destroyed_at=destroyed_at)
                for i, e in enumerate(self._entries):
                    if e.header.facts.purpose == key.scope and e.header.time.startswith(key.period):
                        self._entries[i] = replace(e, subject=None, subject_salt=None)
