"""agency scope of finance staff: deployment-wide credentials, each exception's agency

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

``all_agencies`` marks a deployment-wide key or console user (a provincial finance
department); existing ones keep their agency lists, so nobody gains access by migrating.
``recon_exceptions.agency_id`` is filled by the next run of a day; an exception stored before
it has none and is seen only by deployment-wide staff until its day is run again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("api_clients", "staff_users"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("all_agencies", sa.Boolean(), nullable=False, server_default=sa.false())
            )
    with op.batch_alter_table("recon_exceptions") as batch:
        batch.add_column(sa.Column("agency_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_recon_exceptions_agency_id_agencies", "agencies", ["agency_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("recon_exceptions") as batch:
        batch.drop_constraint("fk_recon_exceptions_agency_id_agencies", type_="foreignkey")
        batch.drop_column("agency_id")
    for table in ("api_clients", "staff_users"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("all_agencies")
