"""Two indexes fewer on the write path: each covered by a composite index on the same columns.

``ix_ledger_entry_purpose`` is the leading column of ``ix_ledger_entry_purpose_time``, and
``ix_signal_org_oin`` the leading column of ``uq_signal_live``: every query that used one can use
the other. Each index is a B-tree page a commit writes (and on SQLite a WAL frame and its share
of the fsync): a signal registration wrote ~17 pages, now ~15.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entry_purpose")
    with op.batch_alter_table("signal", schema=None) as batch_op:
        batch_op.drop_index("ix_signal_org_oin")


def downgrade() -> None:
    with op.batch_alter_table("signal", schema=None) as batch_op:
        batch_op.create_index("ix_signal_org_oin", ["org_oin"], unique=False)
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entry_purpose", ["purpose"], unique=False)
