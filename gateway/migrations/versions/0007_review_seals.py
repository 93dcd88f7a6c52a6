"""Seals on break-glass sign-offs (ADR 0017).

A sign-off made before this version has no seal: `gateway registry seal` seals it (the server
does not start until then); until it is sealed it counts as no sign-off.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("break_glass_review", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seal", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("break_glass_review", schema=None) as batch_op:
        batch_op.drop_column("seal")
