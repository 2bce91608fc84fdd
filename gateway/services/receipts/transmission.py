"""Claiming a message to the tax authority before sending it: the one pattern for the
same-day summaries (:mod:`.daily_summary`) and the error notices (:mod:`.tax_notices`).

The pattern is the one of the other claimed work (notification sends' ``locked_until``,
webhook deliveries, the postal submission's lease): in one write transaction, a conditional
``UPDATE … SET locked_until = now + lease WHERE id = … AND status IN (open) AND
(locked_until IS NULL OR locked_until <= now)`` takes the row; only the process whose UPDATE
changed it sends, outside the transaction, and clears ``locked_until`` when it records the
answer. On PostgreSQL the loop first picks candidates with ``FOR UPDATE SKIP LOCKED``; on
SQLite writers are serialised (``BEGIN IMMEDIATE``), and in both the conditional UPDATE is
what decides: two senders (the background loop in two processes, or the loop and
``gateway receipts summary --send``) never both send one message. A process that dies while
sending leaves its claim to expire after the lease; the message is then sent again with the
same message id, as after any send without an answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection


def lease_of(timeout_seconds: float) -> timedelta:
    """How long a claim holds: longer than one exchange (and its connection retries)."""
    return timedelta(seconds=timeout_seconds * 2 + 60)


def _free(table: Table, now: datetime) -> Any:
    return or_(table.c.locked_until.is_(None), table.c.locked_until <= now)


async def claim(
    conn: AsyncConnection,
    table: Table,
    ids: Sequence[str],
    open_statuses: Iterable[str],
    now: datetime,
    lease: timedelta,
) -> list[str]:
    """Take the rows ``ids`` still open and not claimed by another sender; return those
    taken (the others belong to someone else, or were answered meanwhile)."""
    if not ids:
        return []
    taken = await conn.execute(
        update(table)
        .where(
            table.c.id.in_(list(ids)),
            table.c.status.in_(list(open_statuses)),
            _free(table, now),
        )
        .values(locked_until=now + lease)
        .returning(table.c.id)
    )
    return sorted(str(found) for found in taken.scalars())


async def claim_due(
    conn: AsyncConnection,
    table: Table,
    open_statuses: Iterable[str],
    now: datetime,
    lease: timedelta,
    order: Sequence[Any],
    batch: int,
) -> list[str]:
    """Claim up to ``batch`` open rows whose ``next_try_at`` has come, in ``order``."""
    statuses = list(open_statuses)
    candidates = list(
        (
            await conn.execute(
                select(table.c.id)
                .where(
                    table.c.status.in_(statuses),
                    or_(table.c.next_try_at.is_(None), table.c.next_try_at <= now),
                    _free(table, now),
                )
                .order_by(*order)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    taken = set(await claim(conn, table, candidates, statuses, now, lease))
    return [found for found in candidates if found in taken]


def backoff(attempts: int, retry_seconds: float, max_retry_seconds: float) -> timedelta:
    """The wait before the next send after ``attempts`` sends without an answer: doubling
    from ``retry_seconds`` up to ``max_retry_seconds``."""
    return timedelta(seconds=min(retry_seconds * 2 ** (attempts - 1), max_retry_seconds))
