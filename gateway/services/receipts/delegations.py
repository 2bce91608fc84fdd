"""Delegation agreements: the gateway operator issues an agency's receipts as its delegate.

``/work/shared/specs/e-receipts.md`` §8 (NĐ 254/2026 Điều 4.6 and Điều 25): a third party may
issue an agency's receipts under a written agreement that covers the template, the symbol and
the number range, the purpose, the term and the payment method; **both tax offices are
notified at least 3 days before the delegate issues**; the receipt keeps the delegating
agency's name as the collector and shows the delegate's name and address; an early end is
agreed in writing, notified and posted.

The gateway records each agreement (``receipt_delegations``; who recorded or ended it in the
audit log) and, for an agency with ``issued_as = "delegate"``, refuses to number a receipt
that no agreement covers (:func:`usable`, :func:`covering`): the receipt stays ``pending``
with one of the reasons below, and the ``pending_receipts`` loop issues it once an agreement
covers it. Readings the spec leaves open, written down in docs/receipts.md:

- *in force on a day* (Asia/Ho_Chi_Minh): ``valid_from ≤ day ≤ valid_until`` (an open end
  when ``valid_until`` is empty) and ``day < ended_on`` (the early end's day is no longer
  covered);
- *notified at least 3 days before*: the delegate may issue from ``notified_on + 3 days``;
  ``notified_on`` is the later of the two tax offices' days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db.schema import agencies, receipt_delegations, receipts
from gateway.core.errors import (
    FieldError,
    NotFound,
    ReceiptDelegationEnded,
    ReceiptDelegationExists,
    ReceiptDelegationOverlaps,
    ValidationFailed,
)
from gateway.core.ids import new_id
from gateway.services.receipts.numbering import MAX_NUMBER
from reconciliation import audit

BUSINESS_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
#: NĐ 254/2026 Điều 4.6: the tax offices are notified at least 3 days before the delegate issues.
NOTICE_DAYS = 3

#: Why a delegate agency's receipt waits (``receipts.pending_reason``): stable codes.
NO_AGREEMENT = "delegation_no_agreement"
NOT_NOTIFIED = "delegation_not_notified"
OUTSIDE_RANGE = "delegation_outside_range"


@dataclass(frozen=True)
class NewDelegation:
    agency_code: str
    tax_code: str
    template_code: str
    agreement_number: str
    signed_on: date
    valid_from: date
    valid_until: date | None
    symbol: str
    first: int
    last: int
    notified_on: date


def business_day(moment: datetime) -> date:
    return moment.astimezone(BUSINESS_TZ).date()


def in_force(row: Any, day: date) -> bool:
    """The agreement is in force on ``day`` (the module's reading of its term)."""
    if day < row.valid_from:
        return False
    if row.valid_until is not None and day > row.valid_until:
        return False
    return row.ended_on is None or day < row.ended_on


def may_issue_from(row: Any) -> date:
    """The first day the delegate may issue under the agreement: 3 days after both tax
    offices were notified, and not before the agreement takes effect."""
    start: date = row.valid_from
    notified: date = row.notified_on + timedelta(days=NOTICE_DAYS)
    return max(start, notified)


def state_on(row: Any, day: date) -> str:
    """``active``, ``not_notified`` (in force, the 3 days not yet over), ``not_yet_valid``,
    ``expired`` or ``ended`` on ``day``."""
    if row.ended_on is not None and day >= row.ended_on:
        return "ended"
    if row.valid_until is not None and day > row.valid_until:
        return "expired"
    if day < row.valid_from:
        return "not_yet_valid"
    if day < may_issue_from(row):
        return "not_notified"
    return "active"


async def usable(
    conn: AsyncConnection,
    agency_id: int,
    tax_code: str,
    template_code: str,
    symbol: str,
    day: date,
) -> tuple[list[Any], str | None]:
    """The agreements under which the delegate may issue the agency's receipts of this
    tax code (the receipt's, from the agency's config: an agreement covers a number range of
    the collector's sequence, keyed by tax code, template and symbol — spec §4 and §8 — so one
    made under an earlier tax code covers none of them), template and symbol on ``day``,
    locked (after the payment and the receipt, before the
    point's ranges); else ``[]`` and why: :data:`NO_AGREEMENT` (none in force) or
    :data:`NOT_NOTIFIED` (in force, but the tax offices were told less than 3 days ago)."""
    rows = (
        await conn.execute(
            select(receipt_delegations)
            .where(
                receipt_delegations.c.agency_id == agency_id,
                receipt_delegations.c.tax_code == tax_code,
                receipt_delegations.c.template_code == template_code,
                receipt_delegations.c.symbol == symbol,
            )
            .order_by(receipt_delegations.c.first_number)
            .with_for_update()
        )
    ).all()
    current = [row for row in rows if in_force(row, day)]
    if not current:
        return [], NO_AGREEMENT
    notified = [row for row in current if day >= may_issue_from(row)]
    if not notified:
        return [], NOT_NOTIFIED
    return notified, None


def covering(agreements: Sequence[Any], number: int) -> Any | None:
    """The agreement whose number range holds ``number``, if any."""
    for row in agreements:
        if row.first_number <= number <= row.last_number:
            return row
    return None


def _last_day(row: Any) -> date | None:
    """The last day an agreement (a row or a :class:`NewDelegation`-like) is in force."""
    ends = [
        day
        for day in (row.valid_until, row.ended_on - timedelta(days=1) if row.ended_on else None)
        if day is not None
    ]
    return min(ends) if ends else None


def _terms_meet(a_from: date, a_last: date | None, b_from: date, b_last: date | None) -> bool:
    return (a_last is None or b_from <= a_last) and (b_last is None or a_from <= b_last)


async def add_delegation(
    conn: AsyncConnection, new: NewDelegation, actor: str, now: datetime
) -> dict[str, Any]:
    """Record an agreement. Refused: numbers not 1..99,999,999 with first ≤ last, an empty
    or too long agreement number, a term that ends before it starts, an agreement that takes
    effect before it was signed, tax offices notified before the signing, a signing or a
    notification in the future (``validation_failed``); an agreement number the agency has
    already (``receipt_delegation_exists``); an agreement whose numbers and term meet those
    of another agreement of the same tax code, template and symbol
    (``receipt_delegation_overlaps``)."""
    today = business_day(now)
    errors = []
    number = new.agreement_number.strip()
    if not number or len(number) > 64:
        errors.append(FieldError("agreement_number", "invalid", "1..64 characters"))
    if not 1 <= new.first <= MAX_NUMBER:
        errors.append(FieldError("first", "out_of_range", f"1..{MAX_NUMBER}"))
    if not 1 <= new.last <= MAX_NUMBER:
        errors.append(FieldError("last", "out_of_range", f"1..{MAX_NUMBER}"))
    if not errors and new.first > new.last:
        errors.append(FieldError("last", "before_first", "last must not be below first"))
    if new.valid_until is not None and new.valid_until < new.valid_from:
        errors.append(
            FieldError("valid_until", "before_valid_from", "the term ends before it starts")
        )
    if new.valid_from < new.signed_on:
        errors.append(
            FieldError("valid_from", "before_signed", "an agreement takes effect once signed")
        )
    if new.notified_on < new.signed_on:
        errors.append(
            FieldError("notified_on", "before_signed", "the tax offices are told of a signed one")
        )
    for field, day in (("signed_on", new.signed_on), ("notified_on", new.notified_on)):
        if day > today:
            errors.append(FieldError(field, "in_future", f"after today ({today.isoformat()})"))
    # The agency's row first (``FOR UPDATE``): two agreements recorded at once for it are
    # checked one after the other, so both cannot pass the checks below.
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
        receipt_delegations.c.tax_code == new.tax_code,
        receipt_delegations.c.template_code == new.template_code,
        receipt_delegations.c.symbol == new.symbol,
    )
    existing = (
        await conn.execute(
            select(receipt_delegations)
            .where(same_series)
            .order_by(receipt_delegations.c.first_number)  # the order issuance locks them in
            .with_for_update()
        )
    ).all()
    duplicate = (
        await conn.execute(
            select(receipt_delegations.c.id).where(
                receipt_delegations.c.agency_id == agency_id,
                receipt_delegations.c.agreement_number == number,
            )
        )
    ).first()
    if duplicate is not None:
        raise ReceiptDelegationExists(f"agreement {number!r} is already recorded")
    for row in existing:
        numbers_meet = new.first <= row.last_number and row.first_number <= new.last
        if numbers_meet and _terms_meet(
            new.valid_from, new.valid_until, row.valid_from, _last_day(row)
        ):
            raise ReceiptDelegationOverlaps(
                f"{new.first}..{new.last} of {new.template_code}/{new.symbol} from "
                f"{new.valid_from} overlaps agreement {row.agreement_number!r} "
                f"({row.first_number}..{row.last_number}, {_term(row)})"
            )
    delegation_id = new_id("rdl")
    values = {
        "id": delegation_id,
        "agency_id": agency_id,
        "agreement_number": number,
        "signed_on": new.signed_on,
        "valid_from": new.valid_from,
        "valid_until": new.valid_until,
        "tax_code": new.tax_code,
        "template_code": new.template_code,
        "symbol": new.symbol,
        "first_number": new.first,
        "last_number": new.last,
        "notified_on": new.notified_on,
        "recorded_by": actor,
        "created_at": now,
        "updated_at": now,
    }
    try:
        await conn.execute(insert(receipt_delegations).values(values))
    except IntegrityError as exc:
        # PostgreSQL names the constraint; SQLite names its columns.
        found = str(exc.orig)
        if "uq_receipt_delegations_number" not in found and "agreement_number" not in found:
            raise
        # Recorded meanwhile by another transaction (an agency row not locked by it).
        raise ReceiptDelegationExists(f"agreement {number!r} is already recorded") from exc
    await audit.record(
        conn,
        now,
        actor,
        "receipt_delegation_recorded",
        "receipt_delegation",
        delegation_id,
        {
            "agency_code": new.agency_code,
            "agreement_number": number,
            "symbol": new.symbol,
            "first": new.first,
            "last": new.last,
            "valid_from": new.valid_from.isoformat(),
            "valid_until": new.valid_until.isoformat() if new.valid_until else None,
            "notified_on": new.notified_on.isoformat(),
        },
    )
    return await _one(conn, delegation_id, today)


