"""receipt corrections: notices (04/SS-CTĐT) and replacements, with maker-checker

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

``receipt_corrections``: one row per proposed correction of a receipt (TT 91/2026 Điều 20),
``proposed`` by one person, ``approved`` or ``rejected`` by another.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.core.db.types import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "receipt_corrections",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("receipt_id", sa.String(32), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("proposed_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("replacement_id", sa.String(32), nullable=True),
        sa.Column("notice", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.id"], name="fk_receipt_corrections_receipt_id_receipts"
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name="fk_receipt_corrections_agency_id_agencies"
        ),
        sa.ForeignKeyConstraint(
            ["replacement_id"],
            ["receipts.id"],
            name="fk_receipt_corrections_replacement_id_receipts",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_receipt_corrections"),
        sa.CheckConstraint("kind IN ('notify', 'replace')", name="ck_receipt_corrections_kind"),
        sa.CheckConstraint(
            "status IN ('proposed', 'approved', 'rejected')",
            name="ck_receipt_corrections_status",
        ),
    )
    op.create_index(
        "ix_receipt_corrections_receipt_id", "receipt_corrections", ["receipt_id"]
    )


def downgrade() -> None:
    op.drop_table("receipt_corrections")
