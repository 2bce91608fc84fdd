"""each reconciliation match's agency and amount, so a run's figures can be shown per agency

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

``recon_matches.agency_id`` (the agency of the ledger side, as for exceptions) and
``recon_matches.amount`` (our amount, VND) are filled by the next run of a day, which also
stores the run's figures per agency; a run stored before this has neither, and agency-scoped
staff see no matched figures of it until its day is run again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recon_matches") as batch:
        batch.add_column(sa.Column("agency_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("amount", sa.BigInteger(), nullable=True))
        batch.create_foreign_key(
            "fk_recon_matches_agency_id_agencies", "agencies", ["agency_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("recon_matches") as batch:
        batch.drop_constraint("fk_recon_matches_agency_id_agencies", type_="foreignkey")
        batch.drop_column("amount")
        batch.drop_column("agency_id")
