"""VNPost's status pushes (``POST /callbacks/vnpost``): verified, stored raw, acknowledged.

Checked in order: the secret path segment (when configured), the sender's address (when an
allowlist is configured), the ``X-Vnpost-Signature``. A verified push is stored in the inbox
once per item code, status and time through the one inbound pipeline
(:func:`gateway.core.inbox.receive`; a replay is a ``duplicate``). A push that would move an
order to a final status or touch money is not believed as is — VNPost's signature covers only
item code, status and time — so the order's read-back from the carrier is made due now
(``deferred``) and :class:`gateway.services.postal.carrier.CarrierSync` applies the carrier's
own history. Other pushes are applied directly, by rank and time. A code the configured
status profile (``vnpost.status_profile``) does not explain is stored on the order as
``unknown`` and never applied (``unknown_code``).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from config.settings import VnpostSettings
from gateway.core import inbox
from gateway.core.db import Database
from gateway.core.db.schema import postal_orders
from gateway.core.errors import GatewayError
from gateway.core.inbox import EventOutcome
from gateway.services.postal import state
from gateway.services.postal.carrier import PROVIDER, carrier_event_key, new_event
from providers.common.postal import FINAL_STATUSES
from providers.postal.vnpost import VnpostError, parse_webhook
from providers.postal.vnpost.codec import SIGNATURE_HEADER
from providers.postal.vnpost.errors import UNAUTHORIZED

log = structlog.get_logger(__name__)


class CallbackRejected(GatewayError):
    """A push that cannot be believed: wrong path secret, address or signature."""

    http_status = 401
    code = "callback_rejected"
    title = "The carrier push could not be verified"


class CallbackMalformed(GatewayError):
    http_status = 400
    code = "callback_malformed"
    title = "The carrier push is not a status push"


@dataclass(frozen=True)
class PushResult:
    outcome: str  # applied | stored | duplicate | deferred | unknown_order
    order_id: str | None = None


class PushReceiver:
    def __init__(
        self, db: Database, context: state.PostalContext, settings: VnpostSettings
    ) -> None:
        self.db = db
        self.context = context
        self.settings = settings
        self._networks = [
            ipaddress.ip_network(n, strict=False) for n in settings.callback_allowed_ips
        ]

    def verify_origin(self, remote: str | None, path_secret: str | None) -> None:
        configured = self.settings.callback_secret
        if configured is not None:
            if path_secret is None or not hmac.compare_digest(
                path_secret.encode(), configured.get_secret_value().encode()
            ):
                raise CallbackRejected("wrong or missing secret path segment")
        if self._networks:
            try:
                address = ipaddress.ip_address(remote or "")
            except ValueError:
                raise CallbackRejected("unknown sender address") from None
            if not any(address in network for network in self._networks):
                raise CallbackRejected("sender address not allowed")

    async def receive_push(
        self, headers: Mapping[str, str], body: bytes, remote: str | None, path_secret: str | None
    ) -> PushResult:
        self.verify_origin(remote, path_secret)
        key = self.settings.webhook_key.get_secret_value().encode()
        try:
            push = parse_webhook(key, headers.get(SIGNATURE_HEADER), body)
        except VnpostError as error:
            if error.code == UNAUTHORIZED:
                raise CallbackRejected(str(error)) from None
            raise CallbackMalformed(str(error)) from None
        now = self.context.clock()

        async def apply(conn: AsyncConnection) -> inbox.Settled[str | None]:
            order_id = (
                await conn.execute(
                    select(postal_orders.c.id).where(
                        postal_orders.c.tracking_number == push.item_code
                    )
                )
            ).scalar()
            if order_id is None:
                log.warning("postal_push_unknown_order", tracking_number=push.item_code)
                return inbox.Settled(EventOutcome.UNKNOWN_ORDER, None, "item_code")
            profile = self.context.profile
            event = new_event(push.item_code, push.event, profile)
            if event.status in FINAL_STATUSES or event.money is not None:
                # Believed only once the carrier confirms it: read the order back now.
                await conn.execute(
                    update(postal_orders)
                    .where(postal_orders.c.id == order_id)
                    .values(sync_due_at=now)
                )
                return inbox.Settled(EventOutcome.DEFERRED, order_id, "confirm_by_read")
            order = await state.load(conn, order_id, for_update=True)
            recorded = await state.record_event(conn, self.context, order, event)
            unexplained = profile.meaning(push.event.code) is None
            log.info(
                "postal_push_received",
                postal_order_id=order_id,
                carrier_code=push.event.code,
                outcome=recorded.value,
                status_profile=profile.name,
                unknown_code=unexplained,
            )
            if unexplained and recorded is state.Outcome.STORED:
                return inbox.Settled(EventOutcome.UNKNOWN_CODE, order_id, "unknown_code")
            return inbox.Settled(EventOutcome(recorded.value), order_id)

        received = await inbox.receive(
            self.db,
            provider=PROVIDER,
            event_key=carrier_event_key(push.item_code, push.event),
            raw=body.decode("utf-8", "replace"),
            received_at=now,
            apply=apply,
        )
        if received.duplicate:
            return PushResult(EventOutcome.DUPLICATE)
        return PushResult(received.outcome, received.value)


def push_summary(result: PushResult) -> dict[str, Any]:
    return {"status": "accepted", "outcome": result.outcome}
