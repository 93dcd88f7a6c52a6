"""Ledger stores behind one seam (:class:`~gateway.ledger.stores.base.LedgerStore`)."""

from __future__ import annotations

from sqlalchemy import Engine

from gateway.errors import ConfigurationError
from gateway.ledger.stores.base import (
    EntryFilter,
    LedgerStore,
    PeriodKey,
    StoredEntry,
    StoredHead,
)
from gateway.ledger.stores.memory import MemoryStore
from gateway.ledger.stores.postgres import PostgresStore
from gateway.ledger.stores.sqlite import SqliteStore

__all__ = [
    "EntryFilter",
    "LedgerStore",
    "MemoryStore",
    "PeriodKey",
    "StoredEntry",
    "StoredHead",
    "open_store",
    "store_for",
]


def open_store(url: str, *, writable: bool = False) -> LedgerStore:
    """An existing ledger, for the auditor's tools: never creates a database (a mistyped
    path is an error, not a new empty ledger that "verifies"); read-only unless ``writable``."""
    from gateway.db import make_engine

    return store_for(make_engine(url, create=False, writable=writable))


def store_for(engine: Engine) -> LedgerStore:
    """The ledger store for the gateway database behind ``engine``."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        return SqliteStore(engine)
    if dialect == "postgresql":
        return PostgresStore(engine)
    raise ConfigurationError(f"no ledger store for the {dialect} database")
