"""The payment and attempt state machines, row by row."""

from __future__ import annotations

import itertools

import pytest

from gateway.core.errors import InvalidTransition
from gateway.core.statuses import (
    ATTEMPT_TRANSITIONS,
    ATTEMPTS,
    PAYMENT_TRANSITIONS,
    PAYMENTS,
    AttemptStatus,
    PaymentStatus,
)

P = PaymentStatus
ALLOWED_PAYMENT_MOVES = {
    (P.PENDING, P.PAID),
    (P.PENDING, P.EXPIRED),
    (P.PENDING, P.CANCELLED),
    (P.PENDING, P.NEEDS_REVIEW),
    (P.EXPIRED, P.NEEDS_REVIEW),
    (P.CANCELLED, P.NEEDS_REVIEW),
    (P.NEEDS_REVIEW, P.PAID),
    (P.NEEDS_REVIEW, P.REFUNDED),
    (P.PAID, P.PARTIALLY_REFUNDED),
    (P.PAID, P.REFUNDED),
    (P.PARTIALLY_REFUNDED, P.PARTIALLY_REFUNDED),
    (P.PARTIALLY_REFUNDED, P.REFUNDED),
}


def test_every_payment_status_has_a_row() -> None:
    assert set(PAYMENT_TRANSITIONS) == set(PaymentStatus)


@pytest.mark.parametrize(("current", "requested"), list(itertools.product(P, P)))
def test_payment_transition_table(current: P, requested: P) -> None:
    if (current, requested) in ALLOWED_PAYMENT_MOVES:
        assert PAYMENTS.check(current, requested) is requested
    else:
        with pytest.raises(InvalidTransition) as raised:
            PAYMENTS.check(current, requested)
        assert (raised.value.current, raised.value.requested) == (current.value, requested.value)
        assert raised.value.code == "invalid_transition"


def test_paid_never_goes_back_to_pending_expired_or_cancelled() -> None:
    assert PAYMENT_TRANSITIONS[P.PAID].isdisjoint({P.PENDING, P.EXPIRED, P.CANCELLED})


A = AttemptStatus
ALLOWED_ATTEMPT_MOVES = {
    (A.CREATED, A.PENDING),
    (A.CREATED, A.FAILED),
    (A.CREATED, A.UNKNOWN),
    (A.CREATED, A.CANCELLED),
    (A.PENDING, A.SUCCEEDED),
    (A.PENDING, A.FAILED),
    (A.PENDING, A.EXPIRED),
    (A.PENDING, A.CANCELLED),
    (A.PENDING, A.UNKNOWN),
    (A.UNKNOWN, A.SUCCEEDED),
    (A.UNKNOWN, A.FAILED),
    (A.UNKNOWN, A.EXPIRED),
    (A.EXPIRED, A.SUCCEEDED),
    (A.CANCELLED, A.SUCCEEDED),
}


def test_every_attempt_status_has_a_row() -> None:
    assert set(ATTEMPT_TRANSITIONS) == set(AttemptStatus)


@pytest.mark.parametrize(("current", "requested"), list(itertools.product(A, A)))
def test_attempt_transition_table(current: A, requested: A) -> None:
    if (current, requested) in ALLOWED_ATTEMPT_MOVES:
        assert ATTEMPTS.check(current, requested) is requested
    else:
        with pytest.raises(InvalidTransition):
            ATTEMPTS.check(current, requested)
