"""The inbox: every verified inbound provider message is stored raw, once, before it is
applied. ``(provider, event_key)`` is unique, so a duplicate fails at :func:`store` — before
anything else in the caller's transaction changed — and the caller answers from the first copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db.schema import provider_events


@dataclass(frozen=True)
class StoredEvent:
    id: int
    outcome: str
    reason: str | None
    payment_id: str | None


async def store(
    conn: AsyncConnection,
    *,
    provider: str,
    event_key: str,
    payload: str,
    received_at: datetime,
    amount: int | None = None,
) -> int:
    """Insert the message; raises ``IntegrityError`` if it was stored before."""
    result = await conn.execute(
        insert(provider_events)
        .values(
            provider=provider,
            event_key=event_key,
            received_at=received_at,
            payload=payload,
            outcome="received",
            amount=amount,
        )
        .returning(provider_events.c.id)
    )
    return int(result.scalar_one())


async def settle(
    conn: AsyncConnection,
    event_id: int,
    *,
    outcome: str,
    reason: str | None = None,
    payment_id: str | None = None,
) -> None:
    """Record what applying the message did."""
    await conn.execute(
        update(provider_events)
        .where(provider_events.c.id == event_id)
        .values(outcome=outcome, reason=reason, payment_id=payment_id)
    )


async def find(conn: AsyncConnection, provider: str, event_key: str) -> StoredEvent | None:
    row: Any = (
        await conn.execute(
            select(provider_events).where(
                provider_events.c.provider == provider, provider_events.c.event_key == event_key
            )
        )
    ).first()
    if row is None:
        return None
    return StoredEvent(row.id, row.outcome, row.reason, row.payment_id)
