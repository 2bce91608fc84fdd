"""e-receipts: receipts of paid payments and the number ranges they are numbered from

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04

``receipts`` (one or two per paid payment, numbered gaplessly per tax code, template and
symbol) and ``receipt_ranges`` (disjoint blocks of numbers per point of collection, used in
ascending order). Payments paid before this have no receipt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.core.db.types import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "receipt_ranges",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("tax_code", sa.String(14), nullable=False),
        sa.Column("template_code", sa.String(5), nullable=False),
        sa.Column("symbol", sa.String(8), nullable=False),
        sa.Column("point", sa.String(8), nullable=False),
        sa.Column("first_number", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.Column("next_number", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name="fk_receipt_ranges_agency_id_agencies"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_receipt_ranges"),
        sa.CheckConstraint(
            "first_number >= 1 AND first_number <= last_number AND last_number <= 99999999",
            name="ck_receipt_ranges_bounds",
        ),
        sa.CheckConstraint(
            "next_number >= first_number AND next_number <= last_number + 1",
            name="ck_receipt_ranges_next",
        ),
    )
    op.create_index(
        "ix_receipt_ranges_lookup",
        "receipt_ranges",
        ["agency_id", "template_code", "symbol", "point"],
    )
    op.create_table(
        "receipts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("payment_id", sa.String(32), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("tax_code", sa.String(14), nullable=False),
        sa.Column("agency_name", sa.String(255), nullable=False),
        sa.Column("agency_address", sa.String(255), nullable=True),
        sa.Column("template_code", sa.String(5), nullable=False),
        sa.Column("symbol", sa.String(8), nullable=True),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("point", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pending_reason", sa.String(32), nullable=True),
        sa.Column("paid_at", UTCDateTime(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("amount_in_words", sa.Text(), nullable=False),
        sa.Column("payer", sa.JSON(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("transaction_reference", sa.String(64), nullable=True),
        sa.Column("replaces", sa.String(32), nullable=True),
        sa.Column("xml_sealed", sa.Text(), nullable=True),
        sa.Column("view_token_hash", sa.String(64), nullable=False),
        sa.Column("view_token_sealed", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("external_key", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_receipts_payment_id_payments"
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name="fk_receipts_agency_id_agencies"
        ),
        sa.ForeignKeyConstraint(["replaces"], ["receipts.id"], name="fk_receipts_replaces_receipts"),
        sa.PrimaryKeyConstraint("id", name="pk_receipts"),
        sa.UniqueConstraint("view_token_hash", name="uq_receipts_view_token_hash"),
        sa.UniqueConstraint(
            "tax_code", "template_code", "symbol", "number", name="uq_receipts_tax_code_number"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'issued', 'replaced', 'error_notified')",
            name="ck_receipts_status",
        ),
    )
    op.create_index("ix_receipts_payment_id", "receipts", ["payment_id"])
    op.create_index("ix_receipts_agency_created", "receipts", ["agency_id", "created_at", "id"])
    op.create_index("ix_receipts_status_created", "receipts", ["status", "created_at"])


def downgrade() -> None:
    op.drop_table("receipts")
    op.drop_table("receipt_ranges")
