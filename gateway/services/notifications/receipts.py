"""Delivery receipts from ZNS (``POST /callbacks/zns/<secret>``) and eSMS
(``GET /callbacks/sms/<secret>``), through the one inbound pipeline
(:func:`gateway.core.inbox.receive`): verify → store once → apply → acknowledge.

Neither provider's receipt is verifiably signed (``specs/notifications.md`` §1.3: Zalo's
webhook signature is not verified; §2.1: eSMS does not sign), so the callback URL carries a
secret path segment compared in constant time, and a receipt only moves a ``sent``
notification to ``delivered`` (or ``failed``) — it never moves money or sends anything. A
receipt is stored once per provider and ``event_key`` (a replay is a ``duplicate``); one for
a message we did not send is stored and answered ``unmatched`` with code ``unknown_message``.
The stored copy of an eSMS report leaves out ``phonenumber`` (personal data).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core import inbox
from gateway.core.db import Database
from gateway.core.db.schema import notifications
from gateway.core.errors import GatewayError
from gateway.core.ids import Clock
from gateway.core.inbox import EventOutcome
from gateway.core.statuses import NOTIFICATIONS, NotificationStatus
from providers.notify import sms, zalo_zns
from providers.notify.base import DeliveryReceipt
from providers.notify.zalo_zns.errors import ZnsError

log = structlog.get_logger(__name__)

#: Query parameters of an eSMS report that are personal data: not stored.
_PERSONAL = frozenset({"phonenumber", "Phone", "phone"})


class ReceiptRejected(GatewayError):
    http_status = 401
    code = "callback_rejected"
    title = "The delivery receipt could not be verified"


class ReceiptMalformed(GatewayError):
    http_status = 400
    code = "callback_malformed"
    title = "Not a delivery receipt"


@dataclass(frozen=True)
class ReceiptAnswer:
    outcome: str  # applied | already_final | unmatched | duplicate | ignored
    code: str | None = None

    def body(self) -> dict[str, Any]:
        return {"status": "accepted", "outcome": self.outcome, "code": self.code}


class ReceiptReceiver:
    def __init__(
        self, db: Database, clock: Clock, zns_secret: SecretStr, sms_secret: SecretStr
    ) -> None:
        self.db = db
        self.clock = clock
        self.secrets = {"zns": zns_secret, "sms": sms_secret}

    def _verify(self, channel: str, path_secret: str) -> None:
        expected = self.secrets[channel].get_secret_value().encode()
        if not hmac.compare_digest(path_secret.encode(), expected):
            raise ReceiptRejected("wrong secret path segment")

    async def zns(self, path_secret: str, body: bytes) -> ReceiptAnswer:
        self._verify("zns", path_secret)
        try:
            receipt = zalo_zns.parse_receipt(body)
        except ZnsError as error:
            raise ReceiptMalformed(str(error)) from None
        if receipt is None:
            return ReceiptAnswer("ignored", "not_a_receipt")
        return await self._receive("zns", receipt, body.decode("utf-8", "replace"))

    async def sms(self, path_secret: str, query: Mapping[str, str]) -> ReceiptAnswer:
        self._verify("sms", path_secret)
        try:
            receipt = sms.parse_receipt(query)
        except sms.SmsError as error:
            raise ReceiptMalformed(str(error)) from None
        if receipt is None:
            return ReceiptAnswer("ignored", "not_final")
        kept = {k: v for k, v in query.items() if k not in _PERSONAL}
        return await self._receive("sms", receipt, json.dumps(kept, sort_keys=True))

    async def _receive(self, channel: str, receipt: DeliveryReceipt, raw: str) -> ReceiptAnswer:
        now = self.clock()

        async def apply(conn: AsyncConnection) -> inbox.Settled[str | None]:
            row = (
                await conn.execute(
                    select(
                        notifications.c.id, notifications.c.status, notifications.c.payment_id
                    ).where(
                        notifications.c.channel == channel,
                        notifications.c.provider_message_id == receipt.message_id,
                    )
                )
            ).first()
            if row is None:
                log.warning("notification_receipt_unknown", channel=channel)
                return inbox.Settled(EventOutcome.UNMATCHED, None, "unknown_message")
            if row.status != NotificationStatus.SENT.value:
                return inbox.Settled(EventOutcome.ALREADY_FINAL, None, row.status, row.payment_id)
            if receipt.delivered:
                await NOTIFICATIONS.move(
                    conn,
                    row.id,
                    NotificationStatus.SENT,
                    NotificationStatus.DELIVERED,
                    delivered_at=receipt.at or now,
                    updated_at=now,
                )
            else:
                await NOTIFICATIONS.move(
                    conn,
                    row.id,
                    NotificationStatus.SENT,
                    NotificationStatus.FAILED,
                    reason=f"not_delivered:{receipt.failure}"[:64],
                    updated_at=now,
                )
            log.info("notification_receipt_applied", notification_id=row.id, channel=channel)
            return inbox.Settled(EventOutcome.APPLIED, None, None, row.payment_id)

        received = await inbox.receive(
            self.db,
            provider=channel,
            event_key=receipt.event_key[:128],
            raw=raw,
            received_at=now,
            apply=apply,
        )
        if received.duplicate:
            return ReceiptAnswer("duplicate", received.reason)
        return ReceiptAnswer(received.outcome.value, received.reason)
