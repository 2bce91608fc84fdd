"""receipt delegations: the gateway operator issues an agency's receipts as its delegate

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04

``receipt_delegations``: one row per agreement by which an agency lets the gateway operator
issue its receipts (NĐ 254/2026 Điều 4.6 and Điều 25, spec §8): the template, symbol and
number range it covers, its term, the day both tax offices were notified, an early end.
``receipts`` gains the agreement that covered a receipt and the delegate's name, address and
tax code as the receipt shows them (null for a receipt the agency issued as itself).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.core.db.types import UTCDateTime

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "receipt_delegations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("agreement_number", sa.String(64), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("tax_code", sa.String(14), nullable=False),
        sa.Column("template_code", sa.String(5), nullable=False),
        sa.Column("symbol", sa.String(8), nullable=False),
        sa.Column("first_number", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.Column("notified_on", sa.Date(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name="fk_receipt_delegations_agency_id_agencies"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_receipt_delegations"),
        sa.UniqueConstraint(
            "agency_id", "agreement_number", name="uq_receipt_delegations_number"
        ),
        sa.CheckConstraint(
            "first_number >= 1 AND first_number <= last_number AND last_number <= 99999999",
            name="ck_receipt_delegations_bounds",
        ),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_until >= valid_from",
            name="ck_receipt_delegations_term",
        ),
    )
    op.create_index(
        "ix_receipt_delegations_lookup", "receipt_delegations", ["agency_id", "symbol"]
    )
    with op.batch_alter_table("receipts") as batch:
        batch.add_column(sa.Column("delegation_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("delegate_name", sa.String(255), nullable=True))
        batch.add_column(sa.Column("delegate_address", sa.String(255), nullable=True))
        batch.add_column(sa.Column("delegate_tax_code", sa.String(14), nullable=True))
        batch.create_foreign_key(
            "fk_receipts_delegation_id_receipt_delegations",
            "receipt_delegations",
            ["delegation_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("receipts") as batch:
        batch.drop_constraint("fk_receipts_delegation_id_receipt_delegations", type_="foreignkey")
        batch.drop_column("delegate_tax_code")
        batch.drop_column("delegate_address")
        batch.drop_column("delegate_name")
        batch.drop_column("delegation_id")
    op.drop_index("ix_receipt_delegations_lookup", "receipt_delegations")
    op.drop_table("receipt_delegations")
