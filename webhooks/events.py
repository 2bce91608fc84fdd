"""What a portal can see and do about events: an event with its deliveries and their
attempts, the deliveries of an endpoint, and manual redelivery."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.db.schema import deliveries, delivery_attempts, outbox_events, webhook_endpoints
from gateway.core.errors import InvalidCursor, InvalidTransition, NotFound
from gateway.core.fields import iso
from gateway.core.ids import Clock, new_id
from gateway.core.outbox import TEST_EVENT, new_delivery, subscribed_endpoints
from gateway.core.statuses import DELIVERIES, DeliveryStatus


class EventService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def get(self, client_id: str, event_id: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            return await self._event_view(conn, client_id, event_id)

    async def redeliver(self, client_id: str, event_id: str) -> dict[str, Any]:
        """Send the event again, now, to every enabled endpoint subscribed to it — including
        endpoints created after the event. The retry schedule starts afresh."""
        now = self.clock()
        async with self.db.write() as conn:
            event = await self._event_row(conn, client_id, event_id)
            subscribed = set(await subscribed_endpoints(conn, client_id, event.type))
            if event.type == TEST_EVENT:  # only ever to the endpoint it was sent to
                subscribed &= {json.loads(event.body)["data"]["endpoint_id"]}
            existing = set(
                (
                    await conn.execute(
                        select(deliveries.c.endpoint_id).where(deliveries.c.event_id == event_id)
                    )
                )
                .scalars()
                .all()
            )
            if subscribed & existing:
                await DELIVERIES.move_all(
                    conn,
                    and_(
                        deliveries.c.event_id == event_id,
                        deliveries.c.endpoint_id.in_(sorted(subscribed & existing)),
                    ),
                    list(DeliveryStatus),
                    DeliveryStatus.PENDING,
                    next_attempt_at=now,
                    attempt_count=0,
                    locked_until=None,
                    updated_at=now,
                )
            missing = sorted(subscribed - existing)
            if missing:
                await conn.execute(
                    insert(deliveries), [new_delivery(event_id, e, now) for e in missing]
                )
            return await self._event_view(conn, client_id, event_id)

    async def send_test(self, client_id: str, endpoint_id: str) -> dict[str, Any]:
        """Queue a ``webhook.test`` event to this one enabled endpoint, due now; it is about
        no payment or order, so no other event waits for it nor it for them."""
        now = self.clock()
        async with self.db.write() as conn:
            await self._enabled_endpoint(conn, client_id, endpoint_id)
            event_id = new_id("evt")
            body = {
                "id": event_id,
                "type": TEST_EVENT,
                "created_at": iso(now),
                "data": {"endpoint_id": endpoint_id, "sequence": 1},
            }
            await conn.execute(
                insert(outbox_events).values(
                    id=event_id,
                    type=TEST_EVENT,
                    client_id=client_id,
                    sequence=1,
                    body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                    created_at=now,
                )
            )
            await conn.execute(insert(deliveries), [new_delivery(event_id, endpoint_id, now)])
            return await self._event_view(conn, client_id, event_id)

    async def recover(self, client_id: str, endpoint_id: str, since: datetime) -> int:
        """Queue again, due now with a fresh retry schedule, every delivery to this enabled
        endpoint that failed at or after ``since`` — whenever its event was created; return
        how many. Each resource's events still go out in ``sequence`` order.

        When it failed is the delivery's ``updated_at``: a failed delivery is written only by
        the move into ``failed`` (retries used up, or its endpoint disabled), which stamps it.
        """
        now = self.clock()
        async with self.db.write() as conn:
            await self._enabled_endpoint(conn, client_id, endpoint_id)
            return await DELIVERIES.move_all(
                conn,
                and_(deliveries.c.endpoint_id == endpoint_id, deliveries.c.updated_at >= since),
                [DeliveryStatus.FAILED],
                DeliveryStatus.PENDING,
                next_attempt_at=now,
                attempt_count=0,
                locked_until=None,
                updated_at=now,
            )

    async def _enabled_endpoint(
        self, conn: AsyncConnection, client_id: str, endpoint_id: str
    ) -> None:
        row = (
            await conn.execute(
                select(webhook_endpoints.c.client_id, webhook_endpoints.c.disabled_at).where(
                    webhook_endpoints.c.id == endpoint_id
                )
            )
        ).first()
        if row is None or row.client_id != client_id:
            raise NotFound("webhook endpoint not found")
        if row.disabled_at is not None:
            raise InvalidTransition("disabled", "send")

    async def of_payment(self, payment_id: str) -> list[dict[str, Any]]:
        """A payment's events in order, each with its deliveries and their attempts (for
        finance staff, whose scope the caller has checked on the payment)."""
        async with self.db.read() as conn:
            events = (
                await conn.execute(
                    select(outbox_events)
                    .where(outbox_events.c.payment_id == payment_id)
                    .order_by(outbox_events.c.sequence, outbox_events.c.id)
                )
            ).all()
            rows = (
                await conn.execute(
                    select(deliveries, outbox_events.c.type)
                    .join(outbox_events, outbox_events.c.id == deliveries.c.event_id)
                    .where(outbox_events.c.payment_id == payment_id)
                    .order_by(deliveries.c.id)
                )
            ).all()
            views = await self._deliveries_view(conn, rows)
        by_event: dict[str, list[dict[str, Any]]] = {}
        for view in views:
            by_event.setdefault(view["event_id"], []).append(view)
        return [
            {
                "id": event.id,
                "type": event.type,
                "created_at": iso(event.created_at),
                "deliveries": by_event.get(event.id, []),
            }
            for event in events
        ]

    async def deliveries_of_endpoint(
        self, client_id: str, endpoint_id: str, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        conditions = [deliveries.c.endpoint_id == endpoint_id]
        if cursor is not None:
            if not cursor.isdigit():
                raise InvalidCursor()
            conditions.append(deliveries.c.id < int(cursor))
        async with self.db.read() as conn:
            owner = (
                await conn.execute(
                    select(
                        webhook_endpoints.c.client_id, webhook_endpoints.c.disabled_reason
                    ).where(webhook_endpoints.c.id == endpoint_id)
                )
            ).first()
            if owner is None or owner.client_id != client_id or owner.disabled_reason == "deleted":
                raise NotFound("webhook endpoint not found")
            rows = (
                await conn.execute(
                    select(deliveries, outbox_events.c.type)
                    .join(outbox_events, outbox_events.c.id == deliveries.c.event_id)
                    .where(*conditions)
                    .order_by(deliveries.c.id.desc())
                    .limit(limit + 1)
                )
            ).all()
            page = rows[:limit]
            views = await self._deliveries_view(conn, page)
        next_cursor = str(page[-1].id) if len(rows) > limit else None
        return {"data": views, "next_cursor": next_cursor}

    async def _event_row(self, conn: AsyncConnection, client_id: str, event_id: str) -> Any:
        row = (
            await conn.execute(
                select(outbox_events).where(
                    outbox_events.c.id == event_id, outbox_events.c.client_id == client_id
                )
            )
        ).first()
        if row is None:
            raise NotFound("event not found")
        return row

    async def _event_view(
        self, conn: AsyncConnection, client_id: str, event_id: str
    ) -> dict[str, Any]:
        event = await self._event_row(conn, client_id, event_id)
        rows = (
            await conn.execute(
                select(deliveries, outbox_events.c.type)
                .join(outbox_events, outbox_events.c.id == deliveries.c.event_id)
                .where(deliveries.c.event_id == event_id)
                .order_by(deliveries.c.id)
            )
        ).all()
        return {
            "event": json.loads(event.body),
            "deliveries": await self._deliveries_view(conn, rows),
        }

    async def _deliveries_view(
        self, conn: AsyncConnection, rows: Sequence[Row[Any]]
    ) -> list[dict[str, Any]]:
        tries: dict[int, list[dict[str, Any]]] = {}
        if rows:
            for attempt in (
                await conn.execute(
                    select(delivery_attempts)
                    .where(delivery_attempts.c.delivery_id.in_([row.id for row in rows]))
                    .order_by(delivery_attempts.c.id)
                )
            ).all():
                tries.setdefault(attempt.delivery_id, []).append(
                    {
                        "attempted_at": iso(attempt.attempted_at),
                        "status_code": attempt.status_code,
                        "error": attempt.error,
                        "duration_ms": attempt.duration_ms,
                    }
                )
        return [
            {
                "id": row.id,
                "event_id": row.event_id,
                "event_type": row.type,
                "endpoint_id": row.endpoint_id,
                "status": row.status,
                "attempt_count": row.attempt_count,
                "next_attempt_at": iso(row.next_attempt_at),
                "delivered_at": iso(row.delivered_at),
                "last_status_code": row.last_status_code,
                "attempts": tries.get(row.id, []),
            }
            for row in rows
        ]
