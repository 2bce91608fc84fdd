"""Runs of two adjacent days in two processes on one PostgreSQL, racing over one bank line
that lies in both days' windows.

Each run reads, then writes under a lock of its own day only: both could match the same line,
and each day's books would count the same money. The write phases of all days are serialised
and the later one finds the line taken since it read: it is computed again without it.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from conftest import AGENCY_ACCOUNT, FixedClock, Gateway, make_settings, seed
from sqlalchemy import func, select, text
from structlog.testing import capture_logs
from test_recon_day import _pay_by_transfer, _upload

from gateway.app import create_app
from gateway.core.db import Database
from gateway.core.db.schema import recon_exceptions, recon_matches, recon_runs, statement_lines
from gateway.core.roles import Role
from gateway.keys import CLOCK
from providers.sandbox.statements import Discrepancies, camt053
from reconciliation.runs import RUN_WRITE_LOCK, RunService
from reconciliation.scope import EVERYWHERE
from reconciliation.workflow import Actor, Workflow

DAY, NEXT = date(2026, 11, 22), date(2026, 11, 23)
FINANCE = Actor("usr_finance", Role.FINANCE, EVERYWHERE)


async def _waiting_for_the_run_lock(conn: Any) -> int:
    found = await conn.execute(
        text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    )
    return int(found.scalar_one())


async def test_two_days_run_at_once_in_two_processes_match_a_shared_line_once(
    aiohttp_client: Any, postgres_url: str, clock: FixedClock
) -> None:
    client = await aiohttp_client(
        create_app(make_settings(postgres_url), clock=clock, background=False)
    )
    gateway = Gateway(client=client, clock=clock, keys=await seed(client))
    # One bill paid on each day, of the same amount; the bank's only credit of that amount
    # carries no reference and is booked on NEXT: within the window of both days.
    first = await gateway.create_payment(dossier_code="HS-1")
    await _pay_by_transfer(gateway, first, 1)
    clock.advance(days=1)
    second = await gateway.create_payment(dossier_code="HS-2")
    await _pay_by_transfer(gateway, second, 2)
    assert first["amount"] == second["amount"]
    statement = camt053(
        AGENCY_ACCOUNT,
        [],
        NEXT,
        opening_balance=0,
        problems=Discrepancies(unknown_credits=(first["amount"],)),
    )
    assert (await _upload(gateway, "camt053", statement))[0] == 201

    processes = [Database(postgres_url) for _ in range(3)]
    holder, *racers = processes
    services = [RunService(db, client.app[CLOCK], Workflow(db, client.app[CLOCK])) for db in racers]
    try:
        async with holder.read() as conn:
            [line] = (await conn.execute(select(statement_lines.c.id))).scalars().all()
        # Hold the run lock until both runs have read and wait to write: a real race.
        with capture_logs() as logs:
            async with holder.write() as lock:
                await lock.execute(select(func.pg_advisory_xact_lock(RUN_WRITE_LOCK)))
                racing = [
                    asyncio.ensure_future(service.run(FINANCE, day))
                    for service, day in zip(services, (DAY, NEXT), strict=True)
                ]
                async with holder.read() as watch:
                    for _ in range(100_000):  # each look is a query: no sleeping
                        if await _waiting_for_the_run_lock(watch) == 2 or any(
                            task.done() for task in racing
                        ):
                            break
                    assert await _waiting_for_the_run_lock(watch) == 2, "both wait to write"
            runs = await asyncio.gather(*racing)  # the lock is released: they write in turn

        async with holder.read() as conn:
            takers = (
                await conn.execute(
                    select(recon_runs.c.business_date)
                    .join(recon_matches, recon_matches.c.run_id == recon_runs.c.id)
                    .where(recon_runs.c.status == "current", recon_matches.c.line_id == line)
                )
            ).all()
            left = (
                await conn.execute(
                    select(recon_exceptions.c.business_date, recon_exceptions.c.type).where(
                        recon_exceptions.c.run_id.in_([run["id"] for run in runs])
                    )
                )
            ).all()
        assert len(takers) == 1, f"the line is matched by {takers}"
        [(winner,)] = takers
        # The other day's bill is not on the bank's statement: in transit, not matched.
        [loser] = {DAY, NEXT} - {winner}
        # The loser was computed again without the line: its bill is not on the statement
        # (missing, or in transit when the bank has not reported the day after it yet).
        expected = "missing_in_bank" if loser == DAY else "expected_in_transit"
        assert [(row.business_date, row.type) for row in left] == [(loser, expected)]
        assert [
            (entry["business_date"], entry["lines"])
            for entry in logs
            if entry["event"] == "reconciliation_run_recomputed"
        ] == [(loser.isoformat(), [line])]
    finally:
        for db in processes:
            await db.close()
