"""The same-day summary of receipts to the tax authority (form 01/TH-BLĐT).

NĐ 254/2026 Điều 29.3.b and TT 91/2026 Điều 4.6.d (``/work/shared/specs/e-receipts.md`` §6):
per agency (tax code) and business day (Asia/Ho_Chi_Minh), a signed table of the receipts
issued, replaced and notified that day goes to the tax authority. Here:

- :meth:`DailySummaries.build_due` builds and signs, for every agency that issues receipts
  through the gateway, the summary of each past day (``tax_authority.lookback_days``) that has
  receipts and no summary yet. A day without receipts gets no summary: the duty arises from
  issuing a receipt (spec §6, "after issuing … on the same day"), so there is nothing to send.
- :meth:`DailySummaries.send_due` claims the summaries due (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, then ``next_try_at`` moved past the send) and sends each through the
  :class:`~providers.receipts.tax_authority.TaxAuthorityClient`. Accepted → ``accepted`` with
  the tax authority's reference. Rejected → ``rejected`` with its reasons and an alert
  (``receipt_summary_rejected``); staff fix the cause and send the day again, which builds a
  new revision. No answer (timeout, 5xx, outage) → the *same message* (same id) is sent
  again with back-off, and a technical outage is recorded from the first failed try to the
  answer that ends it; the backlog must reach the tax authority within 3 working days after
  the fix (NĐ 254 Điều 27, spec §5), which :func:`outage_deadline` states.
- One accepted summary per agency and day: sending an accepted day again is refused
  (:class:`~gateway.core.errors.SummaryAlreadyAccepted`) unless it is an explicit correction,
  a new revision that names the accepted one (``correction_of``).

Column (9) "Trạng thái" takes values the spec marks unverified (§12.2): :data:`ROW_STATUSES`
holds the texts used, in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from uuid import UUID, uuid4

import structlog
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from config import ReceiptSettings
from config.settings import TaxAuthoritySettings
from gateway.core.db import Database
from gateway.core.db.schema import agencies, receipt_summaries, receipts
from gateway.core.errors import (
    SummaryAlreadyAccepted,
    SummaryDayNotOver,
    SummaryEmpty,
    TaxAuthorityNotConfigured,
)
from gateway.core.fields import iso
from gateway.core.ids import Clock, new_id
from gateway.core.machines import StaleStatus
from gateway.core.postal.attempts import is_working_day
from gateway.core.statuses import RECEIPT_SUMMARIES, ReceiptStatus, ReceiptSummaryStatus
from gateway.services.payments import decode_cursor, encode_cursor
from gateway.services.receipts.issuance import BUSINESS_TZ
from providers.receipts.document import RelatedReceipt
from providers.receipts.errors import ReceiptError
from providers.receipts.signer import SigningIdentity, sign_xml
from providers.receipts.summary import DailySummary, SummaryRow, build_summary_xml
from providers.receipts.tax_authority import (
    Accepted,
    Answer,
    TaxAuthorityClient,
    TaxAuthorityError,
    message_id,
)

log = structlog.get_logger(__name__)

#: Column (9) of a row, by why the receipt is on the day's table ([U], spec §12.2).
ROW_STATUSES: Final = {"new": "Mới", "replacement": "Thay thế", "notified": "Sai sót đã thông báo"}
#: The statuses of a summary as finance staff read them (console, CLI).
STATUS_LABELS: Final = {
    ReceiptSummaryStatus.UNSENT: "Chưa gửi được",
    ReceiptSummaryStatus.ACCEPTED: "Cơ quan thuế đã tiếp nhận",
    ReceiptSummaryStatus.REJECTED: "Cơ quan thuế từ chối",
    ReceiptSummaryStatus.FAILED: "Không gửi được (thông điệp không hợp lệ)",
    ReceiptSummaryStatus.SUPERSEDED: "Đã thay bằng lần gửi sau",
}
#: Working days after the end of a technical outage within which the backlog must be sent
#: (NĐ 254/2026 Điều 27).
OUTAGE_WORKING_DAYS: Final = 3
#: Send outcomes counted by ``gateway_receipt_summary_sends{agency,outcome}``.
OUTCOMES: Final = ("accepted", "rejected", "timeout", "unavailable", "failed")
OPEN_STATUSES: Final = (
    ReceiptSummaryStatus.UNSENT,
    ReceiptSummaryStatus.REJECTED,
    ReceiptSummaryStatus.FAILED,
)
_NO_ANSWER: Final = {"outcome_unknown": "timeout", "malformed": "timeout"}


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


@dataclass(frozen=True)
class SummaryAlerts:
    """Told of each send's outcome (the metric ``gateway_receipt_summary_sends``)."""

    sent: Callable[[str, str], None] = lambda agency, outcome: None


