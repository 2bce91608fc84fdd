"""each refund recorded against the receipts it concerns

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04

``refunds.receipt_shares``: how much of the refund concerns each receipt of the payment,
keyed by the receipt's kind (``all`` in single mode, ``fee``/``charge`` in split mode) and
``postal`` for lines that are on no receipt (docs/receipts.md, "Refunds"). A receipt lists
a refund only where its share is above 0. Existing refunds stay NULL: they were made without
saying what they give back, and are still listed on every receipt of their payment.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("receipt_shares", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("receipt_shares")
