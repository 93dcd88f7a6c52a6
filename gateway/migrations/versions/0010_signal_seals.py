"""Seals on signals and their matches (ADR 0017).

A signal or match stored before this version has no seal: `gateway registry seal` seals it (the
server does not start until then).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("signal", "signal_match"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("seal", sa.String(), nullable=True))


def downgrade() -> None:
    for table in ("signal", "signal_match"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("seal")
