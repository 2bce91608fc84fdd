"""Inbound messages from the wallets, through the one inbound pipeline
(:mod:`gateway.core.inbox`): verify on the raw bytes → store once → apply through
:meth:`AttemptService.apply_outcome` in the same transaction → acknowledge in the wallet's
own format.

**MoMo IPN** (``specs/momo-zalopay.md`` §A.4): answered HTTP 204 once recorded (before the
15 s deadline: nothing but the database is awaited), also for a replay, a pending code or an
attempt already final. Refused as ``application/problem+json``: 400 ``malformed``, 401
``signature_invalid`` / ``unknown_partner`` (nothing stored); after storing: 404
``not_found`` (no attempt has this ``orderId``), 409 ``partner_mismatch`` (another merchant's
order) and 409 ``amount_mismatch`` — the money is recorded for review like any money that
does not fit; a replay of a refused IPN is refused again with the same code.

**ZaloPay callback** (§B.4): always HTTP 200 with ``{"return_code", "return_message"}``:
1 recorded; 2 nothing applied — received before, about an attempt already final, an unknown
``app_trans_id`` (``not_found``), another app's order (``app_mismatch``) or another amount
(``amount_mismatch``, recorded for review); 0 an internal failure (``internal_error``, e.g.
the database): nothing is kept and ZaloPay sends it again; -1 the MAC or the shape is wrong
(``mac_invalid``, ``unknown_app``, ``malformed``). ``return_message`` is our stable code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.channels.base import Outcome
from gateway.channels.momo import MomoChannel
from gateway.channels.momo import outcome_of as momo_outcome
from gateway.channels.zalopay import ZalopayChannel
from gateway.core import inbox
from gateway.core.db import Database
from gateway.core.errors import GatewayError, NotFound, NoticeRejected
from gateway.core.ids import Clock
from gateway.core.inbox import EventOutcome
from gateway.core.money import ChannelName
from gateway.core.statuses import AttemptStatus
from gateway.services.attempts import AttemptService, LockedAttempt
from gateway.services.refusals import PartnerMismatch, amount_mismatch, outcome_or_raise, refused
from providers.payment import momo, zalopay

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ZalopayReply:
    return_code: int
    message: str
    outcome: str

    def body(self) -> dict[str, object]:
        return zalopay.callback_reply(self.return_code, self.message)


def _from_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


class WalletCallbacks:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        attempts: AttemptService,
        momo_channel: MomoChannel | None,
        zalopay_channel: ZalopayChannel | None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.attempts = attempts
        self.momo = momo_channel
        self.zalopay = zalopay_channel

    # -- MoMo ----------------------------------------------------------------------------

    async def momo_ipn(self, body: bytes) -> str:
        """Record an IPN; return its outcome (the handler answers 204) or raise a refusal."""
        channel = self.momo
        if channel is None:
            raise NotFound("MoMo is not configured")
        try:
            result, _ = momo.parse_ipn(body, channel.keys_for)
        except momo.MomoError as exc:
            log.warning("callback_rejected", provider="momo", code=exc.code)
            status = 400 if exc.code == "malformed" else 401
            raise NoticeRejected(exc.code, exc.message, http_status=status) from None
        received = await inbox.receive(
            self.db,
            provider=ChannelName.MOMO,
            # MoMo resends the same result until it hears 204: one record per result.
            event_key=f"{result.partner_code}:{result.order_id}:{result.result_code}:"
            f"{result.trans_id or ''}",
            raw=body.decode(),
            received_at=self.clock(),
            amount=result.amount,
            apply=lambda conn: self._apply_momo(conn, channel, result),
        )
        log.info(
            "momo_ipn",
            order_id=result.order_id,
            result_code=result.result_code,
            outcome=received.outcome,
        )
        return outcome_or_raise(received, "IPN")

    async def _apply_momo(
        self, conn: AsyncConnection, channel: MomoChannel, result: momo.PaymentResult
    ) -> inbox.Settled[GatewayError | None]:
        row = await self.attempts.find_by_reference(conn, ChannelName.MOMO, result.order_id)
        if row is None:
            return refused(EventOutcome.UNMATCHED, None, NotFound(f"no order {result.order_id}"))
        if channel.merchant_for(row.agency_code).partner_code != result.partner_code:
            mismatch = PartnerMismatch("the order belongs to another merchant")
            return refused(EventOutcome.REJECTED, row.payment_id, mismatch)
        outcome = momo_outcome(result, paid_at=_from_ms(result.response_time_ms))
        if outcome is None:  # a code that says nothing about the payment: the janitor asks
            return inbox.Settled(EventOutcome.DEFERRED_TO_QUERY, None, payment_id=row.payment_id)
        return await self._apply(conn, row, outcome, result.amount)

    # -- ZaloPay ---------------------------------------------------------------------------

    async def zalopay_callback(self, body: bytes) -> ZalopayReply:
        channel = self.zalopay
        if channel is None:
            return ZalopayReply(-1, "unknown_app", "rejected")
        try:
            data, raw_data = zalopay.verify_callback(body, channel.key2_for)
        except zalopay.ZalopayError as exc:
            log.warning("callback_rejected", provider="zalopay", code=exc.code)
            return ZalopayReply(-1, exc.code, "rejected")
        try:
            received = await inbox.receive(
                self.db,
                provider=ChannelName.ZALOPAY,
                event_key=f"{data.app_id}:{data.app_trans_id}:{data.zp_trans_id}",
                raw=raw_data,
                received_at=self.clock(),
                amount=data.amount,
                apply=lambda conn: self._apply_zalopay(conn, channel, data),
            )
        except Exception:
            # Nothing was stored (one transaction): 0 asks ZaloPay to send it again (§B.4).
            log.exception("callback_failed", provider="zalopay", code="internal_error")
            return ZalopayReply(0, "internal_error", "internal_error")
        log.info("zalopay_callback", app_trans_id=data.app_trans_id, outcome=received.outcome)
        if received.duplicate:
            return ZalopayReply(2, received.reason or "duplicate", "duplicate")
        if received.value is not None:
            return ZalopayReply(2, received.value.code, received.outcome)
        if received.outcome is EventOutcome.ALREADY_FINAL:
            return ZalopayReply(2, "already_final", received.outcome)
        return ZalopayReply(1, "success", received.outcome)

    async def _apply_zalopay(
        self, conn: AsyncConnection, channel: ZalopayChannel, data: zalopay.CallbackData
    ) -> inbox.Settled[GatewayError | None]:
        row = await self.attempts.find_by_reference(conn, ChannelName.ZALOPAY, data.app_trans_id)
        if row is None:
            missing = NotFound(f"no order {data.app_trans_id}")
            return refused(EventOutcome.UNMATCHED, None, missing)
        if channel.app_for(row.agency_code).app_id != data.app_id:
            mismatch = NoticeRejected("app_mismatch", "another app's order", http_status=409)
            return refused(EventOutcome.REJECTED, row.payment_id, mismatch)
        outcome = Outcome(  # ZaloPay calls back on success only
            AttemptStatus.SUCCEEDED,
            amount=data.amount,
            provider_transaction_id=data.zp_trans_id,
            details={"zalopay_channel": data.channel} if data.channel is not None else {},
            paid_at=_from_ms(data.server_time_ms),
        )
        return await self._apply(conn, row, outcome, data.amount)

    # -- shared ------------------------------------------------------------------------------

    async def _apply(
        self, conn: AsyncConnection, row: LockedAttempt, outcome: Outcome, amount: int
    ) -> inbox.Settled[GatewayError | None]:
        """Apply the wallet's word; money of another amount is recorded (``money_arrived``
        puts it up for review) and the wallet is told the amount was wrong."""
        attempt_id, payment_id, expected = row.id, row.payment_id, row.amount
        applied = await self.attempts.apply_outcome(conn, attempt_id, outcome, locked=row)
        if applied.result == "already_final":
            return inbox.Settled(EventOutcome.ALREADY_FINAL, None, payment_id=payment_id)
        if outcome.status is AttemptStatus.SUCCEEDED and amount != expected:
            mismatch = amount_mismatch("the amount differs from the attempt's")
            return refused(applied.event_outcome, payment_id, mismatch)
        return inbox.Settled(applied.event_outcome, None, payment_id=payment_id)
