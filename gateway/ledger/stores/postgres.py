"""The ledger in PostgreSQL: several gateway processes (replicas) appending to one ledger.

Every append locks the head row (``SELECT … FOR UPDATE``) in its transaction, so appends from
all processes are serialised into one order; the genesis head is inserted once, before any
append, so even the very first appends of an empty ledger have a row to lock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert

from gateway.ledger.stores.sql import SqlStore
from gateway.ledger.tables import ledger_head


class PostgresStore(SqlStore):
    name = "postgresql"

    def _lock_head(self, conn: Connection) -> RowMapping | None:
        return (
            conn.execute(select(ledger_head).where(ledger_head.c.id == 1).with_for_update())
            .mappings()
            .first()
        )

    def _insert_ignoring_conflict(self, conn: Connection, table: Any, row: dict[str, Any]) -> None:
        conn.execute(postgresql_insert(table).values(**row).on_conflict_do_nothing())
