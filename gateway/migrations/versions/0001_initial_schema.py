"""The initial schema: clients, cases and the ledger (format 3).

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("regisseur_oin", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("updated_at", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_regisseur_oin"), ["regisseur_oin"], unique=False)

    op.create_table(
        "client",
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("secret_hash", sa.String(), nullable=False),
        sa.Column("oin", sa.String(), nullable=False),
        sa.Column("organisation", sa.String(), nullable=False),
        sa.Column("org_type", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("user_ref", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("client_id"),
    )
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_oin"), ["oin"], unique=False)

    op.create_table(
        "ledger_entry",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("time", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("policy_version", sa.String(), nullable=False),
        sa.Column("requester_oin", sa.String(), nullable=False),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("review", sa.Boolean(), nullable=False),
        sa.Column("subject_commit", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("seal", sa.String(), nullable=True),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("subject_salt", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entry_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entry_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entry_purpose"), ["purpose"], unique=False)
        batch_op.create_index("ix_ledger_entry_purpose_time", ["purpose", "time"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ledger_entry_requester_oin"), ["requester_oin"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ledger_entry_subject"), ["subject"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entry_time"), ["time"], unique=False)

    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(), nullable=False),
        sa.Column("store_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "ledger_period_key",
        sa.Column("key_id", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("auditor_key_id", sa.String(), nullable=False),
        sa.Column("public_key", sa.String(), nullable=False),
        sa.Column("sealed_private", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("destroyed_at", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
        sa.UniqueConstraint("scope", "period", "auditor_key_id"),
    )
    with op.batch_alter_table("ledger_period_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_period_key_period"), ["period"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_period_key_scope"), ["scope"], unique=False)

    op.create_table(
        "case_consent",
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("recorded_at", sa.String(), nullable=False),
        sa.Column("recorded_by", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case.id"],
        ),
        sa.PrimaryKeyConstraint("case_id", "subject", "source"),
    )
    op.create_table(
        "case_participant",
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("oin", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case.id"],
        ),
        sa.PrimaryKeyConstraint("case_id", "oin"),
    )
    with op.batch_alter_table("case_participant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_participant_oin"), ["oin"], unique=False)

    op.create_table(
        "case_subject",
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("subject_ref", sa.String(), nullable=False),
        sa.Column("bsn_sealed", sa.String(), nullable=False),
        sa.Column("relation", sa.String(), nullable=False),
        sa.Column("minor", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case.id"],
        ),
        sa.PrimaryKeyConstraint("case_id", "subject"),
        sa.UniqueConstraint("subject_ref"),
    )
    with op.batch_alter_table("case_subject", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_subject_subject"), ["subject"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_subject", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_subject_subject"))

    op.drop_table("case_subject")
    with op.batch_alter_table("case_participant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_participant_oin"))

    op.drop_table("case_participant")
    op.drop_table("case_consent")
    with op.batch_alter_table("ledger_period_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_period_key_scope"))
        batch_op.drop_index(batch_op.f("ix_ledger_period_key_period"))

    op.drop_table("ledger_period_key")
    op.drop_table("ledger_head")
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entry_time"))
        batch_op.drop_index(batch_op.f("ix_ledger_entry_subject"))
        batch_op.drop_index(batch_op.f("ix_ledger_entry_requester_oin"))
        batch_op.drop_index("ix_ledger_entry_purpose_time")
        batch_op.drop_index(batch_op.f("ix_ledger_entry_purpose"))
        batch_op.drop_index(batch_op.f("ix_ledger_entry_case_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entry_action"))

    op.drop_table("ledger_entry")
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_oin"))

    op.drop_table("client")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_regisseur_oin"))

    op.drop_table("case")
