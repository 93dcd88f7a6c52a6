"""The consoles' tables (SQLAlchemy Core; changed only through the Alembic migrations).

A console session row is found by the SHA-256 of the browser's cookie, never by the cookie
itself: whoever reads the database cannot take over a session. The auditor's private key, where
an auditor supplied one for the session, is kept sealed under a key derived from that cookie, so
it opens only for a request that carries the cookie (docs/adr/0014-console-auditor-key.md).
"""

from __future__ import annotations

from sqlalchemy import Column, Index, LargeBinary, String, Table, Text
from sqlmodel import SQLModel

console_session = Table(
    "console_session",
    SQLModel.metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("subject", String(), nullable=False),
    Column("name", String(), nullable=False),
    Column("roles", String(), nullable=False),
    # space-separated console roles the provider asserted
    Column("csrf", String(), nullable=False),
    Column("created_at", String(), nullable=False),
    Column("last_seen_at", String(), nullable=False),
    Column("auditor_key", LargeBinary(), nullable=True),
    # Over who signed in, with which roles (gateway/rowseals.py): no forged row is a session.
    Column("seal", String(), nullable=True),
    Index("ix_console_session_last_seen", "last_seen_at"),
)

console_login = Table(
    "console_login",
    SQLModel.metadata,
    # SHA-256 of the browser's login cookie: the callback is accepted only from the browser
    # that started the sign-in (no login CSRF), and only once.
    Column("id_hash", String(64), primary_key=True),
    Column("state", String(), nullable=False),
    Column("nonce", String(), nullable=False),
    Column("verifier", String(), nullable=False),
    Column("created_at", String(), nullable=False),
)

break_glass_review = Table(
    "break_glass_review",
    SQLModel.metadata,
    # The reviewed decision, by its ledger entry hash: one review per break-glass release.
    Column("entry_hash", String(64), primary_key=True),
    Column("verdict", String(), nullable=False),
    Column("note", Text(), nullable=False),
    Column("reviewer", String(), nullable=False),
    Column("reviewed_at", String(), nullable=False),
    Column("seal", String(), nullable=True),  # gateway/rowseals.py
    # (the ledger's break_glass.review entry names the reviewed entry; both commit together)
)

policy_activation = Table(
    "policy_activation",
    SQLModel.metadata,
    # Each policy version the ledger announced (policy.activate), with where it came from, in
    # clear for the privacy officers' console (the ledger's body is sealed for the auditor).
    Column("id", String(32), primary_key=True),
    Column("version", String(), nullable=False),
    Column("previous", String(), nullable=True),
    Column("activated_at", String(), nullable=False),
    Column("kind", String(), nullable=False),
    Column("revision", String(), nullable=True),
    Column("signer", String(), nullable=True),
    Column("created", String(), nullable=True),
    Column("activated_by", String(), nullable=False),
    Column("seal", String(), nullable=True),  # gateway/rowseals.py
)
