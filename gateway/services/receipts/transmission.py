"""Claiming a message to the tax authority before sending it: the one pattern for the
same-day summaries (:mod:`.daily_summary`) and the error notices (:mod:`.tax_notices`).

The pattern is the one of the other claimed work (notification sends' ``locked_until``,
webhook deliveries, the postal submission's lease): in one write transaction, a conditional
``UPDATE … SET locked_until = now + lease WHERE id = … AND status IN (open) AND
(locked_until IS NULL OR locked_until <= now)`` takes the row; only the process whose UPDATE
changed it sends, outside the transaction. On PostgreSQL the loop first picks the candidate
with ``FOR UPDATE SKIP LOCKED``; on SQLite writers are serialised (``BEGIN IMMEDIATE``), and
in both the conditional UPDATE is what decides: two senders (the background loop in two
processes, or the loop and ``gateway receipts summary --send``) never both send one message.

- One row is claimed right before its send (:func:`claim_next`), never a batch under one
  lease: with a slow tax authority the later items of a batch would be sent after their
  lease ended, while another process claims and sends them again.
- The claim is a :class:`Claim`: the ``locked_until`` its sender wrote is its token. The
  answer is recorded, and the lease cleared, only while the row still holds that token
  (:func:`still_ours`, the row locked): a sender whose lease ran out and whose row another
  process claimed since leaves the row to the new owner (it sends the same message id and
  records the answer).
- A send that fails unexpectedly gives its claim back (:func:`release`) and the batch goes
  on with the next row.

A process that dies while sending leaves its claim to expire after the lease; the message
is then sent again with the same message id, as after any send without an answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.ids import Clock

log = structlog.get_logger(__name__)


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


@dataclass(frozen=True)
class Claim:
    """A row taken by one sender: ``until``, the ``locked_until`` it wrote, is its token."""

    id: str
    until: datetime


async def claim_next(
    conn: AsyncConnection,
    table: Table,
    open_statuses: Iterable[str],
    now: datetime,
    lease: timedelta,
    order: Sequence[Any],
    skip: Iterable[str] = (),
) -> Claim | None:
    """Claim the first open row (in ``order``) whose ``next_try_at`` has come and that no
    other sender holds, leaving out ``skip`` (those this round tried already); ``None`` when
    there is none."""
    statuses = list(open_statuses)
    conditions = [
        table.c.status.in_(statuses),
        or_(table.c.next_try_at.is_(None), table.c.next_try_at <= now),
        _free(table, now),
    ]
    skipped = sorted(skip)
    if skipped:
        conditions.append(table.c.id.not_in(skipped))
    candidate = (
        await conn.execute(
            select(table.c.id)
            .where(*conditions)
            .order_by(*order)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).scalar()
    if candidate is None:
        return None
    taken = await claim(conn, table, [str(candidate)], statuses, now, lease)
    return Claim(taken[0], now + lease) if taken else None


async def still_ours(conn: AsyncConnection, table: Table, held: Claim) -> bool:
    """Lock the claimed row and say whether it still holds ``held``'s token: not when the
    lease ran out and another sender claimed the row, or the row was recorded meanwhile."""
    until = (
        await conn.execute(
            select(table.c.locked_until).where(table.c.id == held.id).with_for_update()
        )
    ).scalar()
    return until is not None and until == held.until


async def release(conn: AsyncConnection, table: Table, held: Claim) -> bool:
    """Give the claim back (``locked_until`` cleared) if it is still ours; whether it was."""
    freed = await conn.execute(
        update(table)
        .where(table.c.id == held.id, table.c.locked_until == held.until)
        .values(locked_until=None)
    )
    return bool(freed.rowcount == 1)


async def send_each(
    db: Database,
    clock: Clock,
    table: Table,
    open_statuses: Iterable[str],
    lease: timedelta,
    order: Sequence[Any],
    batch: int,
    send: Callable[[Claim], Awaitable[None]],
) -> int:
    """Claim the rows due one at a time, each right before ``send`` sends it, up to
    ``batch``; return how many were claimed. A send that raises gives its claim back (the
    row is tried at a later round) and the next row is sent."""
    statuses = list(open_statuses)
    tried: list[str] = []
    while len(tried) < batch:
        async with db.write() as conn:
            held = await claim_next(conn, table, statuses, clock(), lease, order, tried)
        if held is None:
            break
        tried.append(held.id)
        try:
            await send(held)
        except Exception:
            log.exception("tax_authority_send_crashed", table=table.name, id=held.id)
            async with db.write() as conn:
                await release(conn, table, held)
    return len(tried)


def backoff(attempts: int, retry_seconds: float, max_retry_seconds: float) -> timedelta:
    """The wait before the next send after ``attempts`` sends without an answer: doubling
    from ``retry_seconds`` up to ``max_retry_seconds``."""
    return timedelta(seconds=min(retry_seconds * 2 ** (attempts - 1), max_retry_seconds))
