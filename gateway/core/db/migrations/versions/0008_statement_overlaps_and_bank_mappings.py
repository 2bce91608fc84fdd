"""overlapping statement lines are linked to the line they repeat; bank layouts saved per account

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("statement_imports") as batch:
        batch.add_column(
            sa.Column("overlapping", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("statement_lines") as batch:
        batch.add_column(sa.Column("duplicate_of", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_statement_lines_duplicate_of_statement_lines"),
            "statement_lines",
            ["duplicate_of"],
            ["id"],
        )
    op.create_table(
        "bank_mappings",
        sa.Column("account", sa.String(length=34), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_bank_mappings")),
    )


def downgrade() -> None:
    op.drop_table("bank_mappings")
    with op.batch_alter_table("statement_lines") as batch:
        batch.drop_constraint(
            batch.f("fk_statement_lines_duplicate_of_statement_lines"), type_="foreignkey"
        )
        batch.drop_column("duplicate_of")
    with op.batch_alter_table("statement_imports") as batch:
        batch.drop_column("overlapping")
