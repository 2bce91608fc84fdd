"""The gateway's own side of a reconciliation day, as statement lines per counterpart.

Each counterpart sees the ledger the way its records are keyed: the bank by the payment
reference in the transfer text (VietQR) and by one settlement credit per provider per day;
VNPAY by ``vnp_TxnRef`` and ``vnp_TransactionNo``; the POS acquirer by RRN; the treasury by
agency and fee kind; the postal operator's COD remittance by item code and our sale order
code. Every line carries a stable key (``payment:…``, ``attempt:…``, ``item:…``,
``refund:…``, ``postal:…``) so matches and exceptions can name what they are about.

**COD is counted once, from the postal order.** Money a postman collects is recorded on the
postal order (``cod_collected``, ``cod_collected_at``) whether or not the order is linked to a
payment; a linked order also gets a ``cod`` attempt for the same money. The COD ledger line
is the *order* (key ``postal:<order id>``), because every collection has one and only linked
ones have an attempt; ``cod`` attempts are read by no counterpart (see :data:`CHANNELS`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy import Row, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db.schema import (
    agencies,
    attempts,
    day_closes,
    payment_items,
    payments,
    postal_orders,
    refunds,
)
from gateway.core.money import MONEY_AT, ChannelName
from reconciliation.model import BUSINESS_TZ, Direction, Source, StatementLine

PAID_STATUSES = ("paid", "partially_refunded", "refunded", "needs_review")

#: The attempt channels each counterpart sees. ``cod`` is in none: COD money is the postal
#: order's line (:func:`_cod`), and listing its attempt too would count it twice.
CHANNELS: Mapping[Source, tuple[str, ...]] = MappingProxyType(
    {
        Source.BANK: (ChannelName.VIETQR, ChannelName.VNPAY, ChannelName.POS),
        Source.VNPAY: (ChannelName.VNPAY,),
        Source.POS: (ChannelName.POS,),
    }
)


def money_day(
    details: Mapping[str, object] | None,
    updated_at: datetime,
    closed_at: Mapping[date, datetime] = MappingProxyType({}),
) -> date:
    """The business day an attempt's line belongs to: the day of the money's own time
    (:data:`gateway.core.money.MONEY_AT`) when the gateway recorded it apart from the attempt's
    last change — a success its provider sent after having said ``failed``, perhaps days
    later, is on the day the provider's day file has it (VNPAY's ``vnp_PayDate``), so a re-run
    of that day matches it and the later day does not see it again — else the day of
    ``updated_at`` (when the attempt reached its final status). A money day already closed
    (``closed_at``: the closes of days) when the success was recorded cannot be re-run: the
    line is then on the day it was recorded, the first day that can still see it, so the
    money is on some day's ledger, never on none."""
    recorded = updated_at.astimezone(BUSINESS_TZ).date()
    stated = (details or {}).get(MONEY_AT)
    if not isinstance(stated, str):
        return recorded
    day = datetime.fromisoformat(stated).astimezone(BUSINESS_TZ).date()
    closed = closed_at.get(day)
    return recorded if closed is not None and closed <= updated_at else day


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The business day ``day`` (Asia/Ho_Chi_Minh) as a UTC interval [start, end)."""
    start = datetime.combine(day, time.min, tzinfo=BUSINESS_TZ).astimezone(UTC)
    return start, start + timedelta(days=1)


async def ledger(
    conn: AsyncConnection, day: date, counterpart: Source
) -> tuple[list[StatementLine], list[str]]:
    """The ledger lines of ``day`` for ``counterpart`` and their keys (same order)."""
    start, end = day_bounds(day)
    lines: list[StatementLine] = []
    keys: list[str] = []

    def add(key: str, **fields: object) -> None:
        keys.append(key)
        lines.append(
            StatementLine(source=Source.GATEWAY, line_no=len(lines) + 1, booking_date=day, **fields)  # type: ignore[arg-type]
        )

    paid_today = and_(payments.c.paid_at >= start, payments.c.paid_at < end)
    if counterpart is Source.TREASURY:
        rows = (
            await conn.execute(
                select(payment_items, payments.c.reference, agencies.c.code.label("agency"))
                .join(payments, payments.c.id == payment_items.c.payment_id)
                .join(agencies, agencies.c.id == payments.c.agency_id)
                .where(paid_today, payments.c.status.in_(PAID_STATUSES))
                .order_by(payment_items.c.payment_id, payment_items.c.position)
            )
        ).all()
        for row in rows:
            add(
                f"item:{row.payment_id}:{row.position}",
                amount=row.amount,
                direction=Direction.CREDIT,
                reference=row.reference,
                fee_kind=row.kind,
                agency_code=row.agency,
                text=row.description,
            )
        return lines, keys

    if counterpart is Source.COD:
        await _cod(conn, start, end, add)
        return lines, keys

    channels = CHANNELS.get(counterpart, ())
    rows = (
        await conn.execute(
            select(
                attempts,
                payments.c.reference.label("payment_reference"),
                payments.c.status.label("payment_status"),
                agencies.c.code.label("agency"),
                agencies.c.account_number,
            )
            .join(payments, payments.c.id == attempts.c.payment_id)
            .join(agencies, agencies.c.id == payments.c.agency_id)
            .where(
                attempts.c.channel.in_(channels),
                attempts.c.status.in_(["succeeded", "failed"]),
                or_(
                    and_(attempts.c.updated_at >= start, attempts.c.updated_at < end),
                    # Money of this day recorded on a later one (a success after its
                    # provider's failure, which is always up for review): see money_day.
                    # The money's time is never before its bill's creation (money_time).
                    and_(
                        attempts.c.status == "succeeded",
                        attempts.c.review_reason.is_not(None),
                        payments.c.created_at < end,
                        attempts.c.updated_at >= end,
                    ),
                ),
            )
            .order_by(attempts.c.updated_at, attempts.c.id)
        )
    ).all()
    closed_at = await _closes(conn, rows)
    for row in rows:
        if money_day(row.details, row.updated_at, closed_at) != day:
            continue
        if counterpart is Source.BANK:
            if row.status != "succeeded":
                continue
            if row.channel == ChannelName.VIETQR:
                # The bill's QR is the payment; a further transfer to it has an attempt of
                # its own (gateway.services.attempts.record_money) and is keyed by it.
                own_qr = row.provider_reference == row.payment_reference
                add(
                    f"payment:{row.payment_id}" if own_qr else f"attempt:{row.id}",
                    amount=row.amount,
                    direction=Direction.CREDIT,
                    reference=row.payment_reference,
                    provider_txn_id=row.provider_transaction_id,
                    account=row.account_number,
                    agency_code=row.agency,
                    status="succeeded",
                )
            else:
                # Settled to the bank as one credit per provider, collection account and day:
                # each agency's merchant (VNPAY terminal, card acquirer) pays its own account.
                add(
                    f"attempt:{row.id}",
                    amount=row.amount,
                    direction=Direction.CREDIT,
                    reference=row.provider_reference,
                    account=row.account_number,
                    agency_code=row.agency,
                    status="succeeded",
                    document_no=f"{row.channel}:{row.account_number}:{day.isoformat()}",
                )
        else:
            add(
                f"attempt:{row.id}",
                amount=row.amount,
                direction=Direction.CREDIT,
                reference=row.provider_reference,
                provider_txn_id=row.provider_transaction_id,
                agency_code=row.agency,
                status=row.status,
            )
    if counterpart in (Source.VNPAY, Source.POS):
        refunded = (
            await conn.execute(
                select(refunds, attempts.c.provider_reference)
                .join(attempts, attempts.c.id == refunds.c.attempt_id)
                .where(
                    attempts.c.channel == counterpart.value,
                    refunds.c.status == "succeeded",
                    refunds.c.updated_at >= start,
                    refunds.c.updated_at < end,
                )
            )
        ).all()
        for row in refunded:
            add(
                f"refund:{row.id}",
                amount=row.amount,
                direction=Direction.DEBIT,
                reference=row.provider_reference,
                provider_txn_id=row.provider_transaction_id,
                status="succeeded",
            )
    return lines, keys


async def _closes(conn: AsyncConnection, rows: Sequence[Row[Any]]) -> dict[date, datetime]:
    """When the money days of ``rows`` (those recorded apart from their attempt's last
    change) were closed, for :func:`money_day`."""
    days = {
        money_day(row.details, row.updated_at)
        for row in rows
        if isinstance((row.details or {}).get(MONEY_AT), str)
    }
    if not days:
        return {}
    found = await conn.execute(
        select(day_closes.c.business_date, day_closes.c.closed_at).where(
            day_closes.c.business_date.in_(sorted(days))
        )
    )
    return {row.business_date: row.closed_at for row in found}


async def _cod(
    conn: AsyncConnection, start: datetime, end: datetime, add: Callable[..., None]
) -> None:
    """Every COD the gateway's postal orders recorded as collected in [start, end), linked to
    a payment or not: one line per order, keyed by our sale order code (``reference``) and the
    carrier's item code (``provider_txn_id``), on the business day of ``cod_collected_at``."""
    rows = (
        await conn.execute(
            select(
                postal_orders.c.id,
                postal_orders.c.client_reference,
                postal_orders.c.tracking_number,
                postal_orders.c.cod_collected,
                agencies.c.code.label("agency"),
            )
            .join(agencies, agencies.c.id == postal_orders.c.agency_id)
            .where(
                postal_orders.c.cod_collected > 0,
                postal_orders.c.cod_collected_at >= start,
                postal_orders.c.cod_collected_at < end,
            )
            .order_by(postal_orders.c.cod_collected_at, postal_orders.c.id)
        )
    ).all()
    for row in rows:
        add(
            f"postal:{row.id}",
            amount=row.cod_collected,
            direction=Direction.CREDIT,
            reference=row.client_reference,
            provider_txn_id=row.tracking_number,
            agency_code=row.agency,
            status="succeeded",
        )
