"""The notification worker: the outbox's second consumer (the first is webhook delivery).

``run_once`` does two short things, each claimed from the database so any number of workers
share them and nothing is sent twice by two of them:

1. **take events** — rows of ``notification_intake`` (written with the change that caused
   them) are claimed with ``FOR UPDATE SKIP LOCKED`` (SQLite: one writer) and deleted in one
   statement (``DELETE … RETURNING``), then turned into notifications by
   :class:`~.compose.Composer`, in one transaction. A new bill
   also schedules its "expiring soon" reminder (``expiring:<payment id>``) for
   ``expires_at − notifications.expiring_lead_seconds``, when the bill lives at least twice
   that long; when its time comes, a bill no longer pending is not reminded
   (``failed``/``payment_not_pending``).
2. **send due** — queued notifications whose time has come are claimed with a lease
   (``locked_until``), sent outside any transaction, and recorded in one transaction per
   batch: ``sent`` with the provider's message id; ``failed`` with the provider's refusal
   (``no_zalo_account`` queues the SMS); a transient failure stays ``queued`` for the next
   try on the webhooks' back-off schedule (:mod:`webhooks.schedule`), ``failed``/``gave_up``
   after the last. A worker that dies leaves its claim to be retaken after the lease; the
   provider's idempotency key (our notification id) keeps that repeat from being a second
   message.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, or_, select, update

from config.settings import NotificationSettings
from gateway.core.db import Database
from gateway.core.db.schema import notification_intake, notifications, payments
from gateway.core.ids import Clock
from gateway.core.machines import StaleStatus
from gateway.core.outbox import PAYMENT_CREATED
from gateway.core.statuses import NOTIFICATIONS, NotificationStatus, PaymentStatus
from gateway.services.notifications.compose import (
    PAYMENT_KINDS,
    PHONE_FIELD,
    POSTAL_KINDS,
    Composer,
    Subject,
)
from gateway.services.sealing import Sealer
from providers.common.errors import ProviderError
from providers.notify.base import Accepted, Message, Notifier, Refused, SendResult, provider_phone
from webhooks.schedule import next_attempt_delay

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Claimed:
    id: str
    channel: str
    kind: str
    phone: str
    content: dict[str, Any]
    attempt_count: int
    payment_status: str | None
    #: The payment or postal order it is about: its messages are sent one after another.
    subject: str


class NotificationWorker:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: NotificationSettings,
        composer: Composer,
        sealer: Sealer,
        notifiers: Mapping[str, Notifier],
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.composer = composer
        self.sealer = sealer
        self.notifiers = dict(notifiers)
        self.jitter = jitter
        #: The oldest waiting events, locked (others skip them) and deleted, in one statement.
        self._take = (
            delete(notification_intake)
            .where(
                notification_intake.c.id.in_(
                    select(notification_intake.c.id)
                    .order_by(notification_intake.c.id)
                    .limit(settings.batch_size)
                    .with_for_update(skip_locked=True)
                    .scalar_subquery()
                )
            )
            .returning(*notification_intake.c)
        )

    async def run_once(self) -> int:
        """Take the waiting events, then send one batch of what is due; return how many
        events and notifications were handled."""
        return await self.take_events() + await self.send_due()

    async def run_until_idle(self) -> int:
        total = 0
        while count := await self.run_once():
            total += count
        return total

    # -- 1. events → notifications ----------------------------------------------------

    async def take_events(self) -> int:
        now = self.clock()
        async with self.db.write() as conn:
            # Claimed and deleted in one statement; a failure below rolls the deletion back.
            rows = sorted((await conn.execute(self._take)).all(), key=lambda row: row.id)
            # Switched off: the events are taken and dropped, as they always were.
            told = (
                [(row, kind) for row in rows if (kind := self._kind(row))]
                if self.settings.enabled
                else []
            )
            # Every subject of the batch read at once, in the events' order.
            subjects = await self.composer.subjects(
                conn, [(row.payment_id, row.postal_order_id) for row, _ in told]
            )
            for (row, kind), subject in zip(told, subjects, strict=True):
                if subject is not None:
                    await self._decide(conn, row, kind, subject, now)
        return len(rows)

    @staticmethod
    def _kind(row: Any) -> str | None:
        """The notification an event calls for, if any."""
        if row.event_type in PAYMENT_KINDS:
            return PAYMENT_KINDS[row.event_type]
        return POSTAL_KINDS.get(row.subject_status or "")

    async def _decide(
        self, conn: Any, row: Any, kind: str, subject: Subject, now: datetime
    ) -> None:
        # Due when the event happened: one subject's messages go out in the order of its events.
        await self._queue_first(conn, now, row.source_key, kind, subject, row.created_at, row.id)
        if row.event_type == PAYMENT_CREATED and subject.expires_at and subject.created_at:
            lead = timedelta(seconds=self.settings.expiring_lead_seconds)
            if subject.expires_at - subject.created_at >= 2 * lead:
                await self._queue_first(
                    conn,
                    now,
                    f"expiring:{subject.payment_id}",
                    "payment_expiring",
                    subject,
                    subject.expires_at - lead,
                    row.id,
                )

    async def _queue_first(
        self,
        conn: Any,
        now: datetime,
        source_key: str,
        kind: str,
        subject: Any,
        due: datetime,
        seq: int,
    ) -> None:
        template = self.composer.template(subject.agency_code, kind)
        if template is None:
            return
        channels = self.composer.channels(subject.agency_code, template)
        if not channels:
            return
        if subject.phone_token is None:
            log.info("notification_skipped", kind=kind, reason="no_phone")
            return
        await self.composer.queue(
            conn,
            now=now,
            source_key=source_key,
            kind=kind,
            subject=subject,
            channel=channels[0],
            template=template,
            due=due,
            seq=seq,
        )

    # -- 2. send what is due ----------------------------------------------------------

    async def send_due(self) -> int:
        claimed = await self._claim()
        if not claimed:
            return 0
        by_subject: dict[str, list[Claimed]] = {}
        for item in claimed:  # claimed in due order
            by_subject.setdefault(item.subject, []).append(item)

        async def in_order(items: list[Claimed]) -> list[SendResult | ProviderError | str]:
            return [await self._send(item) for item in items]

        groups = list(by_subject.values())
        answers = await asyncio.gather(*(in_order(items) for items in groups))
        await self._record(
            [
                pair
                for items, got in zip(groups, answers, strict=True)
                for pair in zip(items, got, strict=True)
            ]
        )
        return len(claimed)

    async def _claim(self) -> list[Claimed]:
        now = self.clock()
        queued = NotificationStatus.QUEUED.value
        async with self.db.write() as conn:
            ids = (
                (
                    await conn.execute(
                        select(notifications.c.id)
                        .where(
                            notifications.c.status == queued,
                            notifications.c.next_attempt_at <= now,
                            or_(
                                notifications.c.locked_until.is_(None),
                                notifications.c.locked_until < now,
                            ),
                        )
                        .order_by(
                            notifications.c.next_attempt_at,
                            notifications.c.event_seq,
                            notifications.c.id,
                        )
                        .limit(self.settings.batch_size)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            if not ids:
                return []
            lease = now + timedelta(seconds=self.settings.lease_seconds)
            await conn.execute(
                update(notifications)
                .where(notifications.c.id.in_(ids), notifications.c.status == queued)
                .values(locked_until=lease)
            )
            rows = (
                await conn.execute(
                    select(notifications, payments.c.status.label("payment_status"))
                    .outerjoin(payments, payments.c.id == notifications.c.payment_id)
                    .where(notifications.c.id.in_(ids))
                    .order_by(
                        notifications.c.next_attempt_at,
                        notifications.c.event_seq,
                        notifications.c.id,
                    )
                )
            ).all()
        return [
            Claimed(
                id=row.id,
                channel=row.channel,
                kind=row.kind,
                phone=row.phone,
                content=row.content,
                attempt_count=row.attempt_count,
                payment_status=row.payment_status,
                subject=row.payment_id or row.postal_order_id or row.id,
            )
            for row in rows
        ]

    async def _send(self, item: Claimed) -> SendResult | ProviderError | str:
        """The provider's answer, its error, or the reason it was not sent (text)."""
        if item.kind == "payment_expiring" and item.payment_status != PaymentStatus.PENDING:
            return "payment_not_pending"
        notifier = self.notifiers.get(item.channel)
        if notifier is None:
            return "channel_unavailable"
        message = Message(
            tracking_id=item.id,
            phone=provider_phone(self.sealer.open(item.phone, PHONE_FIELD)),
            template_id=item.content.get("template_id"),
            template_data=item.content.get("template_data") or {},
            text=item.content.get("text"),
        )
        try:
            return await notifier.send(message)
        except ProviderError as error:
            return error

    async def _record(
        self, results: list[tuple[Claimed, SendResult | ProviderError | str]]
    ) -> None:
        now = self.clock()
        async with self.db.write() as conn:
            for item, result in results:
                try:
                    await self._record_one(conn, now, item, result)
                except StaleStatus:  # retaken after the lease ran out: its new owner decides
                    continue

    async def _record_one(
        self, conn: Any, now: datetime, item: Claimed, result: SendResult | ProviderError | str
    ) -> None:
        count = item.attempt_count + 1
        common = {"attempt_count": count, "locked_until": None, "updated_at": now}
        queued, failed = NotificationStatus.QUEUED, NotificationStatus.FAILED
        if isinstance(result, Accepted):
            await NOTIFICATIONS.move(
                conn,
                item.id,
                queued,
                NotificationStatus.SENT,
                provider_message_id=result.message_id,
                sent_at=now,
                reason=None,
                **common,
            )
            log.info("notification_sent", notification_id=item.id, channel=item.channel)
            return
        if isinstance(result, Refused) or isinstance(result, str):
            reason = result if isinstance(result, str) else result.code
            await NOTIFICATIONS.move(conn, item.id, queued, failed, reason=reason, **common)
            log.info(
                "notification_failed", notification_id=item.id, channel=item.channel, reason=reason
            )
            if isinstance(result, Refused) and result.fallback:
                row = (
                    await conn.execute(select(notifications).where(notifications.c.id == item.id))
                ).one()
                await self.composer.fallback(conn, now=now, failed=row, after=item.channel)
            return
        delay = next_attempt_delay(count, self.jitter())
        if delay is None:
            await NOTIFICATIONS.move(conn, item.id, queued, failed, reason="gave_up", **common)
            log.warning("notification_given_up", notification_id=item.id, error=result.code)
            return
        await conn.execute(
            update(notifications)
            .where(notifications.c.id == item.id, notifications.c.status == queued.value)
            .values(
                next_attempt_at=now + timedelta(seconds=delay),
                reason=f"retrying:{result.code}"[:64],
                **common,
            )
        )
        log.info("notification_retry", notification_id=item.id, error=result.code)
