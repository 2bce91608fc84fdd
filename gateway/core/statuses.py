"""Every state machine as an explicit transition table beside its ``StrEnum``, and the
:class:`~gateway.core.machines.Machine` that is the only writer of its status column.

Sections: payments and attempts; webhook deliveries; refunds, reconciliation and postal orders.

A late or duplicate message never moves a final state backwards: callers ask
:func:`can_transition` first and record the message instead of applying it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from gateway.core.db.schema import attempts, deliveries, payments
from gateway.core.machines import Machine


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    #: Money arrived that does not fit (wrong amount, after expiry or cancellation).
    NEEDS_REVIEW = "needs_review"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


PAYMENT_TRANSITIONS: Mapping[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset(
        {
            PaymentStatus.PAID,
            PaymentStatus.EXPIRED,
            PaymentStatus.CANCELLED,
            PaymentStatus.NEEDS_REVIEW,
        }
    ),
    # Money arriving for an expired or cancelled bill must not be lost: it is put up for review.
    PaymentStatus.EXPIRED: frozenset({PaymentStatus.NEEDS_REVIEW}),
    PaymentStatus.CANCELLED: frozenset({PaymentStatus.NEEDS_REVIEW}),
    # Finance staff settle a review by accepting the money or refunding it.
    PaymentStatus.NEEDS_REVIEW: frozenset({PaymentStatus.PAID, PaymentStatus.REFUNDED}),
    PaymentStatus.PAID: frozenset({PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}),
    PaymentStatus.PARTIALLY_REFUNDED: frozenset(
        {PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
    ),
    PaymentStatus.REFUNDED: frozenset(),
}


class AttemptStatus(StrEnum):
    CREATED = "created"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    #: A provider call timed out: resolved by querying the provider, never by guessing.
    UNKNOWN = "unknown"


ATTEMPT_TRANSITIONS: Mapping[AttemptStatus, frozenset[AttemptStatus]] = {
    AttemptStatus.CREATED: frozenset(
        {
            AttemptStatus.PENDING,
            AttemptStatus.FAILED,
            AttemptStatus.UNKNOWN,
            AttemptStatus.CANCELLED,
        }
    ),
    AttemptStatus.PENDING: frozenset(
        {
            AttemptStatus.SUCCEEDED,
            AttemptStatus.FAILED,
            AttemptStatus.EXPIRED,
            AttemptStatus.CANCELLED,
            AttemptStatus.UNKNOWN,
        }
    ),
    AttemptStatus.UNKNOWN: frozenset(
        {AttemptStatus.SUCCEEDED, AttemptStatus.FAILED, AttemptStatus.EXPIRED}
    ),
    # A bank transfer can still land on a QR whose bill has expired: the money is real.
    AttemptStatus.EXPIRED: frozenset({AttemptStatus.SUCCEEDED}),
    AttemptStatus.CANCELLED: frozenset({AttemptStatus.SUCCEEDED}),
    AttemptStatus.SUCCEEDED: frozenset(),
    AttemptStatus.FAILED: frozenset(),
}


def can_transition(current: PaymentStatus, requested: PaymentStatus) -> bool:
    return requested in PAYMENT_TRANSITIONS[current]


#: The only writers of ``payments.status`` and ``attempts.status``.
PAYMENTS: Machine[PaymentStatus] = Machine("payment", payments, PAYMENT_TRANSITIONS)
ATTEMPTS: Machine[AttemptStatus] = Machine("attempt", attempts, ATTEMPT_TRANSITIONS)


# -- webhook deliveries ------------------------------------------------------------------


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    #: Claimed by a worker (with a lease); an expired lease makes it claimable again.
    DELIVERING = "delivering"
    SUCCEEDED = "succeeded"
    #: Given up after the last try, or its endpoint was disabled; can be sent again by hand.
    FAILED = "failed"


DELIVERY_TRANSITIONS: Mapping[DeliveryStatus, frozenset[DeliveryStatus]] = {
    DeliveryStatus.PENDING: frozenset({DeliveryStatus.DELIVERING, DeliveryStatus.FAILED}),
    DeliveryStatus.DELIVERING: frozenset(
        {
            DeliveryStatus.SUCCEEDED,
            DeliveryStatus.PENDING,
            DeliveryStatus.FAILED,
            DeliveryStatus.DELIVERING,  # a lease that expired is claimed again
        }
    ),
    DeliveryStatus.SUCCEEDED: frozenset({DeliveryStatus.PENDING}),  # redelivered on request
    DeliveryStatus.FAILED: frozenset({DeliveryStatus.PENDING}),  # recovered
}

DELIVERIES: Machine[DeliveryStatus] = Machine("delivery", deliveries, DELIVERY_TRANSITIONS)


# -- refunds, reconciliation and postal orders ----------------------------------------------
