"""VNPAY (API 2.1.0) through :mod:`providers.payment.vnpay`: redirect attempts, IPN parsing,
``querydr`` polling, refunds and their re-query. Each agency pays into its own VNPAY terminal
(TmnCode and secret from configuration); agencies without one use the default terminal.

A refund VNPAY accepted (``00``) is ``succeeded``; a declined one ``failed``; one whose answer
was lost or says nothing final (``94``, ``98``, ``99``: specs/vnpay-reference.md §3.3, §4)
stays ``pending`` and the janitor asks ``querydr`` about it (:meth:`VnpayChannel.query_refund`):
an answer about a refund (``vnp_TransactionType`` 02/03, §3.4) that can be tied to this refund
(:func:`about_this_refund`) settles it (05 processing, 06 sent to the bank / 00 →
``succeeded``, 09 → ``failed``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

import aiohttp
import structlog

from gateway.channels.base import (
    AttemptRef,
    AttemptRequest,
    Outcome,
    PerAgency,
    ProviderUnavailable,
    RefundOutcome,
    RefundRequest,
    Started,
)
from gateway.core.ids import Clock
from gateway.core.money import ChannelName
from gateway.core.statuses import AttemptStatus, RefundStatus
from providers.payment import vnpay

log = structlog.get_logger(__name__)

_ATTEMPT_STATUS = {
    vnpay.Outcome.SUCCEEDED: AttemptStatus.SUCCEEDED,
    vnpay.Outcome.FAILED: AttemptStatus.FAILED,
    vnpay.Outcome.PENDING: AttemptStatus.PENDING,
}


def outcome_of(
    outcome: vnpay.Outcome,
    *,
    amount: int | None,
    transaction_no: str | None,
    response_code: str | None,
    details: dict[str, str | None],
    paid_at: datetime | None = None,
) -> Outcome | None:
    status = _ATTEMPT_STATUS.get(outcome)
    if status is None:
        return None
    return Outcome(
        status=status,
        amount=amount,
        provider_transaction_id=transaction_no,
        failure_code=f"vnpay_{response_code}" if status is AttemptStatus.FAILED else None,
        details={key: value for key, value in details.items() if value},
        paid_at=paid_at,
    )


class VnpayChannel:
    name: ClassVar[str] = ChannelName.VNPAY

    def __init__(
        self,
        session: aiohttp.ClientSession,
        terminals: Mapping[str, vnpay.VnpayTerminal],
        default: vnpay.VnpayTerminal | None,
        return_url: str,
        timeout_seconds: float,
        clock: Clock,
    ) -> None:
        self.clock = clock
        self.session = session
        self.terminals = PerAgency(terminals, default, "VNPAY terminal")
        self.return_url = return_url
        self.timeout_seconds = timeout_seconds

    def terminal_for(self, agency_code: str) -> vnpay.VnpayTerminal:
        return self.terminals.of(agency_code)

    def available_for(self, agency_code: str) -> bool:
        return self.terminals.covers(agency_code)

    def failure_message(self, failure_code: str) -> str | None:
        """The citizen's Vietnamese message for a failed attempt (:class:`Explains`)."""
        return vnpay.failure_message(failure_code)

    def origins(self) -> tuple[str, ...]:
        """Origins of VNPAY's payment pages (the checkout page's form leads there)."""
        return self.terminals.origins(lambda terminal: terminal.payment_url)

    def secret_for(self, tmn_code: str) -> str | None:
        """The hash secret of a terminal by its TmnCode (IPNs name their terminal)."""
        terminal = self.terminals.find(lambda item: item.tmn_code == tmn_code)
        return None if terminal is None else terminal.hash_secret.reveal()

    def _client(self, agency_code: str) -> vnpay.VnpayClient:
        return vnpay.VnpayClient(self.session, self.terminal_for(agency_code), self.timeout_seconds)

    async def start(self, request: AttemptRequest) -> Started:
        url = vnpay.build_payment_url(
            self.terminal_for(request.agency_code),
            txn_ref=request.provider_reference,
            amount_vnd=request.amount,
            order_info=request.description,
            ip_addr=request.client_ip,
            return_url=self.return_url,
            create_date=request.created_at,
            expire_date=request.expires_at,
            locale=request.locale,
            bank_code=request.bank_code,
        )
        return Started(AttemptStatus.PENDING, {"type": "redirect", "url": url})

    async def query(self, attempt: AttemptRef) -> Outcome | None:
        result = await self._client(attempt.agency_code).query(
            txn_ref=attempt.provider_reference,
            transaction_date=attempt.created_at,
            ip_addr=attempt.client_ip,
            order_info=f"Truy van {attempt.provider_reference}",
        )
        if not result.found:
            return None
        return outcome_of(
            result.outcome,
            # An answer about a refund of the payment (05/06/09: the payment went through)
            # carries the refund's amount, not the payment's: the amount is not stated.
            amount=None if result.about_refund else result.amount_vnd,
            transaction_no=result.transaction_no,
            response_code=result.transaction_status,
            details={"bank_code": result.bank_code},
            paid_at=result.pay_date,
        )

    async def refund(self, request: RefundRequest) -> RefundOutcome:
        try:
            result = await self._client(request.attempt.agency_code).refund(
                request_id=request.provider_reference,
                transaction_type=vnpay.FULL_REFUND if request.full else vnpay.PARTIAL_REFUND,
                txn_ref=request.attempt.provider_reference,
                amount_vnd=request.amount,
                transaction_no=request.provider_transaction_id,
                transaction_date=request.attempt.created_at,
                create_by=request.requested_by[:50],
                ip_addr=request.attempt.client_ip,
                order_info=f"Hoan tien {request.attempt.provider_reference}",
            )
        except vnpay.VnpayError as exc:
            if exc.code == "refund_outcome_unknown":
                return RefundOutcome("pending", failure_code="outcome_unknown")
            return RefundOutcome("failed", failure_code=exc.code[:32])
        if result.accepted:
            return RefundOutcome("succeeded", provider_transaction_id=result.transaction_no)
        if result.outcome is vnpay.Outcome.FAILED:
            return RefundOutcome("failed", failure_code=f"vnpay_{result.response_code}")
        # 94 (a request with this id is in progress), 98 (VNPAY timed out), 99 and codes no
        # table names: VNPAY did not say no, so it may refund — query, never resend.
        return RefundOutcome("pending", failure_code=f"vnpay_{result.response_code}")

    async def query_refund(self, request: RefundRequest) -> RefundOutcome:
        """VNPAY's word on a refund still pending, by ``querydr`` on the refunded payment
        (:class:`~gateway.channels.base.RefundQueryable`). VNPAY answers about one transaction
        per payment (its latest), so only an answer that can be tied to this refund settles
        it (:func:`about_this_refund`); any other leaves it pending, to be asked again and,
        past its horizon, handed to finance."""
        try:
            result = await self._client(request.attempt.agency_code).query(
                txn_ref=request.attempt.provider_reference,
                transaction_date=request.attempt.created_at,
                ip_addr=request.attempt.client_ip,
                order_info=f"Truy van hoan tien {request.provider_reference}",
            )
        except vnpay.VnpayError as exc:
            raise ProviderUnavailable(f"VNPAY did not answer querydr: {exc.code}") from exc
        outcome = result.refund_outcome
        if outcome is not vnpay.Outcome.PENDING and not about_this_refund(result, request):
            log.warning(
                "vnpay_refund_answer_not_tied",
                refund_id=request.refund_id,
                transaction_type=result.transaction_type,
                transaction_no=result.transaction_no,
            )
            outcome = vnpay.Outcome.PENDING
        if outcome is vnpay.Outcome.SUCCEEDED:
            return RefundOutcome("succeeded", provider_transaction_id=result.transaction_no)
        if outcome is vnpay.Outcome.FAILED:
            return RefundOutcome(
                "failed",
                provider_transaction_id=result.transaction_no,
                failure_code="vnpay_refund_declined",
            )
        return RefundOutcome("pending")


def about_this_refund(result: vnpay.QueryResult, request: RefundRequest) -> bool:
    """Whether a querydr answer about a refund (type 02/03) can only be about ``request``.
    The answer names no refund of ours, so it is tied by what it states: its amount
    (``vnp_Amount``, which must be there) and kind (02 full, 03 partial) are this refund's,
    no other pending or succeeded refund of the payment has that amount (VNPAY could be
    answering about that one), and its ``vnp_TransactionNo`` is not one an already settled
    refund of ours carries (an answer about an earlier refund). Refund code 94 means "a
    refund request for this transaction is already being processed"
    (specs/vnpay-reference.md §3.3): the payment, not the refund, is what VNPAY keys on."""
    kind = vnpay.FULL_REFUND if request.full else vnpay.PARTIAL_REFUND
    if result.amount_vnd != request.amount or result.transaction_type != kind:
        return False
    live = (RefundStatus.PENDING.value, RefundStatus.SUCCEEDED.value)
    if any(o.amount == request.amount and o.status in live for o in request.others):
        return False
    settled = {
        o.provider_transaction_id
        for o in request.others
        if o.status != RefundStatus.PENDING.value and o.provider_transaction_id
    }
    return not (result.transaction_no and result.transaction_no in settled)
