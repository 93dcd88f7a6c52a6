"""The signals' tables (SQLAlchemy Core; changed only through the Alembic migrations).

A signal row holds the matching pseudonym (never a BSN, never the ledger's subject pseudonym),
the signalling organisation, the area and whom to call. ``live`` is empty while the signal is
active and the signal's own id afterwards, so "one active signal per (organisation, person,
area)" is a plain unique constraint on both databases.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint
from sqlmodel import SQLModel

signal = Table(
    "signal",
    SQLModel.metadata,
    Column("id", String(), primary_key=True),
    # NOTE: no index of its own: uq_signal_live leads with org_oin (migration 0004).
    Column("org_oin", String(), nullable=False),
    Column("org_type", String(), nullable=False),
    Column("role", String(), nullable=False),
    Column("pseudonym", String(64), nullable=False, index=True),
    Column("area", String(), nullable=False),
    Column("contact", Text(), nullable=False),
    Column("consent", Boolean(), nullable=False),
    Column("registered_at", String(), nullable=False),
    Column("active_until", String(), nullable=False, index=True),
    Column("kept_until", String(), nullable=False, index=True),
    Column("status", String(), nullable=False),
    Column("live", String(), nullable=False),
    Column("policy_version", String(), nullable=False),
    Column("seal", String(), nullable=True),  # gateway/rowseals.py
    UniqueConstraint("org_oin", "pseudonym", "area", "live", name="uq_signal_live"),
)

signal_match = Table(
    "signal_match",
    SQLModel.metadata,
    Column("id", String(), primary_key=True),
    Column("signal_a", String(), nullable=False),
    Column("signal_b", String(), nullable=False),
    Column("org_a", String(), nullable=False),
    Column("org_b", String(), nullable=False),
    # Whether b's area is shown to a (the policy's reveal_area for a learning of b), and back.
    Column("reveal_to_a", Boolean(), nullable=False),
    Column("reveal_to_b", Boolean(), nullable=False),
    Column("matched_at", String(), nullable=False),
    # "pending" until the match is ledgered; only a ledgered match is ever shown or sent.
    Column("state", String(), nullable=False),
    Column("seal", String(), nullable=True),  # gateway/rowseals.py
    UniqueConstraint("signal_a", "signal_b", name="uq_signal_match_pair"),
    Index("ix_signal_match_org_a", "org_a", "matched_at"),
    Index("ix_signal_match_org_b", "org_b", "matched_at"),
    Index("ix_signal_match_signal_b", "signal_b"),
)

signal_delivery = Table(
    "signal_delivery",
    SQLModel.metadata,
    Column("id", String(), primary_key=True),
    Column("client_id", String(), nullable=False),
    Column("match_id", String(), nullable=False, index=True),
    Column("payload", Text(), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", String(), nullable=False),
    Column("status", String(), nullable=False),
    Column("last_error", String(), nullable=False),
    Column("created_at", String(), nullable=False),
    Column("seal", String(), nullable=True),  # gateway/rowseals.py
    Index("ix_signal_delivery_due", "status", "next_attempt_at"),
)

client_webhook = Table(
    "client_webhook",
    SQLModel.metadata,
    Column("client_id", String(), primary_key=True),
    Column("url", String(), nullable=False),
    Column("created_at", String(), nullable=False),
    Column("seal", String(), nullable=True),  # gateway/rowseals.py
)

signal_key_state = Table(
    "signal_key_state",
    SQLModel.metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("fingerprint", String(), nullable=False),
    Column("generation", Integer(), nullable=False),
    Column("changed_at", String(), nullable=False),
)
