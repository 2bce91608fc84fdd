"""What an event tells a citizen, on which channel, in which words — and the queued row.

An event notifies when the agency's ``[notifications.agencies.<code>.events.<kind>]`` exists
and enables a channel, and when the citizen's number is known: the payer's phone for a bill,
the citizen's side of a postal order (the sender of a pickup, the recipient of a delivery).
The first enabled channel of the agency's ``channels`` is queued; ZNS falls back to SMS
(:meth:`Composer.fallback`) when the number has no Zalo account.

At most one notification per event and channel: ``(source_key, channel)`` is unique and the
row is inserted ``ON CONFLICT DO NOTHING``. A number that must not be written to is recorded
as ``failed`` with its reason and nothing is sent: ``invalid_phone`` (not a Vietnamese mobile
number), ``opted_out`` (``notification_opt_outs``), ``text_too_long``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from config.settings import NotificationSettings, NotificationTemplate
from gateway.core.db.schema import (
    agencies,
    notification_opt_outs,
    payments,
    postal_orders,
    receipts,
)
from gateway.core.ids import new_id
from gateway.core.pii import PiiError
from gateway.core.postal.orders import mask_phone
from gateway.core.postal.phones import InvalidPhone, normalise_phone
from gateway.core.statuses import NOTIFICATIONS, NotificationStatus
from gateway.services.receipts.render import view_url
from gateway.services.sealing import Sealer
from providers.notify.sms import SmsError, prepare_text

log = structlog.get_logger(__name__)

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
PHONE_FIELD = "notification.phone"
#: A number a ZNS or an SMS can reach: a Vietnamese mobile line.
_MOBILE = re.compile(r"\+84[35789][0-9]{8}")

#: Outbox event type → what the citizen is told (postal events by the order's new status).
PAYMENT_KINDS = {
    "payment.created": "payment_created",
    "payment.paid": "payment_paid",
    "payment.expired": "payment_expired",
}
POSTAL_KINDS = {
    "picked_up": "postal_picked_up",
    "out_for_delivery": "postal_out_for_delivery",
    "delivered": "postal_delivered",
    "delivery_failed": "postal_delivery_failed",
}


def phone_hash(key: bytes, e164: str) -> str:
    """The opt-out table's key of a number: HMAC-SHA256 under ``notifications.lookup_key``."""
    return hmac.new(key, e164.encode(), hashlib.sha256).hexdigest()


def vnd(amount: int) -> str:
    """``185000`` → ``185.000`` (Vietnamese thousands separator)."""
    return f"{amount:,}".replace(",", ".")


@dataclass(frozen=True)
class Subject:
    """What an event is about, as the templates and the row need it."""

    agency_id: int
    agency_code: str
    payment_id: str | None
    postal_order_id: str | None
    #: The sealed number and the field it was sealed for; ``None``: no number known.
    phone_token: str | None
    phone_field: str
    context: dict[str, str]
    status: str
    expires_at: datetime | None = None
    created_at: datetime | None = None


