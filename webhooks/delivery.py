"""The delivery worker: claim due deliveries, send them signed, record the outcome.

Claiming is a short transaction that moves rows to ``delivering`` with a lease
(``locked_until``); on PostgreSQL it selects with ``FOR UPDATE SKIP LOCKED``, so any number of
workers share the table and each delivery goes to exactly one of them. A worker that dies
leaves its rows ``delivering``; when the lease runs out another worker takes them over.
Sending happens outside any transaction; results are written in one transaction per batch.

Order: the events of one resource (a payment or a postal order) reach one endpoint in
``sequence`` order. Only the head of each (endpoint, resource) queue can be claimed — a delivery
none of whose earlier events (lower ``sequence``) to that endpoint is still ``pending`` or
``delivering`` — so an event is sent only after the earlier ones were delivered or finally given
up, and a batch holds at most one delivery per queue. A resource whose head keeps failing waits
alone; the heads of other resources stay claimable.

Outcomes: 2xx → ``succeeded``; 410 → the endpoint asked to be disabled (its pending deliveries
fail); anything else → retried on the back-off schedule (persisted as ``next_attempt_at``)
until it is exhausted (≥ 72 h), then ``failed``. ``webhook-id`` is the event id on every try.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import structlog
from sqlalchemy import Column, Exists, and_, exists, insert, or_, select

from gateway.core.db import Database
from gateway.core.db.schema import deliveries, delivery_attempts, outbox_events, webhook_endpoints
from gateway.core.ids import Clock
from gateway.core.statuses import DELIVERIES, DeliveryStatus
from webhooks import sender, signing
from webhooks.endpoints import EndpointService, current_secrets
from webhooks.schedule import next_attempt_delay

log = structlog.get_logger(__name__)

#: A delivery in one of these states still holds back the later events of its queue.
_OPEN = (DeliveryStatus.PENDING.value, DeliveryStatus.DELIVERING.value)


def _earlier_open(subject: Column[Any]) -> Exists:
    """Whether an earlier event about the same subject (``subject`` is the claimed event's
    ``payment_id`` or ``postal_order_id`` column) still has an open delivery to the same
    endpoint."""
    earlier = deliveries.alias("earlier")
    earlier_event = outbox_events.alias("earlier_event")
    return exists().where(
        earlier.c.endpoint_id == deliveries.c.endpoint_id,
        earlier.c.status.in_(_OPEN),
        earlier.c.event_id == earlier_event.c.id,
        earlier_event.c[subject.name] == subject,
        earlier_event.c.sequence < outbox_events.c.sequence,
    )


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    event_id: str
    endpoint_id: str
    url: str
    body: bytes
    secrets: list[str]
    attempt_count: int


@dataclass(frozen=True)
class DeliveryOptions:
    batch_size: int = 200
    concurrency: int = 100
    timeout_seconds: float = 10.0
    lease_seconds: float = 120.0


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        session: aiohttp.ClientSession,
        endpoints: EndpointService,
        options: DeliveryOptions = DeliveryOptions(),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.db = db
        self.clock = clock
        self.session = session
        self.endpoints = endpoints
        self.options = options
        self.jitter = jitter
        self._limit = asyncio.Semaphore(options.concurrency)

    async def run_once(self) -> int:
        """Deliver one batch of due deliveries; return how many were attempted."""
        claimed = await self._claim()
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._send(item) for item in claimed))
        await self._record(list(zip(claimed, outcomes, strict=True)))
        return len(claimed)

    async def run_until_idle(self) -> int:
        """Deliver batches until nothing is due now (tests and the CLI use this)."""
        total = 0
        while count := await self.run_once():
            total += count
        return total

    async def _claim(self) -> list[Claimed]:
        now = self.clock()
        due = or_(
            and_(
                deliveries.c.status == DeliveryStatus.PENDING.value,
                deliveries.c.next_attempt_at <= now,
            ),
            and_(
                deliveries.c.status == DeliveryStatus.DELIVERING.value,
                deliveries.c.locked_until < now,
            ),
        )
        async with self.db.write() as conn:
            ids = (
                (
                    await conn.execute(
                        select(deliveries.c.id)
                        .join(outbox_events, outbox_events.c.id == deliveries.c.event_id)
                        .where(
                            due,
                            ~_earlier_open(outbox_events.c.payment_id),
                            ~_earlier_open(outbox_events.c.postal_order_id),
                        )
                        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
                        .limit(self.options.batch_size)
                        .with_for_update(skip_locked=True, of=deliveries)
                    )
                )
                .scalars()
                .all()
            )
            if not ids:
                return []
            await DELIVERIES.move_all(
                conn,
                deliveries.c.id.in_(ids),
                [DeliveryStatus.PENDING, DeliveryStatus.DELIVERING],
                DeliveryStatus.DELIVERING,
                locked_until=now + timedelta(seconds=self.options.lease_seconds),
            )
            rows = (
                await conn.execute(
                    select(
                        deliveries.c.id,
                        deliveries.c.attempt_count,
                        deliveries.c.endpoint_id,
                        outbox_events.c.id.label("event_id"),
                        outbox_events.c.body,
                        webhook_endpoints.c.url,
                        webhook_endpoints.c.secret,
                        webhook_endpoints.c.previous_secret,
                        webhook_endpoints.c.previous_secret_expires_at,
                    )
                    .join(outbox_events, outbox_events.c.id == deliveries.c.event_id)
                    .join(webhook_endpoints, webhook_endpoints.c.id == deliveries.c.endpoint_id)
                    .where(deliveries.c.id.in_(ids))
                )
            ).all()
        return [
            Claimed(
                delivery_id=row.id,
                event_id=row.event_id,
                endpoint_id=row.endpoint_id,
                url=row.url,
                body=row.body.encode(),
                secrets=current_secrets(row, now),
                attempt_count=row.attempt_count,
            )
            for row in rows
        ]

    async def _send(self, item: Claimed) -> tuple[datetime, sender.AttemptOutcome]:
        async with self._limit:
            sent_at = self.clock()
            headers = signing.headers(
                item.secrets, item.event_id, int(sent_at.timestamp()), item.body
            )
            outcome = await sender.send(
                self.session, item.url, item.body, headers, self.options.timeout_seconds
            )
            return sent_at, outcome

    async def _record(
        self, results: list[tuple[Claimed, tuple[datetime, sender.AttemptOutcome]]]
    ) -> None:
        now = self.clock()
        attempts: list[dict[str, Any]] = []
        moves: list[tuple[int, DeliveryStatus, dict[str, Any]]] = []
        gone: set[str] = set()
        for item, (sent_at, outcome) in results:
            error = (outcome.error or "")[:255] or None
            attempts.append(
                {
                    "delivery_id": item.delivery_id,
                    "attempted_at": sent_at,
                    "status_code": outcome.status_code,
                    "error": error,
                    "duration_ms": outcome.duration_ms,
                }
            )
            count = item.attempt_count + 1
            status, next_at, delivered_at = DeliveryStatus.FAILED, None, None
            if outcome.delivered:
                status, delivered_at = DeliveryStatus.SUCCEEDED, now
            elif outcome.gone:
                gone.add(item.endpoint_id)
            else:
                delay = next_attempt_delay(count, self.jitter())
                if delay is not None:
                    status, next_at = DeliveryStatus.PENDING, now + timedelta(seconds=delay)
            moves.append(
                (
                    item.delivery_id,
                    status,
                    {
                        "attempt_count": count,
                        "last_status_code": outcome.status_code,
                        "last_error": error,
                        "next_attempt_at": next_at,
                        "delivered_at": delivered_at,
                    },
                )
            )
        async with self.db.write() as conn:
            # One statement for the whole batch (executemany), guarded by the claim.
            await DELIVERIES.move_each(
                conn, DeliveryStatus.DELIVERING, moves, locked_until=None, updated_at=now
            )
            await conn.execute(insert(delivery_attempts), attempts)
            for endpoint_id in gone:
                await self.endpoints.disable(conn, endpoint_id, "gone")
        for endpoint_id in gone:
            log.warning("webhook_endpoint_disabled", endpoint_id=endpoint_id, reason="gone")
        delivered = sum(1 for _, (_, outcome) in results if outcome.delivered)
        log.info("webhook_deliveries", attempted=len(results), delivered=delivered)
