"""The gateway's own database: one SQLAlchemy engine per URL (SQLite by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import SQLModel, create_engine

from gateway.errors import LedgerUnavailable
from gateway.files import touch_private


def make_engine(url: str, *, create: bool = True, writable: bool | None = None) -> Engine:
    """An engine for ``url``. ``create=False`` is for tools on an existing ledger such as
    ``ledger verify``: a SQLite file must then exist (a mistyped path is an error, not a new
    empty database that "verifies"), and is opened read-only unless ``writable``."""
    writable = create if writable is None else writable
    if not url.startswith("sqlite:///"):
        return create_engine(url, pool_pre_ping=True)
    path = url.removeprefix("sqlite:///")
    memory = path in ("", ":memory:")
    if create and not memory:
        touch_private(Path(path))  # 0600 from the first byte
    if not create and not memory:
        if not Path(path).is_file():
            raise LedgerUnavailable(f"no database file at {path}")
        mode = "rw" if writable else "ro"
        url = f"sqlite:///file:{Path(path).resolve()}?mode={mode}&uri=true"
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if create:
            # WAL lets readers run while the ledger appends; foreign keys keep links honest.
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    return engine


def create_schema(engine: Engine) -> None:
    # Import the table modules so their metadata is registered before create_all.
    import gateway.auth.clients
    import gateway.cases.models
    import gateway.ledger.periods
    import gateway.ledger.store  # noqa: F401

    SQLModel.metadata.create_all(engine)
