"""A connector for any source reachable through SQLAlchemy (one table, keyed by BSN).

The SELECT names only the columns the decision allows; column names are checked against the
connector's known columns before any SQL is built, and are quoted by SQLAlchemy. Values stored
as JSON text (lists) are decoded for fields whose catalogue type is ``list``.

SQLAlchemy builds each projection's statement once, compiled for the source's dialect; a fetch
runs that text on the driver's cursor of a pooled connection (the pool still checks out,
pings a network database and resets). A family overview makes seven fetches, and SQLAlchemy's
per-statement machinery cost more than the indexed lookup itself.

A source that is a local SQLite file, looked up by an indexed key, also offers the *local path*
(:class:`~connectors.interface.LocalConnector`): the gateway reads it on its event loop, on a
read-only connection of that thread's own that never waits — no busy timeout (a locked file is
:class:`~connectors.interface.WouldWait` at once) and a progress handler that interrupts a read
that has used :data:`LOCAL_BUDGET_SECONDS` of CPU time — and runs the fetch on the source's
lane whenever the local path declines.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeEngine

from connectors.interface import ConnectorError, SubjectKey, WouldWait
from gateway.db import Reads

LOCAL_BUDGET_SECONDS = 0.002
"""The most CPU time a local read may take on the event loop's thread before it is interrupted
and handed to the source's lane (an indexed lookup takes tens of microseconds). CPU time, not
wall time: the progress handler is Python, and under load it may first wait for the GIL — a
wait that is not the read's own work (with a wall-clock deadline, reads were interrupted that
way and their sources paused)."""
_PROGRESS_STEPS = 1_000
"""SQLite virtual-machine steps between two looks at the clock: an indexed lookup of one row
finishes before the first look."""

_COLUMN_TYPES: dict[str, type[TypeEngine[Any]]] = {
    "bool": Boolean,
    "int": Integer,
    "money": Integer,
}


def records_table(columns: Mapping[str, str], table: str = "records", key: str = "bsn") -> Table:
    """The shape of a source table: the key plus one column per offered field, typed by the
    field's catalogue type (lists are JSON text, dates ISO-8601 text)."""
    return Table(
        table,
        MetaData(),
        Column(key, String, primary_key=True),
        *(Column(name, _COLUMN_TYPES.get(kind, Text)()) for name, kind in columns.items()),
    )


class _LoopReads(threading.local):
    """Per thread (in practice: per event loop): its read-only connection and the deadline its
    progress handler enforces."""

    conn: sqlite3.Connection | None = None
    deadline: float = 0.0


@dataclass(frozen=True)
class _Query:
    """One projection's SELECT, compiled for the source's dialect: its text, the fields in
    the order the row holds them, and whether the driver takes its one parameter (the
    subject's digits) by position or by name."""

    sql: str
    fields: tuple[str, ...]
    positional: bool


