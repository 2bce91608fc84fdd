"""Notices of receipt errors sent to the tax authority as their own message (form
04/SS-CTĐT; TT 91/2026 Điều 20, ``/work/shared/specs/e-receipts.md`` §7: an error in the
payer's name or address or the amount in words — "Notify the recipient. Do not re-issue.
Notify the tax office with Mẫu 04/SS-CTĐT").

- :func:`record_notice`, in the transaction that approves a ``notify`` correction, records
  the notice ``pending`` (one per correction, unique ``correction_id``): nothing approved is
  left without its message.
- :meth:`TaxNotices.send_due` (the background loop ``receipt_tax_notices``) claims each
  notice due right before its send (:mod:`.transmission`: the claim of the summaries),
  signs a notice at its first send (the agency's identity, XML-DSig,
  :mod:`providers.receipts.error_notice`) and keeps the signed message, and sends it
  through the
  :class:`~providers.receipts.tax_authority.TaxAuthorityClient`:

  ======================================  ======================  =========================
  answer                                  the notice              alert / metric outcome
  ======================================  ======================  =========================
  ``Accepted(reference)``                 ``accepted``            ``accepted``
  ``Rejected(reasons)``                   ``rejected`` (reasons)  ``receipt_tax_notice_
                                                                  rejected`` (error);
                                                                  ``rejected``
  no answer (timeout, 5xx, unreadable)    ``sent``: the same      ``receipt_tax_notice_
                                          message again after     unanswered``; ``timeout``
                                          the back-off
  not reached (``unavailable``)           stays as it was         likewise; ``unavailable``
  ``too_large``, ``invalid_message``      ``failed``              error; ``failed``
  a signature that cannot be made now     stays ``pending``,      ``receipt_tax_notice_
                                          tried after back-off    unsigned``; ``unsigned``
  ======================================  ======================  =========================

Finance reads every notice (:meth:`TaxNotices.list_page`: ``GET /v1/receipts/tax-notices``,
``gateway receipts notices list``) and deals with a ``rejected`` or ``failed`` one: the
corrected notice is a new ``notify`` correction (maker-checker), and the old one is dismissed
with a reason (:meth:`TaxNotices.dismiss`: kept, audit-logged, no longer warned of).

The day's summary (01/TH-BLĐT) still lists each notice as a row ``Sai sót đã thông báo``
(:mod:`.summary_table`); the separate message is what §7 asks for, the row keeps the day's
table complete. Both are kept until the tax authority says which it wants ([U]).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID, uuid4

import structlog
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from config import ReceiptSettings
from config.settings import TaxAuthoritySettings
from gateway.core.db import Database
from gateway.core.db.schema import agencies, receipt_corrections, receipt_tax_notices, receipts
from gateway.core.errors import (
    FieldError,
    Forbidden,
    NotFound,
    TaxNoticeNotDismissible,
    ValidationFailed,
)
from gateway.core.fields import iso
from gateway.core.ids import Clock, new_id
from gateway.core.machines import StaleStatus
from gateway.core.statuses import TAX_NOTICES, TaxNoticeStatus
from gateway.services.payments import after_cursor, encode_cursor
from gateway.services.receipts.issuance import BUSINESS_TZ
from gateway.services.receipts.summary_table import day_bounds
from gateway.services.receipts.transmission import (
    Claim,
    backoff,
    lease_of,
    send_each,
    still_ours,
)
from gateway.services.resolutions import REASON_MAX
from providers.receipts.error_notice import ErrorNotice, NoticeRow, build_notice_xml
from providers.receipts.errors import InvalidDocument, ReceiptError
from providers.receipts.signer import SigningIdentity, sign_xml
from providers.receipts.tax_authority import (
    Accepted,
    Answer,
    TaxAuthorityClient,
    TaxAuthorityError,
    message_id,
)
from reconciliation.audit import record
from reconciliation.scope import Scope
from reconciliation.workflow import MAKERS, Actor

log = structlog.get_logger(__name__)

#: Send outcomes counted by ``gateway_receipt_tax_notice_sends{agency,outcome}``.
OUTCOMES: Final = ("accepted", "rejected", "timeout", "unavailable", "failed", "unsigned")
_NO_ANSWER: Final = frozenset({"outcome_unknown", "malformed"})
#: A notice is sent (again) in these statuses.
SENDABLE: Final = (TaxNoticeStatus.PENDING, TaxNoticeStatus.SENT)
#: Not accepted yet: the dashboard lists them, day close warns of them.
OPEN_STATUSES: Final = (*SENDABLE, TaxNoticeStatus.REJECTED, TaxNoticeStatus.FAILED)
#: The statuses as finance staff read them (console).
STATUS_LABELS: Final = {
    TaxNoticeStatus.PENDING: "Chưa gửi được",
    TaxNoticeStatus.SENT: "Đã gửi, chưa có trả lời (đang gửi lại)",
    TaxNoticeStatus.ACCEPTED: "Cơ quan thuế đã tiếp nhận",
    TaxNoticeStatus.REJECTED: "Cơ quan thuế từ chối",
    TaxNoticeStatus.FAILED: "Không gửi được (thông điệp không hợp lệ)",
    TaxNoticeStatus.DISMISSED: "Đã xử lý, không gửi lại (kế toán ghi lý do)",
}
#: What finance may dismiss (:meth:`TaxNotices.dismiss`): the tax authority's refusal, or a
#: message that can never be sent as it is.
DISMISSIBLE: Final = (TaxNoticeStatus.REJECTED, TaxNoticeStatus.FAILED)


async def record_notice(conn: AsyncConnection, correction_id: str, receipt: Any, now: Any) -> str:
    """Record the notice of an approved ``notify`` correction of ``receipt``, ``pending``, in
    the approval's transaction; return its id."""
    notice_id = new_id("rtn")
    await TAX_NOTICES.insert(
        conn,
        TaxNoticeStatus.PENDING,
        id=notice_id,
        correction_id=correction_id,
        receipt_id=receipt.id,
        agency_id=receipt.agency_id,
        tax_code=receipt.tax_code,
        attempts=0,
        next_try_at=now,
        created_at=now,
        updated_at=now,
    )
    return notice_id


