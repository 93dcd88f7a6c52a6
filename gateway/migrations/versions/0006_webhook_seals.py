"""Seals on client webhooks and queued notifications (ADR 0017).

A webhook set before this version has no seal: `gateway registry seal` seals it (the server does
not start until then). A notification queued before this version is not sent: it fails its
seal when its turn comes, and that is ledgered (``signal.notify``, deny); the match itself is
still in ``GET /v1/signals/matches``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TABLES = ("client_webhook", "signal_delivery")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("seal", sa.String(), nullable=True))


def downgrade() -> None:
    for table in reversed(_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("seal")
