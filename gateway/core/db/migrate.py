"""Alembic, driven from code: ``gateway migrate`` and sandbox start-up call :func:`upgrade`.

Alembic is imported by the functions that use it: a ``serve`` process outside sandbox mode
never migrates and does not hold it (docs/performance.md, "Memory"); ``gateway serve`` checks
at start that it imports (``gateway.cli.LAZY_MODULES``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations (synchronous; call it in a thread from async code)."""
    from alembic import command

    _ensure_sqlite_folder(database_url)
    command.upgrade(alembic_config(database_url), revision)


def _ensure_sqlite_folder(database_url: str) -> None:
    prefix = "sqlite+aiosqlite:///"
    if database_url.startswith(prefix):
        Path(database_url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)
