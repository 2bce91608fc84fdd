"""the amount difference of a reconciliation match (matched within a counterpart's tolerance)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recon_matches") as batch:
        batch.add_column(
            sa.Column("difference", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("recon_matches") as batch:
        batch.drop_column("difference")
