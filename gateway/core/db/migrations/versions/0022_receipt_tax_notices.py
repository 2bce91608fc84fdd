"""notices of receipt errors (04/SS-CTĐT) sent on their own; summary sends claimed

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04

``receipt_tax_notices``: one row per approved ``notify`` correction, the notice of the
receipt's error sent to the tax authority as its own signed message (TT 91/2026 Điều 20),
with its status (``pending``, ``sent``, ``accepted``, ``rejected``, ``failed``) and retries.
``receipt_summaries.locked_until``: the claim (a lease) of the one process sending a summary
now, so the CLI's ``--send`` and the background loop never send the same summary at once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.core.db.types import UTCDateTime

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("receipt_summaries") as batch:
        batch.add_column(sa.Column("locked_until", UTCDateTime(), nullable=True))
    op.create_table(
        "receipt_tax_notices",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("correction_id", sa.String(32), nullable=False),
        sa.Column("receipt_id", sa.String(32), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("tax_code", sa.String(14), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("signed_xml", sa.Text(), nullable=True),
        sa.Column("message_uuid", sa.String(32), nullable=True),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", UTCDateTime(), nullable=True),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(32), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=True),
        sa.Column("reference", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["correction_id"],
            ["receipt_corrections.id"],
            name="fk_receipt_tax_notices_correction_id_receipt_corrections",
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.id"], name="fk_receipt_tax_notices_receipt_id_receipts"
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name="fk_receipt_tax_notices_agency_id_agencies"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_receipt_tax_notices"),
        sa.UniqueConstraint("correction_id", name="uq_receipt_tax_notices_correction_id"),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'accepted', 'rejected', 'failed')",
            name="ck_receipt_tax_notices_status",
        ),
    )
    op.create_index(
        "ix_receipt_tax_notices_receipt_id", "receipt_tax_notices", ["receipt_id"]
    )
    op.create_index(
        "ix_receipt_tax_notices_status_next", "receipt_tax_notices", ["status", "next_try_at"]
    )


def downgrade() -> None:
    op.drop_table("receipt_tax_notices")
    with op.batch_alter_table("receipt_summaries") as batch:
        batch.drop_column("locked_until")
