"""Card terminals through the acquirer's POS cloud (:mod:`providers.payment.pos`)."""

from __future__ import annotations

from typing import ClassVar

import aiohttp

from gateway.channels.base import (
    AttemptRef,
    AttemptRequest,
    Outcome,
    ProviderUnavailable,
    Started,
)
from gateway.core.ids import Clock
from gateway.core.money import ChannelName
from gateway.core.statuses import AttemptStatus
from providers.payment.pos import (
    PosClient,
    PosError,
    PosMerchant,
    Sale,
    SaleResult,
    attempt_status,
)
from providers.payment.pos.statuses import FAILURE_REASON


def outcome_of(result: SaleResult) -> Outcome:
    details = {
        key: value
        for key, value in {
            "approval_code": result.approval_code,
            "masked_pan": result.masked_pan,
            "card_brand": result.card_brand.value if result.card_brand else None,
            "rrn": result.rrn,
            "decline_reason": result.decline_reason,
        }.items()
        if value is not None
    }
    failure = FAILURE_REASON.get(result.status)
    if result.decline_reason and failure:
        failure = f"{failure}:{result.decline_reason}"[:32]
    return Outcome(
        status=AttemptStatus(attempt_status(result.status)),
        amount=result.amount,
        provider_transaction_id=result.rrn,
        failure_code=failure,
        details=details,
        paid_at=result.completed_at,
    )


class PosChannel:
    name: ClassVar[str] = ChannelName.POS

    def __init__(
        self,
        session: aiohttp.ClientSession,
        merchant: PosMerchant,
        callback_url: str,
        timeout_seconds: float,
        clock: Clock,
    ) -> None:
        self.client = PosClient(session, merchant, timeout_seconds, clock=clock)
        self.callback_url = callback_url

    async def start(self, request: AttemptRequest) -> Started:
        assert request.terminal_id is not None, "a POS attempt names its terminal"
        sale = Sale(
            terminal_id=request.terminal_id,
            sale_id=request.attempt_id,
            amount=request.amount,
            reference=request.payment_reference,
            description=request.description,
            callback_url=self.callback_url,
        )
        try:
            pushed = await self.client.push_sale(sale)
        except PosError as exc:
            if exc.code == "outcome_unknown":
                return Started(AttemptStatus.UNKNOWN, self._next_action(request.terminal_id))
            return Started(AttemptStatus.FAILED, failure_code=exc.code[:32])
        if not pushed.accepted:
            return Started(AttemptStatus.FAILED, failure_code=(pushed.code or "refused")[:32])
        return Started(AttemptStatus.PENDING, self._next_action(request.terminal_id))

    async def query(self, attempt: AttemptRef) -> Outcome | None:
        assert attempt.terminal_id is not None
        result = await self.client.get_sale(attempt.terminal_id, attempt.attempt_id)
        return None if result is None else outcome_of(result)

    def available_for(self, agency_code: str) -> bool:
        return True  # which terminals an agency has is checked when one is claimed

    async def cancel(self, attempt: AttemptRef) -> bool:
        assert attempt.terminal_id is not None
        try:
            answer = await self.client.cancel_sale(attempt.terminal_id, attempt.attempt_id)
        except PosError as exc:
            raise ProviderUnavailable(
                f"the POS cloud did not answer the cancel: {exc.code}"
            ) from exc
        return answer.accepted

    @staticmethod
    def _next_action(terminal_id: str) -> dict[str, str]:
        return {"type": "terminal", "terminal_id": terminal_id}