async def end_delegation(
    conn: AsyncConnection,
    agency_code: str,
    agreement_number: str,
    ended_on: date,
    reason: str,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """End an agreement early: from ``ended_on`` on it covers no receipt. Refused: an
    unknown agreement (``not_found``), one already ended (``receipt_delegation_ended``), an
    empty reason, an end before the agreement starts or after its own end, or on a day the
    delegate already issued a receipt under it (``validation_failed``)."""
    row = (
        await conn.execute(
            select(receipt_delegations)
            .join(agencies, agencies.c.id == receipt_delegations.c.agency_id)
            .where(
                agencies.c.code == agency_code,
                receipt_delegations.c.agreement_number == agreement_number.strip(),
            )
            .with_for_update(of=receipt_delegations)
        )
    ).first()
    if row is None:
        raise NotFound(f"{agency_code} has no delegation agreement {agreement_number!r}")
    if row.ended_on is not None:
        raise ReceiptDelegationEnded(f"agreement {row.agreement_number!r} ended on {row.ended_on}")
    errors = []
    if not reason.strip():
        errors.append(FieldError("reason", "required", "why the agreement ends early"))
    if ended_on < row.valid_from:
        errors.append(FieldError("ended_on", "before_valid_from", f"before {row.valid_from}"))
    if row.valid_until is not None and ended_on > row.valid_until:
        errors.append(
            FieldError("ended_on", "after_valid_until", f"the term ends {row.valid_until}")
        )
    start = datetime.combine(ended_on, time(), BUSINESS_TZ)
    issued_after = (
        await conn.execute(
            select(receipts.c.id).where(
                receipts.c.delegation_id == row.id, receipts.c.issued_at >= start
            )
        )
    ).first()
    if issued_after is not None:
        errors.append(
            FieldError(
                "ended_on", "receipts_issued_after", "receipts were issued under it on or after"
            )
        )
    if errors:
        raise ValidationFailed(errors)
    await conn.execute(
        update(receipt_delegations)
        .where(receipt_delegations.c.id == row.id)
        .values(ended_on=ended_on, end_reason=reason.strip(), updated_at=now)
    )
    await audit.record(
        conn,
        now,
        actor,
        "receipt_delegation_ended",
        "receipt_delegation",
        row.id,
        {
            "agency_code": agency_code,
            "agreement_number": row.agreement_number,
            "ended_on": ended_on.isoformat(),
            "reason": reason.strip(),
        },
    )
    return await _one(conn, row.id, business_day(now))


async def list_delegations(
    conn: AsyncConnection,
    today: date,
    *,
    agency_code: str | None = None,
    agency_ids: frozenset[int] | None = None,
) -> list[dict[str, Any]]:
    """Agreements (of ``agency_ids`` when given), by agency, symbol and first number."""
    statement = select(receipt_delegations, agencies.c.code.label("agency_code")).join(
        agencies, agencies.c.id == receipt_delegations.c.agency_id
    )
    if agency_code is not None:
        statement = statement.where(agencies.c.code == agency_code)
    if agency_ids is not None:
        statement = statement.where(receipt_delegations.c.agency_id.in_(sorted(agency_ids)))
    rows = (
        await conn.execute(
            statement.order_by(
                agencies.c.code,
                receipt_delegations.c.symbol,
                receipt_delegations.c.first_number,
                receipt_delegations.c.valid_from,
            )
        )
    ).all()
    return [_view(row, today) for row in rows]


async def _one(conn: AsyncConnection, delegation_id: str, today: date) -> dict[str, Any]:
    row = (
        await conn.execute(
            select(receipt_delegations, agencies.c.code.label("agency_code"))
            .join(agencies, agencies.c.id == receipt_delegations.c.agency_id)
            .where(receipt_delegations.c.id == delegation_id)
        )
    ).one()
    return _view(row, today)


def _view(row: Any, today: date) -> dict[str, Any]:
    return {
        "id": row.id,
        "agency_code": row.agency_code,
        "agreement_number": row.agreement_number,
        "signed_on": row.signed_on,
        "valid_from": row.valid_from,
        "valid_until": row.valid_until,
        "tax_code": row.tax_code,
        "template_code": row.template_code,
        "symbol": row.symbol,
        "first_number": row.first_number,
        "last_number": row.last_number,
        "notified_on": row.notified_on,
        "may_issue_from": may_issue_from(row),
        "ended_on": row.ended_on,
        "end_reason": row.end_reason,
        "state": state_on(row, today),
        "recorded_by": row.recorded_by,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _term(row: Any) -> str:
    last = _last_day(row)
    return f"{row.valid_from}..{last}" if last else f"from {row.valid_from}"
