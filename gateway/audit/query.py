"""Finding ledger entries by what the public header holds — data subject (through the keyed
pseudonym of a BSN), organisation, purpose, case, outcome, review flag, period — without
decrypting anything that does not match."""

from __future__ import annotations

from collections.abc import Iterator

from gateway.ledger.stores.base import EntryFilter as Filter
from gateway.ledger.stores.base import LedgerStore, StoredEntry

__all__ = ["Filter", "entries"]


def entries(store: LedgerStore, where: Filter) -> Iterator[StoredEntry]:
    return store.entries(where)
