"""Delivery attempts before a result goes back to the agency.

Circular 17/2017/TT-BTTTT Điều 5.2.h (``../shared/specs/vnpost-status-codes.md`` §5.4, and
§6 ``delivery_attempts[]``): a result the postman cannot deliver is returned to the agency only
after **at least two delivery attempts, two working days apart**. Each ``delivery_failed``
event of a delivery-leg order is one attempt. Working days are Monday to Friday in
Asia/Ho_Chi_Minh, less the public holidays listed in ``data/holidays.toml`` (data, possibly
empty, since the observed days are announced yearly). The numbers below are data too.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from gateway.core.postal.orders import DELIVERY_ATTEMPTS_RULE
from providers.common.postal import PostalStatus

#: How many attempts, and how many working days apart.
REQUIRED_ATTEMPTS: Final = 2
WORKING_DAYS_APART: Final = 2
TIMEZONE: Final = ZoneInfo("Asia/Ho_Chi_Minh")

#: Statuses that send the result back to the agency.
RETURN_STATUSES: Final = frozenset(
    {PostalStatus.RETURN_PENDING, PostalStatus.RETURNING, PostalStatus.RETURNED}
)

#: The statuses the rule judges.
RULED_STATUSES: Final = RETURN_STATUSES | {PostalStatus.DELIVERY_FAILED}

#: Error codes (422) for operator reports, and the ``review_reason`` a carrier report that
#: breaks the rule leaves on the order.
ATTEMPTS_REQUIRED: Final = "delivery_attempts_required"
TOO_SOON: Final = "delivery_attempt_too_soon"
ATTEMPTS_RULE_BROKEN: Final = DELIVERY_ATTEMPTS_RULE


def _load_holidays() -> frozenset[date]:
    path = Path(__file__).with_name("data") / "holidays.toml"
    with path.open("rb") as file:
        return frozenset(date.fromisoformat(day) for day in tomllib.load(file)["dates"])


HOLIDAYS: Final = _load_holidays()


def local_day(moment: datetime) -> date:
    return moment.astimezone(TIMEZONE).date()


def is_working_day(day: date, holidays: Iterable[date] = HOLIDAYS) -> bool:
    return day.weekday() < 5 and day not in frozenset(holidays)


def working_days_between(
    first: datetime, later: datetime, holidays: Iterable[date] = HOLIDAYS
) -> int:
    """Working days after ``first``'s day up to and including ``later``'s day (Vietnam
    time): an attempt on Monday and one on Wednesday are 2 apart; Friday and Monday, 1."""
    off = frozenset(holidays)
    start, end = local_day(first), local_day(later)
    count, day = 0, start + timedelta(days=1)
    while day <= end:
        count += is_working_day(day, off)
        day += timedelta(days=1)
    return count


def breach(attempts: Sequence[datetime], status: PostalStatus, at: datetime) -> str | None:
    """What a report of ``status`` at ``at`` breaks, given the earlier attempts of a
    delivery-leg order: :data:`TOO_SOON` for an attempt fewer than two working days after the
    previous one, :data:`ATTEMPTS_REQUIRED` for a return without two attempts two working
    days apart; None when it keeps the rule."""
    earlier = sorted(moment for moment in attempts if moment <= at)
    if status is PostalStatus.DELIVERY_FAILED:
        if earlier and working_days_between(earlier[-1], at) < WORKING_DAYS_APART:
            return TOO_SOON
        return None
    if status in RETURN_STATUSES:
        if len(earlier) < REQUIRED_ATTEMPTS or (
            working_days_between(earlier[0], earlier[-1]) < WORKING_DAYS_APART
        ):
            return ATTEMPTS_REQUIRED
    return None