async def notice_state(conn: AsyncConnection, correction_id: str) -> dict[str, Any] | None:
    """Where the correction's notice stands with the tax authority (the correction's view)."""
    row = (
        await conn.execute(
            select(receipt_tax_notices).where(receipt_tax_notices.c.correction_id == correction_id)
        )
    ).first()
    if row is None:
        return None
    return {"id": row.id, **_sending(row)}


def _sending(row: Any) -> dict[str, Any]:
    """Where a notice's sending stands: in the correction's view and in :func:`notice_view`."""
    return {
        "status": row.status,
        "message_id": row.message_id,
        "attempts": row.attempts,
        "next_try_at": iso(row.next_try_at) if row.status in SENDABLE else None,
        "last_error": row.last_error,
        "reasons": list(row.reasons or []),
        "reference": row.reference,
        "dismissal": (
            {
                "by": row.dismissed_by,
                "at": iso(row.dismissed_at),
                "reason": row.dismissal_reason,
            }
            if row.status == TaxNoticeStatus.DISMISSED
            else None
        ),
    }


@dataclass(frozen=True)
class TaxNoticeAlerts:
    """Told of each send's outcome (the metric ``gateway_receipt_tax_notice_sends``)."""

    sent: Callable[[str, str], None] = lambda agency, outcome: None


NOTICE_COLUMNS = (
    receipt_tax_notices,
    agencies.c.code.label("agency_code"),
    receipts.c.template_code,
    receipts.c.symbol,
    receipts.c.number,
    receipts.c.issued_at,
    receipt_corrections.c.notice,
    receipt_corrections.c.decided_at,
)


