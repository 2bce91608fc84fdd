"""VietQR: the citizen transfers from any banking app to the agency's own account, scanning
the bill's QR (:mod:`providers.payment.vietqr`). There is no provider to call: the VietQR
attempt is created with the payment, already ``pending`` (its QR is the payment's
``vietqr.payload``), and the bank's signed credit notice is its outcome — applied through the
same :func:`gateway.services.attempts.apply_outcome` as every other channel's word."""

from __future__ import annotations

from typing import ClassVar

from gateway.channels.base import AttemptRequest, Outcome, Started
from gateway.core.money import ChannelName
from gateway.core.statuses import AttemptStatus
from providers.payment.vietqr.notice import CreditNotice


def outcome_of(notice: CreditNotice) -> Outcome:
    """A verified credit notice: money arrived (whether it fits is decided with the bill)."""
    return Outcome(
        status=AttemptStatus.SUCCEEDED,
        amount=notice.amount,
        provider_transaction_id=notice.transaction_id,
        details={"booked_at": notice.booked_at.isoformat()},
        paid_at=notice.booked_at,
    )


class VietQrChannel:
    name: ClassVar[str] = ChannelName.VIETQR

    def available_for(self, agency_code: str) -> bool:
        return True  # every agency has a collection account (its QR is on every bill)

    async def start(self, request: AttemptRequest) -> Started:
        # Never called through the API (a payment carries its QR from the start); a QR is
        # waiting for the payer from the moment it exists.
        return Started(AttemptStatus.PENDING, {"type": "vietqr"})
