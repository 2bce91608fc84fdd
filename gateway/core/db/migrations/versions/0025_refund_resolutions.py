"""finance's word on a refund, with maker-checker

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05

``POST /v1/refunds/{id}/complete`` no longer settles a refund on one person's word: it
proposes the outcome (``failed``, or ``succeeded`` with the bank's or terminal's reference as
evidence); a second person approves it (only then is it applied to the refund) or rejects it.
The provider's own word, arriving first, supersedes a proposal (``superseded``). The shape of
``attempt_resolutions`` (0018).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.core.db.types import UTCDateTime

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refund_resolutions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("refund_id", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("evidence", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("proposed_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name="fk_refund_resolutions_refund_id_refunds"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_refund_resolutions"),
        sa.CheckConstraint(
            "status IN ('proposed', 'approved', 'rejected', 'superseded')",
            name="ck_refund_resolutions_status",
        ),
    )
    op.create_index("ix_refund_resolutions_refund_id", "refund_resolutions", ["refund_id"])


def downgrade() -> None:
    op.drop_index("ix_refund_resolutions_refund_id", table_name="refund_resolutions")
    op.drop_table("refund_resolutions")
