"""Seals on the registry rows that decide who is given what (ADR 0017): clients, cases (with
their participants), linked people (with their consents) and console sessions.

The column is nullable: rows written before this version have no seal, and the gateway refuses
to start until an operator holding the keys seals them (`gateway registry seal`). A migration
cannot do it: it has no keys, and it must not make rows valid that nobody checked. A console
session without a seal is no session: its user signs in again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLES = ("client", "case", "case_subject", "console_session")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("seal", sa.String(), nullable=True))


def downgrade() -> None:
    for table in reversed(_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("seal")
