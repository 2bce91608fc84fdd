"""e-receipts: same-day summaries to the tax authority (form 01/TH-BLĐT)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04

``receipt_summaries``: one signed summary per agency, business day and revision, with the
tax authority's answer (reference, or the reasons of a rejection), the retry state of a
message left without an answer, and the dates of a technical outage.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.core.db.types import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "receipt_summaries",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("tax_code", sa.String(14), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("correction_of", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("signed_xml", sa.Text(), nullable=False),
        sa.Column("message_uuid", sa.String(32), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(32), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=True),
        sa.Column("reference", sa.String(128), nullable=True),
        sa.Column("outage_started_at", UTCDateTime(), nullable=True),
        sa.Column("outage_ended_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name="fk_receipt_summaries_agency_id_agencies"
        ),
        sa.ForeignKeyConstraint(
            ["correction_of"],
            ["receipt_summaries.id"],
            name="fk_receipt_summaries_correction_of_receipt_summaries",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_receipt_summaries"),
        sa.UniqueConstraint(
            "agency_id", "business_date", "revision", name="uq_receipt_summaries_agency_day"
        ),
        sa.CheckConstraint(
            "status IN ('unsent', 'accepted', 'rejected', 'failed', 'superseded')",
            name="ck_receipt_summaries_status",
        ),
    )
    op.create_index(
        "ix_receipt_summaries_status_next", "receipt_summaries", ["status", "next_try_at"]
    )
    op.create_index("ix_receipt_summaries_day", "receipt_summaries", ["business_date", "agency_id"])


def downgrade() -> None:
    op.drop_table("receipt_summaries")
