"""Small helpers shared by test modules (not fixtures)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.core.db.schema import outbox_events
from gateway.keys import DATABASE


async def outbox_types(gateway: Any, postal_order_id: str) -> list[str]:
    """The event types emitted about a postal order, in sequence order."""
    async with gateway.client.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(outbox_events.c.type)
            .where(outbox_events.c.postal_order_id == postal_order_id)
            .order_by(outbox_events.c.sequence)
        )
        return list(rows.scalars())
