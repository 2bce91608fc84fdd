"""Two delivery attempts two working days apart before a result goes back to the agency
(Circular 17/2017 Điều 5.2.h): an operator's report that breaks the rule is refused and
nothing is stored; a carrier's is kept and applied, and the order is flagged for a person.

The test clock starts on Sunday 22/11/2026, 09:00 in Vietnam."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from conftest import Postal
from sqlalchemy import func, select

from gateway.core.db.schema import outbox_events, postal_events
from gateway.core.postal import attempts
from gateway.keys import DATABASE
from providers.common.postal import PostalStatus

ORDERS = "/v1/operator/orders"


async def report(postal: Postal, order_id: str, status: str) -> tuple[int, Any]:
    body = {
        "event_id": uuid.uuid4().hex,
        "status": status,
        "occurred_at": postal.clock().isoformat(),
    }
    response = await postal.client.post(
        f"{ORDERS}/{order_id}/events", json=body, headers=postal.auth("operator")
    )
    return response.status, await response.json()


async def count(postal: Postal, table: Any) -> int:
    async with postal.client.app[DATABASE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_a_return_after_two_attempts_two_working_days_apart_is_accepted(
    postal: Postal,
) -> None:
    order = await postal.book()
    postal.clock.advance(days=1)  # Monday
    assert (await report(postal, order["id"], "delivery_failed"))[0] == 201
    postal.clock.advance(days=2)  # Wednesday: Tuesday and Wednesday are two working days
    assert (await report(postal, order["id"], "delivery_failed"))[0] == 201
    postal.clock.advance(hours=2)
    status, answer = await report(postal, order["id"], "return_pending")
    assert status == 201, answer
    assert answer["order"]["status"] == "return_pending"
    assert answer["order"]["review_reason"] is None


@pytest.mark.parametrize("status", ["return_pending", "returning", "returned"])
async def test_a_return_before_two_attempts_is_refused_and_nothing_is_stored(
    postal: Postal, status: str
) -> None:
    order = await postal.book()
    postal.clock.advance(days=1)
    assert (await report(postal, order["id"], "delivery_failed"))[0] == 201
    events, outbox = await count(postal, postal_events), await count(postal, outbox_events)

    postal.clock.advance(days=3)
    code, problem = await report(postal, order["id"], status)
    assert (code, problem["code"]) == (422, "delivery_attempts_required")
    assert (await postal.order(order["id"]))["status"] == "delivery_failed"
    assert (await count(postal, postal_events), await count(postal, outbox_events)) == (
        events,
        outbox,
    )


async def test_a_return_with_no_attempt_at_all_is_refused(postal: Postal) -> None:
    order = await postal.book()
    postal.clock.advance(days=1)
    code, problem = await report(postal, order["id"], "returning")
    assert (code, problem["code"]) == (422, "delivery_attempts_required")
    assert (await postal.order(order["id"]))["status"] == "created"


async def test_a_second_attempt_over_the_weekend_is_too_soon(postal: Postal) -> None:
    order = await postal.book()
    postal.clock.advance(days=5)  # Friday 27/11
    assert (await report(postal, order["id"], "delivery_failed"))[0] == 201
    postal.clock.advance(days=3)  # Monday 30/11: one working day later
    code, problem = await report(postal, order["id"], "delivery_failed")
    assert (code, problem["code"]) == (422, "delivery_attempt_too_soon")
    view = await postal.order(order["id"])
    assert [e["status"] for e in view["events"]].count("delivery_failed") == 1

    postal.clock.advance(days=1)  # Tuesday 1/12: two working days after Friday
    assert (await report(postal, order["id"], "delivery_failed"))[0] == 201


async def test_a_pickup_is_not_held_to_the_delivery_rule(postal: Postal) -> None:
    order = await postal.book(leg="pickup")
    postal.clock.advance(days=1)
    status, answer = await report(postal, order["id"], "return_pending")
    assert status == 201, answer


async def test_a_carrier_return_that_breaks_the_rule_is_applied_and_flagged(
    postal: Postal,
) -> None:
    order = await postal.book()
    item = order["tracking_number"]
    postal.clock.advance(days=1)
    await postal.advance(item, 15)  # delivery failed
    postal.clock.advance(hours=3)
    await postal.advance(item, 16)  # waiting to return, after one attempt

    view = await postal.order(order["id"])
    assert view["status"] == "return_pending"
    assert view["review_reason"] == "delivery_attempts_rule"
    assert [e["status"] for e in view["events"]][-2:] == ["delivery_failed", "return_pending"]


async def test_a_carrier_return_that_keeps_the_rule_is_not_flagged(postal: Postal) -> None:
    order = await postal.book()
    item = order["tracking_number"]
    postal.clock.advance(days=1)
    await postal.advance(item, 15)
    postal.clock.advance(days=2)
    await postal.advance(item, 15)
    postal.clock.advance(hours=1)
    await postal.advance(item, 16)
    view = await postal.order(order["id"])
    assert (view["status"], view["review_reason"]) == ("return_pending", None)


def vn(day: int, hour: int = 9) -> datetime:
    """A moment of December 2026 in Vietnam time (UTC+7)."""
    return datetime(2026, 12, day, hour - 7, tzinfo=UTC)


def test_working_days_count_in_vietnam_time_and_skip_listed_holidays() -> None:
    # Wednesday 2/12 and Friday 4/12: Thursday and Friday.
    assert attempts.working_days_between(vn(2), vn(4)) == 2
    # Friday 23:30 in Vietnam is still Friday though it is 16:30 UTC; Monday is one day on.
    assert attempts.working_days_between(vn(4, 23), vn(7)) == 1
    # A listed holiday on Thursday 3/12 is not a working day.
    assert attempts.working_days_between(vn(2), vn(4), holidays=[date(2026, 12, 3)]) == 1


def test_the_rule_judges_only_attempts_and_returns() -> None:
    assert attempts.breach([], PostalStatus.DELIVERED, vn(2)) is None
    assert attempts.breach([], PostalStatus.DELIVERY_FAILED, vn(2)) is None
    assert attempts.breach([vn(2), vn(4)], PostalStatus.RETURNED, vn(4, 15)) is None
    assert attempts.breach([vn(2), vn(3)], PostalStatus.RETURNED, vn(9)) == (
        attempts.ATTEMPTS_REQUIRED
    )
