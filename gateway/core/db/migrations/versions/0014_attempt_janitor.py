"""the janitor's state on each attempt: next query time, query count, finance flag

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

``attempts.next_query_at`` is when the janitor (gateway/services/polling.py) asks the
provider about an open attempt next (claimed by moving it forward, ``FOR UPDATE SKIP LOCKED``
on PostgreSQL, so workers share the work); ``query_count`` how often it asked;
``flagged_at`` when it handed the attempt to finance because its channel's give-up horizon
passed while it was still open. Existing rows start at 0 queries, never flagged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("next_query_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("query_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("flagged_at")
        batch.drop_column("query_count")
        batch.drop_column("next_query_at")
