"""Status columns carry a CHECK constraint of their machine's values, on both databases:
a status no machine knows is refused by the database itself, and changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import insert, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from tests_support import current_run, on_fresh_engine

from gateway.core.db.schema import recon_runs, statement_imports
from gateway.core.statuses import MACHINES, POSTAL_EVENT_STATUSES

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)


def _checks(connection: Connection) -> dict[tuple[str, str], set[str]]:
    """The values each ``ck_<table>_status`` constraint of the database allows."""
    inspector = inspect(connection)
    found = {}
    for table in inspector.get_table_names():
        for check in inspector.get_check_constraints(table):
            if str(check["name"]).endswith("_status"):
                found[(table, str(check["name"]))] = set(re.findall(r"'(\w+)'", check["sqltext"]))
    return found


async def test_every_status_column_allows_exactly_its_machines_values(database_url: str) -> None:
    found = await on_fresh_engine(database_url, _checks)

    expected = {
        (machine.table_name, f"ck_{machine.table_name}_status"): set(machine.statuses)
        for machine in MACHINES
    }
    expected[("postal_events", "ck_postal_events_status")] = set(POSTAL_EVENT_STATUSES)
    assert found == expected


def _import(status: str) -> dict[str, Any]:
    return {
        "id": "imp_check",
        "source": "bank",
        "format": "camt053",
        "file_hash": "0" * 64,
        "size": 1,
        "status": status,
        "line_count": 0,
        "error_count": 0,
        "row_errors": [],
        "control": {},
        "imported_by": "test",
        "created_at": NOW,
    }


async def test_a_status_no_machine_knows_is_refused_by_the_database(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(insert(statement_imports).values(_import("approved")))
        async with engine.begin() as conn:
            await conn.execute(
                insert(recon_runs).values(current_run("run_check", date(2026, 12, 3), NOW))
            )
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(update(recon_runs).values(status="closed"))
        async with engine.connect() as conn:
            assert (await conn.execute(select(statement_imports.c.id))).all() == []
            assert (await conn.execute(select(recon_runs.c.status))).scalars().all() == ["current"]
    finally:
        await engine.dispose()
