"""VNPost's COD remittance statement (bảng kê đối soát tiền thu hộ), one row per item.

**The layout is our own definition**, pending VNPost's real file specification
(``docs/reconciliation-formats.md``)::

    BẢNG KÊ ĐỐI SOÁT TIỀN THU HỘ (COD)                    ← optional title
    Ngày chuyển tiền,16/05/2024                            ← required: the remittance day
    Số bảng kê,BK-DEMO-KH001-20240516                      ← optional
    STT,Số hiệu bưu gửi,Mã đơn hàng,Mã khách hàng,Ngày phát,Tiền thu hộ,Cước thu hộ,Số tiền …
    1,EB240515013VN,BCD1-K7Q2M9XW4PJ3,DEMO-KH001,15/05/2024 10:15:00,"185,000","5,000","180,000"
    Tổng cộng,1,,,,"185,000","5,000","180,000"

(the last column is ``Số tiền chuyển trả``).

One row per delivered item whose COD VNPost collected and now remits: the item code (UPU
S10) → ``provider_txn_id``, our ``sale_order_code`` (the postal order's client reference)
→ ``reference``, the customer code → ``account``, the collection day (Vietnam time) →
``booking_date``, the remittance day → ``value_date``, the COD collected (gross) →
``amount``. The fee VNPost keeps and the amount it transfers go to ``extra``; on each row
remitted = COD − fee. The ``Tổng cộng`` row carries the number of item rows under
``Số hiệu bưu gửi`` and the sums of the three amount columns, which must tie.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final, Unpack

from reconciliation.model import (
    ControlTotals,
    Direction,
    ParsedFile,
    ParseError,
    Source,
    StatementLine,
)

from . import codes
from .rows import read_lines, totalled_table
from .sheets import Column, CsvOptions, Row, cell_text, csv_rows, declared_date, labelled_values
from .values import BadValue, Tally, check_currency, check_date, local_time, parse_amount

FORMAT: Final = "vnpost_cod_csv"
DAY_FORMAT: Final = "%d/%m/%Y"
TIME_FORMATS: Final = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", DAY_FORMAT)

# VNPost API field names are accepted only where the API field holds the same content.
COLUMNS: Final = (
    Column("seq", ("STT",)),  # required: the total row's label stands in it
    Column("item_code", ("Số hiệu bưu gửi", "Mã bưu gửi", "item_code")),
    Column("order_code", ("Mã đơn hàng", "Mã đơn hàng khách hàng", "sale_order_code")),
    Column("customer", ("Mã khách hàng", "Mã KH", "customer_code")),
    Column("collected", ("Ngày phát", "Ngày thu tiền", "Thời gian phát")),
    Column("cod", ("Tiền thu hộ", "Số tiền thu hộ", "Tiền COD", "cod_amount")),
    Column("fee", ("Cước thu hộ", "Phí thu hộ", "Cước COD")),
    Column("remitted", ("Số tiền chuyển trả", "Tiền chuyển trả", "Thực chuyển")),
    Column("currency", ("Loại tiền",), required=False),
)
LABEL_DAY: Final = "ngay chuyen tien"
LABEL_STATEMENT: Final = "so bang ke"
TRAILER: Final = "tong cong"
#: UPU S10: two letters, an eight-digit serial and its check digit, the country code. Only
#: the shape is checked, as ``providers.postal.vnpost.codec`` checks the codes VNPost gives us.
ITEM_CODE: Final = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")
#: VNPost's ``sale_order_code`` and ``customer_code`` (as the partner API and our settings
#: accept them; they also fit the stored statement line's columns).
ORDER_CODE: Final = re.compile(r"[A-Za-z0-9_-]{1,50}")
CUSTOMER_CODE: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")


def parse_vnpost_cod(
    data: bytes, *, as_of: date | None = None, thousands: str = ",", **csv: Unpack[CsvOptions]
) -> ParsedFile:
    """Parse a COD remittance statement. ``as_of`` is accepted like every parser's, but the
    file's own ``Ngày chuyển tiền`` (required) is its reference date."""
    del as_of  # the remittance day is always declared
    rows = csv_rows(data, **csv)
    table = totalled_table(rows, COLUMNS, TRAILER, what="items")
    trailer, where = table.trailer, table.where
    remitted_on, statement_no = _header_block(table.preamble)
    cod = Tally()  # a refused row makes it incomplete: then no sum is compared
    lines, errors = read_lines(
        table.body, lambda row: _line(row, where, remitted_on, statement_no, thousands), cod
    )
    fees = sum(int(line.extra["fee"]) for line in lines)
    remitted = sum(int(line.extra["remitted"]) for line in lines)
    errors += table.stray

    count, declared = _trailer(trailer, where, thousands)
    if count != cod.count:
        raise ParseError(
            codes.COUNT_MISMATCH,
            f"line {trailer.line_no}: total row says {count} items, the file has {cod.count}",
        )
    if cod.complete:
        for label, total, rows_sum in (
            ("Tiền thu hộ", declared[0], cod.credits),
            ("Cước thu hộ", declared[1], fees),
            ("Số tiền chuyển trả", declared[2], remitted),
        ):
            if total != rows_sum:
                raise ParseError(
                    codes.TOTALS_DO_NOT_TIE,
                    f"line {trailer.line_no}: total {label} {total}, the rows sum to {rows_sum}",
                )
    customers = {line.account for line in lines}
    return ParsedFile(
        source=Source.COD,
        lines=tuple(lines),
        errors=tuple(sorted(errors, key=lambda e: e.line_no)),
        control=ControlTotals(
            total_credits=cod.credits if cod.complete else None, entry_count=count
        ),
        account=customers.pop() if len(customers) == 1 else None,
        period_start=remitted_on,
        period_end=remitted_on,
        format=FORMAT,
    )


