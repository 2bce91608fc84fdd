"""The rows of an agency's same-day summary (form 01/TH-BLĐT, spec §6) from its receipts,
and the dates around it: a business day's bounds, the deadline after a technical outage."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db.schema import receipt_corrections, receipts
from gateway.core.postal.attempts import is_working_day
from gateway.core.statuses import DecisionStatus
from gateway.services.receipts.correction_rules import NOTIFY
from gateway.services.receipts.issuance import BUSINESS_TZ
from providers.receipts.document import RelatedReceipt
from providers.receipts.summary import SummaryRow

#: Column (9) of a row, by why the receipt is on the day's table ([U], spec §12.2).
ROW_STATUSES: Final = {"new": "Mới", "replacement": "Thay thế", "notified": "Sai sót đã thông báo"}
#: Working days after the end of a technical outage within which the backlog must be sent
#: (NĐ 254/2026 Điều 27).
OUTAGE_WORKING_DAYS: Final = 3


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants a business day (Asia/Ho_Chi_Minh) starts and ends."""
    start = datetime.combine(day, time(), BUSINESS_TZ)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def outage_deadline(fixed_at: datetime) -> date:
    """The last day to send a backlog after a technical outage fixed at ``fixed_at``: the
    third working day after the fix (weekends and public holidays do not count)."""
    day, left = fixed_at.astimezone(BUSINESS_TZ).date(), OUTAGE_WORKING_DAYS
    while left:
        day += timedelta(days=1)
        left -= is_working_day(day)
    return day


async def summary_rows(conn: AsyncConnection, agency_id: int, day: date) -> list[SummaryRow]:
    """The rows of the agency's table for ``day``: each receipt issued that day (``Mới``, or
    ``Thay thế`` with the receipt it replaces in column 11), then each receipt whose error
    was notified that day (04/SS-CTĐT). Receipts of external providers are left out: the
    provider transmits them."""
    start, end = day_bounds(day)
    original = receipts.alias("original")
    issued = (
        await conn.execute(
            select(
                receipts,
                original.c.template_code.label("o_template"),
                original.c.symbol.label("o_symbol"),
                original.c.number.label("o_number"),
                original.c.issued_at.label("o_issued_at"),
            )
            .outerjoin(original, original.c.id == receipts.c.replaces)
            .where(
                receipts.c.agency_id == agency_id,
                receipts.c.provider == "gateway",
                receipts.c.issued_at >= start,
                receipts.c.issued_at < end,
                receipts.c.number.is_not(None),
            )
            .order_by(receipts.c.issued_at, receipts.c.symbol, receipts.c.number)
        )
    ).all()
    # One row per approved notice (04/SS-CTĐT), on the day it was approved: a receipt
    # notified twice, or notified and then replaced, is on each of those days' tables.
    notified = (
        await conn.execute(
            select(receipts)
            .join(receipt_corrections, receipt_corrections.c.receipt_id == receipts.c.id)
            .where(
                receipts.c.agency_id == agency_id,
                receipts.c.provider == "gateway",
                receipt_corrections.c.kind == NOTIFY,
                receipt_corrections.c.status == DecisionStatus.APPROVED.value,
                receipt_corrections.c.decided_at >= start,
                receipt_corrections.c.decided_at < end,
            )
            .order_by(receipt_corrections.c.decided_at, receipts.c.number)
        )
    ).all()
    rows = []
    for row in issued:
        related = None
        if row.replaces is not None and row.o_number is not None:
            related = RelatedReceipt(row.o_template, row.o_symbol, row.o_number, row.o_issued_at)
        rows.append(
            _row(
                row,
                "replacement" if related else "new",
                related,
                row.o_issued_at if related else None,
            )
        )
    rows.extend(_row(row, "notified", None, row.issued_at) for row in notified)
    return rows


def _row(row: Any, why: str, related: RelatedReceipt | None, period: datetime | None) -> SummaryRow:
    return SummaryRow(
        template_code=row.template_code,
        symbol=row.symbol,
        number=row.number,
        issued_on=row.issued_at.astimezone(BUSINESS_TZ).date(),
        fee_name="; ".join(item["description"] for item in row.items),
        amount=row.amount,
        exchange_rate=None,
        status=ROW_STATUSES[why],
        # Column 10: the month (MM/YYYY) of the receipt being corrected.
        correction_period=period.astimezone(BUSINESS_TZ).strftime("%m/%Y") if period else None,
        related=related,
        explanation=None,
        note=None,
    )
