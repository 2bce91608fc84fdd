"""Persistence: the schema, the database handle and the Alembic migrations."""

from gateway.core.db.database import Database
from gateway.core.db.schema import metadata

__all__ = ["Database", "metadata"]
