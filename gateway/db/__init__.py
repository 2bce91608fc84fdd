"""Persistence: the schema, the database handle and the Alembic migrations."""

from gateway.db.database import Database
from gateway.db.schema import metadata

__all__ = ["Database", "metadata"]
