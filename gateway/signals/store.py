"""The signals' rows as plain values, and the statements the service runs on them.

The statements on the registration path are plain SQL from the table definitions, run on the
driver's cursor (``gateway.db.Sql``: a registration's reads took 0.73 ms through SQLAlchemy
Core, 0.32 ms so, at 10^5 signals on SQLite). Writes go through :func:`writer_for` and
:func:`one_at_a_time`, which make the transactions that store signals on one person run one
after another on both databases.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from sqlalchemy import ColumnElement, Connection, Engine, Table, select, text, update

from gateway.db import Sql
from gateway.errors import KeyUnavailable, RegistryTampered
from gateway.rowseals import Row, RowSeals
from gateway.signals.pseudonyms import SignalKeys
from gateway.signals.tables import signal, signal_match

log = structlog.get_logger("gateway.registry")

SignalTable = Literal["signal", "signal_match"]

# Column names from the table definitions, never from input.
_SIGNAL_COLUMNS = tuple(c.name for c in signal.columns)
_SIGNALS = "SELECT {} FROM signal WHERE ".format(", ".join(_SIGNAL_COLUMNS))  # noqa: S608
KEY_STATE = Sql("SELECT fingerprint FROM signal_key_state WHERE id = 1")
LIVE = Sql(_SIGNALS + "org_oin = :oin AND pseudonym = :p AND area = :area AND live = ''")
OTHERS = Sql(
    _SIGNALS + "pseudonym = :p AND status = 'active' AND org_oin != :oin AND active_until > :now"
)
LATE = Sql(
    _SIGNALS + "pseudonym = :p AND status = 'active' AND org_oin != :oin "
    "AND registered_at >= :since"
)
PAIRED = Sql("SELECT signal_a, signal_b FROM signal_match WHERE signal_a = :id OR signal_b = :id")


def _ignoring(table: Table) -> Sql:
    names = [c.name for c in table.columns]
    return Sql(
        f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608
        f"VALUES ({', '.join(':' + n for n in names)}) ON CONFLICT DO NOTHING"
    )


_IGNORING = {table.name: _ignoring(table) for table in (signal, signal_match)}
"""INSERT … ON CONFLICT DO NOTHING (the same SQL on both databases): a duplicate is skipped
inside the transaction (a savepoint would, on SQLite, commit the transaction it starts)."""


def insert_new(conn: Connection, table: Table, row: Mapping[str, Any]) -> bool:
    """Insert ``row`` unless it conflicts with a unique constraint; True if inserted."""
    return bool(_IGNORING[table.name].run(conn, row).rowcount)


def signals(
    conn: Connection, statement: Sql, params: Mapping[str, Any], seals: RowSeals
) -> list[SignalRow]:
    """The signals a ``SELECT`` of every signal column finds, as plain values, each checked
    against its seal (a registration is matched with what they say)."""
    found = statement.run(conn, params).fetchall()
    for values in found:
        require_sealed(seals, "signal", dict(zip(_SIGNAL_COLUMNS, values, strict=True)))
    return [row_of(values) for values in found]


def require_sealed(seals: RowSeals, table: SignalTable, row: Row) -> None:
    """Raise unless ``row`` matches its seal (ADR 0017): nothing is matched, told or sent on
    a row written behind the gateway's back."""
    if not seals.check(table, row):
        # NOTE: the table only: no signal id, no pseudonym in the log.
        log.error("registry.seal_mismatch", table=table)
        raise RegistryTampered("a signal row does not match its seal")


def reseal(
    conn: Connection,
    seals: RowSeals,
    table: Table,
    row_id: str,
    *where: ColumnElement[bool],
    **values: Any,
) -> int:
    """Change row ``row_id`` (where ``where`` holds) to ``values``, and seal it anew — only if
    its seal held before: a change never launders a forged row (it keeps failing its check).
    The number of rows changed."""
    name: SignalTable = table.name  # type: ignore[assignment]
    found = conn.execute(select(table).where(table.c.id == row_id, *where)).first()
    if found is None:
        return 0
    row = dict(found._mapping)
    seal = row["seal"]
    if seals.check(name, row):
        seal = seals.seal(name, {**row, **values})
    else:
        log.error("registry.seal_mismatch", table=name)
    changed = update(table).where(table.c.id == row_id, *where).values(**values, seal=seal)
    return conn.execute(changed).rowcount


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


_AT = {name: i for i, name in enumerate(_SIGNAL_COLUMNS)}


def row_of(values: Sequence[Any]) -> SignalRow:
    """A signal from a row of every signal column in the table's order (a driver row, or a
    SQLAlchemy row of ``select(signal)``)."""
    return SignalRow(
        id=values[_AT["id"]],
        org_oin=values[_AT["org_oin"]],
        org_type=values[_AT["org_type"]],
        role=values[_AT["role"]],
        area=values[_AT["area"]],
        contact=json.loads(values[_AT["contact"]]),
        registered_at=values[_AT["registered_at"]],
        active_until=values[_AT["active_until"]],
        kept_until=values[_AT["kept_until"]],
        status=values[_AT["status"]],
        consent=bool(values[_AT["consent"]]),
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
    mine: SignalRow,
    other: SignalRow,
    mine_sees: bool,
    other_sees: bool,
    now: str,
    seals: RowSeals,
    state: str = "pending",
) -> dict[str, Any]:
    a, b = (mine, other) if mine.id < other.id else (other, mine)
    row = {
        "id": "match-" + secrets.token_hex(10),
        "signal_a": a.id,
        "signal_b": b.id,
        "org_a": a.org_oin,
        "org_b": b.org_oin,
        "reveal_to_a": mine_sees if a is mine else other_sees,
        "reveal_to_b": other_sees if a is mine else mine_sees,
        "matched_at": now,
        "state": state,
    }
    return {**row, "seal": seals.seal("signal_match", row)}


@dataclass
class KeyHolder:
    """The matching key chain in use, and a way to read the chain from disk again when the
    database says another process rotated it (``signal_key_state``)."""

    keys: SignalKeys
    reload: Callable[[], SignalKeys] | None = None

    def current(self, conn: Connection) -> SignalKeys:
        found = KEY_STATE.run(conn).fetchone()
        state = None if found is None else found[0]
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
