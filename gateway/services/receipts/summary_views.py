"""Same-day receipt summaries as finance staff see them (the API, the dashboard, the CLI and
the warnings of day close): the read side of :class:`.daily_summary.DailySummaries`."""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from sqlalchemy import ColumnElement, select

from config import ReceiptSettings
from gateway.core.db import Database
from gateway.core.db.schema import agencies, receipt_summaries
from gateway.core.fields import iso
from gateway.core.statuses import ReceiptSummaryStatus
from gateway.services.payments import after_cursor, encode_cursor
from gateway.services.receipts.summary_table import outage_deadline, summary_rows
from providers.receipts.summary import SummaryRow

#: The statuses of a summary as finance staff read them (console, CLI).
STATUS_LABELS: Final = {
    ReceiptSummaryStatus.UNSENT: "Chưa gửi được",
    ReceiptSummaryStatus.ACCEPTED: "Cơ quan thuế đã tiếp nhận",
    ReceiptSummaryStatus.REJECTED: "Cơ quan thuế từ chối",
    ReceiptSummaryStatus.FAILED: "Không gửi được (thông điệp không hợp lệ)",
    ReceiptSummaryStatus.SUPERSEDED: "Đã thay bằng lần gửi sau",
}
OPEN_STATUSES: Final = (
    ReceiptSummaryStatus.UNSENT,
    ReceiptSummaryStatus.REJECTED,
    ReceiptSummaryStatus.FAILED,
)


