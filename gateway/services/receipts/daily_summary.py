"""The same-day summary of receipts to the tax authority (form 01/TH-BLĐT).

NĐ 254/2026 Điều 29.3.b and TT 91/2026 Điều 4.6.d (``/work/shared/specs/e-receipts.md`` §6):
per agency (tax code) and business day (Asia/Ho_Chi_Minh), a signed table of the receipts
issued, replaced and notified that day goes to the tax authority. Here:

- :meth:`DailySummaries.build_due` builds and signs, for every agency that issues receipts
  through the gateway, the summary of each past day (``tax_authority.lookback_days``) that has
  receipts and no summary yet. A day without receipts gets no summary: the duty arises from
  issuing a receipt (spec §6, "after issuing … on the same day"), so there is nothing to send.
- :meth:`DailySummaries.send_due` sends the summaries due, each claimed right before its own
  send (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, then a conditional UPDATE of
  ``locked_until``; the answer recorded only while the claim is still ours,
  :mod:`.transmission`; the CLI's
  :meth:`~DailySummaries.send_now` takes the same claim, or is refused with
  ``receipt_summary_in_flight``) and sends each through the
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

Column (9) "Trạng thái" takes values the spec marks unverified (§12.2):
:data:`.summary_table.ROW_STATUSES` holds the texts used, in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from uuid import UUID, uuid4

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from config import ReceiptSettings
from config.settings import TaxAuthoritySettings
from gateway.core.db import Database
from gateway.core.db.schema import receipt_summaries
from gateway.core.errors import (
    FieldError,
    ReceiptNotIssuable,
    SummaryAlreadyAccepted,
    SummaryDayNotOver,
    SummaryEmpty,
    SummarySendInFlight,
    TaxAuthorityNotConfigured,
    ValidationFailed,
)
from gateway.core.ids import Clock, new_id
from gateway.core.machines import StaleStatus
from gateway.core.statuses import RECEIPT_SUMMARIES, ReceiptSummaryStatus
from gateway.services.receipts.issuance import BUSINESS_TZ
from gateway.services.receipts.summary_table import summary_rows
from gateway.services.receipts.summary_views import (
    OPEN_STATUSES,
    SummaryReads,
)
from gateway.services.receipts.transmission import (
    Claim,
    backoff,
    claim,
    lease_of,
    send_each,
    still_ours,
)
from providers.receipts.errors import ReceiptError
from providers.receipts.signer import SigningIdentity, sign_xml
from providers.receipts.summary import DailySummary, build_summary_xml
from providers.receipts.tax_authority import (
    Accepted,
    Answer,
    TaxAuthorityClient,
    TaxAuthorityError,
    message_id,
)

log = structlog.get_logger(__name__)

#: Send outcomes counted by ``gateway_receipt_summary_sends{agency,outcome}``.
OUTCOMES: Final = ("accepted", "rejected", "timeout", "unavailable", "failed")
_NO_ANSWER: Final = {"outcome_unknown": "timeout", "malformed": "timeout"}


@dataclass(frozen=True)
class SummaryAlerts:
    """Told of each send's outcome (the metric ``gateway_receipt_summary_sends``)."""

    sent: Callable[[str, str], None] = lambda agency, outcome: None


