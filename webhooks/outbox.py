"""The transactional outbox: an event is written in the same transaction as the change that
caused it, together with one delivery row per subscribed endpoint, so an event is never lost
(the change rolled back → no event) and never invented (no change → no event).

Body: ``{"id", "type", "created_at", "data": {..., "sequence": n}}``; ``sequence`` grows per
payment, so a portal can drop an event older than one it already applied.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.schema import deliveries, outbox_events, payments, webhook_endpoints
from gateway.domain.ids import new_id

#: Every event type the gateway emits; endpoints subscribe to some or to ``"*"``.
EVENT_TYPES = frozenset(
    {
        "payment.paid",
        "payment.expired",
        "payment.cancelled",
        "payment.needs_review",
        "payment.partially_refunded",
        "payment.refunded",
        "attempt.failed",
        "attempt.needs_review",
        "refund.succeeded",
        "refund.failed",
    }
)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def emit(
    conn: AsyncConnection, *, now: datetime, type: str, payment_id: str, data: dict[str, Any]
) -> str:
    """Write one event about ``payment_id`` and queue its deliveries; return the event id."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    sequence, client_id = (
        await conn.execute(
            update(payments)
            .where(payments.c.id == payment_id)
            .values(sequence=payments.c.sequence + 1)
            .returning(payments.c.sequence, payments.c.client_id)
        )
    ).one()
    event_id = new_id("evt")
    body = {
        "id": event_id,
        "type": type,
        "created_at": _iso(now),
        "data": {**data, "sequence": sequence},
    }
    await conn.execute(
        insert(outbox_events).values(
            id=event_id,
            type=type,
            client_id=client_id,
            payment_id=payment_id,
            sequence=sequence,
            body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
            created_at=now,
        )
    )
    endpoints = (
        await conn.execute(
            select(webhook_endpoints.c.id, webhook_endpoints.c.events).where(
                webhook_endpoints.c.client_id == client_id,
                webhook_endpoints.c.disabled_at.is_(None),
            )
        )
    ).all()
    subscribed = [row.id for row in endpoints if "*" in row.events or type in row.events]
    if subscribed:
        await conn.execute(insert(deliveries), [new_delivery(event_id, e, now) for e in subscribed])
    return event_id


def new_delivery(event_id: str, endpoint_id: str, now: datetime) -> dict[str, Any]:
    """A delivery due now, with its retry schedule not started."""
    return {
        "event_id": event_id,
        "endpoint_id": endpoint_id,
        "status": "pending",
        "attempt_count": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
