"""Signals: registrations on keyed pseudonyms, matches, webhook deliveries, the matching key's
state, and the webhooks configured per client (issue 9).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_webhook",
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("client_id"),
    )
    op.create_table(
        "signal",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("org_oin", sa.String(), nullable=False),
        sa.Column("org_type", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("area", sa.String(), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("registered_at", sa.String(), nullable=False),
        sa.Column("active_until", sa.String(), nullable=False),
        sa.Column("kept_until", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("live", sa.String(), nullable=False),
        sa.Column("policy_version", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_oin", "pseudonym", "area", "live", name="uq_signal_live"),
    )
    with op.batch_alter_table("signal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signal_active_until"), ["active_until"], unique=False)
        batch_op.create_index(batch_op.f("ix_signal_kept_until"), ["kept_until"], unique=False)
        batch_op.create_index(batch_op.f("ix_signal_org_oin"), ["org_oin"], unique=False)
        batch_op.create_index(batch_op.f("ix_signal_pseudonym"), ["pseudonym"], unique=False)

    op.create_table(
        "signal_delivery",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("match_id", sa.String(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("signal_delivery", schema=None) as batch_op:
        batch_op.create_index("ix_signal_delivery_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_signal_delivery_match_id"), ["match_id"], unique=False)

    op.create_table(
        "signal_key_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "signal_match",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("signal_a", sa.String(), nullable=False),
        sa.Column("signal_b", sa.String(), nullable=False),
        sa.Column("org_a", sa.String(), nullable=False),
        sa.Column("org_b", sa.String(), nullable=False),
        sa.Column("reveal_to_a", sa.Boolean(), nullable=False),
        sa.Column("reveal_to_b", sa.Boolean(), nullable=False),
        sa.Column("matched_at", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("signal_a", "signal_b", name="uq_signal_match_pair"),
    )
    with op.batch_alter_table("signal_match", schema=None) as batch_op:
        batch_op.create_index("ix_signal_match_org_a", ["org_a", "matched_at"], unique=False)
        batch_op.create_index("ix_signal_match_org_b", ["org_b", "matched_at"], unique=False)
        batch_op.create_index("ix_signal_match_signal_b", ["signal_b"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("signal_match", schema=None) as batch_op:
        batch_op.drop_index("ix_signal_match_signal_b")
        batch_op.drop_index("ix_signal_match_org_b")
        batch_op.drop_index("ix_signal_match_org_a")

    op.drop_table("signal_match")
    op.drop_table("signal_key_state")
    with op.batch_alter_table("signal_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signal_delivery_match_id"))
        batch_op.drop_index("ix_signal_delivery_due")

    op.drop_table("signal_delivery")
    with op.batch_alter_table("signal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signal_pseudonym"))
        batch_op.drop_index(batch_op.f("ix_signal_org_oin"))
        batch_op.drop_index(batch_op.f("ix_signal_kept_until"))
        batch_op.drop_index(batch_op.f("ix_signal_active_until"))

    op.drop_table("signal")
    op.drop_table("client_webhook")