def summary_view(row: Any) -> dict[str, Any]:
    """The API view of a summary row (joined with its agency's code)."""
    outage = None
    if row.outage_started_at is not None:
        ended = row.outage_ended_at
        outage = {
            "started_at": iso(row.outage_started_at),
            "ended_at": iso(ended),
            "deadline": outage_deadline(ended).isoformat() if ended else None,
        }
    return {
        "id": row.id,
        "agency_code": row.agency_code,
        "tax_code": row.tax_code,
        "business_date": row.business_date.isoformat(),
        "revision": row.revision,
        "correction_of": row.correction_of,
        "status": row.status,
        "row_count": row.row_count,
        "amount": row.amount,
        "message_id": row.message_id,
        "attempts": row.attempts,
        "next_try_at": iso(row.next_try_at) if row.status == ReceiptSummaryStatus.UNSENT else None,
        "last_error": row.last_error,
        "reasons": list(row.reasons or []),
        "reference": row.reference,
        "outage": outage,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


SUMMARY_COLUMNS = (receipt_summaries, agencies.c.code.label("agency_code"))


class SummaryReads:
    db: Database
    settings: ReceiptSettings

    def agency_codes(self) -> list[str]:
        return sorted(self.settings.agencies)

    async def show(self, day: date, agency_code: str | None = None) -> list[dict[str, Any]]:
        """Every revision of the day's summaries, oldest first, with what a new one would hold
        now (``rows``: the table as it would be built)."""
        conditions: list[ColumnElement[bool]] = [receipt_summaries.c.business_date == day]
        if agency_code:
            conditions.append(agencies.c.code == agency_code)
        rows = await self._views(conditions, agencies.c.code, receipt_summaries.c.revision)
        return [summary_view(row) for row in rows]

    async def rows_of(self, day: date, agency_code: str) -> list[SummaryRow]:
        """The table of the agency's day as it would be built now."""
        agency_id = dict(await self._agencies()).get(agency_code)
        if agency_id is None:
            return []
        async with self.db.read() as conn:
            return await summary_rows(conn, agency_id, day)

    async def get(self, summary_id: str) -> dict[str, Any]:
        [row] = await self._views([receipt_summaries.c.id == summary_id])
        return summary_view(row)

    async def list_page(
        self,
        agency_ids: frozenset[int],
        *,
        all_agencies: bool = False,
        business_date: date | None = None,
        agency_code: str | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Summaries of the caller's agencies, newest first, with a cursor."""
        conditions: list[ColumnElement[bool]] = []
        if not all_agencies:
            conditions.append(receipt_summaries.c.agency_id.in_(sorted(agency_ids)))
        if business_date:
            conditions.append(receipt_summaries.c.business_date == business_date)
        if agency_code:
            conditions.append(agencies.c.code == agency_code)
        if status:
            conditions.append(receipt_summaries.c.status == status)
        if cursor:
            conditions.append(
                after_cursor(receipt_summaries.c.created_at, receipt_summaries.c.id, cursor, "rsm_")
            )
        rows = await self._views(
            conditions,
            receipt_summaries.c.created_at.desc(),
            receipt_summaries.c.id.desc(),
            limit=limit + 1,
        )
        page = rows[:limit]
        more = len(rows) > limit
        return {
            "data": [summary_view(row) for row in page],
            "next_cursor": encode_cursor(page[-1].created_at, page[-1].id) if more else None,
        }

    async def open_items(
        self, agency_ids: frozenset[int], *, all_agencies: bool = False, day: date | None = None
    ) -> list[dict[str, Any]]:
        """Summaries not accepted yet (unsent, rejected, failed), oldest day first: for the
        finance dashboard, and the warnings of day close (``day``: that day's only)."""
        conditions: list[ColumnElement[bool]] = [
            receipt_summaries.c.status.in_([status.value for status in OPEN_STATUSES])
        ]
        if not all_agencies:
            conditions.append(receipt_summaries.c.agency_id.in_(sorted(agency_ids)))
        if day is not None:
            conditions.append(receipt_summaries.c.business_date == day)
        rows = await self._views(conditions, receipt_summaries.c.business_date, agencies.c.code)
        return [summary_view(row) for row in rows]

    async def close_warnings(
        self, day: date, agency_ids: frozenset[int] = frozenset(), *, all_agencies: bool = True
    ) -> list[dict[str, Any]]:
        """What day close warns of (it does not block): the day's summaries not accepted,
        and agencies with receipts that day and no summary yet."""
        open_items = await self.open_items(agency_ids, all_agencies=all_agencies, day=day)
        warnings = [
            {
                "code": "receipt_summary_unsent",
                "agency_code": item["agency_code"],
                "business_date": item["business_date"],
                "status": item["status"],
                "summary_id": item["id"],
            }
            for item in open_items
        ]
        for code, agency_id in await self._agencies():
            if not all_agencies and agency_id not in agency_ids:
                continue
            async with self.db.read() as conn:
                found = (
                    await conn.execute(
                        select(receipt_summaries.c.id).where(
                            receipt_summaries.c.agency_id == agency_id,
                            receipt_summaries.c.business_date == day,
                        )
                    )
                ).first()
                if found is None and await summary_rows(conn, agency_id, day):
                    warnings.append(
                        {
                            "code": "receipt_summary_unsent",
                            "agency_code": code,
                            "business_date": day.isoformat(),
                            "status": None,
                            "summary_id": None,
                        }
                    )
        return warnings

    async def _views(
        self, conditions: list[ColumnElement[bool]], *order: Any, limit: int | None = None
    ) -> list[Any]:
        """Summary rows (with their agency's code) matching ``conditions``, in ``order``."""
        statement = (
            select(*SUMMARY_COLUMNS)
            .join(agencies, agencies.c.id == receipt_summaries.c.agency_id)
            .where(*conditions)
            .order_by(*order)
        )
        if limit is not None:
            statement = statement.limit(limit)
        async with self.db.read() as conn:
            return list((await conn.execute(statement)).all())

    async def _agencies(self) -> list[tuple[str, int]]:
        """(code, id) of the agencies that issue receipts through the gateway."""
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(agencies.c.code, agencies.c.id).where(
                    agencies.c.code.in_(sorted(self.settings.agencies))
                )
            )
            return sorted((row.code, row.id) for row in rows)
