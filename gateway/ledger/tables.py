"""The ledger's tables, for SQLite and PostgreSQL (SQLAlchemy Core; changed only through the
Alembic migrations in ``gateway/migrations``). The public columns are :data:`FACT_NAMES`, the
one list the header, the hash and the queries share."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlmodel import SQLModel

from gateway.ledger.entry import FACT_NAMES

_INDEXED = {"requester_oin", "case_id", "action"}
# NOTE: purpose has no index of its own: ix_ledger_entry_purpose_time leads with it, and every
# index is one more page each commit writes (migration 0004).


def _fact_column(name: str) -> Column[object]:
    kind = Boolean() if name == "review" else String()
    return Column(name, kind, nullable=False, index=name in _INDEXED)


ledger_entry = Table(
    "ledger_entry",
    SQLModel.metadata,
    Column(
        "seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("prev_hash", String(64), nullable=False),
    Column("time", String(), nullable=False, index=True),
    *(_fact_column(name) for name in FACT_NAMES),
    Column("subject_commit", String(64), nullable=False),
    Column("body", Text(), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    Column("seal", String(), nullable=True),
    # The index beside the hashed header (checked against subject_commit; deleted on shredding).
    Column("subject", String(), nullable=True, index=True),
    Column("subject_salt", String(32), nullable=True),
)
Index("ix_ledger_entry_purpose_time", ledger_entry.c.purpose, ledger_entry.c.time)
ENTRY_AT = {column.name: i for i, column in enumerate(ledger_entry.columns)}
"""Each ledger_entry column's position in a row that selects every column in table order."""

ledger_head = Table(
    "ledger_head",
    SQLModel.metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    Column("signature", String(), nullable=False),
    Column("store_id", String(), nullable=False),
)

ledger_period_key = Table(
    "ledger_period_key",
    SQLModel.metadata,
    Column("key_id", String(), primary_key=True),
    Column("scope", String(), nullable=False, index=True),
    Column("period", String(), nullable=False, index=True),
    Column("auditor_key_id", String(), nullable=False),
    Column("public_key", String(), nullable=False),
    Column("sealed_private", Text(), nullable=False),
    Column("created_at", String(), nullable=False),
    Column("destroyed_at", String(), nullable=True),
    UniqueConstraint("scope", "period", "auditor_key_id"),
)
