"""refunds handed to finance: when a refund still pending passed its channel's horizon

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04

A refund still ``pending`` past its channel's refund horizon (settings
``<channel>.refund_give_up_after_hours``) is handed to finance by the janitor
(gateway/services/polling.py): ``refunds.flagged_at`` is when. Existing rows are not flagged;
the janitor's next pass flags those already past their horizon.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.core.db.types import UTCDateTime

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("flagged_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("flagged_at")