class Composer:
    def __init__(self, settings: NotificationSettings, sealer: Sealer, base_url: str) -> None:
        self.settings = settings
        self.sealer = sealer
        self.base_url = base_url
        self.lookup_key = settings.lookup_key.get_secret_value().encode()

    def template(self, agency_code: str, kind: str) -> NotificationTemplate | None:
        agency = self.settings.agencies.get(agency_code)
        if not self.settings.enabled or agency is None:
            return None
        template: NotificationTemplate | None = agency.events.get(kind)  # type: ignore[call-overload]
        return template

    def channels(self, agency_code: str, template: NotificationTemplate) -> list[str]:
        """The agency's channel order, keeping those this event enables."""
        agency = self.settings.agencies[agency_code]
        return [c for c in agency.channels if getattr(template, c)]

    # -- subjects ---------------------------------------------------------------------

    async def payment(self, conn: AsyncConnection, payment_id: str) -> Subject | None:
        return (await self.payments(conn, {payment_id})).get(payment_id)

    async def payments(self, conn: AsyncConnection, ids: Collection[str]) -> dict[str, Subject]:
        """The subject of each payment of ``ids`` that exists, in two statements."""
        if not ids:
            return {}
        rows = (
            await conn.execute(
                select(payments, agencies.c.code.label("agency_code"), agencies.c.name)
                .join(agencies, agencies.c.id == payments.c.agency_id)
                .where(payments.c.id.in_(sorted(ids)))
            )
        ).all()
        # Each bill's (first) e-receipt once it is issued: a paid bill's message links it.
        first_receipt: dict[str, Any] = {}
        for receipt in await conn.execute(
            select(receipts.c.payment_id, receipts.c.id, receipts.c.view_token_sealed)
            .where(receipts.c.payment_id.in_(sorted(ids)), receipts.c.number.is_not(None))
            .order_by(receipts.c.payment_id, receipts.c.number)
        ):
            first_receipt.setdefault(receipt.payment_id, receipt)
        return {row.id: self._payment(row, first_receipt.get(row.id)) for row in rows}

    def _payment(self, row: Any, receipt: Any) -> Subject:
        expires = row.expires_at.astimezone(VIETNAM)
        return Subject(
            agency_id=row.agency_id,
            agency_code=row.agency_code,
            payment_id=row.id,
            postal_order_id=None,
            phone_token=row.payer.get("phone"),
            phone_field="payer.phone",
            status=row.status,
            expires_at=row.expires_at,
            created_at=row.created_at,
            context={
                "agency_name": row.name,
                "dossier_code": row.dossier_code,
                "amount": vnd(row.amount),
                "checkout_url": f"{self.base_url}/pay/{row.id}",
                "expires_at": f"{expires:%H:%M %d/%m/%Y}",
                "receipt_url": view_url(receipt, self.base_url, self.sealer) if receipt else "",
                "tracking_number": "",
            },
        )

    async def postal_order(self, conn: AsyncConnection, order_id: str) -> Subject | None:
        return (await self.postal_orders(conn, {order_id})).get(order_id)

    async def postal_orders(
        self, conn: AsyncConnection, ids: Collection[str]
    ) -> dict[str, Subject]:
        """The subject of each postal order of ``ids`` that exists, in one statement."""
        if not ids:
            return {}
        rows = (
            await conn.execute(
                select(postal_orders, agencies.c.code.label("agency_code"), agencies.c.name)
                .join(agencies, agencies.c.id == postal_orders.c.agency_id)
                .where(postal_orders.c.id.in_(sorted(ids)))
            )
        ).all()
        return {row.id: self._postal_order(row) for row in rows}

    def _postal_order(self, row: Any) -> Subject:
        # The citizen sends the dossier on a pickup and receives the result on a delivery.
        role = "sender" if row.leg == "pickup" else "recipient"
        party = row.sender if role == "sender" else row.recipient
        return Subject(
            agency_id=row.agency_id,
            agency_code=row.agency_code,
            payment_id=None,
            postal_order_id=row.id,
            phone_token=party.get("phone"),
            phone_field=f"postal.{role}.phone",
            status=row.status,
            context={
                "agency_name": row.name,
                "dossier_code": row.dossier_code,
                "amount": "",
                "checkout_url": "",
                "expires_at": "",
                "receipt_url": "",
                "tracking_number": row.tracking_number or "",
            },
        )

    # -- queueing ---------------------------------------------------------------------

    async def queue(
        self,
        conn: AsyncConnection,
        *,
        now: datetime,
        source_key: str,
        kind: str,
        subject: Subject,
        channel: str,
        template: NotificationTemplate,
        due: datetime,
        seq: int,
    ) -> str | None:
        """Insert the notification of ``source_key`` on ``channel`` (queued, or failed with
        the reason it must not be sent); ``None`` if it existed already."""
        try:
            raw = self.sealer.open(subject.phone_token or "", subject.phone_field)
        except PiiError:  # a key no longer in the keyring: recorded, never a stuck queue
            raw = ""
        status, reason = NotificationStatus.QUEUED, None
        try:
            e164 = normalise_phone(raw).e164
            if not _MOBILE.fullmatch(e164):
                raise InvalidPhone("invalid_phone")
        except InvalidPhone:
            e164, status, reason = raw, NotificationStatus.FAILED, "invalid_phone"
        if status is NotificationStatus.QUEUED and await self.opted_out(conn, e164):
            status, reason = NotificationStatus.FAILED, "opted_out"
        content: dict[str, Any]
        if channel == "zns":
            content = {
                "template_id": template.zns_template_id,
                "template_data": {
                    key: value.format(**subject.context) for key, value in template.zns_data.items()
                },
            }
        else:
            try:
                text, segments = prepare_text((template.sms_text or "").format(**subject.context))
                content = {"text": text, "segments": segments}
            except SmsError:
                content = {"text": None, "segments": None}
                status, reason = NotificationStatus.FAILED, "text_too_long"
        notification_id = new_id("ntf")
        inserted = await NOTIFICATIONS.insert_unless_taken(
            conn,
            ["source_key", "channel"],
            status,
            id=notification_id,
            source_key=source_key,
            channel=channel,
            kind=kind,
            agency_id=subject.agency_id,
            payment_id=subject.payment_id,
            postal_order_id=subject.postal_order_id,
            phone=self.sealer.seal(e164, PHONE_FIELD),
            phone_masked=mask_phone(e164) if e164.startswith("+84") else "***",
            reason=reason,
            content=content,
            attempt_count=0,
            next_attempt_at=due if status is NotificationStatus.QUEUED else None,
            event_at=due,
            event_seq=seq,
            created_at=now,
            updated_at=now,
        )
        if not inserted:
            return None
        log.info(
            "notification_queued" if reason is None else "notification_not_sent",
            notification_id=notification_id,
            kind=kind,
            channel=channel,
            reason=reason,
            payment_id=subject.payment_id,
            postal_order_id=subject.postal_order_id,
        )
        return notification_id

    async def opted_out(self, conn: AsyncConnection, e164: str) -> bool:
        found = await conn.execute(
            select(notification_opt_outs.c.phone_hash).where(
                notification_opt_outs.c.phone_hash == phone_hash(self.lookup_key, e164)
            )
        )
        return found.first() is not None

    async def subject(
        self, conn: AsyncConnection, payment_id: str | None, postal_order_id: str | None
    ) -> Subject | None:
        if payment_id is not None:
            return await self.payment(conn, payment_id)
        if postal_order_id is not None:
            return await self.postal_order(conn, postal_order_id)
        return None

    async def subjects(
        self, conn: AsyncConnection, about: Sequence[tuple[str | None, str | None]]
    ) -> list[Subject | None]:
        """:meth:`subject` of each (payment id, postal order id) of ``about``, in at most
        three statements whatever their number (the intake worker's batch)."""
        by_payment = await self.payments(conn, {p for p, _ in about if p is not None})
        by_order = await self.postal_orders(
            conn, {o for p, o in about if p is None and o is not None}
        )
        return [
            by_payment.get(p) if p is not None else by_order.get(o) if o is not None else None
            for p, o in about
        ]

    async def fallback(
        self, conn: AsyncConnection, *, now: datetime, failed: Any, after: str
    ) -> str | None:
        """Queue the next channel after ``after`` for the event of the ``failed`` row."""
        subject = await self.subject(conn, failed.payment_id, failed.postal_order_id)
        if subject is None:
            return None
        template = self.template(subject.agency_code, failed.kind)
        if template is None:
            return None
        order = self.channels(subject.agency_code, template)
        later = order[order.index(after) + 1 :] if after in order else []
        if not later:
            return None
        return await self.queue(
            conn,
            now=now,
            source_key=failed.source_key,
            kind=failed.kind,
            subject=subject,
            channel=later[0],
            template=template,
            due=failed.event_at,
            seq=failed.event_seq,
        )
