"""VNPost's COD remittance statement (format ``vnpost_cod`` of
``docs/reconciliation-formats.md``), as the sandbox carrier would send it.

Pure like :mod:`providers.sandbox.statements`, whose :class:`Discrepancies` it takes, by our
sale order code (the postal order's client reference): ``drop``, ``amount_delta``,
``duplicate``, ``shift_days``, and ``unknown_credits`` (items nobody at the gateway booked).
The file always ties to its own total row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

# The sibling module's CSV writer and VND style, so every sandbox file is written alike.
from providers.sandbox.statements import ICT, NONE, Discrepancies, _csv, _vnd

HEADER: Final = (
    "STT,Số hiệu bưu gửi,Mã đơn hàng,Mã khách hàng,Ngày phát,Tiền thu hộ,Cước thu hộ,"
    "Số tiền chuyển trả"
).split(",")


@dataclass(frozen=True)
class CodCollection:
    """COD a postman collected: the item code, our sale order code, VND, when (aware)."""

    item_code: str
    client_reference: str
    amount: int
    collected_at: datetime


def vnpost_cod_csv(
    collections: Iterable[CodCollection],
    day: date,
    *,
    customer_code: str = "DEMO-KH001",
    fee_per_item: int = 0,
    remittance_lag_days: int = 1,
    problems: Discrepancies = NONE,
) -> bytes:
    """The remittance of the COD collected on ``day`` (business day), transferred
    ``remittance_lag_days`` later; VNPost keeps ``fee_per_item`` (at most the amount)."""
    items: list[tuple[str, str, int, datetime]] = []
    for c in sorted(collections, key=lambda c: (c.collected_at, c.item_code)):
        ref = c.client_reference
        if c.collected_at.astimezone(ICT).date() != day or ref in problems.drop:
            continue
        at = c.collected_at + timedelta(days=problems.shift_days.get(ref, 0))
        item = (c.item_code, ref, c.amount + problems.amount_delta.get(ref, 0), at)
        items += [item, item] if ref in problems.duplicate else [item]
    noon = datetime.combine(day, time(12, 0), ICT)
    items += [(f"EE{n:09d}VN", "", vnd, noon) for n, vnd in enumerate(problems.unknown_credits, 1)]
    rows: list[list[object]] = []
    totals = [0, 0, 0]  # COD, fee, remitted
    for number, (item_code, ref, amount, at) in enumerate(items, 1):
        fee = min(fee_per_item, amount)
        amounts = (amount, fee, amount - fee)
        totals = [total + value for total, value in zip(totals, amounts, strict=True)]
        when = at.astimezone(ICT).strftime("%d/%m/%Y %H:%M:%S")
        rows.append([number, item_code, ref, customer_code, when, *map(_vnd, amounts)])
    remitted_on = day + timedelta(days=remittance_lag_days)
    return _csv(
        [
            ["BẢNG KÊ ĐỐI SOÁT TIỀN THU HỘ (COD)"],
            ["Ngày chuyển tiền", remitted_on.strftime("%d/%m/%Y")],
            ["Số bảng kê", f"BK-{customer_code}-{remitted_on:%Y%m%d}"],
            HEADER,
            *rows,
            ["Tổng cộng", len(rows), "", "", "", *map(_vnd, totals)],
        ]
    )