class DailySummaries(SummaryReads):
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
        today = self._settled_today()
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
                try:
                    async with self.db.write() as conn:
                        built += await self._build(conn, code, agency_id, day, 1, None) is not None
                except (SummaryEmpty, ReceiptNotIssuable):
                    continue  # nothing to send, or signed at a later round (alerted)
        return built

    async def send_due(self, batch: int = 20) -> int:
        """Send the summaries due, each claimed right before its send (:mod:`.transmission`);
        return how many were claimed."""
        if self.client is None:
            return 0
        return await send_each(
            self.db,
            self.clock,
            receipt_summaries,
            [ReceiptSummaryStatus.UNSENT.value],
            self._lease(),
            (receipt_summaries.c.business_date, receipt_summaries.c.created_at),
            batch,
            self._send,
        )

    # -- staff: send now (the CLI) -----------------------------------------------------

    async def send_now(
        self, day: date, agency_code: str, *, correction: bool = False
    ) -> dict[str, Any]:
        """Send the agency's summary of ``day`` now: the unsent one again, or a new revision
        after a rejection (or, with ``correction``, after an acceptance). Returns its view."""
        if self.client is None:
            raise TaxAuthorityNotConfigured()
        now = self.clock()
        if day >= self._settled_today():
            raise SummaryDayNotOver(
                f"{day.isoformat()} is not over in Asia/Ho_Chi_Minh "
                f"(plus {self.tax_authority.build_grace_seconds:g} s for the last receipts)"
            )
        agency_id = dict(await self._agencies()).get(agency_code)
        if agency_id is None:
            raise ValidationFailed(
                [FieldError("agency", "receipts_not_configured", "no [receipts.agencies] entry")]
            )
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
            summary_id, ours = await self._next_to_send(
                conn, latest, agency_code, agency_id, day, correction
            )
            unsent = [ReceiptSummaryStatus.UNSENT.value]
            if ours and not await claim(
                conn, receipt_summaries, [summary_id], unsent, now, self._lease()
            ):
                # The loop holds it (its send is in flight): never a second copy at once.
                raise SummarySendInFlight(
                    f"the summary {summary_id} of {day.isoformat()} is being sent now"
                )
        if ours:
            await self._send(Claim(summary_id, now + self._lease()))
        return await self.get(summary_id)

    async def _next_to_send(
        self,
        conn: AsyncConnection,
        latest: Any,
        agency_code: str,
        agency_id: int,
        day: date,
        correction: bool,
    ) -> tuple[str, bool]:
        """The summary to send now, and whether this call sends it: not when another process
        (the loop) stored the revision first — it sends that one, which is shown."""
        if latest is not None and latest.status == ReceiptSummaryStatus.UNSENT:
            return str(latest.id), True  # the same message again
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
        if built is not None:
            return built, True
        stored = (
            await conn.execute(
                select(receipt_summaries.c.id).where(
                    receipt_summaries.c.agency_id == agency_id,
                    receipt_summaries.c.business_date == day,
                    receipt_summaries.c.revision == revision,
                )
            )
        ).scalar_one()
        return str(stored), False

    # -- building and sending -----------------------------------------------------------

    def _settled_today(self) -> date:
        """The first business day not yet over: a day is over ``build_grace_seconds`` after
        its midnight, once the transactions of receipts issued just before it have committed."""
        grace = timedelta(seconds=self.tax_authority.build_grace_seconds)
        return (self.clock() - grace).astimezone(BUSINESS_TZ).date()

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
        revision another process stored first. A day without receipts is
        :class:`SummaryEmpty`; a signature that cannot be made now (alerted, tried again by
        the loop) is :class:`ReceiptNotIssuable` with the signing problem as ``reason``."""
        rows = await summary_rows(conn, agency_id, day)
        if not rows:
            raise SummaryEmpty(f"no receipt of {agency_code} on {day.isoformat()}")
        config = self.settings.agencies[agency_code]
        now = self.clock()
        summary = DailySummary(config.legal_name, config.tax_code, day, tuple(rows), now)
        signed = self._sign(summary, agency_code, now)
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

    def _sign(self, summary: DailySummary, agency_code: str, now: datetime) -> bytes:
        """The signed table, or :class:`ReceiptNotIssuable` (alerted) with the signing problem."""
        identity = self.identity(agency_code)
        if identity is None:
            reason = "no_signing_identity"
        else:
            try:
                return sign_xml(build_summary_xml(summary), identity, now)
            except ReceiptError as exc:
                reason = exc.code
        log.error(
            "receipt_summary_unsigned",
            agency_code=agency_code,
            business_date=summary.business_date.isoformat(),
            reason=reason,
        )
        raise ReceiptNotIssuable(
            f"the summary of {summary.business_date.isoformat()} cannot be signed now: {reason}",
            reason=reason,
        )

    def _lease(self) -> timedelta:
        return lease_of(self.tax_authority.timeout_seconds)

    async def _send(self, held: Claim) -> None:
        assert self.client is not None  # the callers check
        [row] = await self._views([receipt_summaries.c.id == held.id])
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
                if not await still_ours(conn, receipt_summaries, held):
                    # The lease ran out during this send and another sender claimed the
                    # summary: it sends the same message and records the answer.
                    log.warning("receipt_summary_claim_lost", summary_id=row.id)
                    return
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
                locked_until=None,
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
                    locked_until=None,
                    updated_at=now,
                )
                log.error("receipt_summary_failed", reason=answer.code, **facts)
                return "failed"
            wait = backoff(
                attempts, self.tax_authority.retry_seconds, self.tax_authority.max_retry_seconds
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
                    next_try_at=now + wait,
                    outage_started_at=row.outage_started_at or now,
                    locked_until=None,
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
            locked_until=None,
            updated_at=now,
        )
        # An alert: finance must correct the cause and send the day again.
        log.error("receipt_summary_rejected", reasons=[r["code"] for r in reasons], **facts)
        return "rejected"
