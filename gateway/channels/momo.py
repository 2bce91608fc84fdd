"""MoMo (AIO v2, ``captureWallet``) through :mod:`providers.payment.momo`: redirect attempts,
IPN reading, ``/query`` for the janitor and refunds. Each agency may have its own merchant
(``[momo.merchants.<agency>]``); the others use the default one. Spec:
``specs/momo-zalopay.md`` §A. The citizen comes back to the checkout page, which only
displays (the IPN or a query settles)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

import aiohttp

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
from gateway.core.statuses import AttemptStatus
from providers.payment import momo

_ATTEMPT_STATUS = {
    momo.Outcome.SUCCEEDED: AttemptStatus.SUCCEEDED,
    momo.Outcome.FAILED: AttemptStatus.FAILED,
    momo.Outcome.PENDING: AttemptStatus.PENDING,
}
#: create ``resultCode`` 41: the orderId exists at MoMo already (a retried start): query it.
_ORDER_EXISTS = 41


def failure_code(result_code: int) -> str:
    return f"momo_{result_code}"


def failure_message(code: str) -> str | None:
    """The citizen's Vietnamese message for a MoMo ``failure_code`` (``momo_<resultCode>``)."""
    number = code.removeprefix("momo_")
    if number == code or not number.lstrip("-").isdigit():
        return None
    return momo.message(int(number))


def outcome_of(result: momo.PaymentResult, paid_at: datetime | None = None) -> Outcome | None:
    """Our word for MoMo's; ``None`` for a code that says nothing about the payment."""
    status = _ATTEMPT_STATUS.get(momo.outcome(result.result_code))
    if status is None:
        return None
    details: dict[str, object] = {"result_code": result.result_code}
    if result.pay_type:
        details["pay_type"] = result.pay_type
    return Outcome(
        status=status,
        amount=result.amount,
        provider_transaction_id=str(result.trans_id) if result.trans_id else None,
        failure_code=failure_code(result.result_code) if status is AttemptStatus.FAILED else None,
        details=details,
        paid_at=paid_at if status is AttemptStatus.SUCCEEDED else None,
    )


class MomoChannel:
    name: ClassVar[str] = ChannelName.MOMO

    def __init__(
        self,
        session: aiohttp.ClientSession,
        merchants: Mapping[str, momo.MomoMerchant],
        default: momo.MomoMerchant | None,
        base_url: str,
        timeout_seconds: float,
        clock: Clock,
    ) -> None:
        self.session = session
        self.merchants = PerAgency(merchants, default, "MoMo merchant")
        self.base_url = base_url
        self.timeout_seconds = timeout_seconds
        self.clock = clock

    def merchant_for(self, agency_code: str) -> momo.MomoMerchant:
        return self.merchants.of(agency_code)

    def failure_message(self, failure_code: str) -> str | None:
        """The citizen's Vietnamese message for a failed attempt (:class:`Explains`)."""
        return failure_message(failure_code)

    def origins(self) -> tuple[str, ...]:
        """Origins of the wallet's payment pages (the checkout page's form leads there): its
        API host and the page hosts it is known to use (momo.PAGE_ORIGINS)."""
        return self.merchants.origins(lambda merchant: merchant.api_url, momo.PAGE_ORIGINS)

    def available_for(self, agency_code: str) -> bool:
        return self.merchants.covers(agency_code)

    def keys_for(self, partner_code: str) -> tuple[str, str] | None:
        """``(access_key, secret_key)`` of a merchant by its partnerCode (IPNs name it)."""
        merchant = self.merchants.find(lambda item: item.partner_code == partner_code)
        if merchant is None:
            return None
        return merchant.access_key.reveal(), merchant.secret_key.reveal()

    def _client(self, agency_code: str) -> momo.MomoClient:
        return momo.MomoClient(self.session, self.merchant_for(agency_code), self.timeout_seconds)

    async def start(self, request: AttemptRequest) -> Started:
        try:
            created = await self._client(request.agency_code).create(
                order_id=request.provider_reference,
                request_id=request.attempt_id,  # MoMo's idempotency key: the attempt's own
                amount=request.amount,
                order_info=request.description,
                redirect_url=f"{self.base_url}/pay/{request.payment_id}",
                ipn_url=f"{self.base_url}/callbacks/momo/ipn",
            )
        except momo.MomoError as exc:
            if exc.code == "provider_unavailable":  # MoMo may have created it: query
                return Started(AttemptStatus.UNKNOWN)
            return Started(AttemptStatus.FAILED, failure_code=exc.code[:32])
        if created.result_code == 0 and created.pay_url:
            return Started(AttemptStatus.PENDING, {"type": "redirect", "url": created.pay_url})
        if created.result_code == _ORDER_EXISTS:
            return Started(AttemptStatus.UNKNOWN)
        return Started(AttemptStatus.FAILED, failure_code=failure_code(created.result_code))

    async def query(self, attempt: AttemptRef) -> Outcome | None:
        try:
            result = await self._client(attempt.agency_code).query(
                order_id=attempt.provider_reference
            )
        except momo.MomoError as exc:
            raise ProviderUnavailable(f"MoMo did not answer the query: {exc.code}") from exc
        if result.result_code in momo.NOT_FOUND:
            return None  # MoMo does not know the order (the create never reached it)
        outcome = outcome_of(result)
        if outcome is None:
            raise ProviderUnavailable(f"MoMo answered {result.result_code} to the query")
        return outcome

    async def refund(self, request: RefundRequest) -> RefundOutcome:
        if not request.provider_transaction_id or not request.provider_transaction_id.isdigit():
            return RefundOutcome("failed", failure_code="no_transaction_id")
        try:
            result = await self._client(request.attempt.agency_code).refund(
                order_id=request.attempt.provider_reference,
                request_id=request.provider_reference,
                amount=request.amount,
                trans_id=int(request.provider_transaction_id),
                description=request.reason[:255],
            )
        except momo.MomoError as exc:
            if exc.code == "refund_outcome_unknown":
                return RefundOutcome("pending", failure_code="outcome_unknown")
            return RefundOutcome("failed", failure_code=exc.code[:32])
        if result.result_code == 0:
            tid = str(result.trans_id) if result.trans_id else None
            return RefundOutcome("succeeded", provider_transaction_id=tid)
        if momo.outcome(result.result_code) is momo.Outcome.FAILED:
            return RefundOutcome("failed", failure_code=failure_code(result.result_code))
        return RefundOutcome("pending", failure_code=failure_code(result.result_code))
