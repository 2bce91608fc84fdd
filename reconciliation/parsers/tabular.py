"""Bank statements exported as CSV or XLSX, read through a declared column mapping.

Each bank exports its own columns; a :class:`ColumnMapping` names them (header text, matched
after folding diacritics and case) and declares how values are written. The header row is
the first of the first 50 rows that has every mapped column; rows above it (a title, the
account, the period) are ignored. Every row below it is a transaction: one with a problem
is a :class:`~reconciliation.model.RowError`, never skipped. These exports carry no control
totals we can rely on, so :class:`~reconciliation.model.ControlTotals` stays empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Final

from reconciliation.model import ControlTotals, Direction, ParsedFile, Source, StatementLine

from . import codes
from .rows import read_lines
from .sheets import Column, Row, cell_text, csv_rows, locate_header, xlsx_rows
from .values import BadValue, check_currency, check_date, date_of, whole_vnd

FORMAT_CSV: Final = "bank_csv"
FORMAT_XLSX: Final = "bank_xlsx"

_Cell = Callable[[str], object]


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnMapping:
    """Which header holds what, and how values are written.

    Give either ``amount`` (signed: a negative amount is a debit) or both ``credit`` and
    ``debit`` (unsigned; on each row exactly one holds a non-zero amount). ``reference`` is
    the bank's own transaction reference (→ ``provider_txn_id``); our payment reference is
    looked for in ``text`` by the matching engine. ``account`` is the collection account of
    the row, for a multi-account export. ``date_format`` applies to text dates; XLSX date
    cells are read as dates. ``thousands`` is the grouping character (``","``, ``"."`` or
    ``""``), the decimal mark being the other one.
    """

    date: str
    text: str
    amount: str | None = None
    credit: str | None = None
    debit: str | None = None
    reference: str | None = None
    value_date: str | None = None
    account: str | None = None
    currency: str | None = None
    date_format: str = "%d/%m/%Y"
    thousands: str = ","
    encoding: str = "utf-8-sig"
    delimiter: str = ","
    sheet: str | None = None

    def __post_init__(self) -> None:
        split = (self.credit is not None, self.debit is not None)
        if (self.amount is not None) == any(split) or any(split) != all(split):
            raise ValueError("ColumnMapping needs either amount, or both credit and debit")
        if self.thousands not in {",", ".", ""}:
            raise ValueError(f"thousands must be ',', '.' or '', not {self.thousands!r}")

    def columns(self) -> tuple[Column, ...]:
        named = {
            "date": self.date,
            "text": self.text,
            "amount": self.amount,
            "credit": self.credit,
            "debit": self.debit,
            "reference": self.reference,
            "value_date": self.value_date,
            "account": self.account,
            "currency": self.currency,
        }
        return tuple(Column(field, (name,)) for field, name in named.items() if name)


def parse_bank_csv(
    data: bytes, *, mapping: ColumnMapping, account: str | None = None, as_of: date | None = None
) -> ParsedFile:
    rows = csv_rows(data, encoding=mapping.encoding, delimiter=mapping.delimiter)
    return _parse(rows, mapping, account=account, as_of=as_of, fmt=FORMAT_CSV)


def parse_bank_xlsx(
    data: bytes, *, mapping: ColumnMapping, account: str | None = None, as_of: date | None = None
) -> ParsedFile:
    rows = xlsx_rows(data, sheet=mapping.sheet)
    return _parse(rows, mapping, account=account, as_of=as_of, fmt=FORMAT_XLSX)


def _parse(
    rows: list[Row], mapping: ColumnMapping, *, account: str | None, as_of: date | None, fmt: str
) -> ParsedFile:
    """``as_of`` (the statement day, if the caller knows it) bounds dates from above."""
    header_at, where = locate_header(rows, mapping.columns())
    width = len(rows[header_at].cells)
    lines, errors = read_lines(
        rows[header_at + 1 :], lambda row: _line(row, where, width, mapping, account, as_of)
    )
    return ParsedFile(
        source=Source.BANK,
        lines=tuple(lines),
        errors=tuple(errors),
        control=ControlTotals(),
        account=account,
        format=fmt,
    )


def _line(
    row: Row,
    where: dict[str, int],
    width: int,
    mapping: ColumnMapping,
    account: str | None,
    as_of: date | None,
) -> StatementLine:
    def cell(field: str) -> object:
        return row.cell(where[field]) if field in where else None

    extra = [text for text in map(cell_text, row.cells[width:]) if text]
    if extra:
        # More values than headings: the columns have shifted (an unquoted "150,000" is two
        # cells), so no cell can be trusted to be the column it sits under.
        raise BadValue(
            codes.BAD_RECORD,
            f"{width + len(extra)} or more values under {width} headings "
            f"(first extra value {extra[0]!r}); an unquoted thousands separator?",
        )

    amount, direction = _amount(cell, mapping)
    if mapping.currency:
        check_currency(cell_text(cell("currency")), what=mapping.currency)
    booked = check_date(
        date_of(cell("date"), mapping.date_format, what=mapping.date),
        as_of,
        what=mapping.date,
    )
    value_date = None
    if mapping.value_date and cell_text(cell("value_date")):
        value_date = check_date(
            date_of(cell("value_date"), mapping.date_format, what=mapping.value_date),
            as_of,
            what=mapping.value_date,
        )
    return StatementLine(
        source=Source.BANK,
        line_no=row.line_no,
        amount=amount,
        direction=direction,
        booking_date=booked,
        value_date=value_date,
        provider_txn_id=cell_text(cell("reference")) or None,
        text=cell_text(cell("text")),
        account=cell_text(cell("account")) or account,
    )


def _amount(cell: _Cell, mapping: ColumnMapping) -> tuple[int, Direction]:
    style = mapping.thousands
    if mapping.amount:
        signed = whole_vnd(
            cell("amount"), thousands=style, allow_negative=True, what=mapping.amount
        )
        return abs(signed), Direction.CREDIT if signed > 0 else Direction.DEBIT
    assert mapping.credit and mapping.debit  # checked in ColumnMapping.__post_init__
    sides: dict[Direction, int] = {}
    for field, name in ((Direction.CREDIT, mapping.credit), (Direction.DEBIT, mapping.debit)):
        value = cell(field.value)
        if cell_text(value):
            amount = whole_vnd(value, thousands=style, allow_zero=True, what=name)
            if amount:
                sides[field] = amount
    if len(sides) != 1:
        raise BadValue(
            codes.BAD_AMOUNT,
            f"exactly one of {mapping.credit!r} and {mapping.debit!r} must hold an amount, "
            f"{'both do' if sides else 'neither does'}",
        )
    [(direction, amount)] = sides.items()
    return amount, direction
