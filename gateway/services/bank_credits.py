"""Apply a bank credit notice to the payment its transfer text refers to — exactly once.

verify on raw bytes → parse → in one transaction: insert into the inbox (unique
``(provider, transaction_id)``), find the payment by the reference in the transfer text,
check account and amount, change the payment → acknowledge. A notice that does not fit is
kept with its outcome; it never disappears and is never applied twice.

Outcomes (``provider_events.outcome``):

======================  ========================================================
``applied``             pending payment, right account and amount → ``paid``
``needs_review``        money arrived that does not fit; payment → ``needs_review``
                        (``amount_mismatch``, ``paid_after_expiry``,
                        ``paid_after_cancellation``)
``duplicate_payment``   the payment was already settled; it keeps its status and the
                        money is left to reconciliation (``already_paid``)
``unmatched``           no known reference, or the money reached another account
                        (``unknown_reference``, ``account_mismatch``)
======================  ========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from config import BankSettings
from gateway.core import inbox
from gateway.core.db import Database
from gateway.core.db.schema import agencies, attempts, payments
from gateway.core.errors import NotFound, NoticeRejected
from gateway.core.money import lock_bill
from gateway.core.references import find_references
from gateway.core.statuses import AttemptStatus, PaymentStatus
from gateway.services import payment_state as state
from providers.payment.vietqr import notice as wire

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class NoticeResult:
    outcome: str
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
        try:
            result = await self.db.transaction(
                lambda conn: self._apply(conn, provider, notice, body)
            )
        except IntegrityError:
            result = await self._earlier(provider, notice.transaction_id)
        log.info(
            "credit_notice_" + ("duplicate" if result.duplicate else result.outcome),
            provider=provider,
            transaction_id=notice.transaction_id,
            payment_id=result.payment_id,
            reason=result.reason,
        )
        return result

    async def _earlier(self, provider: str, event_key: str) -> NoticeResult:
        async with self.db.read() as conn:
            earlier = await inbox.find(conn, provider, event_key)
        if earlier is None:
            raise RuntimeError("notice conflicted in the inbox but is not there")
        return NoticeResult(earlier.outcome, earlier.reason, earlier.payment_id, duplicate=True)

    async def _apply(
        self, conn: AsyncConnection, provider: str, notice: wire.CreditNotice, body: bytes
    ) -> NoticeResult:
        # The inbox insert comes first: a duplicate fails here, before anything else changes.
        event_id = await inbox.store(
            conn,
            provider=provider,
            event_key=notice.transaction_id,
            payload=body.decode(),
            received_at=self.clock(),
            amount=notice.amount,
        )
        result = await self._decide(conn, notice)
        await inbox.settle(
            conn,
            event_id,
            outcome=result.outcome,
            reason=result.reason,
            payment_id=result.payment_id,
        )
        return result

    async def _decide(self, conn: AsyncConnection, notice: wire.CreditNotice) -> NoticeResult:
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
            return NoticeResult("unmatched", "unknown_reference", None)
        await lock_bill(conn, row.id)  # the payment is locked; now its attempts
        if (notice.bin, notice.account_number) != (row.bank_bin, row.agency_account):
            return NoticeResult("unmatched", "account_mismatch", row.id)
        now = self.clock()
        status = PaymentStatus(row.status)
        if status is PaymentStatus.PENDING and notice.amount == row.amount and row.expires_at > now:
            await self._settle(conn, row.id, status, notice, now)
            return NoticeResult("applied", None, row.id)
        if status is PaymentStatus.PENDING and notice.amount != row.amount:
            reason = "amount_mismatch"
        elif status in (PaymentStatus.PENDING, PaymentStatus.EXPIRED):
            reason = "paid_after_expiry"
        elif status is PaymentStatus.CANCELLED:
            reason = "paid_after_cancellation"
        else:
            return NoticeResult("duplicate_payment", "already_paid", row.id)
        await state.move(
            conn, self.context, row.id, status, PaymentStatus.NEEDS_REVIEW, review_reason=reason
        )
        return NoticeResult("needs_review", reason, row.id)

    async def _settle(
        self,
        conn: AsyncConnection,
        payment_id: str,
        status: PaymentStatus,
        notice: wire.CreditNotice,
        now: datetime,
    ) -> None:
        await conn.execute(
            update(attempts)
            .where(attempts.c.payment_id == payment_id, attempts.c.channel == "vietqr")
            .values(
                status=AttemptStatus.SUCCEEDED.value,
                provider_transaction_id=notice.transaction_id,
                updated_at=now,
            )
        )
        await state.move(
            conn, self.context, payment_id, status, PaymentStatus.PAID, channel="vietqr"
        )
