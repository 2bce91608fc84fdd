"""The payment and attempt state machines, row by row."""

from __future__ import annotations

import itertools
from typing import Any

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
#: Every move a payment may make, written out independently of PAYMENT_TRANSITIONS.
ALLOWED_PAYMENT_MOVES = {
    P.PENDING: {P.PAID, P.EXPIRED, P.CANCELLED, P.NEEDS_REVIEW},
    P.EXPIRED: {P.NEEDS_REVIEW},
    P.CANCELLED: {P.NEEDS_REVIEW},
    P.NEEDS_REVIEW: {P.PAID, P.REFUNDED},
    P.PAID: {P.PARTIALLY_REFUNDED, P.REFUNDED},
    P.PARTIALLY_REFUNDED: {P.PARTIALLY_REFUNDED, P.REFUNDED},
}


A = AttemptStatus
#: Every move an attempt may make, written out independently of ATTEMPT_TRANSITIONS.
ALLOWED_ATTEMPT_MOVES = {
    A.CREATED: {A.PENDING, A.SUCCEEDED, A.FAILED, A.UNKNOWN, A.CANCELLED},  # a faster callback
    A.PENDING: {A.SUCCEEDED, A.FAILED, A.EXPIRED, A.CANCELLED, A.UNKNOWN},
    A.UNKNOWN: {A.SUCCEEDED, A.FAILED, A.EXPIRED},
    A.EXPIRED: {A.SUCCEEDED},
    A.CANCELLED: {A.SUCCEEDED},
    A.FAILED: {A.SUCCEEDED},  # money its provider reports after calling it failed: for review
}

TABLES = {
    "payment": (PAYMENTS, PAYMENT_TRANSITIONS, PaymentStatus, ALLOWED_PAYMENT_MOVES),
    "attempt": (ATTEMPTS, ATTEMPT_TRANSITIONS, AttemptStatus, ALLOWED_ATTEMPT_MOVES),
}
EVERY_MOVE = [
    pytest.param(name, current, requested, id=f"{name}-{current}-{requested}")
    for name, (_, _, statuses, _) in TABLES.items()
    for current, requested in itertools.product(statuses, statuses)
]


@pytest.mark.parametrize("name", TABLES)
def test_every_status_has_a_row(name: str) -> None:
    _, transitions, statuses, _ = TABLES[name]
    assert set(transitions) == set(statuses)


@pytest.mark.parametrize(("name", "current", "requested"), EVERY_MOVE)
def test_transition_table(name: str, current: Any, requested: Any) -> None:
    machine, _, _, allowed = TABLES[name]
    if requested in allowed.get(current, set()):
        assert machine.check(current, requested) is requested
    else:
        with pytest.raises(InvalidTransition) as raised:
            machine.check(current, requested)
        assert (raised.value.current, raised.value.requested) == (current.value, requested.value)
        assert raised.value.code == "invalid_transition"


def test_paid_never_goes_back_to_pending_expired_or_cancelled() -> None:
    assert PAYMENT_TRANSITIONS[P.PAID].isdisjoint({P.PENDING, P.EXPIRED, P.CANCELLED})
