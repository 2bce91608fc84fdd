"""notices of receipt errors: a rejected or failed notice may be dismissed by finance

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05

``receipt_tax_notices`` gets the status ``dismissed`` (from ``rejected`` or ``failed`` only)
and ``dismissed_by``, ``dismissed_at``, ``dismissal_reason``: finance dealt with the notice
(docs/receipts.md, "Dealing with a rejected or failed notice"); it stays listed, and the
dashboard and day close no longer warn of it. The status CHECK constraint is written again
(the statuses are listed here, not read from the machine, so this revision never changes).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.core.db.types import UTCDateTime

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_NAME = "ck_receipt_tax_notices_status"
_BEFORE = ("pending", "sent", "accepted", "rejected", "failed")
_AFTER = (*_BEFORE, "dismissed")


def _condition(statuses: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{status}'" for status in statuses)
    return f"status IN ({listed})"


def upgrade() -> None:
    with op.batch_alter_table("receipt_tax_notices") as batch:
        batch.add_column(sa.Column("dismissed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("dismissed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("dismissal_reason", sa.Text(), nullable=True))
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, _condition(_AFTER))


def downgrade() -> None:
    # A dismissed notice goes back to what it was: a failed one keeps its ``last_error``, a
    # rejected one has none (its reasons); the dismissal's reason goes with the columns.
    op.execute(
        "UPDATE receipt_tax_notices SET status = CASE WHEN last_error IS NULL "
        "THEN 'rejected' ELSE 'failed' END WHERE status = 'dismissed'"
    )
    with op.batch_alter_table("receipt_tax_notices") as batch:
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, _condition(_BEFORE))
        batch.drop_column("dismissal_reason")
        batch.drop_column("dismissed_at")
        batch.drop_column("dismissed_by")
