"""Consoles: sessions, pending sign-ins, break-glass reviews and policy activations (issue 10).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_session",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("roles", sa.String(), nullable=False),
        sa.Column("csrf", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("last_seen_at", sa.String(), nullable=False),
        sa.Column("auditor_key", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.create_index("ix_console_session_last_seen", ["last_seen_at"], unique=False)
    op.create_table(
        "console_login",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("nonce", sa.String(), nullable=False),
        sa.Column("verifier", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_table(
        "break_glass_review",
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reviewer", sa.String(), nullable=False),
        sa.Column("reviewed_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("entry_hash"),
    )
    op.create_table(
        "policy_activation",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("previous", sa.String(), nullable=True),
        sa.Column("activated_at", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("revision", sa.String(), nullable=True),
        sa.Column("signer", sa.String(), nullable=True),
        sa.Column("created", sa.String(), nullable=True),
        sa.Column("activated_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("policy_activation")
    op.drop_table("break_glass_review")
    op.drop_table("console_login")
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.drop_index("ix_console_session_last_seen")
    op.drop_table("console_session")
