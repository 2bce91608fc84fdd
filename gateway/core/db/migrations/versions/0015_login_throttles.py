"""failed console sign-ins per user and per address: back-off and lock-out

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

One row per subject (``user:<username>`` or ``address:<ip>``) that failed to sign in
recently: how many failures, the last one, until when further tries are refused, and, for a
user, since when the account is locked (until an administrator unlocks it). Kept in the
database so that every service process sees the same count.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttles",
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_login_throttles")),
    )


def downgrade() -> None:
    op.drop_table("login_throttles")
