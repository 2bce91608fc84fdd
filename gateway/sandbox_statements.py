"""Sandbox statement files: what the bank, VNPAY, the treasury and VNPost (COD) would send
for a day, generated from the gateway's own payments and postal orders, with chosen
discrepancies, so the demo can show a full reconciliation day.

    GET /sandbox/statements/2026-11-22/camt053.xml?drop=DVC…&delta=DVC…:-5000&unknown=99000
    GET /sandbox/statements/2026-11-22/vnpay_day.csv?failed=…
    GET /sandbox/statements/2026-11-22/treasury.csv
    GET /sandbox/statements/2026-11-22/pos_settlement.csv?failed=…   (the card acquirer's day:
                                                                    sales by bill reference or RRN)
    GET /sandbox/statements/2026-11-22/vnpost_cod.csv?drop=BCD1-…   (COD collected that day,
                                                                    remitted the next)

Query parameters (comma-separated): ``drop`` (references left out), ``delta`` (``REF:VND``
added to a line), ``duplicate`` (references written twice), ``unknown`` (credits nobody
explains), ``failed`` (VNPAY reports these failed; the acquirer reports these card sales voided),
``shift`` (``REF:days``). For the COD file, references are our sale order codes (the postal
orders' client references); for the POS file, bill references or RRNs.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web
from sqlalchemy import select

from gateway.core.db.schema import agencies, attempts, payment_items, payments, postal_orders
from gateway.core.errors import FieldError, ValidationFailed
from gateway.keys import DATABASE, SETTINGS
from providers.sandbox.statements import (
    Discrepancies,
    PaidPayment,
    camt053,
    treasury_csv,
    vnpay_day_file,
)
from providers.sandbox.statements_cod import CodCollection, vnpost_cod_csv
from providers.sandbox.statements_pos import CardSale, pos_settlement_csv
from reconciliation.ledger import PAID_STATUSES, day_bounds


def _pairs(text: str) -> dict[str, int]:
    result = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition(":")
        result[key.strip()] = int(value)
    return result


def discrepancies(query: Any) -> Discrepancies:
    try:
        return Discrepancies(
            drop=frozenset(filter(None, query.get("drop", "").split(","))),
            amount_delta=_pairs(query.get("delta", "")),
            duplicate=frozenset(filter(None, query.get("duplicate", "").split(","))),
            unknown_credits=tuple(
                int(x) for x in filter(None, query.get("unknown", "").split(","))
            ),
            failed=frozenset(filter(None, query.get("failed", "").split(","))),
            shift_days=_pairs(query.get("shift", "")),
        )
    except ValueError:
        raise ValidationFailed(
            [FieldError("query", "invalid_format", "see the discrepancy parameters")]
        ) from None


async def paid_payments(request: web.Request, day: date) -> list[PaidPayment]:
    rows, lines = await _paid(request, day)
    return [
        PaidPayment(
            reference=row.provider_reference if row.channel == "vnpay" else row.reference,
            amount=row.amount,
            paid_at=row.paid_at,
            channel=row.channel,
            provider_txn_id=row.provider_transaction_id or row.reference,
            agency_code=row.code,
            fee_lines=lines.get(row.id, []),
            account_number=row.account_number,
        )
        for row in rows
    ]


async def card_sales(request: web.Request, day: date) -> list[CardSale]:
    """The day's bills paid by card, as the acquirer saw them (RRN, terminal, card)."""
    rows, _ = await _paid(request, day)
    return [
        CardSale(
            reference=row.reference,
            rrn=row.provider_transaction_id,
            terminal_id=row.terminal_id,
            amount=row.amount,
            completed_at=row.paid_at,
            approval_code=(row.details or {}).get("approval_code", ""),
            masked_pan=(row.details or {}).get("masked_pan", ""),
        )
        for row in rows
        if row.channel == "pos" and row.provider_transaction_id and row.terminal_id
    ]


