"""postal orders: ``needs_review`` status and ``review_reason``

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

An order whose submission the carrier answered in a way that cannot be taken as it is (an
item code another order holds, an invalid answer, no trustworthy answer after every try)
leaves ``submitting`` for ``needs_review`` with its ``review_reason``; a final order that is
contradicted (delivered after it was returned) keeps its status and gets the reason only.
The status CHECK constraint is written again from the machine (as migration 0005 does).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.core.postal.orders import NEEDS_REVIEW
from gateway.core.statuses import POSTAL_ORDERS

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_NAME = "ck_postal_orders_status"


def _condition(statuses: list[str]) -> str:
    listed = ", ".join(f"'{status}'" for status in statuses)
    return f"status IN ({listed})"


def upgrade() -> None:
    with op.batch_alter_table("postal_orders") as batch:
        batch.add_column(sa.Column("review_reason", sa.String(32), nullable=True))
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, _condition(list(POSTAL_ORDERS.statuses)))


def downgrade() -> None:
    before = [status for status in POSTAL_ORDERS.statuses if status != NEEDS_REVIEW]
    with op.batch_alter_table("postal_orders") as batch:
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, _condition(before))
        batch.drop_column("review_reason")
