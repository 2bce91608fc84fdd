"""Alembic migrations produce exactly the schema the code declares, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from tests_support import on_fresh_engine

from gateway.core.db.migrate import alembic_config
from gateway.core.db.schema import metadata


def _differences(connection: Connection) -> list[Any]:
    # The same options as gateway/core/db/migrations/env.py, so the test sees what a
    # `alembic revision --autogenerate` would see.
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "render_as_batch": connection.dialect.name == "sqlite",
        },
    )
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_the_declared_metadata(database_url: str) -> None:
    differences = await on_fresh_engine(database_url, _differences)

    assert differences == [], "migrations and gateway/core/db/schema.py disagree"


async def test_the_database_is_at_the_latest_revision(database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    versions = await on_fresh_engine(
        database_url,
        lambda connection: (
            connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        ),
    )

    assert head is not None
    assert versions == [head]


def test_migrations_form_a_single_line() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    assert len(script.get_heads()) == 1, "two heads: merge the branches"
    assert len(script.get_bases()) == 1
