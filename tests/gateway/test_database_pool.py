"""The PostgreSQL pool (docs/deployment.md, connection budget): ``database_pool_size``
connections per process, opened on demand and kept. A burst does not open and close backends
(no overflow connections, closed on return), and a checkout past the size waits for one."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database


async def _backends_of_a_burst(db: Database, width: int) -> set[int]:
    """The backend pids of ``width`` connections held at the same time."""
    all_in = asyncio.Event()
    held: list[int] = []

    async def hold() -> int:
        async with db.read() as conn:
            pid = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
            held.append(pid)
            if len(held) == width:
                all_in.set()
            await all_in.wait()
            return pid

    return set(await asyncio.gather(*(hold() for _ in range(width))))


async def test_a_second_burst_reuses_the_backends_of_the_first(postgres_url: str) -> None:
    db = Database(postgres_url, pool_size=5)
    try:
        first = await _backends_of_a_burst(db, 5)
        second = await _backends_of_a_burst(db, 5)
    finally:
        await db.close()
    assert len(first) == 5
    assert second == first


async def test_a_checkout_past_the_pool_size_waits_for_a_kept_connection(
    postgres_url: str,
) -> None:
    # The old pool opened an overflow connection here (a new backend, closed on return).
    db = Database(postgres_url, pool_size=2)
    try:
        release, both_held = asyncio.Event(), asyncio.Event()
        holding = 0

        async def pid_of(conn: AsyncConnection) -> int:
            return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())

        async def hold() -> int:
            nonlocal holding
            async with db.read() as conn:
                pid = await pid_of(conn)
                holding += 1
                if holding == 2:
                    both_held.set()
                await release.wait()
                return pid

        async def third() -> int:
            async with db.read() as conn:
                return await pid_of(conn)

        holders = [asyncio.create_task(hold()) for _ in range(2)]
        await both_held.wait()
        waiting = asyncio.create_task(third())
        for _ in range(20):
            await asyncio.sleep(0)  # yields to the pool, not a timing
        assert not waiting.done()
        release.set()
        held = set(await asyncio.gather(*holders))
        assert len(held) == 2
        assert await waiting in held
    finally:
        await db.close()
