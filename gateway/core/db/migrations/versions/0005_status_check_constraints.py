"""status columns: CHECK constraints of the allowed values, from the state machines

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

The allowed values come from the machines (``gateway.core.statuses``) through the CHECK
constraints ``gateway/core/db/schema.py`` declares, so they are written once. A later change
to a machine's statuses needs its own migration (drop and create the constraint again);
tests/gateway/test_status_constraints.py compares the migrated database with the machines.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import CheckConstraint, inspect

from gateway.core.db.schema import metadata

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _status_checks() -> list[tuple[str, str, str]]:
    """(table, constraint name, condition) of every status CHECK the schema declares, for
    the tables that exist at this revision (a table added later, e.g. ``notifications`` in
    0012, is created with its constraint by its own migration)."""
    existing = set(inspect(op.get_bind()).get_table_names())
    checks = []
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        for constraint in table.constraints:
            if isinstance(constraint, CheckConstraint) and str(constraint.name).endswith("_status"):
                checks.append((table.name, str(constraint.name), str(constraint.sqltext)))
    return checks


def upgrade() -> None:
    for table, name, condition in _status_checks():
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(name, condition)


def downgrade() -> None:
    for table, name, _ in reversed(_status_checks()):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="check")
