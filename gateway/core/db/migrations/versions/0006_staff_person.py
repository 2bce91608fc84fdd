"""the person behind an API key or a console user (maker-checker by person)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("api_clients", "staff_users"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("person", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in ("api_clients", "staff_users"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("person")
