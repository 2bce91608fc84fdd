"""State Treasury (KBNN) receipt records: a header block, then one row per document.

The layout is ours (``docs/reconciliation-formats.md``), the same in CSV and XLSX::

    BẢNG KÊ CHỨNG TỪ NỘP NGÂN SÁCH NHÀ NƯỚC                ← optional title
    Ngày báo cáo,15/05/2024                                ← optional
    Tổng số chứng từ,2                                     ← required
    Tổng số tiền,"1,700,000"                               ← required
    Số chứng từ,Ngày chứng từ,Mã KBNN,Tài khoản,Chương,Tiểu mục,Loại thu,Mã cơ quan,Số tiền,…
    0001234,15/05/2024,0011,7111,018,2662,Lệ phí,1012345,1500000,Lệ phí cấp hộ chiếu

(the last column is ``Diễn giải``, optional).

``Tài khoản`` is 7111 (budget revenue) or 3511 (fees pending); ``Chương`` three digits,
``Tiểu mục`` four, ``Mã KBNN`` four; ``Loại thu`` *Phí* → ``fee``, *Lệ phí* → ``charge``.
In XLSX a code typed as a number (``18``) is read zero-padded (``018``), since Excel drops
leading zeros. The header block's count and total must tie to the rows.
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
from .rows import read_lines
from .sheets import (
    Column,
    CsvOptions,
    Row,
    cell_text,
    csv_rows,
    declared_date,
    labelled_values,
    locate_header,
    xlsx_rows,
)
from .values import BadValue, Tally, check_date, date_of, header_key, whole_vnd

FORMAT_CSV: Final = "treasury_csv"
FORMAT_XLSX: Final = "treasury_xlsx"
DATE_FORMAT: Final = "%d/%m/%Y"
ACCOUNTS: Final = frozenset({"7111", "3511"})
FEE_KINDS: Final = {"phi": "fee", "le phi": "charge"}
COLUMNS: Final = (
    Column("document_no", ("Số chứng từ", "Số CT")),
    Column("date", ("Ngày chứng từ", "Ngày CT")),
    Column("office", ("Mã KBNN", "Mã kho bạc")),
    Column("account", ("Tài khoản", "TK")),
    Column("chapter", ("Chương",)),
    Column("sub_item", ("Tiểu mục",)),
    Column("fee_kind", ("Loại thu", "Loại phí")),
    Column("agency", ("Mã cơ quan", "Mã ĐVQHNS", "Mã đơn vị")),
    Column("amount", ("Số tiền",)),
    Column("text", ("Diễn giải", "Nội dung"), required=False),
)
#: Fixed-width codes: (column, Vietnamese name, digits).
CODES: Final = (
    ("office", "Mã KBNN", 4),
    ("account", "Tài khoản", 4),
    ("chapter", "Chương", 3),
    ("sub_item", "Tiểu mục", 4),
)
LABEL_DAY: Final = "ngay bao cao"
LABEL_COUNT: Final = "tong so chung tu"
LABEL_TOTAL: Final = "tong so tien"


def parse_treasury_csv(
    data: bytes, *, as_of: date | None = None, thousands: str = ",", **csv: Unpack[CsvOptions]
) -> ParsedFile:
    rows = csv_rows(data, **csv)
    return _parse(rows, as_of=as_of, thousands=thousands, fmt=FORMAT_CSV)


def parse_treasury_xlsx(
    data: bytes, *, as_of: date | None = None, thousands: str = ",", sheet: str | None = None
) -> ParsedFile:
    rows = xlsx_rows(data, sheet=sheet)
    return _parse(rows, as_of=as_of, thousands=thousands, fmt=FORMAT_XLSX)


def _parse(rows: list[Row], *, as_of: date | None, thousands: str, fmt: str) -> ParsedFile:
    header_at, where = locate_header(rows, COLUMNS)
    day, declared_count, declared_total = _header_block(rows[:header_at], thousands)
    reference_day = day or as_of
    tally = Tally()
    lines, errors = read_lines(
        rows[header_at + 1 :], lambda row: _line(row, where, reference_day, thousands), tally
    )
    if declared_count != tally.count:
        raise ParseError(
            codes.COUNT_MISMATCH,
            f"header says {declared_count} documents, the file has {tally.count}",
        )
    if tally.complete and declared_total != tally.credits:
        raise ParseError(
            codes.TOTALS_DO_NOT_TIE,
            f"header says {declared_total}, the documents sum to {tally.credits}",
        )
    return ParsedFile(
        source=Source.TREASURY,
        lines=tuple(lines),
        errors=tuple(errors),
        control=ControlTotals(total_credits=declared_total, entry_count=declared_count),
        period_start=day,
        period_end=day,
        format=fmt,
    )


def _header_block(preamble: list[Row], thousands: str) -> tuple[date | None, int, int]:
    labels = labelled_values(preamble)
    for label in (LABEL_COUNT, LABEL_TOTAL):
        if label not in labels or labels[label][1] is None:
            raise ParseError(
                codes.MISSING_TOTAL,
                "the header block needs 'Tổng số chứng từ' and 'Tổng số tiền' above the columns",
            )
    day = declared_date(preamble, {LABEL_DAY}, DATE_FORMAT, what="Ngày báo cáo")
    try:
        count = whole_vnd(labels[LABEL_COUNT][1], thousands="", allow_zero=True, what="count")
        total = whole_vnd(
            labels[LABEL_TOTAL][1], thousands=thousands, allow_zero=True, what="Tổng số tiền"
        )
    except BadValue as problem:
        raise ParseError(problem.code, f"header block: {problem.message}") from None
    return day, count, total


def _line(
    row: Row, where: dict[str, int], reference_day: date | None, thousands: str
) -> StatementLine:
    def cell(field: str) -> object:
        return row.cell(where[field])

    document_no = cell_text(cell("document_no"))
    agency = cell_text(cell("agency"))
    for value, label in ((document_no, "Số chứng từ"), (agency, "Mã cơ quan")):
        if not value:
            raise BadValue(codes.MISSING_FIELD, f"{label} is empty")
    fixed = {name: _code(cell(name), label, digits) for name, label, digits in CODES}
    if fixed["account"] not in ACCOUNTS:
        raise BadValue(codes.BAD_FIELD, f"Tài khoản {fixed['account']} is not 7111 or 3511")
    kind_text = cell_text(cell("fee_kind"))
    fee_kind = FEE_KINDS.get(header_key(kind_text))
    if fee_kind is None:
        raise BadValue(codes.BAD_FIELD, f"Loại thu {kind_text!r} is not Phí or Lệ phí")
    amount = whole_vnd(cell("amount"), thousands=thousands, what="Số tiền")
    booked = date_of(cell("date"), DATE_FORMAT, what="Ngày chứng từ")
    return StatementLine(
        source=Source.TREASURY,
        line_no=row.line_no,
        amount=amount,
        direction=Direction.CREDIT,
        booking_date=check_date(booked, reference_day, what="Ngày chứng từ"),
        text=cell_text(cell("text")) if "text" in where else "",
        account=fixed["account"],
        fee_kind=fee_kind,
        agency_code=agency,
        document_no=document_no,
        extra={
            "kbnn_office": fixed["office"],
            "chapter": fixed["chapter"],
            "sub_item": fixed["sub_item"],
        },
    )


def _code(value: object, label: str, digits: int) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**digits:
        return f"{value:0{digits}d}"  # a code typed into Excel as a number lost its zeros
    text = cell_text(value)
    if not text:
        raise BadValue(codes.MISSING_FIELD, f"{label} is empty")
    if not re.fullmatch(rf"\d{{{digits}}}", text):
        raise BadValue(codes.BAD_FIELD, f"{label} {text!r} is not {digits} digits")
    return text
