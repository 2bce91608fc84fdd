"""Receipt numbers: gapless and strictly increasing per (tax code, template, symbol), from
disjoint ranges per point of collection used in ascending order.

``/work/shared/specs/e-receipts.md`` §4 and NĐ 254/2026 Điều 23.2.c (at most 8 digits, from 1
each year: the year is in the symbol) and Điều 25.5 (sub-units receive disjoint ranges and use
them in ascending order).

Why gapless: a number is taken (:func:`take_number`) in the same transaction as the payment's
move to ``paid``. On PostgreSQL the point's range rows are locked (``FOR UPDATE``) in the one
lock order of :mod:`gateway.core.money` (payment, its attempts, then this), so concurrent
payments — in any number of processes — queue on them; on SQLite the single writer does the
same. A transaction that rolls back returns its number with it, so no number is skipped, and
the unique key (tax code, template, symbol, number) on ``receipts`` makes a repeat impossible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db.schema import agencies, receipt_ranges
from gateway.core.errors import (
    FieldError,
    ReceiptRangeNotAscending,
    ReceiptRangeOverlaps,
    ValidationFailed,
)

#: NĐ 254/2026 Điều 23.2.c: at most 8 digits.
MAX_NUMBER = 99_999_999


class Point(StrEnum):
    """Where money is collected; each point draws numbers from its own ranges."""

    ONLINE = "online"
    COUNTER = "counter"
    POSTAL = "postal"


#: The point of collection of each payment channel (data: a new channel adds a row).
CHANNEL_POINTS: dict[str, Point] = {
    "vietqr": Point.ONLINE,
    "vnpay": Point.ONLINE,
    "dvcqg": Point.ONLINE,
    "momo": Point.ONLINE,
    "zalopay": Point.ONLINE,
    "pos": Point.COUNTER,
    "cod": Point.POSTAL,
}


def point_of(channel: str) -> Point:
    return CHANNEL_POINTS.get(channel, Point.ONLINE)


@dataclass(frozen=True)
class NewRange:
    agency_code: str
    tax_code: str
    template_code: str
    symbol: str
    point: Point
    first: int
    last: int


async def take_number(
    conn: AsyncConnection, agency_id: int, template_code: str, symbol: str, point: Point
) -> int | None:
    """The next number of the point's lowest range that has one left, taken (inside the
    caller's transaction); ``None`` when every range of the point is used up (or it has
    none). All the point's ranges are locked, in ``first_number`` order, so a range filled up
    by a concurrent transaction is seen as filled (no ``LIMIT`` that a lock wait could empty)."""
    of_point = {
        "agency_id": agency_id,
        "template_code": template_code,
        "symbol": symbol,
        "point": point.value,
    }
    row = _drawn_from((await conn.execute(_RANGES_OF_POINT, of_point)).all())
    if row is None:
        return None
    await conn.execute(_TAKE, {"range_id": row.id, "next_number": row.next_number + 1})
    return int(row.next_number)


# take_number's statements, built once (no per-payment statement construction).
_RANGES_OF_POINT = (
    select(receipt_ranges.c.id, receipt_ranges.c.next_number, receipt_ranges.c.last_number)
    .where(
        receipt_ranges.c.agency_id == bindparam("agency_id"),
        receipt_ranges.c.template_code == bindparam("template_code"),
        receipt_ranges.c.symbol == bindparam("symbol"),
        receipt_ranges.c.point == bindparam("point"),
    )
    .order_by(receipt_ranges.c.first_number)
    .with_for_update()
)
_TAKE = (
    update(receipt_ranges)
    .where(receipt_ranges.c.id == bindparam("range_id"))
    .values(next_number=bindparam("next_number"))
)


def _drawn_from(ranges: Sequence[Any]) -> Any | None:
    """The range a point's next number comes from: its lowest (``ranges`` in
    ``first_number`` order) with numbers left."""
    for row in ranges:
        if row.next_number <= row.last_number:
            return row
    return None


async def next_numbers(
    conn: AsyncConnection, agency_code: str, template_code: str, symbol: str
) -> dict[str, int]:
    """The number each point of the agency would take next for this template and symbol
    (:func:`take_number`'s choice, nothing taken); a point whose ranges are used up, or
    that has none, is left out."""
    rows = (
        await conn.execute(
            select(
                receipt_ranges.c.point, receipt_ranges.c.next_number, receipt_ranges.c.last_number
            )
            .join(agencies, agencies.c.id == receipt_ranges.c.agency_id)
            .where(
                agencies.c.code == agency_code,
                receipt_ranges.c.template_code == template_code,
                receipt_ranges.c.symbol == symbol,
            )
            .order_by(receipt_ranges.c.point, receipt_ranges.c.first_number)
        )
    ).all()
    found: dict[str, int] = {}
    for point in dict.fromkeys(row.point for row in rows):
        row = _drawn_from([row for row in rows if row.point == point])
        if row is not None:
            found[point] = int(row.next_number)
    return found


async def add_range(conn: AsyncConnection, new: NewRange, now: datetime) -> dict[str, Any]:
    """Register a range; refused when it is not 1..99,999,999 with first ≤ last
    (``validation_failed``), overlaps a range of the same tax code, template and symbol
    (``receipt_range_overlaps``), or does not come after the point's earlier ranges of that
    template and symbol (``receipt_range_not_ascending``)."""
    errors = []
    if not 1 <= new.first <= MAX_NUMBER:
        errors.append(FieldError("first", "out_of_range", f"1..{MAX_NUMBER}"))
    if not 1 <= new.last <= MAX_NUMBER:
        errors.append(FieldError("last", "out_of_range", f"1..{MAX_NUMBER}"))
    if not errors and new.first > new.last:
        errors.append(FieldError("last", "before_first", "last must not be below first"))
    # The agency's row first (``FOR UPDATE``), as for delegation agreements: two ranges added
    # at once are checked one after the other — with none there yet, the series lock below
    # locks nothing, and both would pass and overlap (the same number given twice).
    agency_id = (
        await conn.execute(
            select(agencies.c.id).where(agencies.c.code == new.agency_code).with_for_update()
        )
    ).scalar()
    if agency_id is None:
        errors.append(FieldError("agency", "unknown_agency", "no agency has this code"))
    if errors:
        raise ValidationFailed(errors)
    same_series = and_(
        receipt_ranges.c.tax_code == new.tax_code,
        receipt_ranges.c.template_code == new.template_code,
        receipt_ranges.c.symbol == new.symbol,
    )
    existing = (
        await conn.execute(
            select(receipt_ranges)
            .where(same_series)
            .order_by(receipt_ranges.c.first_number)  # the order issuance locks them in
            .with_for_update()
        )
    ).all()
    for row in existing:
        if new.first <= row.last_number and row.first_number <= new.last:
            raise ReceiptRangeOverlaps(
                f"{new.first}..{new.last} overlaps {row.first_number}..{row.last_number} "
                f"({row.point}) of {new.template_code}/{new.symbol}"
            )
        if (
            row.point == new.point.value
            and row.agency_id == agency_id
            and row.first_number > new.first
        ):
            raise ReceiptRangeNotAscending(
                f"the {new.point.value} point already has {row.first_number}..{row.last_number}"
            )
    values = {
        "agency_id": agency_id,
        "tax_code": new.tax_code,
        "template_code": new.template_code,
        "symbol": new.symbol,
        "point": new.point.value,
        "first_number": new.first,
        "last_number": new.last,
        "next_number": new.first,
        "created_at": now,
    }
    range_id = (
        await conn.execute(insert(receipt_ranges).values(values).returning(receipt_ranges.c.id))
    ).scalar_one()
    return {"id": range_id, "agency_code": new.agency_code, **values}


async def list_ranges(
    conn: AsyncConnection, agency_code: str | None = None
) -> list[dict[str, Any]]:
    statement = select(receipt_ranges, agencies.c.code.label("agency_code")).join(
        agencies, agencies.c.id == receipt_ranges.c.agency_id
    )
    if agency_code is not None:
        statement = statement.where(agencies.c.code == agency_code)
    rows = (
        await conn.execute(
            statement.order_by(
                agencies.c.code,
                receipt_ranges.c.symbol,
                receipt_ranges.c.point,
                receipt_ranges.c.first_number,
            )
        )
    ).all()
    return [dict(row._mapping) for row in rows]
