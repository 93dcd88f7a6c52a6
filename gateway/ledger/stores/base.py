"""The ledger store seam: what the writer, the verifier and the auditor's tools need from the
database holding the ledger, as plain values.

Implementations: :mod:`.sqlite` (embedded default; one writer at a time per file, any number of
processes), :mod:`.postgres` (several gateway processes appending to one ledger) and
:mod:`.memory` (the fake the tests use, with switches to make it fail). Every database failure is
raised as :class:`~gateway.errors.LedgerUnavailable`: the caller must then release nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, Engine

from gateway.ledger.entry import Facts, Header


@dataclass(frozen=True)
class StoredEntry:
    header: Header
    body: str
    """The sealed body as stored: canonical JSON (verification checks it byte for byte)."""
    entry_hash: str
    seal: str | None
    """The head signature if this entry ended a committed group, else None."""
    subject: str | None
    """The subject pseudonym index; None once its retention period was shredded."""
    subject_salt: str | None

    @property
    def seq(self) -> int:
        return self.header.seq

    @property
    def time(self) -> str:
        return self.header.time

    @property
    def facts(self) -> Facts:
        return self.header.facts


@dataclass(frozen=True)
class StoredHead:
    seq: int
    entry_hash: str
    signature: str
    store_id: str
    """Random, set with the genesis head: a writer that finds another id was given another
    store (dropped and re-created, or swapped) and stops."""


@dataclass(frozen=True)
class PeriodKey:
    key_id: str
    scope: str
    """The purpose of the entries sealed with it ("" for the gateway's own events)."""
    period: str
    """YYYY-MM of the entries' time."""
    auditor_key_id: str
    public_key: str
    sealed_private: str
    """The private key sealed for the auditor; empty once destroyed."""
    created_at: str
    destroyed_at: str | None = None


@dataclass(frozen=True)
class EntryFilter:
    subject: str | None = None
    requester_oin: str | None = None
    purpose: str | None = None
    case_id: str | None = None
    outcome: str | None = None
    review: bool | None = None
    action: str | None = None
    since: str | None = None
    """RFC 3339 UTC, inclusive (entries are stamped the same way, so text order is time order)."""
    until: str | None = None
    """RFC 3339 UTC, exclusive."""
    first_seq: int | None = None
    """Sequence numbers from (inclusive)."""
    last_seq: int | None = None
    """Sequence numbers up to (inclusive)."""


@dataclass(frozen=True)
class Tip:
    """What an append learns under the ledger's write lock, besides the head."""

    entry_hash: str | None
    """The stored hash of the entry the head names (None if there is no such entry)."""
    policy_in_force: str | None
    """The version of the newest ``policy.activate`` entry (None before the first)."""


Build = Callable[[StoredHead, Tip], tuple[Sequence[StoredEntry], StoredHead]]
Also = Callable[[Connection], None]
"""Writes that must commit exactly when the entries do (``LedgerStore.append``)."""
"""Given the locked head and the hash of the stored entry it names (None if that entry is
missing), the entries to append and the new head — or raise to append nothing."""


class LedgerStore(Protocol):
    name: str
    """For messages: "sqlite", "postgresql", "memory"."""

    def close(self) -> None:
        """Release the store's own connections (not the engine it was given)."""

    def check_alive(self) -> None:
        """Raise LedgerUnavailable if the store was removed or replaced under a running writer."""

    def ensure_genesis(self, head: StoredHead) -> None:
        """Insert ``head`` as the genesis head unless a head exists (several writers may race)."""

    def head(self) -> StoredHead | None: ...

    def append(self, build: Build, also: Also | None = None) -> None:
        """One transaction under the store's write lock (all writers, all processes): read the
        head, call ``build``, insert its entries and move the head; durable when it returns.
        ``also`` (only where :meth:`joins` the caller's database) then writes the caller's own
        rows in the same transaction: they exist exactly when the entries recording them do."""

    def joins(self, engine: Engine) -> bool:
        """Whether ``also`` writes may go to ``engine``'s database in this store's
        transactions (the same database)."""
        ...

    def entries(self, where: EntryFilter | None = None) -> Iterator[StoredEntry]:
        """Stored entries in sequence order, streamed (memory stays flat at any size)."""

    def entry(self, seq: int) -> StoredEntry | None: ...

    def last(self) -> StoredEntry | None: ...

    def head_and_last(self) -> tuple[StoredHead | None, tuple[int, str] | None]:
        """The head and the last entry's (sequence, hash), read together: another process may
        append between two separate reads, and its head and entries move together."""
        ...

    def reopen_url(self) -> str | None:
        """A URL another process can open this store with (None: it lives in this process)."""
        ...

    def entry_hashes(self) -> Iterator[str]:
        """Every entry hash in sequence order (the Merkle tree's leaves), streamed."""

    def count(self) -> int: ...

    def first_malformed(self) -> int | None:
        """The first entry whose stored public columns hold a value outside their hashed form
        (e.g. ``review = 2``, which re-hashes as true but escapes ``WHERE review = 1``)."""

    def add_period_key(self, key: PeriodKey) -> PeriodKey:
        """Insert ``key`` unless its (scope, period, auditor) has one; return the one stored."""

    def period_key(self, key_id: str) -> PeriodKey | None: ...

    def period_keys(self, *, live: bool) -> list[PeriodKey]:
        """All period keys (``live``: only those not destroyed), by period."""

    def shred(self, key_ids: Sequence[str], destroyed_at: str) -> None:
        """Destroy these period keys and delete the subject index of the entries sealed under
        them, in one transaction."""
