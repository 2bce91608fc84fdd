"""The one decision of what arriving money does to a bill (no database: a pure function)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.core.money import MoneyDecision, ReviewReason, money_arrived, money_time
from gateway.core.statuses import PaymentStatus

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=15)
EARLIER = NOW - timedelta(seconds=1)


def decide(
    bill: PaymentStatus, received: int | None = 185000, expires_at: datetime = LATER
) -> MoneyDecision:
    return money_arrived(bill, due=185000, received=received, expires_at=expires_at, at=NOW)


def test_the_amount_due_in_time_pays_a_pending_bill() -> None:
    assert decide(PaymentStatus.PENDING) == MoneyDecision(PaymentStatus.PAID, None)


def test_an_unstated_amount_is_the_amount_the_provider_was_asked_for() -> None:
    assert decide(PaymentStatus.PENDING, received=None) == MoneyDecision(PaymentStatus.PAID)


@pytest.mark.parametrize("received", [184999, 185001, 1])
@pytest.mark.parametrize(
    "bill", [PaymentStatus.PENDING, PaymentStatus.EXPIRED, PaymentStatus.CANCELLED]
)
def test_another_amount_puts_an_unpaid_bill_up_for_review(
    bill: PaymentStatus, received: int
) -> None:
    assert decide(bill, received=received) == MoneyDecision(
        PaymentStatus.NEEDS_REVIEW, ReviewReason.AMOUNT_MISMATCH
    )


def test_money_at_or_after_the_expiry_is_late_even_before_the_sweep() -> None:
    late = MoneyDecision(PaymentStatus.NEEDS_REVIEW, ReviewReason.PAID_AFTER_EXPIRY)
    assert decide(PaymentStatus.PENDING, expires_at=NOW) == late
    assert decide(PaymentStatus.PENDING, expires_at=EARLIER) == late
    assert decide(PaymentStatus.EXPIRED, expires_at=EARLIER) == late


def test_money_that_moved_in_time_for_a_bill_expired_meanwhile_says_so() -> None:
    """The money's time is before the expiry, but the bill was closed before the gateway
    heard of it: a review that tells finance staff the citizen paid in time."""
    assert decide(PaymentStatus.EXPIRED, expires_at=LATER) == MoneyDecision(
        PaymentStatus.NEEDS_REVIEW, ReviewReason.REPORTED_AFTER_EXPIRY
    )


BILL_CREATED = NOW - timedelta(days=2)


@pytest.mark.parametrize(
    ("stated", "expected"),
    [
        (None, NOW),  # the provider states no time: when it was received
        (NOW - timedelta(hours=5), NOW - timedelta(hours=5)),  # reported late: its own time
        (BILL_CREATED, BILL_CREATED),
        (BILL_CREATED - timedelta(seconds=1), NOW),  # before the bill existed: not believed
        (NOW + timedelta(minutes=10), NOW),  # a fast clock: not later than received
        (NOW + timedelta(minutes=10, seconds=1), NOW),  # in the future: not believed
    ],
)
def test_the_money_time_is_the_stated_one_when_plausible(
    stated: datetime | None, expected: datetime
) -> None:
    assert money_time(stated, received_at=NOW, not_before=BILL_CREATED) == expected


def test_money_for_a_cancelled_bill_is_put_up_for_review() -> None:
    assert decide(PaymentStatus.CANCELLED, expires_at=EARLIER) == MoneyDecision(
        PaymentStatus.NEEDS_REVIEW, ReviewReason.PAID_AFTER_CANCELLATION
    )


@pytest.mark.parametrize(
    "bill",
    [
        PaymentStatus.PAID,
        PaymentStatus.NEEDS_REVIEW,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
    ],
)
def test_money_for_a_settled_bill_is_a_duplicate_and_leaves_it_alone(
    bill: PaymentStatus,
) -> None:
    assert decide(bill) == MoneyDecision(None, ReviewReason.DUPLICATE_PAYMENT)
    assert decide(bill, received=1) == MoneyDecision(None, ReviewReason.DUPLICATE_PAYMENT)


@pytest.mark.parametrize(
    "bill", [PaymentStatus.PENDING, PaymentStatus.EXPIRED, PaymentStatus.CANCELLED]
)
def test_money_after_its_attempt_was_reported_failed_puts_an_unpaid_bill_up_for_review(
    bill: PaymentStatus,
) -> None:
    after_failure = ReviewReason.SUCCEEDED_AFTER_FAILURE

    def decide_late(received: int) -> MoneyDecision:
        return money_arrived(
            bill, due=185000, received=received, expires_at=LATER, at=NOW, review=after_failure
        )

    assert decide_late(185000) == MoneyDecision(PaymentStatus.NEEDS_REVIEW, after_failure)
    # Another amount says more about the money; a paid bill makes it a duplicate.
    assert decide_late(1).review is ReviewReason.AMOUNT_MISMATCH
    paid = money_arrived(
        PaymentStatus.PAID,
        due=185000,
        received=185000,
        expires_at=LATER,
        at=NOW,
        review=after_failure,
    )
    assert paid == MoneyDecision(None, ReviewReason.DUPLICATE_PAYMENT)


def test_every_decision_is_a_move_the_payment_table_allows() -> None:
    from gateway.core.statuses import PAYMENTS

    for bill in PaymentStatus:
        for received in (185000, 1):
            for expires_at in (LATER, EARLIER):
                decision = decide(bill, received, expires_at)
                assert (decision.payment is None) == (
                    decision.review is ReviewReason.DUPLICATE_PAYMENT
                )
                if decision.payment is not None:
                    assert PAYMENTS.can(bill, decision.payment)
