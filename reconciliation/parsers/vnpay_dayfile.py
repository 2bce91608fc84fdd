"""The VNPAY day settlement file (CSV), one row per transaction, a ``Tổng cộng`` trailer.

Layout (documented with examples in ``docs/reconciliation-formats.md``)::

    Ngày đối soát,15/05/2024                              ← optional preamble rows
    STT,Mã GD VNPAY,Mã tham chiếu,Số tiền,Ngày GD,Ngân hàng,Loại GD,Trạng thái,Mã TMN,Phí
    1,14412345,HS-2024-000123,150000,15/05/2024 09:12:33,NCB,Thanh toán,Thành công,DVCTEST1,1650
    Tổng cộng,1,,150000,,,,,,1650

Headers are matched after folding diacritics and case, in any order; a header may carry the
VNPAY field name in brackets (``Mã GD VNPAY (vnp_TransactionNo)``) or be that name alone.
``Loại GD``: *Thanh toán* → credit, *Hoàn tiền…* → debit. ``Trạng thái``: *Thành công* →
``succeeded``, *Thất bại* → ``failed``. The trailer (first cell ``Tổng cộng``) carries the
number of transaction rows under ``Mã GD VNPAY``, the net of the *successful* rows
(payments − refunds) under ``Số tiền`` and, when there is a ``Phí`` column, the sum of fees.
"""

from __future__ import annotations

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
from .sheets import Column, CsvOptions, Row, csv_rows, declared_date
from .values import (
    BadValue,
    Tally,
    check_currency,
    check_date,
    header_key,
    local_time,
    parse_amount,
)

FORMAT: Final = "vnpay_day_csv"
TIME_FORMAT: Final = "%d/%m/%Y %H:%M:%S"
DAY_FORMAT: Final = "%d/%m/%Y"

COLUMNS: Final = (
    Column("seq", ("STT",)),
    Column("txn_no", ("Mã GD VNPAY", "Mã giao dịch VNPAY", "vnp_TransactionNo")),
    Column("txn_ref", ("Mã tham chiếu", "vnp_TxnRef")),
    # Not vnp_Amount/vnp_PayDate/vnp_TransactionType/vnp_TransactionStatus: in VNPAY's API
    # those hold ×100 amounts, yyyyMMddHHmmss and numeric codes, not what these columns hold.
    Column("amount", ("Số tiền",)),
    Column("time", ("Ngày GD", "Thời gian GD", "Ngày giao dịch")),
    Column("bank", ("Ngân hàng", "vnp_BankCode"), required=False),
    Column("kind", ("Loại GD", "Loại giao dịch")),
    Column("status", ("Trạng thái",)),
    Column("tmn", ("Mã TMN", "vnp_TmnCode")),
    Column("fee", ("Phí", "Phí giao dịch"), required=False),
    Column("info", ("Nội dung", "vnp_OrderInfo"), required=False),
    Column("currency", ("Loại tiền", "vnp_CurrCode"), required=False),
)
DATE_LABELS: Final = frozenset({"ngay doi soat", "ngay giao dich", "ngay bao cao", "ngay"})
TRAILER: Final = "tong cong"
STATUSES: Final = {
    "thanh cong": "succeeded",
    "success": "succeeded",
    "that bai": "failed",
    "failed": "failed",
}


