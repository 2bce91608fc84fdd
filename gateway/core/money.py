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
``pending``/``expired``, the money moved at or  ``needs_review``  ``paid_after_expiry``
after the expiry
``expired``, the money moved in time (heard of  ``needs_review``  ``reported_after_expiry``
only after the bill was expired)
``cancelled``                                   ``needs_review``  ``paid_after_cancellation``
``pending``/``expired``/``cancelled``, through  ``needs_review``  ``succeeded_after_failure``
an attempt its provider had called failed
already ``paid``, ``needs_review``, refunded    unchanged         ``duplicate_payment``
==============================================  ================  =============================

The attempt the money came through is ``succeeded`` in every row (the money is real) and
carries the review reason, so reconciliation sees every channel the same way.

The time of the money
---------------------
"In time" is judged by when the money moved, not by when the gateway heard of it: a message
can arrive late (a bank or a provider retrying, a postman's handset offline). One rule for
every channel, :func:`money_time`: the money's **own time where the provider states it and it
is plausible**, else the time the gateway received the message. Stated times:

============  ============================================================================
channel       the money's own time
============  ============================================================================
VietQR        the bank's booking time (``booked_at`` of the signed credit notice)
VNPAY         ``vnp_PayDate`` of the signed IPN or ``querydr`` answer
POS           ``completed_at`` of the signed sale result (callback or query)
COD           when the postman collected it: the handover's ``at``, the carrier event's time
============  ============================================================================

Plausible means: not more than :data:`MONEY_CLOCK_SKEW` ahead of the receiving time (a clock
that runs fast; the earlier of the two is taken), and not before the bill existed — nor, for
COD, before its postal order existed. An implausible time is not trusted (the receiving time
is used) and is logged (``money_time_implausible``); it is never a reason to refuse money.
Money that moved in time for a bill already marked ``expired`` (the portal has been told so)
does not pay it by itself: a late message never reopens a closed bill. It is a review with
its own reason, ``reported_after_expiry``, so finance staff know the citizen paid in time
and accept it (``needs_review → paid``).

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
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db.schema import attempts, payments
from gateway.core.statuses import AttemptStatus, PaymentStatus


class ChannelName(StrEnum):
    """The payment channels; each is a :class:`gateway.channels.base.Channel` named so."""

    VIETQR = "vietqr"
    VNPAY = "vnpay"
    POS = "pos"
    #: The National Public Service Portal's payment platform (issue 12).
    DVCQG = "dvcqg"
    # wallets (issue 12)
    MOMO = "momo"
    ZALOPAY = "zalopay"


#: How people are told which channel the money came through (receipts, checkout, consoles),
#: in Vietnamese; ``cod`` is the postal collection, not an attempt channel.
CHANNEL_LABELS: dict[str, str] = {
    "vietqr": "Chuyển khoản VietQR",
    "vnpay": "Cổng thanh toán VNPAY",
    "pos": "Thẻ ngân hàng tại quầy (POS)",
    "cod": "Thu hộ qua bưu điện (COD)",
    "dvcqg": "Nền tảng thanh toán Cổng Dịch vụ công quốc gia",
    "momo": "Ví điện tử MoMo",
    "zalopay": "Ví điện tử ZaloPay",
}


class ReviewReason(StrEnum):
    """Why arriving money needs a person (``payments/attempts.review_reason``)."""

    AMOUNT_MISMATCH = "amount_mismatch"
    PAID_AFTER_EXPIRY = "paid_after_expiry"
    #: The money moved in time, but the gateway heard of it after it had expired the bill.
    REPORTED_AFTER_EXPIRY = "reported_after_expiry"
    PAID_AFTER_CANCELLATION = "paid_after_cancellation"
    DUPLICATE_PAYMENT = "duplicate_payment"
    #: The provider said the attempt failed, then that it took the money (a late or
    #: contradictory success): the money is real, but which word is right a person checks.
    SUCCEEDED_AFTER_FAILURE = "succeeded_after_failure"


@dataclass(frozen=True)
class MoneyDecision:
    #: What the bill becomes; ``None``: it keeps its status (a duplicate payment).
    payment: PaymentStatus | None
    review: ReviewReason | None = None


_UNPAID = (PaymentStatus.PENDING, PaymentStatus.EXPIRED, PaymentStatus.CANCELLED)

#: How far ahead of the receiving time a provider's stated time of money may be.
MONEY_CLOCK_SKEW = timedelta(minutes=10)

#: The attempt ``details`` key of the money's own time (:func:`money_time`, ISO 8601 UTC) when
#: it is not the attempt's ``updated_at``: a success that came after its provider had said
#: ``failed``, perhaps on a later day. Reconciliation puts the attempt on this moment's day,
#: the day the provider's own day file has the money on (reconciliation/ledger.py).
MONEY_AT = "money_at"


def money_time(stated: datetime | None, *, received_at: datetime, not_before: datetime) -> datetime:
    """When the money moved (see "The time of the money" above): ``stated``, the provider's
    own time of it, if it is plausible — not after ``received_at`` by more than
    :data:`MONEY_CLOCK_SKEW`, not before ``not_before`` (when the bill, or the postal order,
    came to exist) — else ``received_at``."""
    if stated is None or not plausible(stated, received_at=received_at, not_before=not_before):
        return received_at
    return min(stated, received_at)


def plausible(stated: datetime, *, received_at: datetime, not_before: datetime) -> bool:
    """Whether a provider's stated time of money can be believed (:func:`money_time`)."""
    return not_before <= stated <= received_at + MONEY_CLOCK_SKEW


def money_arrived(
    bill: PaymentStatus,
    *,
    due: int,
    received: int | None,
    expires_at: datetime,
    at: datetime,
    review: ReviewReason | None = None,
) -> MoneyDecision:
    """What ``received`` VND arriving for a bill in status ``bill`` does (the table above).
    ``received`` is ``None`` when the provider did not state the amount (then it is taken to
    be the bill's amount, ``due``); ``at`` is when the money moved
    (:func:`money_time`); ``review``: a reason the money needs a person even if it fits the
    bill (``succeeded_after_failure``) — the bill goes to ``needs_review`` instead of
    ``paid``."""
    if bill not in _UNPAID:
        return MoneyDecision(None, ReviewReason.DUPLICATE_PAYMENT)
    if received is not None and received != due:
        return MoneyDecision(PaymentStatus.NEEDS_REVIEW, ReviewReason.AMOUNT_MISMATCH)
    if review is not None:
        return MoneyDecision(PaymentStatus.NEEDS_REVIEW, review)
    if bill is PaymentStatus.CANCELLED:
        return MoneyDecision(PaymentStatus.NEEDS_REVIEW, ReviewReason.PAID_AFTER_CANCELLATION)
    if expires_at <= at:
        return MoneyDecision(PaymentStatus.NEEDS_REVIEW, ReviewReason.PAID_AFTER_EXPIRY)
    if bill is PaymentStatus.EXPIRED:
        return MoneyDecision(PaymentStatus.NEEDS_REVIEW, ReviewReason.REPORTED_AFTER_EXPIRY)
    return MoneyDecision(PaymentStatus.PAID)


async def lock_bill(conn: AsyncConnection, payment_id: str) -> bool:
    """Lock the payment, then all its attempts in ``id`` order; ``False`` if there is no such
    payment. On SQLite (one writer at a time) the statements run without ``FOR UPDATE``."""
    if not await lock_payment(conn, payment_id):
        return False
    await conn.execute(_LOCK_ATTEMPTS, {"payment_id": payment_id})
    return True


async def lock_payment(conn: AsyncConnection, payment_id: str) -> bool:
    """The first half of :func:`lock_bill`: the payment alone (``False``: no such payment).
    Only for a caller whose very next statement locks all the payment's attempts in ``id``
    order itself (``FOR UPDATE OF attempts … ORDER BY attempts.id``, e.g.
    :func:`gateway.services.attempts.lock_joined`), so the lock order stays the one above. It
    must be a statement of its own: a single statement's snapshot is taken before it waits
    for the payment's lock, so it would miss an attempt inserted by the transaction it
    waited for."""
    return (await conn.execute(_LOCK_PAYMENT, {"payment_id": payment_id})).first() is not None


# Built once (no per-request statement construction): the two statements of lock_bill.
_LOCK_PAYMENT = (
    select(payments.c.id).where(payments.c.id == bindparam("payment_id")).with_for_update()
)
_LOCK_ATTEMPTS = (
    select(attempts.c.id)
    .where(attempts.c.payment_id == bindparam("payment_id"))
    .order_by(attempts.c.id)
    .with_for_update()
)


async def paying_attempt(conn: AsyncConnection, payment_id: str) -> Any | None:
    """The attempt whose money paid the bill, the one rule for the receipt (its transaction
    reference) and for refunds (the channel that gives the money back): a succeeded attempt,
    one without a review reason first (money that arrived after the bill was paid carries
    ``duplicate_payment``), then the **earliest** (the first money to arrive paid the bill; a
    bill accepted from ``needs_review`` was paid by the money that put it there). ``None``
    when no attempt succeeded (e.g. COD, money collected at the door)."""
    return (await conn.execute(_PAYING_ATTEMPT, {"payment_id": payment_id})).first()


_PAYING_ATTEMPT = (  # built once (no per-payment statement construction)
    select(
        attempts.c.id,
        attempts.c.channel,
        attempts.c.provider_transaction_id,
        attempts.c.provider_reference,
    )
    .where(
        attempts.c.payment_id == bindparam("payment_id"),
        attempts.c.status == AttemptStatus.SUCCEEDED.value,
    )
    .order_by(attempts.c.review_reason.is_not(None), attempts.c.updated_at, attempts.c.id)
    .limit(1)
)