async def _paid(request: web.Request, day: date) -> tuple[Any, dict[str, list[tuple[Any, int]]]]:
    """The day's paid bills with the attempt that paid each, and their fee lines."""
    start, end = day_bounds(day)
    async with request.app[DATABASE].read() as conn:
        rows = (
            await conn.execute(
                select(
                    payments.c.id,
                    payments.c.reference,
                    payments.c.amount,
                    payments.c.paid_at,
                    attempts.c.channel,
                    attempts.c.provider_transaction_id,
                    attempts.c.provider_reference,
                    attempts.c.terminal_id,
                    attempts.c.details,
                    agencies.c.code,
                    agencies.c.account_number,
                )
                .join(attempts, attempts.c.payment_id == payments.c.id)
                .join(agencies, agencies.c.id == payments.c.agency_id)
                .where(
                    payments.c.paid_at >= start,
                    payments.c.paid_at < end,
                    payments.c.status.in_(PAID_STATUSES),
                    attempts.c.status == "succeeded",
                    attempts.c.review_reason.is_(None),
                )
                .order_by(payments.c.paid_at, payments.c.id)
            )
        ).all()
        items = (
            await conn.execute(
                select(payment_items.c.payment_id, payment_items.c.kind, payment_items.c.amount)
                .where(payment_items.c.payment_id.in_([row.id for row in rows]))
                .order_by(payment_items.c.payment_id, payment_items.c.position)
            )
        ).all()
    lines: dict[str, list[tuple[Any, int]]] = {}
    for item in items:
        lines.setdefault(item.payment_id, []).append((item.kind, item.amount))
    return rows, lines


async def cod_collections(request: web.Request, day: date) -> list[CodCollection]:
    start, end = day_bounds(day)
    async with request.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(postal_orders).where(
                postal_orders.c.cod_collected > 0,
                postal_orders.c.cod_collected_at >= start,
                postal_orders.c.cod_collected_at < end,
                postal_orders.c.tracking_number.is_not(None),
            )
        )
        return [
            CodCollection(
                r.tracking_number, r.client_reference, r.cod_collected, r.cod_collected_at
            )
            for r in rows
        ]


async def statement_file(request: web.Request) -> web.Response:
    try:
        day = date.fromisoformat(request.match_info["day"])
    except ValueError:
        raise ValidationFailed([FieldError("day", "invalid_format", "YYYY-MM-DD")]) from None
    kind = request.match_info["kind"]
    problems = discrepancies(request.rel_url.query)
    if kind == "vnpost_cod.csv":
        customer = request.app[SETTINGS].vnpost.customer_code
        collected = await cod_collections(request, day)
        body = vnpost_cod_csv(collected, day, customer_code=customer, problems=problems)
        return _attachment(body, "text/csv", f"{day}-{kind}")
    if kind == "pos_settlement.csv":
        merchant = request.app[SETTINGS].pos.merchant_id
        sales = await card_sales(request, day)
        body = pos_settlement_csv(sales, day, merchant_id=merchant, problems=problems)
        return _attachment(body, "text/csv", f"{day}-{kind}")
    paid = await paid_payments(request, day)
    if kind == "camt053.xml":
        account = request.rel_url.query.get("account") or (paid[0].account_number if paid else "")
        body, content_type = camt053(account, paid, day, 0, problems=problems), "application/xml"
    elif kind == "vnpay_day.csv":
        body, content_type = vnpay_day_file(paid, day, problems=problems), "text/csv"
    else:
        body, content_type = treasury_csv(paid, day, problems=problems), "text/csv"
    return _attachment(body, content_type, f"{day}-{kind}")


def _attachment(body: bytes, content_type: str, filename: str) -> web.Response:
    response = web.Response(body=body, content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def add_statement_routes(app: web.Application) -> None:
    app.router.add_get(
        "/sandbox/statements/{day}/{kind:camt053\\.xml|vnpay_day\\.csv|treasury\\.csv"
        "|vnpost_cod\\.csv|pos_settlement\\.csv}",
        statement_file,
    )
