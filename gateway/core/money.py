"""Arriving money: the one decision of what it does to a bill, and the one lock order.

What money does to a bill
-------------------------
:func:`money_arrived` is the only place that decides it, for every channel:

==============================================  ================  =============================
the bill, when money arrives                    the bill becomes  review reason
==============================================  ================  =============================
``pending``, in time, the amount due            ``paid``          —
``pending``/``expired``/``cancelled``, another  ``needs_review``  ``amount_mismatch``
amount
``pending`` past its expiry, or ``expired``     ``needs_review``  ``paid_after_expiry``
``cancelled``                                   ``needs_review``  ``paid_after_cancellation``
already ``paid``, ``needs_review``, refunded    unchanged         ``duplicate_payment``
==============================================  ================  =============================

The attempt the money came through is ``succeeded`` in every row (the money is real) and
carries the review reason, so reconciliation sees every channel the same way.

Lock order
----------
Every transaction that changes a payment or its attempts takes its row locks in this order,
on every path (bank notice, VNPAY IPN, POS result, COD, query, expiry, cancellation):

1. the inbox row of the inbound message (``provider_events``; its unique key is what makes a
   second copy of the same message wait for, then see, the first);
2. the **payment** (``SELECT … FOR UPDATE``);
3. **all attempts of that payment**, in ``id`` order (:func:`lock_bill`);
4. then whatever hangs off them: the POS terminal, refunds, the outbox.

Two paths that took the payment and an attempt in opposite orders deadlocked on PostgreSQL
(a bank notice and a VNPAY IPN for one bill at the same moment). With one order they queue
instead; a deadlock or serialization failure that still happens is retried by
:meth:`gateway.core.db.Database.transaction` before any answer is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db.schema import attempts, payments
from gateway.core.statuses import PaymentStatus


class ChannelName(StrEnum):
    """The payment channels; each is a :class:`gateway.channels.base.Channel` named so."""

    VIETQR = "vietqr"
    VNPAY = "vnpay"
    POS = "pos"


class ReviewReason(StrEnum):
    """Why arriving money needs a person (``payments/attempts.review_reason``)."""

    AMOUNT_MISMATCH = "amount_mismatch"
    PAID_AFTER_EXPIRY = "paid_after_expiry"
    PAID_AFTER_CANCELLATION = "paid_after_cancellation"
    DUPLICATE_PAYMENT = "duplicate_payment"


@dataclass(frozen=True)
class MoneyDecision:
    #: What the bill becomes; ``None``: it keeps its status (a duplicate payment).
    payment: PaymentStatus | None
    review: ReviewReason | None = None


_UNPAID = (PaymentStatus.PENDING, PaymentStatus.EXPIRED, PaymentStatus.CANCELLED)


def money_arrived(
    bill: PaymentStatus,
    *,
    due: int,
    received: int | None,
    expires_at: datetime,
    now: datetime,
) -> MoneyDecision:
    """What ``received`` VND arriving for a bill in status ``bill`` does (the table above).
    ``received`` is ``None`` when the provider did not state the amount (then it is taken to
    be the amount the provider was asked for, ``due``)."""
    if bill not in _UNPAID:
        return MoneyDecision(None, ReviewReason.DUPLICATE_PAYMENT)
    if received is not None and received != due:
        return MoneyDecision(PaymentStatus.NEEDS_REVIEW, ReviewReason.AMOUNT_MISMATCH)
    if bill is PaymentStatus.CANCELLED:
        return MoneyDecision(PaymentStatus.NEEDS_REVIEW, ReviewReason.PAID_AFTER_CANCELLATION)
    if bill is PaymentStatus.EXPIRED or expires_at <= now:
        return MoneyDecision(PaymentStatus.NEEDS_REVIEW, ReviewReason.PAID_AFTER_EXPIRY)
    return MoneyDecision(PaymentStatus.PAID)


async def lock_bill(conn: AsyncConnection, payment_id: str) -> bool:
    """Lock the payment, then all its attempts in ``id`` order; ``False`` if there is no such
    payment. On SQLite (one writer at a time) the statements run without ``FOR UPDATE``."""
    found = (
        await conn.execute(
            select(payments.c.id).where(payments.c.id == payment_id).with_for_update()
        )
    ).first()
    if found is None:
        return False
    await conn.execute(
        select(attempts.c.id)
        .where(attempts.c.payment_id == payment_id)
        .order_by(attempts.c.id)
        .with_for_update()
    )
    return True