def _header_block(preamble: list[Row]) -> tuple[date, str | None]:
    day = declared_date(preamble, {LABEL_DAY}, DAY_FORMAT, what="Ngày chuyển tiền")
    if day is None:
        raise ParseError(codes.BAD_DATE, "the header block needs 'Ngày chuyển tiền' dd/mm/yyyy")
    statement = labelled_values(preamble).get(LABEL_STATEMENT)
    return day, (cell_text(statement[1]) or None) if statement else None


def _line(
    row: Row,
    where: dict[str, int],
    remitted_on: date,
    statement_no: str | None,
    thousands: str,
) -> StatementLine:
    def text(field: str) -> str:
        return row.text(where[field]) if field in where else ""

    item_code = text("item_code").upper()
    if not item_code:
        raise BadValue(codes.MISSING_FIELD, "Số hiệu bưu gửi is empty")
    if not ITEM_CODE.fullmatch(item_code):
        raise BadValue(codes.BAD_FIELD, f"Số hiệu bưu gửi {item_code!r} is not a UPU S10 code")
    order_code = text("order_code")
    if order_code and not ORDER_CODE.fullmatch(order_code):
        raise BadValue(codes.BAD_FIELD, f"Mã đơn hàng {order_code!r} is not a sale order code")
    customer = text("customer")
    if not customer:
        raise BadValue(codes.MISSING_FIELD, "Mã khách hàng is empty")
    if not CUSTOMER_CODE.fullmatch(customer):
        raise BadValue(codes.BAD_FIELD, f"Mã khách hàng {customer!r} is not a customer code")
    if "currency" in where:
        check_currency(text("currency"), what="Loại tiền")
    amount = parse_amount(text("cod"), thousands=thousands, what="Tiền thu hộ")
    fee = parse_amount(text("fee"), thousands=thousands, allow_zero=True, what="Cước thu hộ")
    paid_out = parse_amount(
        text("remitted"), thousands=thousands, allow_zero=True, what="Số tiền chuyển trả"
    )
    if paid_out != amount - fee:
        raise BadValue(
            codes.DETAILS_DO_NOT_TIE,
            f"Số tiền chuyển trả {paid_out} is not Tiền thu hộ {amount} − Cước thu hộ {fee}",
        )
    collected_at = local_time(
        text("collected"), TIME_FORMATS, what="Ngày phát", written="dd/mm/yyyy [HH:MM[:SS]]"
    )
    collected_on = check_date(collected_at.date(), remitted_on, what="Ngày phát")
    if collected_on > remitted_on:
        raise BadValue(
            codes.DATE_OUT_OF_RANGE,
            f"Ngày phát {collected_on.isoformat()} is after the remittance day "
            f"{remitted_on.isoformat()}",
        )
    return StatementLine(
        source=Source.COD,
        line_no=row.line_no,
        amount=amount,
        direction=Direction.CREDIT,
        booking_date=collected_on,
        value_date=remitted_on,
        reference=order_code or None,
        provider_txn_id=item_code,
        account=customer,
        status="succeeded",
        document_no=statement_no,
        extra={
            "fee": str(fee),
            "remitted": str(paid_out),
            "collected_at": collected_at.isoformat(),
        },
    )


def _trailer(row: Row, where: dict[str, int], thousands: str) -> tuple[int, tuple[int, int, int]]:
    texts = [row.text(where[field]) for field in ("item_code", "cod", "fee", "remitted")]
    if not all(texts):
        raise ParseError(
            codes.MISSING_TOTAL,
            f"line {row.line_no}: the {TRAILER!r} row needs the item count under Số hiệu bưu "
            "gửi and the sums under Tiền thu hộ, Cước thu hộ and Số tiền chuyển trả",
        )
    count_text, cod_text, fee_text, remitted_text = texts
    try:
        count = parse_amount(count_text, thousands="", allow_zero=True, what="item count")
        cod = parse_amount(cod_text, thousands=thousands, allow_zero=True, what="total COD")
        fee = parse_amount(fee_text, thousands=thousands, allow_zero=True, what="total fee")
        remitted = parse_amount(
            remitted_text, thousands=thousands, allow_zero=True, what="total remitted"
        )
    except BadValue as problem:
        raise ParseError(problem.code, f"line {row.line_no}: {problem.message}") from None
    return count, (cod, fee, remitted)
