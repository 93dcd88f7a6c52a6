"""A connector for any source reachable through SQLAlchemy (one table, keyed by BSN).

The SELECT names only the columns the decision allows; column names are checked against the
connector's known columns before any SQL is built, and are quoted by SQLAlchemy. Values stored
as JSON text (lists) are decoded for fields whose catalogue type is ``list``.

SQLAlchemy builds each projection's statement once, compiled for the source's dialect; a fetch
runs that text on the driver's cursor of a pooled connection (the pool still checks out,
pings a network database and resets). A family overview makes seven fetches, and SQLAlchemy's
per-statement machinery cost more than the indexed lookup itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeEngine

from connectors.interface import ConnectorError, SubjectKey
from gateway.db import Reads

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
            # NOTE: the driver's message can contain the bound BSN; do not chain its text.
            raise ConnectorError(
                f"{self._source}: query failed ({exc.__class__.__name__})"
            ) from None
        if row is None:
            return None
        return {f: self._decode(f, value) for f, value in zip(query.fields, row, strict=True)}

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
