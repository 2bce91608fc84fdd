"""a re-run's exception links the earlier decision it replaces

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

``recon_exceptions.previous_id`` names the decided exception of an earlier run of the day
about the same difference whose lines changed: the new exception is ``open`` and shows that
decision (reconciliation/runs.py). Existing rows have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recon_exceptions") as batch:
        batch.add_column(sa.Column("previous_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recon_exceptions") as batch:
        batch.drop_column("previous_id")