class SqlConnector:
    def __init__(
        self,
        source: str,
        url: str,
        *,
        columns: Mapping[str, str],
        table: str = "records",
        key_column: str = "bsn",
    ) -> None:
        """``columns`` maps each field the source offers to its catalogue type."""
        self._source = source
        self._types = dict(columns)
        # NOTE: no pre-ping for a local SQLite file (it would cost a round trip per fetch);
        # a network database is pinged, so a dropped connection is replaced, not an error.
        self._engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        self._driver_error: type[Exception] = self._engine.dialect.loaded_dbapi.Error
        self._statements: dict[tuple[str, ...], _Query] = {}
        self._table = records_table(self._types, table, key_column)
        self._key = self._table.c[key_column]
        self._local_file = _local_sqlite_file(self._engine.url.get_backend_name(), url)
        self._is_local: bool | None = None
        self._loop_reads = _LoopReads()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()

    @property
    def source(self) -> str:
        return self._source

    def statement_for(self, fields: Sequence[str]) -> _Query:
        key = tuple(fields)
        found = self._statements.get(key)
        if found is None:
            found = self._build(key)
            if len(self._statements) < 1024:  # bounded: field subsets are many in theory
                self._statements[key] = found
        return found

    def _build(self, fields: Sequence[str]) -> _Query:
        unknown = [f for f in fields if f not in self._types]
        if unknown or not fields:
            raise ConnectorError(f"{self._source}: asked for fields it does not offer")
        statement = select(*(self._table.c[f] for f in fields)).where(
            self._key == bindparam("subject")
        )
        compiled = statement.compile(dialect=self._engine.dialect)
        return _Query(str(compiled), tuple(fields), bool(compiled.positional))

    def fetch(self, subject: SubjectKey, fields: Sequence[str]) -> Mapping[str, Any] | None:
        query = self.statement_for(fields)
        params: Any = (subject.digits,) if query.positional else {"subject": subject.digits}
        try:
            with Reads(self._engine) as reads:  # the pool's driver connection, no wrapper
                cursor = reads.raw.cursor()
                try:
                    cursor.execute(query.sql, params)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
        except (SQLAlchemyError, self._driver_error) as exc:
            raise self._failure(exc) from None
        return self._record(query, row)

    def _failure(self, exc: Exception) -> ConnectorError:
        # NOTE: the driver's message can contain the bound BSN; do not chain its text.
        return ConnectorError(f"{self._source}: query failed ({exc.__class__.__name__})")

    def _record(self, query: _Query, row: Sequence[Any] | None) -> Mapping[str, Any] | None:
        if row is None:
            return None
        return {f: self._decode(f, value) for f, value in zip(query.fields, row, strict=True)}

    # -- the local path (connectors/interface.py: LocalConnector) --------------------------------

    @property
    def is_local(self) -> bool:
        """A local SQLite file whose key lookup the query planner answers from an index
        (a full scan could hold the event loop); worked out once, when the gateway starts."""
        if self._is_local is None:
            self._is_local = self._local_file is not None and self._indexed_lookup()
        return self._is_local

    def _indexed_lookup(self) -> bool:
        probe = select(self._key).where(self._key == bindparam("subject"))
        sql = str(probe.compile(dialect=self._engine.dialect))
        try:
            conn = self._connect_local()
            try:
                plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("",)).fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            return False  # no file or no table yet: the lane path reports it per fetch
        steps = [str(row[-1]) for row in plan]
        return bool(steps) and all(step.startswith("SEARCH") for step in steps)

    def _connect_local(self) -> sqlite3.Connection:
        assert self._local_file is not None
        # mode=ro: this path can never write to a source; timeout=0: a lock is not waited for.
        return sqlite3.connect(
            f"{self._local_file}?mode=ro", uri=True, timeout=0, check_same_thread=False
        )

    def fetch_local(self, subject: SubjectKey, fields: Sequence[str]) -> Mapping[str, Any] | None:
        query = self.statement_for(fields)
        here = self._loop_reads
        conn = here.conn if here.conn is not None else self._open_for(here)
        here.deadline = time.thread_time() + LOCAL_BUDGET_SECONDS
        try:
            row = conn.execute(query.sql, (subject.digits,)).fetchone()
        except sqlite3.OperationalError:
            # Interrupted past its budget, or the file is locked: the lane reads it instead
            # (and reports any real failure there). Nothing of the driver's text is kept.
            raise WouldWait(self._source) from None
        except sqlite3.Error as exc:
            raise self._failure(exc) from None
        return self._record(query, row)

    def _open_for(self, here: _LoopReads) -> sqlite3.Connection:
        try:
            conn = self._connect_local()
        except sqlite3.Error:
            raise WouldWait(self._source) from None
        conn.set_progress_handler(lambda: time.thread_time() > here.deadline, _PROGRESS_STEPS)
        with self._opened_lock:
            self._opened.append(conn)
        here.conn = conn
        return conn

    def _decode(self, field: str, value: Any) -> Any:
        if value is None:
            return None
        kind = self._types[field]
        if kind == "list" and isinstance(value, str):
            return json.loads(value)
        if kind == "bool" and isinstance(value, int):
            return bool(value)  # SQLite keeps booleans as 0/1
        return value

    def dispose(self) -> None:
        self._engine.dispose()
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()


def _local_sqlite_file(backend: str, url: str) -> str | None:
    """The ``file:`` URI of the SQLite file ``url`` names, or None (another database, or an
    in-memory one: each connection would see a database of its own)."""
    if backend != "sqlite":
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve().as_uri()