def notice_view(row: Any) -> dict[str, Any]:
    """A notice as finance staff see it (dashboard, day close)."""
    return {
        "id": row.id,
        "correction_id": row.correction_id,
        "receipt_id": row.receipt_id,
        "agency_code": row.agency_code,
        "tax_code": row.tax_code,
        "receipt": {
            "template_code": row.template_code,
            "symbol": row.symbol,
            "number": row.number,
            "issued_on": row.issued_at.astimezone(BUSINESS_TZ).date().isoformat(),
        },
        "notified_at": iso(row.decided_at),
        "notified_on": row.decided_at.astimezone(BUSINESS_TZ).date().isoformat(),
        **_sending(row),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


class TaxNotices:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: ReceiptSettings,
        tax_authority: TaxAuthoritySettings,
        identity: Callable[[str], SigningIdentity | None],
        client: TaxAuthorityClient | None,
        alerts: TaxNoticeAlerts | None = None,
        uuids: Callable[[], UUID] = uuid4,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.tax_authority = tax_authority
        #: The signing identity of an agency code (the one its receipts are signed with).
        self.identity = identity
        self.client = client
        self.alerts = alerts or TaxNoticeAlerts()
        self.uuids = uuids

    # -- the background loop ------------------------------------------------------------

    async def send_due(self, batch: int = 20) -> int:
        """Send the notices due, each claimed right before its send (:mod:`.transmission`);
        return how many were claimed."""
        if self.client is None:
            return 0
        return await send_each(
            self.db,
            self.clock,
            receipt_tax_notices,
            [status.value for status in SENDABLE],
            lease_of(self.tax_authority.timeout_seconds),
            (receipt_tax_notices.c.created_at, receipt_tax_notices.c.id),
            batch,
            self._send,
        )

    async def _send(self, held: Claim) -> None:
        assert self.client is not None  # the caller checks
        [row] = await self._views([receipt_tax_notices.c.id == held.id])
        if TaxNoticeStatus(row.status) not in SENDABLE:
            return
        signed, uuid = row.signed_xml, row.message_uuid
        if signed is None:
            made = await self._sign(row, held)
            if made is None:
                return
            signed, uuid = made
        answer: Answer | TaxAuthorityError
        try:
            message = self.client.notice_message(
                signed.encode("utf-8"),
                tax_code=row.tax_code.replace("-", ""),
                uuid=UUID(hex=uuid),
            )
            answer = await self.client.send(message)
        except TaxAuthorityError as exc:
            answer = exc
        try:
            async with self.db.write() as conn:
                if not await still_ours(conn, receipt_tax_notices, held):
                    # The lease ran out during this send and another sender claimed the
                    # notice: it sends the same message and records the answer.
                    log.warning("receipt_tax_notice_claim_lost", notice_id=row.id)
                    return
                outcome = await self._record(conn, row, answer, self.clock())
        except StaleStatus:
            return  # another process recorded this notice's answer first
        self.alerts.sent(row.agency_code, outcome)

    async def _sign(self, row: Any, held: Claim) -> tuple[str, str] | None:
        """Build and sign the notice once, store it with its message id (sent unchanged from
        then on); ``None`` when it cannot be signed: now (a certificate problem, no signing
        identity: alerted, tried after the back-off, the claim given back) or ever (the
        agency no longer configured for receipts, a document the notice's own data makes
        invalid: ``failed``, as a message the tax authority calls invalid)."""
        now = self.clock()
        config = self.settings.agencies.get(row.agency_code)
        identity = self.identity(row.agency_code) if config is not None else None
        reason = "receipts_not_configured" if config is None else "no_signing_identity"
        final = config is None
        if config is not None and identity is not None:
            try:
                document = build_notice_xml(self._notice(row, config.legal_name, now))
            except InvalidDocument as exc:  # the data recorded at approval: it will not change
                reason, final = exc.code, True
            else:
                try:
                    signed = sign_xml(document, identity, now)
                except ReceiptError as exc:
                    reason = exc.code
                else:
                    return await self._store_signed(row, signed, now)
        attempts = row.attempts + 1
        async with self.db.write() as conn:
            if not await still_ours(conn, receipt_tax_notices, held):
                return None  # another sender holds it now: it decides
            if final:
                await TAX_NOTICES.move(
                    conn,
                    row.id,
                    TaxNoticeStatus(row.status),
                    TaxNoticeStatus.FAILED,
                    attempts=attempts,
                    last_error=reason[:32],
                    locked_until=None,
                    updated_at=now,
                )
            else:
                await conn.execute(
                    update(receipt_tax_notices)
                    .where(receipt_tax_notices.c.id == row.id)
                    .values(
                        attempts=attempts,
                        last_error=reason[:32],
                        next_try_at=now + self._backoff(attempts),
                        locked_until=None,
                        updated_at=now,
                    )
                )
        facts = {"notice_id": row.id, "agency_code": row.agency_code, "reason": reason}
        if final:
            log.error("receipt_tax_notice_failed", **facts)
            self.alerts.sent(row.agency_code, "failed")
        else:
            log.error("receipt_tax_notice_unsigned", **facts)
            self.alerts.sent(row.agency_code, "unsigned")
        return None

    async def _store_signed(self, row: Any, signed: bytes, now: datetime) -> tuple[str, str]:
        """Keep the signed notice and its message id (unless another sender stored its own
        first: then that one is sent); the stored message and uuid."""
        uuid = self.uuids()
        async with self.db.write() as conn:
            await conn.execute(
                update(receipt_tax_notices)
                .where(
                    receipt_tax_notices.c.id == row.id,
                    receipt_tax_notices.c.signed_xml.is_(None),
                )
                .values(
                    signed_xml=signed.decode("utf-8"),
                    message_uuid=uuid.hex,
                    message_id=message_id(self.tax_authority.sender_code, uuid),
                    updated_at=now,
                )
            )
            stored = (
                await conn.execute(
                    select(
                        receipt_tax_notices.c.signed_xml, receipt_tax_notices.c.message_uuid
                    ).where(receipt_tax_notices.c.id == row.id)
                )
            ).one()
        return str(stored.signed_xml), str(stored.message_uuid)

    @staticmethod
    def _notice(row: Any, agency_name: str, now: datetime) -> ErrorNotice:
        """Form 04/SS-CTĐT from the notice data recorded at approval (``correction.notice``)."""
        data = row.notice
        receipt = data["receipt"]
        return ErrorNotice(
            reference=row.id,
            agency_name=agency_name,
            agency_tax_code=row.tax_code,
            notified_on=date.fromisoformat(data["notified_on"]),
            rows=(
                NoticeRow(
                    template_code=receipt["template_code"],
                    symbol=receipt["symbol"],
                    number=receipt["number"],
                    issued_on=date.fromisoformat(receipt["issued_on"]),
                    error_kind="; ".join(error["label"] for error in data["errors"]),
                    reason=data["reason"],
                ),
            ),
            created_at=now,
        )

    def _backoff(self, attempts: int) -> Any:
        return backoff(
            attempts, self.tax_authority.retry_seconds, self.tax_authority.max_retry_seconds
        )

    async def _record(
        self, conn: AsyncConnection, row: Any, answer: Answer | TaxAuthorityError, now: datetime
    ) -> str:
        """Store the answer (or its absence) of one send; return the outcome counted."""
        facts = {"notice_id": row.id, "agency_code": row.agency_code, "message_id": row.message_id}
        attempts = row.attempts + 1
        current = TaxNoticeStatus(row.status)
        done = {"attempts": attempts, "locked_until": None, "updated_at": now}
        if isinstance(answer, Accepted):
            await TAX_NOTICES.move(
                conn,
                row.id,
                current,
                TaxNoticeStatus.ACCEPTED,
                reference=answer.reference,
                last_error=None,
                **done,
            )
            log.info("receipt_tax_notice_accepted", reference=answer.reference, **facts)
            return "accepted"
        if isinstance(answer, TaxAuthorityError):
            if answer.code in ("too_large", "invalid_message"):
                await TAX_NOTICES.move(
                    conn, row.id, current, TaxNoticeStatus.FAILED, last_error=answer.code, **done
                )
                log.error("receipt_tax_notice_failed", reason=answer.code, **facts)
                return "failed"
            retry = {"last_error": answer.code, "next_try_at": now + self._backoff(attempts)}
            if answer.code in _NO_ANSWER and current is TaxNoticeStatus.PENDING:
                # It left: the tax authority may hold it. The same message goes again.
                await TAX_NOTICES.move(conn, row.id, current, TaxNoticeStatus.SENT, **retry, **done)
            else:
                await conn.execute(
                    update(receipt_tax_notices)
                    .where(
                        receipt_tax_notices.c.id == row.id,
                        receipt_tax_notices.c.status == current.value,
                    )
                    .values(**retry, **done)
                )
            log.warning(
                "receipt_tax_notice_unanswered", reason=answer.code, attempts=attempts, **facts
            )
            return "timeout" if answer.code in _NO_ANSWER else "unavailable"
        reasons = [{"code": reason.code, "message": reason.message_vi} for reason in answer.reasons]
        await TAX_NOTICES.move(
            conn,
            row.id,
            current,
            TaxNoticeStatus.REJECTED,
            reasons=reasons,
            last_error=None,
            **done,
        )
        # An alert: finance must correct the cause (a new notice is a new correction).
        log.error("receipt_tax_notice_rejected", reasons=[r["code"] for r in reasons], **facts)
        return "rejected"

    # -- finance deals with a rejected or failed notice -----------------------------------

    async def dismiss(self, actor: Actor, notice_id: str, reason: str) -> dict[str, Any]:
        """Dismiss a ``rejected`` or ``failed`` notice (one finance person, with a reason):
        it is kept and listed with who, when and why, and no longer warned of (dashboard,
        day close); audit-logged. A corrected notice is a new ``notify`` correction
        (maker-checker), never a re-send of this message (docs/receipts.md)."""
        if actor.role not in MAKERS:
            raise Forbidden("dismissing a notice to the tax authority needs a finance role")
        reason = reason.strip() if isinstance(reason, str) else ""
        if not reason:
            raise ValidationFailed([FieldError("reason", "required", "say why")])
        if len(reason) > REASON_MAX:
            raise ValidationFailed([FieldError("reason", "too_long", f"≤ {REASON_MAX}")])
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    select(receipt_tax_notices)
                    .where(receipt_tax_notices.c.id == notice_id)
                    .with_for_update()
                )
            ).first()
            if row is None or not actor.scope.covers(row.agency_id):
                raise NotFound("notice not found")
            current = TaxNoticeStatus(row.status)
            if current not in DISMISSIBLE:
                raise TaxNoticeNotDismissible(current.value, TaxNoticeStatus.DISMISSED.value)
            now = self.clock()
            await TAX_NOTICES.move(
                conn,
                row.id,
                current,
                TaxNoticeStatus.DISMISSED,
                dismissed_by=actor.id,
                dismissed_at=now,
                dismissal_reason=reason,
                locked_until=None,
                updated_at=now,
            )
            await record(
                conn,
                now,
                actor.id,
                "receipt_tax_notice_dismissed",
                "receipt",
                row.receipt_id,
                {
                    "notice_id": row.id,
                    "correction_id": row.correction_id,
                    "status": current.value,
                    "reasons": list(row.reasons or []),
                    "last_error": row.last_error,
                    "reason": reason,
                },
            )
        log.info("receipt_tax_notice_dismissed", notice_id=notice_id, was=current.value)
        return await self.get(notice_id)

    # -- reading ------------------------------------------------------------------------

    async def list_page(
        self,
        scope: Scope,
        *,
        agency_code: str | None = None,
        status: str | None = None,
        day: date | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Notices of the scope's agencies in every status, newest first, with a cursor;
        ``day``: those approved that day (GMT+7)."""
        conditions: list[ColumnElement[bool]] = [scope.clause(receipt_tax_notices.c.agency_id)]
        if agency_code:
            conditions.append(agencies.c.code == agency_code)
        if status:
            conditions.append(receipt_tax_notices.c.status == status)
        if day is not None:
            start, end = day_bounds(day)
            conditions.append(receipt_corrections.c.decided_at >= start)
            conditions.append(receipt_corrections.c.decided_at < end)
        if cursor:
            conditions.append(
                after_cursor(
                    receipt_tax_notices.c.created_at, receipt_tax_notices.c.id, cursor, "rtn_"
                )
            )
        rows = await self._views(
            conditions,
            order=(receipt_tax_notices.c.created_at.desc(), receipt_tax_notices.c.id.desc()),
            limit=limit + 1,
        )
        page = rows[:limit]
        more = len(rows) > limit
        return {
            "data": [notice_view(row) for row in page],
            "next_cursor": encode_cursor(page[-1].created_at, page[-1].id) if more else None,
        }

    async def get(self, notice_id: str) -> dict[str, Any]:
        [row] = await self._views([receipt_tax_notices.c.id == notice_id])
        return notice_view(row)

    async def of_correction(self, correction_id: str) -> dict[str, Any] | None:
        rows = await self._views([receipt_tax_notices.c.correction_id == correction_id])
        return notice_view(rows[0]) if rows else None

    async def of_day(self, day: date, agency_code: str) -> list[dict[str, Any]]:
        """The agency's notices approved on ``day`` (GMT+7), whatever their status (the CLI)."""
        start, end = day_bounds(day)
        rows = await self._views(
            [
                agencies.c.code == agency_code,
                receipt_corrections.c.decided_at >= start,
                receipt_corrections.c.decided_at < end,
            ]
        )
        return [notice_view(row) for row in rows]

    async def open_items(
        self, agency_ids: frozenset[int], *, all_agencies: bool = False, day: date | None = None
    ) -> list[dict[str, Any]]:
        """Notices not accepted yet, oldest first: for the finance dashboard, and the
        warnings of day close (``day``: those approved that day)."""
        conditions: list[ColumnElement[bool]] = [
            receipt_tax_notices.c.status.in_([status.value for status in OPEN_STATUSES])
        ]
        if not all_agencies:
            conditions.append(receipt_tax_notices.c.agency_id.in_(sorted(agency_ids)))
        if day is not None:
            start, end = day_bounds(day)
            conditions.append(receipt_corrections.c.decided_at >= start)
            conditions.append(receipt_corrections.c.decided_at < end)
        rows = await self._views(conditions)
        return [notice_view(row) for row in rows]

    async def close_warnings(
        self, day: date, agency_ids: frozenset[int] = frozenset(), *, all_agencies: bool = True
    ) -> list[dict[str, Any]]:
        """What day close warns of (it does not block): the notices approved that day that
        the tax authority has not accepted."""
        return [
            {
                "code": "receipt_tax_notice_unsent",
                "agency_code": item["agency_code"],
                "business_date": day.isoformat(),
                "status": item["status"],
                "summary_id": None,
                "notice_id": item["id"],
            }
            for item in await self.open_items(agency_ids, all_agencies=all_agencies, day=day)
        ]

    async def _views(
        self,
        conditions: list[ColumnElement[bool]],
        *,
        order: tuple[Any, ...] = (receipt_tax_notices.c.created_at, receipt_tax_notices.c.id),
        limit: int | None = None,
    ) -> list[Any]:
        statement = (
            select(*NOTICE_COLUMNS)
            .join(agencies, agencies.c.id == receipt_tax_notices.c.agency_id)
            .join(receipts, receipts.c.id == receipt_tax_notices.c.receipt_id)
            .join(
                receipt_corrections,
                receipt_corrections.c.id == receipt_tax_notices.c.correction_id,
            )
            .where(*conditions)
            .order_by(*order)
        )
        if limit is not None:
            statement = statement.limit(limit)
        async with self.db.read() as conn:
            return list((await conn.execute(statement)).all())