class DailySummaries:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: ReceiptSettings,
        tax_authority: TaxAuthoritySettings,
        identity: Callable[[str], SigningIdentity | None],
        client: TaxAuthorityClient | None,
        alerts: SummaryAlerts | None = None,
        uuids: Callable[[], UUID] = uuid4,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.tax_authority = tax_authority
        #: The signing identity of an agency code (the one its receipts are signed with).
        self.identity = identity
        self.client = client
        self.alerts = alerts or SummaryAlerts()
        self.uuids = uuids

    # -- the background loop ------------------------------------------------------------

    async def run_once(self) -> int:
        """Build the summaries of past days that are due, then send what is due."""
        built = await self.build_due()
        return built + await self.send_due()

    async def build_due(self) -> int:
        now = self.clock()
        today = now.astimezone(BUSINESS_TZ).date()
        days = [today - timedelta(days=n) for n in range(self.tax_authority.lookback_days, 0, -1)]
        built = 0
        for code, agency_id in await self._agencies():
            async with self.db.read() as conn:
                summarised = set(
                    (
                        await conn.execute(
                            select(receipt_summaries.c.business_date).where(
                                receipt_summaries.c.agency_id == agency_id,
                                receipt_summaries.c.business_date >= days[0],
                            )
                        )
                    ).scalars()
                )
            for day in days:
                if day in summarised:
                    continue
                async with self.db.write() as conn:
                    built += await self._build(conn, code, agency_id, day, 1, None) is not None
        return built

    async def send_due(self, batch: int = 20) -> int:
        if self.client is None:
            return 0
        now = self.clock()
        async with self.db.write() as conn:
            claimed = list(
                (
                    await conn.execute(
                        select(receipt_summaries.c.id)
                        .where(
                            receipt_summaries.c.status == ReceiptSummaryStatus.UNSENT.value,
                            or_(
                                receipt_summaries.c.next_try_at.is_(None),
                                receipt_summaries.c.next_try_at <= now,
                            ),
                        )
                        .order_by(receipt_summaries.c.business_date, receipt_summaries.c.created_at)
                        .limit(batch)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            await self._lease(conn, claimed, now)
        for summary_id in claimed:
            await self._send(summary_id)
        return len(claimed)

    # -- staff: show and send now (the CLI) ---------------------------------------------

    def agency_codes(self) -> list[str]:
        return sorted(self.settings.agencies)

    async def show(self, day: date, agency_code: str | None = None) -> list[dict[str, Any]]:
        """Every revision of the day's summaries, oldest first, with what a new one would hold
        now (``rows``: the table as it would be built)."""
        conditions: list[ColumnElement[bool]] = [receipt_summaries.c.business_date == day]
        if agency_code:
            conditions.append(agencies.c.code == agency_code)
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(*SUMMARY_COLUMNS)
                    .join(agencies, agencies.c.id == receipt_summaries.c.agency_id)
                    .where(*conditions)
                    .order_by(agencies.c.code, receipt_summaries.c.revision)
                )
            ).all()
        return [summary_view(row) for row in rows]

    async def rows_of(self, day: date, agency_code: str) -> list[SummaryRow]:
        """The table of the agency's day as it would be built now."""
        agency_id = dict(await self._agencies()).get(agency_code)
        if agency_id is None:
            return []
        async with self.db.read() as conn:
            return await summary_rows(conn, agency_id, day)

    async def send_now(
        self, day: date, agency_code: str, *, correction: bool = False
    ) -> dict[str, Any]:
        """Send the agency's summary of ``day`` now: the unsent one again, or a new revision
        after a rejection (or, with ``correction``, after an acceptance). Returns its view."""
        if self.client is None:
            raise TaxAuthorityNotConfigured()
        now = self.clock()
        if day >= now.astimezone(BUSINESS_TZ).date():
            raise SummaryDayNotOver(f"{day.isoformat()} is not over in Asia/Ho_Chi_Minh")
        agency_id = dict(await self._agencies()).get(agency_code)
        if agency_id is None:
            raise SummaryEmpty(f"{agency_code} issues no receipts through the gateway")
        async with self.db.write() as conn:
            latest = (
                await conn.execute(
                    select(receipt_summaries)
                    .where(
                        receipt_summaries.c.agency_id == agency_id,
                        receipt_summaries.c.business_date == day,
                    )
                    .order_by(receipt_summaries.c.revision.desc())
                    .limit(1)
                    .with_for_update()
                )
            ).first()
            summary_id = await self._next_to_send(
                conn, latest, agency_code, agency_id, day, correction
            )
            await self._lease(conn, [summary_id], now)
        await self._send(summary_id)
        return await self.get(summary_id)

    async def _next_to_send(
        self,
        conn: AsyncConnection,
        latest: Any,
        agency_code: str,
        agency_id: int,
        day: date,
        correction: bool,
    ) -> str:
        if latest is not None and latest.status == ReceiptSummaryStatus.UNSENT:
            return str(latest.id)  # the same message again
        if latest is not None and latest.status == ReceiptSummaryStatus.ACCEPTED and not correction:
            raise SummaryAlreadyAccepted(
                f"the summary of {day.isoformat()} was accepted ({latest.reference})"
            )
        correction_of = None
        if latest is not None and latest.status in OPEN_STATUSES:  # rejected or failed
            await RECEIPT_SUMMARIES.move(
                conn,
                latest.id,
                ReceiptSummaryStatus(latest.status),
                ReceiptSummaryStatus.SUPERSEDED,
                updated_at=self.clock(),
            )
        elif latest is not None:
            correction_of = await self._accepted_of(conn, agency_id, day)
        revision = latest.revision + 1 if latest is not None else 1
        built = await self._build(conn, agency_code, agency_id, day, revision, correction_of)
        if built is None:
            raise SummaryEmpty(f"no receipt of {agency_code} on {day.isoformat()}")
        return built

    # -- finance: the API, the dashboard and day close ----------------------------------

    async def get(self, summary_id: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(*SUMMARY_COLUMNS)
                    .join(agencies, agencies.c.id == receipt_summaries.c.agency_id)
                    .where(receipt_summaries.c.id == summary_id)
                )
            ).one()
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
            after_created, after_id = decode_cursor(cursor, "rsm_")
            conditions.append(
                or_(
                    receipt_summaries.c.created_at < after_created,
                    and_(
                        receipt_summaries.c.created_at == after_created,
                        receipt_summaries.c.id < after_id,
                    ),
                )
            )
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(*SUMMARY_COLUMNS)
                    .join(agencies, agencies.c.id == receipt_summaries.c.agency_id)
                    .where(*conditions)
                    .order_by(receipt_summaries.c.created_at.desc(), receipt_summaries.c.id.desc())
                    .limit(limit + 1)
                )
            ).all()
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
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(*SUMMARY_COLUMNS)
                    .join(agencies, agencies.c.id == receipt_summaries.c.agency_id)
                    .where(*conditions)
                    .order_by(receipt_summaries.c.business_date, agencies.c.code)
                )
            ).all()
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

    # -- building and sending -----------------------------------------------------------

    async def _agencies(self) -> list[tuple[str, int]]:
        """(code, id) of the agencies that issue receipts through the gateway."""
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(agencies.c.code, agencies.c.id).where(
                    agencies.c.code.in_(sorted(self.settings.agencies))
                )
            )
            return sorted((row.code, row.id) for row in rows)

    async def _accepted_of(self, conn: AsyncConnection, agency_id: int, day: date) -> str | None:
        return (
            await conn.execute(
                select(receipt_summaries.c.id)
                .where(
                    receipt_summaries.c.agency_id == agency_id,
                    receipt_summaries.c.business_date == day,
                    receipt_summaries.c.status == ReceiptSummaryStatus.ACCEPTED.value,
                )
                .order_by(receipt_summaries.c.revision.desc())
                .limit(1)
            )
        ).scalar()

    async def _build(
        self,
        conn: AsyncConnection,
        agency_code: str,
        agency_id: int,
        day: date,
        revision: int,
        correction_of: str | None,
    ) -> str | None:
        """Build, sign and store revision ``revision`` of the day's summary; ``None`` for a
        day without receipts, a signature that cannot be made now (alerted, tried again by
        the loop), or a revision another process stored first."""
        rows = await summary_rows(conn, agency_id, day)
        if not rows:
            return None
        config = self.settings.agencies[agency_code]
        identity = self.identity(agency_code)
        now = self.clock()
        summary = DailySummary(config.legal_name, config.tax_code, day, tuple(rows), now)
        try:
            if identity is None:  # the gateway does not sign for it: nothing it issued
                return None
            signed = sign_xml(build_summary_xml(summary), identity, now)
        except ReceiptError as exc:
            log.error(
                "receipt_summary_unsigned",
                agency_code=agency_code,
                business_date=day.isoformat(),
                reason=exc.code,
            )
            return None
        uuid, summary_id = self.uuids(), new_id("rsm")
        inserted = await RECEIPT_SUMMARIES.insert_unless_taken(
            conn,
            ("agency_id", "business_date", "revision"),
            ReceiptSummaryStatus.UNSENT,
            id=summary_id,
            agency_id=agency_id,
            tax_code=config.tax_code,
            business_date=day,
            revision=revision,
            correction_of=correction_of,
            row_count=len(rows),
            amount=sum(row.amount for row in rows),
            signed_xml=signed.decode("utf-8"),
            message_uuid=uuid.hex,
            message_id=message_id(self.tax_authority.sender_code, uuid),
            attempts=0,
            next_try_at=now,
            created_at=now,
            updated_at=now,
        )
        if not inserted:
            return None
        log.info(
            "receipt_summary_built",
            summary_id=summary_id,
            agency_code=agency_code,
            business_date=day.isoformat(),
            revision=revision,
            rows=len(rows),
        )
        return summary_id

    async def _lease(self, conn: AsyncConnection, ids: list[str], now: datetime) -> None:
        """Keep claimed summaries from other processes while they are being sent."""
        if ids:
            lease = timedelta(seconds=self.tax_authority.timeout_seconds * 2 + 60)
            await conn.execute(
                update(receipt_summaries)
                .where(receipt_summaries.c.id.in_(ids))
                .values(next_try_at=now + lease)
            )

    async def _send(self, summary_id: str) -> None:
        assert self.client is not None  # the callers check
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(*SUMMARY_COLUMNS)
                    .join(agencies, agencies.c.id == receipt_summaries.c.agency_id)
                    .where(receipt_summaries.c.id == summary_id)
                )
            ).one()
        if row.status != ReceiptSummaryStatus.UNSENT:
            return
        answer: Answer | TaxAuthorityError
        try:
            message = self.client.summary_message(
                row.signed_xml.encode("utf-8"),
                tax_code=row.tax_code.replace("-", ""),
                uuid=UUID(hex=row.message_uuid),
            )
            answer = await self.client.send(message)
        except TaxAuthorityError as exc:
            answer = exc
        try:
            async with self.db.write() as conn:
                outcome = await self._record(conn, row, answer, self.clock())
        except StaleStatus:
            return  # another process recorded this summary's answer first
        self.alerts.sent(row.agency_code, outcome)

    async def _record(
        self, conn: AsyncConnection, row: Any, answer: Answer | TaxAuthorityError, now: datetime
    ) -> str:
        """Store the answer (or its absence) of one send; return the outcome counted."""
        facts = {
            "summary_id": row.id,
            "agency_code": row.agency_code,
            "business_date": row.business_date.isoformat(),
            "message_id": row.message_id,
        }
        attempts = row.attempts + 1
        ended = now if row.outage_started_at is not None else None
        unsent = ReceiptSummaryStatus.UNSENT
        if isinstance(answer, Accepted):
            await RECEIPT_SUMMARIES.move(
                conn,
                row.id,
                unsent,
                ReceiptSummaryStatus.ACCEPTED,
                reference=answer.reference,
                attempts=attempts,
                last_error=None,
                outage_ended_at=ended,
                updated_at=now,
            )
            log.info("receipt_summary_accepted", reference=answer.reference, **facts)
            return "accepted"
        if isinstance(answer, TaxAuthorityError):
            if answer.code in ("too_large", "invalid_message"):
                await RECEIPT_SUMMARIES.move(
                    conn,
                    row.id,
                    unsent,
                    ReceiptSummaryStatus.FAILED,
                    attempts=attempts,
                    last_error=answer.code,
                    updated_at=now,
                )
                log.error("receipt_summary_failed", reason=answer.code, **facts)
                return "failed"
            wait = min(
                self.tax_authority.retry_seconds * 2 ** (attempts - 1),
                self.tax_authority.max_retry_seconds,
            )
            await conn.execute(
                update(receipt_summaries)
                .where(
                    receipt_summaries.c.id == row.id,
                    receipt_summaries.c.status == unsent.value,
                )
                .values(
                    attempts=attempts,
                    last_error=answer.code,
                    next_try_at=now + timedelta(seconds=wait),
                    outage_started_at=row.outage_started_at or now,
                    updated_at=now,
                )
            )
            log.warning(
                "receipt_summary_unanswered", reason=answer.code, attempts=attempts, **facts
            )
            return _NO_ANSWER.get(answer.code, "unavailable")
        reasons = [{"code": reason.code, "message": reason.message_vi} for reason in answer.reasons]
        await RECEIPT_SUMMARIES.move(
            conn,
            row.id,
            unsent,
            ReceiptSummaryStatus.REJECTED,
            reasons=reasons,
            attempts=attempts,
            last_error=None,
            outage_ended_at=ended,
            updated_at=now,
        )
        # An alert: finance must correct the cause and send the day again.
        log.error("receipt_summary_rejected", reasons=[r["code"] for r in reasons], **facts)
        return "rejected"


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
    # A notified receipt keeps no time of notice of its own: its last change is it.
    notified = (
        await conn.execute(
            select(receipts)
            .where(
                receipts.c.agency_id == agency_id,
                receipts.c.provider == "gateway",
                receipts.c.status == ReceiptStatus.ERROR_NOTIFIED.value,
                receipts.c.updated_at >= start,
                receipts.c.updated_at < end,
            )
            .order_by(receipts.c.updated_at, receipts.c.number)
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