def parse_vnpay_day(
    data: bytes, *, as_of: date | None = None, thousands: str = ",", **csv: Unpack[CsvOptions]
) -> ParsedFile:
    """Parse a VNPAY day file. ``as_of`` bounds dates when the file declares no day."""
    rows = csv_rows(data, **csv)
    table = totalled_table(rows, COLUMNS, TRAILER, what="transactions")
    trailer, where = table.trailer, table.where
    day = declared_date(table.preamble, DATE_LABELS, DAY_FORMAT, what="settlement day")
    reference_day = day or as_of
    settled = Tally()  # successful rows only; a refused row makes it incomplete
    lines, errors = read_lines(
        table.body, lambda row: _line(row, where, reference_day, thousands), settled
    )
    fee_sum = None if errors else sum(int(line.extra["fee"]) for line in lines)
    errors += table.stray

    count, net, fee_total = _trailer(trailer, where, thousands)
    if count != settled.count:
        raise ParseError(
            codes.COUNT_MISMATCH,
            f"line {trailer.line_no}: total row says {count} transactions, "
            f"the file has {settled.count}",
        )
    if settled.complete and net != settled.net:
        raise ParseError(
            codes.TOTALS_DO_NOT_TIE,
            f"line {trailer.line_no}: total row says {net}, successful rows net {settled.net}",
        )
    if fee_sum is not None and fee_total is not None and fee_total != fee_sum:
        raise ParseError(
            codes.TOTALS_DO_NOT_TIE,
            f"line {trailer.line_no}: total fee {fee_total}, rows sum to {fee_sum}",
        )
    terminals = {line.account for line in lines}
    return ParsedFile(
        source=Source.VNPAY,
        lines=tuple(lines),
        errors=tuple(sorted(errors, key=lambda e: e.line_no)),
        control=ControlTotals(
            total_credits=settled.credits if settled.complete else None,
            total_debits=settled.debits if settled.complete else None,
            entry_count=count,
        ),
        account=terminals.pop() if len(terminals) == 1 else None,
        period_start=day,
        period_end=day,
        format=FORMAT,
    )


def _line(
    row: Row, where: dict[str, int], reference_day: date | None, thousands: str
) -> StatementLine:
    def text(field: str) -> str:
        return row.text(where[field]) if field in where else ""

    def required(field: str, label: str) -> str:
        value = text(field)
        if not value:
            raise BadValue(codes.MISSING_FIELD, f"{label} is empty")
        return value

    txn_no = required("txn_no", "Mã GD VNPAY")
    txn_ref = required("txn_ref", "Mã tham chiếu")
    tmn = required("tmn", "Mã TMN")
    kind = header_key(text("kind"))
    if kind == "thanh toan":
        direction = Direction.CREDIT
    elif kind.startswith("hoan tien"):
        direction = Direction.DEBIT
    else:
        raise BadValue(codes.BAD_FIELD, f"Loại GD {text('kind')!r} is not Thanh toán/Hoàn tiền")
    status = STATUSES.get(header_key(text("status")))
    if status is None:
        raise BadValue(codes.BAD_FIELD, f"Trạng thái {text('status')!r} is not Thành công/Thất bại")
    amount = parse_amount(text("amount"), thousands=thousands, what="Số tiền")
    if "currency" in where:
        check_currency(text("currency"), what="Loại tiền")
    fee = parse_amount(text("fee") or "0", thousands=thousands, allow_zero=True, what="Phí")
    paid_at = local_time(
        text("time"), (TIME_FORMAT,), what="Ngày GD", written="dd/MM/yyyy HH:mm:ss"
    )
    booking_date = check_date(paid_at.date(), reference_day, what="Ngày GD")
    extra = {"paid_at": paid_at.isoformat(), "fee": str(fee)}
    if text("bank"):
        extra["bank"] = text("bank")
    return StatementLine(
        source=Source.VNPAY,
        line_no=row.line_no,
        amount=amount,
        direction=direction,
        booking_date=booking_date,
        reference=txn_ref,
        provider_txn_id=txn_no,
        text=text("info"),
        account=tmn,
        status=status,
        extra=extra,
    )


def _trailer(row: Row, where: dict[str, int], thousands: str) -> tuple[int, int, int | None]:
    count_text = row.text(where["txn_no"])
    net_text = row.text(where["amount"])
    fee_text = row.text(where["fee"]) if "fee" in where else ""
    if not count_text or not net_text:
        raise ParseError(
            codes.MISSING_TOTAL,
            f"line {row.line_no}: the {TRAILER!r} row needs the count under Mã GD VNPAY "
            "and the net amount under Số tiền",
        )
    try:
        count = parse_amount(count_text, thousands="", allow_zero=True, what="transaction count")
        net = parse_amount(
            net_text, thousands=thousands, allow_negative=True, allow_zero=True, what="total"
        )
        fee = (
            parse_amount(fee_text, thousands=thousands, allow_zero=True, what="total fee")
            if fee_text
            else None
        )
    except BadValue as problem:
        raise ParseError(problem.code, f"line {row.line_no}: {problem.message}") from None
    return count, net, fee
