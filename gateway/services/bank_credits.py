"""Apply a bank credit notice to the payment its transfer text refers to — exactly once.

verify on raw bytes → parse → in one transaction: insert into the inbox (unique
``(provider, event_key)``; a bank notice's event key is its ``transaction_id``), find the
payment by the reference in the transfer text, check the account, then apply the notice as
the :class:`~gateway.channels.base.Outcome` of the bill's VietQR attempt through the same
``apply_outcome`` as every channel (which decides with
:func:`gateway.core.money.money_arrived`) → acknowledge. Once that attempt has taken money,
another transfer to the QR is new money: it gets an attempt of its own
(:func:`~gateway.services.attempts.record_money`), decided the same way. A notice that does
not fit is kept with its outcome; it never disappears and is never applied twice.

Outcomes (``provider_events.outcome``):

======================  ========================================================
``applied``             pending payment, right account and amount → ``paid``
``needs_review``        money arrived that does not fit; payment → ``needs_review``
                        (``amount_mismatch``, ``paid_after_expiry``,
                        ``reported_after_expiry``, ``paid_after_cancellation``;
                        "in time" by the bank's ``booked_at``, see
                        :func:`gateway.core.money.money_time`)
``duplicate_payment``   the payment was already settled; it keeps its status, the
                        attempt the money came by is flagged ``duplicate_payment`` for
                        refund and ``attempt.needs_review`` is emitted (``already_paid``)
``unmatched``           no known reference, or the money reached another account
                        (``unknown_reference``, ``account_mismatch``)
======================  ========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from config import BankSettings
from gateway.channels import vietqr
from gateway.core import inbox
from gateway.core.db import Database
from gateway.core.db.schema import agencies, attempts, payments
from gateway.core.errors import NotFound, NoticeRejected
from gateway.core.inbox import EventOutcome
from gateway.core.money import ChannelName, ReviewReason
from gateway.core.references import find_references
from gateway.core.statuses import AttemptStatus
from gateway.services import payment_state as state
from gateway.services.attempts import apply_outcome, record_money
from providers.payment.vietqr import notice as wire

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class NoticeResult:
    outcome: EventOutcome
    reason: str | None
    payment_id: str | None
    duplicate: bool = False

    def acknowledgement(self) -> dict[str, Any]:
        return {
            "status": "duplicate" if self.duplicate else "accepted",
            "outcome": self.outcome,
        }


class BankCreditService:
    def __init__(
        self,
        db: Database,
        context: state.Context,
        banks: Mapping[str, BankSettings],
        reference_prefix: str,
    ) -> None:
        self.db = db
        self.context = context
        self.clock = context.clock
        self.banks = banks
        self.reference_prefix = reference_prefix

    async def receive(self, bank: str, headers: Mapping[str, str], body: bytes) -> NoticeResult:
        settings = self.banks.get(bank)
        if settings is None:
            raise NotFound(f"no bank is configured under the name {bank!r}")
        try:
            wire.verify(
                settings.secret.get_secret_value().encode(),
                timestamp=headers.get(wire.TIMESTAMP_HEADER),
                signature=headers.get(wire.SIGNATURE_HEADER),
                body=body,
                now=int(self.clock().timestamp()),
                tolerance_seconds=settings.timestamp_tolerance_seconds,
            )
            notice = wire.parse(body)
        except wire.NoticeError as exc:
            log.warning("callback_rejected", provider=f"bank:{bank}", code=exc.code)
            status = 400 if exc.code == "malformed_notice" else 401
            raise NoticeRejected(exc.code, exc.message, http_status=status) from None
        provider = f"bank:{bank}"
        received = await inbox.receive(
            self.db,
            provider=provider,
            event_key=notice.transaction_id,
            raw=body.decode(),
            received_at=self.clock(),
            amount=notice.amount,
            apply=lambda conn: self._decide(conn, notice),
        )
        result = NoticeResult(
            received.outcome, received.reason, received.payment_id, received.duplicate
        )
        log.info(
            "credit_notice_" + ("duplicate" if result.duplicate else result.outcome),
            provider=provider,
            transaction_id=notice.transaction_id,
            payment_id=result.payment_id,
            reason=result.reason,
        )
        return result

    async def _decide(
        self, conn: AsyncConnection, notice: wire.CreditNotice
    ) -> inbox.Settled[None]:
        row = None
        for reference in find_references(notice.description, self.reference_prefix):
            row = (
                await conn.execute(
                    select(
                        payments,
                        agencies.c.bank_bin,
                        agencies.c.account_number.label("agency_account"),
                    )
                    .join(agencies, agencies.c.id == payments.c.agency_id)
                    .where(payments.c.reference == reference)
                    .with_for_update(of=payments)
                )
            ).first()
            if row is not None:
                break
        if row is None:
            return _settled(EventOutcome.UNMATCHED, "unknown_reference", None)
        if (notice.bin, notice.account_number) != (row.bank_bin, row.agency_account):
            return _settled(EventOutcome.UNMATCHED, "account_mismatch", row.id)
        qr_attempt = (
            await conn.execute(
                select(attempts.c.id, attempts.c.status).where(
                    attempts.c.payment_id == row.id,
                    attempts.c.channel == ChannelName.VIETQR,
                    attempts.c.provider_reference == row.reference,
                )
            )
        ).one()
        outcome = vietqr.outcome_of(notice)
        if qr_attempt.status == AttemptStatus.SUCCEEDED.value:
            # The QR took money before: this transfer is more money, with an attempt of its own.
            applied = await record_money(conn, self.context, row.id, ChannelName.VIETQR, outcome)
        else:
            applied = await apply_outcome(conn, self.context, qr_attempt.id, outcome)
        if applied.result != "applied" or applied.review is ReviewReason.DUPLICATE_PAYMENT:
            # Paid before (through another channel, or by an earlier transfer to this QR):
            # the bill keeps its status; the money is flagged for refund.
            return _settled(EventOutcome.DUPLICATE_PAYMENT, "already_paid", row.id)
        if applied.review is not None:
            return _settled(EventOutcome.NEEDS_REVIEW, applied.review.value, row.id)
        return _settled(EventOutcome.APPLIED, None, row.id)


def _settled(
    outcome: EventOutcome, reason: str | None, payment_id: str | None
) -> inbox.Settled[None]:
    return inbox.Settled(outcome, None, reason, payment_id)
