"""Inbound messages from VNPAY and the POS cloud: verify on the raw message → store in the
inbox (unique per provider and message) → apply through :class:`AttemptService` in the same
transaction → acknowledge in the provider's own format.

VNPAY IPN answers (HTTP 200, JSON ``RspCode``), in VNPAY's order: 97 bad signature, 99
malformed, 01 unknown ``vnp_TxnRef``, 04 amount differs, 02 already final, 00 recorded — for a
failed payment too, and for contradictory codes left to querydr. A replay of an IPN (VNPAY
sends it again until it hears 00 or 02) applies nothing and is answered in the same order
from the attempt as it is *now*: 02 once the attempt is final (querydr may have settled it
since the first copy), 04 again for the wrong amount. The POS cloud gets 200 when the result
is recorded (or was before), 401 for a bad signature, 404 for an unknown sale, 409
``terminal_not_busy`` for a result about a sale that had the cloud's own final word already
(approved, declined, timed out: a contradiction) and 409 ``amount_mismatch`` for another
amount.

The DVCQG platform's Confirm callback is a **hint** (spec §13): verified, stored in the inbox,
matched to its attempt, and then the platform is asked (QUERY); only QUERY's answer goes
through ``apply_outcome``. Every reply is HTTP 200 with the documented echo (spec §4.2):
``MaLoi`` ``00``/"Thành công" when the callback was processed — ``recorded`` (QUERY asked,
whatever it said: a pending or failed answer is applied as such, an unanswered QUERY is left
to the poller), ``duplicate`` for a replay, ``already_final`` for an attempt that had the
platform's final word (succeeded, failed — one closed with its bill, expired or cancelled, is
still queried: a bank can take the money after that, and it is recorded for review; so is a
``failed`` one the callback says is paid: QUERY is asked again, and a success it now
confirms is recorded for review, ``succeeded_after_failure``); and
``99``/"Các lỗi khác" for any refusal, echoing what could be read: ``signature_invalid``
(stored when it is JSON, so a forgery is on record — at most
``dvcqg.max_forged_per_day`` a Vietnam day, beyond that only logged and counted),
``malformed``, ``unknown_reference``, ``amount_mismatch`` (the last two stored),
``payload_too_large``, ``not_configured`` and ``internal_error`` (the platform may send it
again). Our stable code is for operators: the event ``dvcqg_callback`` /
``callback_rejected``, the metrics label and the ``X-Gateway-Outcome`` /
``X-Gateway-Error`` reply header — never the status. Nothing a callback says is applied
without QUERY.

A card can be charged while the bill expires or is cancelled (its sale is then closed as
``expired``/``cancelled``): the approval that follows is money that arrived, recorded like
any (the bill goes to ``needs_review``, ``paid_after_expiry``/``paid_after_cancellation``,
or ``duplicate_payment`` if another attempt paid it) and acknowledged with 200 so the cloud
stops retrying. A decline, cancel or timeout for a closed sale changes nothing: it is kept
in the inbox (``already_final``) and acknowledged with 200.

Money of another amount than the attempt's is not refused here: it is money that arrived,
and :func:`gateway.core.money.money_arrived` (through ``apply_outcome``) puts it up for review
(``amount_mismatch``) whatever the channel; only the provider's reply says the amount was
wrong.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.channels.dvcqg import DvcqgChannel
from gateway.channels.pos import outcome_of as pos_outcome
from gateway.channels.vnpay import VnpayChannel
from gateway.channels.vnpay import outcome_of as vnpay_outcome
from gateway.core import inbox
from gateway.core.db import Database
from gateway.core.db.schema import provider_events
from gateway.core.errors import GatewayError, NotFound, NoticeRejected
from gateway.core.ids import Clock
from gateway.core.inbox import EventOutcome
from gateway.core.money import ChannelName, ReviewReason
from gateway.core.postal.attempts import TIMEZONE
from gateway.core.statuses import FINAL_ATTEMPTS, AttemptStatus
from gateway.services.attempts import AttemptService, reference_for
from gateway.services.polling import Poller
from gateway.services.refusals import SaleNotRunning, amount_mismatch, outcome_or_raise, refused
from providers.common import json_text
from providers.payment import dvcqg, pos, vnpay

log = structlog.get_logger(__name__)


#: A sale that had the cloud's own final word (approved, or declined / timed out): a later,
#: different result for it contradicts that word and is refused (409 ``terminal_not_busy``).
#: A sale closed by the gateway with its bill (``expired``, ``cancelled``) still takes the
#: cloud's final word: an approval is money, recorded; anything else is kept.
_SALE_SETTLED = frozenset({AttemptStatus.SUCCEEDED, AttemptStatus.FAILED})


@dataclass(frozen=True)
class IpnAnswer:
    rsp_code: str
    outcome: str

    def body(self) -> dict[str, str]:
        return vnpay.ipn_response(self.rsp_code)


#: The codes of a processed callback (``MaLoi`` 00: stop sending); any other is a refusal (99).
DVCQG_PROCESSED = frozenset({"recorded", "duplicate", "already_final"})


@dataclass(frozen=True)
class DvcqgAnswer:
    """The reply to a DVCQG callback (always HTTP 200): the documented echo, and our stable
    ``code`` for operators (header, metrics label), never in the body."""

    code: str
    body: dict[str, str]
    #: The metrics label: ``code``, or what happened beside it (a forgery not stored).
    outcome: str = ""

    @property
    def processed(self) -> bool:
        return self.code in DVCQG_PROCESSED

    def headers(self) -> dict[str, str]:
        name = "X-Gateway-Outcome" if self.processed else "X-Gateway-Error"
        return {name: self.code}


def dvcqg_answer(
    code: str, partner: str, received: Mapping[str, object] | None, outcome: str = ""
) -> DvcqgAnswer:
    body = dvcqg.callback_reply(partner, received, ok=code in DVCQG_PROCESSED)
    return DvcqgAnswer(code, body, outcome or code)


@dataclass(frozen=True)
class _Hint:
    """What a stored callback leads to: ``query`` the attempt, or an answer ``code``."""

    code: str
    attempt_id: str | None = None


class ProviderCallbacks:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        attempts: AttemptService,
        vnpay_channel: VnpayChannel | None,
        pos_merchant: pos.PosMerchant | None,
        poller: Poller,
        dvcqg_channel: DvcqgChannel | None = None,
        dvcqg_forged_per_day: int = 1000,
    ) -> None:
        self.db = db
        self.clock = clock
        self.attempts = attempts
        self.poller = poller
        self.vnpay = vnpay_channel
        self.pos_merchant = pos_merchant
        self.dvcqg = (
            None
            if dvcqg_channel is None
            else DvcqgCallbacks(self, dvcqg_channel, dvcqg_forged_per_day)
        )

    # -- VNPAY ---------------------------------------------------------------------------

    def verify_vnpay(self, params: Mapping[str, str]) -> vnpay.IpnResult:
        if self.vnpay is None:
            raise vnpay.VnpayError("unknown_terminal", "VNPAY is not configured")
        return vnpay.parse_ipn(params, self.vnpay.secret_for)

    async def vnpay_ipn(self, params: Mapping[str, str], raw_query: str) -> IpnAnswer:
        try:
            ipn = self.verify_vnpay(params)
        except vnpay.VnpayError as exc:
            log.warning("callback_rejected", provider="vnpay", code=exc.code)
            return IpnAnswer(exc.rsp_code or "99", exc.code)
        # Both the first copy and a replay start by locking the attempt's bill: on PostgreSQL
        # the inbox's store takes that lock in the same statement (docs/performance.md).
        bill = self.attempts.lock_by_reference(ChannelName.VNPAY, ipn.txn_ref)
        try:
            received = await inbox.receive(
                self.db,
                provider="vnpay",
                event_key=hashlib.sha256(raw_query.encode()).hexdigest(),
                raw=raw_query,
                received_at=self.clock(),
                amount=ipn.amount_vnd,
                apply=lambda conn: self._apply_ipn(conn, ipn, bill),
                replay=lambda conn: self._replay_ipn(conn, ipn, bill),
                alongside=bill,
            )
        except Exception:
            # The transaction rolled back whole (nothing stored, nothing moved); VNPAY is
            # answered in its own format, 99 ("Unknow error"), and sends the IPN again.
            log.exception("callback_failed", provider="vnpay", code="internal_error")
            return IpnAnswer("99", "internal_error")
        answer = received.value
        assert answer is not None  # both the first copy and a replay are answered
        log.info("vnpay_ipn", txn_ref=ipn.txn_ref, rsp_code=answer.rsp_code, outcome=answer.outcome)
        return answer

    async def _apply_ipn(
        self, conn: AsyncConnection, ipn: vnpay.IpnResult, bill: inbox.Alongside
    ) -> inbox.Settled[IpnAnswer]:
        row = await self.attempts.find_by_reference(
            conn, ChannelName.VNPAY, ipn.txn_ref, alongside=bill
        )
        if row is None:
            return _ipn_settled(_rsp_code(ipn, None), EventOutcome.UNMATCHED, None)
        outcome = vnpay_outcome(
            ipn.outcome,
            amount=ipn.amount_vnd,
            transaction_no=ipn.transaction_no,
            response_code=ipn.response_code,
            details={
                "bank_code": ipn.bank_code,
                "bank_tran_no": ipn.bank_tran_no,
                "card_type": ipn.card_type,
                "response_code": ipn.response_code,
                "transaction_status": ipn.transaction_status,
            },
            paid_at=ipn.pay_date,
        )
        if outcome is None:  # contradictory codes: leave it to querydr, never guess
            final = AttemptStatus(row.status) in FINAL_ATTEMPTS  # querydr may have settled it
            rsp_code = _rsp_code(ipn, row, final=final)
            return _ipn_settled(rsp_code, EventOutcome.DEFERRED_TO_QUERY, row.payment_id)
        # Another amount is applied too: money_arrived puts such money up for review.
        applied = await self.attempts.apply_outcome(conn, row.id, outcome, locked=row)
        rsp_code = _rsp_code(ipn, row, final=applied.result == "already_final")
        return _ipn_settled(rsp_code, applied.event_outcome, row.payment_id, applied.review)

    async def _replay_ipn(
        self, conn: AsyncConnection, ipn: vnpay.IpnResult, bill: inbox.Alongside
    ) -> IpnAnswer:
        """A second copy of an IPN, answered from its attempt as it is now (nothing is
        applied): 02 once the attempt is final — even if the first copy was deferred to
        querydr or ignored — 04 again for another amount, else 00."""
        row = await self.attempts.find_by_reference(
            conn, ChannelName.VNPAY, ipn.txn_ref, alongside=bill
        )
        final = row is not None and AttemptStatus(row.status) in FINAL_ATTEMPTS
        return IpnAnswer(_rsp_code(ipn, row, final=final), EventOutcome.DUPLICATE)

    async def vnpay_return(self, params: Mapping[str, str]) -> str | None:
        """The payment id to show the citizen, or ``None`` for a message we cannot trust.
        Display only: the return URL never changes state."""
        try:
            ipn = self.verify_vnpay(params)
        except vnpay.VnpayError:
            return None
        async with self.db.read() as conn:  # no lock: a reload must not hold up an IPN
            row = await self.attempts.find_by_reference(
                conn, ChannelName.VNPAY, ipn.txn_ref, lock=False
            )
        return None if row is None else str(row.payment_id)

    # -- POS -----------------------------------------------------------------------------

    async def pos_callback(self, headers: Mapping[str, str], body: bytes) -> str:
        merchant = self.pos_merchant
        if merchant is None:
            raise NotFound("no POS cloud is configured")
        try:
            pos.verify(
                merchant.secret.encode(),
                timestamp=headers.get("X-Pos-Timestamp"),
                signature=headers.get("X-Pos-Signature"),
                body=body,
                now=int(self.clock().timestamp()),
            )
            result = pos.parse_result(body)
        except pos.PosError as exc:
            log.warning("callback_rejected", provider="pos", code=exc.code)
            raise NoticeRejected(
                exc.code, exc.message, http_status=400 if exc.code == "malformed" else 401
            ) from None
        received = await inbox.receive(
            self.db,
            provider="pos",
            # The exact message: a corrected result for the same sale is a different message.
            event_key=hashlib.sha256(body).hexdigest(),
            raw=body.decode(),
            received_at=self.clock(),
            amount=result.amount,
            apply=lambda conn: self._apply_sale(conn, result),
        )
        return outcome_or_raise(received, "result")

    async def _apply_sale(
        self, conn: AsyncConnection, result: pos.SaleResult
    ) -> inbox.Settled[GatewayError | None]:
        """Apply the result, or say (without raising: the inbox row must be kept) why not."""
        row = await self.attempts.find_by_reference(
            conn, ChannelName.POS, reference_for(result.sale_id)
        )
        if row is None or row.id != result.sale_id:
            return refused(EventOutcome.UNMATCHED, None, NotFound(f"no POS sale {result.sale_id}"))
        if AttemptStatus(row.status) in _SALE_SETTLED:
            not_running = SaleNotRunning(
                f"sale {result.sale_id} is already {row.status}; the terminal is not running it"
            )
            return refused(EventOutcome.REJECTED, row.payment_id, not_running)
        # Another amount is applied too: money_arrived puts such money up for review. An
        # approval for a sale whose bill expired or was cancelled meanwhile is money too.
        applied = await self.attempts.apply_outcome(conn, row.id, pos_outcome(result), locked=row)
        if applied.result == "already_final":  # a late decline, cancel, timeout: kept only
            return inbox.Settled(EventOutcome.ALREADY_FINAL, None, payment_id=row.payment_id)
        if result.amount != row.amount:  # recorded; the cloud is told the amount was wrong
            mismatch = amount_mismatch("sale amount differs")
            return refused(applied.event_outcome, row.payment_id, mismatch)
        return inbox.Settled(applied.event_outcome, None, payment_id=row.payment_id)


class DvcqgCallbacks:
    """The DVCQG platform's Confirm callback (see the module docstring): verify → store →
    match → QUERY → apply QUERY's word → answer."""

    def __init__(
        self, callbacks: ProviderCallbacks, channel: DvcqgChannel, forged_per_day: int
    ) -> None:
        self.db = callbacks.db
        self.clock = callbacks.clock
        self.attempts = callbacks.attempts
        self.poller = callbacks.poller
        self.channel = channel
        self.forged_per_day = forged_per_day

    async def receive(self, raw: bytes) -> DvcqgAnswer:
        """Always an answer: an internal failure (the database, …) is ``internal_error``
        (``99``; the platform may send it again, and a replay is applied once)."""
        try:
            return await self._receive(raw)
        except Exception:
            log.exception("callback_failed", provider="dvcqg", code="internal_error")
            return self._answer("internal_error", json_object(raw))

    async def _receive(self, raw: bytes) -> DvcqgAnswer:
        try:
            callback = dvcqg.parse_callback(raw, self.channel.secret_for)
        except dvcqg.DvcqgError as exc:
            log.warning("callback_rejected", provider="dvcqg", code=exc.code)
            body = json_object(raw)
            stored = ""
            if exc.code == "signature_invalid" and body is not None:
                stored = await self._store_forged(raw)  # a forgery is kept on record
            return self._answer(exc.code, body, stored)
        received = await inbox.receive(
            self.db,
            provider="dvcqg",
            event_key=hashlib.sha256(raw).hexdigest(),
            raw=raw.decode(),
            received_at=self.clock(),
            amount=callback.amount,
            apply=lambda conn: self._match(conn, callback),
            replay=lambda conn: self._rematch(conn, callback),
        )
        hint = received.value
        assert hint is not None  # both the first copy and a replay are answered
        code = hint.code
        if hint.attempt_id is not None:  # the attempt is open: ask the platform
            try:  # the janitor's one path: QUERY, then apply its word
                await self.poller.query(hint.attempt_id)
            except dvcqg.DvcqgError as exc:  # the platform did not answer: the janitor asks
                log.warning("attempt_query_failed", attempt_id=hint.attempt_id, code=exc.code)
            code = "duplicate" if received.duplicate else "recorded"
        log.info(
            "dvcqg_callback",
            reference=callback.reference,
            says_paid=callback.says_paid,
            code=code,
        )
        return self._answer(code, dict(callback.raw))

    async def _match(self, conn: AsyncConnection, callback: dvcqg.Callback) -> inbox.Settled[_Hint]:
        row = await self.attempts.find_by_reference(conn, ChannelName.DVCQG, callback.reference)
        hint = _hint_for(callback, row)
        outcome = {
            "unknown_reference": EventOutcome.UNMATCHED,
            "amount_mismatch": EventOutcome.REJECTED,
            "already_final": EventOutcome.ALREADY_FINAL,
        }.get(hint.code, EventOutcome.DEFERRED_TO_QUERY)
        reason = None if hint.attempt_id else hint.code
        payment_id = None if row is None else row.payment_id
        return inbox.Settled(outcome, hint, reason, payment_id)

    async def _rematch(self, conn: AsyncConnection, callback: dvcqg.Callback) -> _Hint:
        """A second copy: refused again for the same reason, or — the attempt still open, or
        failed while the callback says paid — another QUERY (the platform sending again is a
        chance to settle sooner)."""
        row = await self.attempts.find_by_reference(conn, ChannelName.DVCQG, callback.reference)
        hint = _hint_for(callback, row)
        return _Hint("duplicate") if hint.code == "already_final" else hint

    async def _store_forged(self, raw: bytes) -> str:
        """Keep a message with a wrong checksum on record — at most ``forged_per_day`` of
        them a Vietnam day, so nobody can fill the database with forgeries; beyond that it
        is only logged and counted (``forged_not_stored``). Concurrent forgeries may pass
        the bound by a few: it bounds the growth, it is not an exact quota."""
        now = self.clock()
        day_start = datetime.combine(now.astimezone(TIMEZONE).date(), time(), TIMEZONE)
        async with self.db.read() as conn:
            stored_today = (
                await conn.execute(
                    select(func.count())
                    .select_from(provider_events)
                    .where(
                        provider_events.c.provider == "dvcqg",
                        provider_events.c.reason == "signature_invalid",
                        provider_events.c.received_at >= day_start,
                    )
                )
            ).scalar_one()
        if stored_today >= self.forged_per_day:
            log.warning("forged_callback_not_stored", provider="dvcqg", limit=self.forged_per_day)
            return "forged_not_stored"

        async def refused(_conn: AsyncConnection) -> inbox.Settled[None]:
            return inbox.Settled(EventOutcome.REJECTED, None, "signature_invalid")

        await inbox.receive(
            self.db,
            provider="dvcqg",
            event_key=hashlib.sha256(raw).hexdigest(),
            raw=raw.decode("utf-8", errors="replace"),
            received_at=now,
            apply=refused,
        )
        return ""

    def _answer(
        self, code: str, received: Mapping[str, object] | None, outcome: str = ""
    ) -> DvcqgAnswer:
        named = (received or {}).get("MaDoiTac")
        known = isinstance(named, str) and self.channel.secret_for(named) is not None
        partner = named if known and isinstance(named, str) else ""
        return dvcqg_answer(code, partner, received, outcome)

    async def return_target(self, reference: str) -> str | None:
        """The payment to show the citizen back from the platform's page (display only)."""
        async with self.db.read() as conn:
            row = await self.attempts.find_by_reference(conn, ChannelName.DVCQG, reference)
        return None if row is None else str(row.payment_id)


