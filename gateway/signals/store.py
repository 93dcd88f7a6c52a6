"""The signals' rows as plain values, and the statements the service runs on them.

Statements on the registration path are built once: building one costs more than running it on
SQLite. Writes go through :func:`writer_for` and :func:`one_at_a_time`, which make the
transactions that store signals on one person run one after another on both databases.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.errors import KeyUnavailable
from gateway.signals.pseudonyms import SignalKeys
from gateway.signals.tables import signal, signal_key_state, signal_match

KEY_STATE = select(signal_key_state.c.fingerprint).where(signal_key_state.c.id == 1)
LIVE = select(signal).where(
    signal.c.org_oin == bindparam("oin"),
    signal.c.pseudonym == bindparam("p"),
    signal.c.area == bindparam("area"),
    signal.c.live == "",
)
OTHERS = select(signal).where(
    signal.c.pseudonym == bindparam("p"),
    signal.c.status == "active",
    signal.c.org_oin != bindparam("oin"),
    signal.c.active_until > bindparam("now"),
)
LATE = select(signal).where(
    signal.c.pseudonym == bindparam("p"),
    signal.c.status == "active",
    signal.c.org_oin != bindparam("oin"),
    signal.c.registered_at >= bindparam("since"),
)
_IGNORING = {
    (dialect, table.name): make(table).on_conflict_do_nothing()
    for dialect, make in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
    for table in (signal, signal_match)
}
"""INSERT … ON CONFLICT DO NOTHING: a duplicate is skipped inside the transaction (a savepoint
would, on SQLite, commit the transaction it starts)."""


def insert_new(conn: Connection, table: Table, row: Mapping[str, Any]) -> bool:
    """Insert ``row`` unless it conflicts with a unique constraint; True if inserted."""
    return bool(conn.execute(_IGNORING[(conn.dialect.name, table.name)], dict(row)).rowcount)


@dataclass(frozen=True)
class SignalRow:
    id: str
    org_oin: str
    org_type: str
    role: str
    area: str
    contact: dict[str, str]
    registered_at: str
    active_until: str
    kept_until: str
    status: str
    consent: bool = False

    def view(self) -> dict[str, Any]:
        """What the signalling organisation sees of its own signal."""
        return {
            "signal_id": self.id,
            "area": self.area,
            "contact": self.contact,
            "registered_at": self.registered_at,
            "active_until": self.active_until,
            "kept_until": self.kept_until,
            "status": self.status,
        }

    def policy_view(self) -> dict[str, str]:
        return {"org_type": self.org_type, "role": self.role, "area": self.area}


def row_of(r: Any) -> SignalRow:
    return SignalRow(
        id=r.id,
        org_oin=r.org_oin,
        org_type=r.org_type,
        role=r.role,
        area=r.area,
        contact=json.loads(r.contact),
        registered_at=r.registered_at,
        active_until=r.active_until,
        kept_until=r.kept_until,
        status=r.status,
        consent=bool(r.consent),
    )


@dataclass(frozen=True)
class Seen:
    """What a registration read before it was decided."""

    fingerprint: str
    pseudonym: str
    existing: SignalRow | None
    others: list[SignalRow]
    at: str


def match_row(
    mine: SignalRow, other: SignalRow, mine_sees: bool, other_sees: bool, now: str
) -> dict[str, Any]:
    a, b = (mine, other) if mine.id < other.id else (other, mine)
    return {
        "id": "match-" + secrets.token_hex(10),
        "signal_a": a.id,
        "signal_b": b.id,
        "org_a": a.org_oin,
        "org_b": b.org_oin,
        "reveal_to_a": mine_sees if a is mine else other_sees,
        "reveal_to_b": other_sees if a is mine else mine_sees,
        "matched_at": now,
        "state": "pending",
    }


@dataclass
class KeyHolder:
    """The matching key chain in use, and a way to read the chain from disk again when the
    database says another process rotated it (``signal_key_state``)."""

    keys: SignalKeys
    reload: Callable[[], SignalKeys] | None = None

    def current(self, conn: Connection) -> SignalKeys:
        state = conn.execute(KEY_STATE).scalar_one_or_none()
        if state is None or state == self.keys.fingerprint:
            return self.keys
        if self.reload is not None:
            fresh = self.reload()
            if fresh.fingerprint == state:
                self.keys = fresh
                return fresh
        raise KeyUnavailable(
            "signal-pseudonym.key is not the key the stored signals were made with; nothing "
            "was matched"
        )


def writer_for(db: Engine) -> Engine:
    """Where writes go: on a SQLite file an engine whose transactions take the write lock at
    BEGIN (so a transaction is one commit, and registrations on SQLite are serialised)."""
    if db.dialect.name == "sqlite" and db.url.database not in (None, "", ":memory:"):
        from gateway.ledger.stores.sqlite import immediate_engine

        return immediate_engine(db)
    return db


def one_at_a_time(conn: Connection, pseudonym: str) -> None:
    """Serialise the transactions that store signals on one person. SQLite does by itself (one
    writer); PostgreSQL runs them side by side under READ COMMITTED, where two registrations
    could each miss the other's uncommitted row — a transaction-scoped advisory lock on the
    pseudonym makes the second wait, and then see the first."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int(pseudonym[:15], 16)})
