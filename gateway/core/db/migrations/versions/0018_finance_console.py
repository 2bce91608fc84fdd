"""finance's maker-checker decisions on attempts the janitor handed over

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04

One row per proposal: the outcome finance found out from the provider (``failed``, or
``succeeded`` with the amount and the provider's transaction id as evidence), the reason, who
proposed it and when; a second person approves it (only then is it applied to the attempt)
or rejects it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.core.db.types import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attempt_resolutions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("attempt_id", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("evidence", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("proposed_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["attempts.id"], name="fk_attempt_resolutions_attempt_id_attempts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_attempt_resolutions"),
        sa.CheckConstraint(
            "status IN ('proposed', 'approved', 'rejected')",
            name="ck_attempt_resolutions_status",
        ),
    )
    op.create_index(
        "ix_attempt_resolutions_attempt_id", "attempt_resolutions", ["attempt_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_attempt_resolutions_attempt_id", table_name="attempt_resolutions")
    op.drop_table("attempt_resolutions")