def _hint_for(callback: dvcqg.Callback, row: Any) -> _Hint:
    """In the order of the checks: unknown reference, another amount, an attempt that had the
    platform's final word (succeeded; failed, unless the callback says paid: then QUERY is
    asked again), else query the attempt — also one closed with its bill (expired,
    cancelled): a bank can take the money after that, and money is recorded, never lost."""
    if row is None:
        return _Hint("unknown_reference")
    if callback.amount != row.amount:
        return _Hint("amount_mismatch")
    status = AttemptStatus(row.status)
    if status is AttemptStatus.FAILED and callback.says_paid:
        # The platform says paid what QUERY had called failed: only QUERY settles it (spec
        # §13), so it is asked again, the way an open attempt's callback asks it; a success
        # now is money recorded for review (succeeded_after_failure), a failure changes nothing.
        return _Hint("query", str(row.id))
    if status in _SALE_SETTLED:
        return _Hint("already_final")
    return _Hint("query", str(row.id))


def json_object(raw: bytes) -> dict[str, object] | None:
    """The body as a JSON object, to echo what could be read; ``None`` if it is not one."""
    try:
        body = json_text.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _rsp_code(ipn: vnpay.IpnResult, row: Any, *, final: bool = False) -> str:
    """The RspCode for an IPN about attempt ``row`` (``None``: unknown), in VNPAY's order of
    checks: 01 unknown order, 04 amount differs, 02 already final, else 00."""
    if row is None:
        return "01"
    if ipn.amount_vnd != row.amount:
        return "04"
    return "02" if final else "00"


def _ipn_settled(
    rsp_code: str,
    outcome: EventOutcome,
    payment_id: str | None,
    review: ReviewReason | None = None,
) -> inbox.Settled[IpnAnswer]:
    """The first copy's record: ``reason`` is why its money needs a person, or the RspCode
    of an answer other than 00."""
    reason = review.value if review else None if rsp_code == "00" else f"rsp_{rsp_code}"
    return inbox.Settled(outcome, IpnAnswer(rsp_code, outcome), reason, payment_id)
