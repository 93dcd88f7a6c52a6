"""Seals on the policy activations the officers' console lists (ADR 0017).

An activation recorded before this version has no seal: `gateway registry seal` seals it (the
server does not start until then).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policy_activation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seal", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policy_activation", schema=None) as batch_op:
        batch_op.drop_column("seal")
