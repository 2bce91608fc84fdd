"""the janitor's state on each refund: next query time, query count

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04

A refund whose outcome the provider has not given yet (``pending``: ZaloPay answers
"processing", or the call's outcome is unknown) is asked about again by the janitor
(gateway/services/polling.py) with the attempts' back-off until it is final:
``refunds.next_query_at`` is when (claimed by moving it forward, as for attempts),
``query_count`` how often it asked. Existing rows start at 0 queries.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.core.db.types import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("next_query_at", UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("query_count", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("query_count")
        batch.drop_column("next_query_at")
