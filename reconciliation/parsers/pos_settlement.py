"""POS terminal end-of-day settlement (CSV with typed records), one batch per terminal.

The acquirer's file, as we define it (``docs/reconciliation-formats.md``)::

    HDR,<merchant id>,<settlement day dd/mm/yyyy>,<currency VND>
    DTL,<TID>,<batch>,<RRN>,<approval code>,<masked PAN>,<amount>,<dd/mm/yyyy HH:MM:SS>,<type>
    TRL,<TID>,<batch>,<number of DTL records>,<net amount: SALE − REFUND>

(``<type>`` is ``SALE``, ``VOID`` or ``REFUND``.)

Exactly one ``HDR``, first. Every (TID, batch) that has ``DTL`` records has exactly one
``TRL`` whose count and net must tie. ``SALE`` → credit, succeeded; ``REFUND`` → debit,
succeeded; ``VOID`` (a sale cancelled before settlement) → credit, ``failed``, not in the
net. RRN → ``provider_txn_id``, batch → ``document_no``, TID → ``account``. A PAN must be
masked (first 6 and last 4 digits at most); an unmasked one is refused and never echoed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Final, Unpack

from reconciliation.model import (
    ControlTotals,
    Direction,
    ParsedFile,
    ParseError,
    RowError,
    Source,
    StatementLine,
)

from . import codes
from .sheets import CsvOptions, Row, csv_rows
from .values import (
    BadValue,
    Tally,
    check_currency,
    check_date,
    local_time,
    parse_amount,
    parse_date,
)

FORMAT: Final = "pos_settlement_csv"
TIME_FORMAT: Final = "%d/%m/%Y %H:%M:%S"
DAY_FORMAT: Final = "%d/%m/%Y"
DTL_FIELDS: Final = 9
TRL_FIELDS: Final = 5
HDR_FIELDS: Final = 4
TYPES: Final = {
    "SALE": (Direction.CREDIT, "succeeded"),
    "REFUND": (Direction.DEBIT, "succeeded"),
    "VOID": (Direction.CREDIT, "failed"),
}
_MASKED_PAN: Final = re.compile(r"\d{0,6}[*Xx]{2,}\d{0,4}")
_RRN: Final = re.compile(r"[0-9A-Za-z]{12}")


@dataclass
class _Batch:
    tally: Tally = field(default_factory=Tally)
    trailer: Row | None = None


def parse_pos_settlement(
    data: bytes, *, as_of: date | None = None, thousands: str = "", **csv: Unpack[CsvOptions]
) -> ParsedFile:
    rows = csv_rows(data, **csv)
    if not rows or rows[0].text(0).upper() != "HDR":
        raise ParseError(codes.NOT_A_STATEMENT, "a POS settlement file starts with an HDR record")
    merchant, day = _header(rows[0])

    lines: list[StatementLine] = []
    errors: list[RowError] = []
    batches: dict[tuple[str, str], _Batch] = {}
    unassigned = False  # a DTL without TID/batch cannot be tied to any trailer
    for row in rows[1:]:
        kind = row.text(0).upper()
        key = (row.text(1), row.text(2))
        if kind == "TRL":
            batch = batches.setdefault(key, _Batch())
            if batch.trailer is not None:
                raise ParseError(
                    codes.COUNT_MISMATCH,
                    f"line {row.line_no}: a second TRL for terminal {key[0]} batch {key[1]}",
                )
            batch.trailer = row
            continue
        if kind != "DTL":
            errors.append(RowError(row.line_no, codes.BAD_RECORD, f"record type {kind!r}"))
            continue
        if not all(key):
            errors.append(RowError(row.line_no, codes.MISSING_FIELD, "terminal id or batch empty"))
            unassigned = True
            continue
        tally = batches.setdefault(key, _Batch()).tally
        try:
            line = _detail(row, day or as_of, thousands)
        except BadValue as problem:
            errors.append(RowError(row.line_no, problem.code, problem.message))
            tally.add(None)
            continue
        lines.append(line)
        tally.add_line(line)

    total = Tally()
    for (terminal, batch_no), batch in batches.items():
        _tie(terminal, batch_no, batch, thousands, check_count=not unassigned)
        total.count += batch.tally.count
        total.credits += batch.tally.credits
        total.debits += batch.tally.debits
        total.complete &= batch.tally.complete
    return ParsedFile(
        source=Source.POS,
        lines=tuple(lines),
        errors=tuple(errors),
        control=ControlTotals(
            total_credits=total.credits if total.complete else None,
            total_debits=total.debits if total.complete else None,
            entry_count=None if unassigned else total.count,
        ),
        account=merchant,
        period_start=day,
        period_end=day,
        format=FORMAT,
    )


def _header(row: Row) -> tuple[str, date]:
    if len(row.cells) != HDR_FIELDS or not row.text(1):
        raise ParseError(
            codes.NOT_A_STATEMENT,
            f"line {row.line_no}: HDR needs merchant id, settlement day and currency",
        )
    try:
        day = parse_date(row.text(2), DAY_FORMAT, what="settlement day")
    except BadValue as problem:
        raise ParseError(codes.BAD_DATE, f"line {row.line_no}: {problem.message}") from None
    try:
        check_currency(row.text(3))
    except BadValue as problem:
        raise ParseError(codes.UNKNOWN_CURRENCY, f"line {row.line_no}: {problem.message}") from None
    return row.text(1), day


def _detail(row: Row, reference_day: date | None, thousands: str) -> StatementLine:
    if len(row.cells) != DTL_FIELDS:
        raise BadValue(codes.BAD_RECORD, f"DTL has {len(row.cells)} fields, expected {DTL_FIELDS}")
    _, terminal, batch_no, rrn, approval, pan, amount_text, time_text, kind = map(
        row.text, range(DTL_FIELDS)
    )
    if not _RRN.fullmatch(rrn):
        raise BadValue(codes.BAD_FIELD, f"RRN {rrn!r} is not 12 letters/digits")
    if not pan:
        raise BadValue(codes.MISSING_FIELD, "masked card number is empty")
    if not _MASKED_PAN.fullmatch(pan):
        # Never repeat what may be a full card number.
        raise BadValue(codes.BAD_FIELD, "card number is not masked (6 + 4 digits at most)")
    if kind.upper() not in TYPES:
        raise BadValue(codes.BAD_FIELD, f"type {kind!r} is not SALE/VOID/REFUND")
    direction, status = TYPES[kind.upper()]
    amount = parse_amount(amount_text, thousands=thousands, what="amount")
    at = local_time(time_text, (TIME_FORMAT,), what="time", written="dd/mm/yyyy HH:MM:SS")
    extra = {"pos_type": kind.upper(), "masked_pan": pan, "time": at.isoformat()}
    if approval:
        extra["approval_code"] = approval
    return StatementLine(
        source=Source.POS,
        line_no=row.line_no,
        amount=amount,
        direction=direction,
        booking_date=check_date(at.date(), reference_day, what="time"),
        provider_txn_id=rrn,
        account=terminal,
        status=status,
        document_no=batch_no,
        extra=extra,
    )


def _tie(terminal: str, batch_no: str, batch: _Batch, thousands: str, *, check_count: bool) -> None:
    trailer = batch.trailer
    where = f"terminal {terminal} batch {batch_no}"
    if trailer is None:
        raise ParseError(codes.MISSING_TOTAL, f"no TRL for {where}")
    if len(trailer.cells) != TRL_FIELDS:
        raise ParseError(
            codes.MISSING_TOTAL,
            f"line {trailer.line_no}: TRL needs TID, batch, count and net amount",
        )
    try:
        count = parse_amount(trailer.text(3), thousands="", allow_zero=True, what="count")
        net = parse_amount(
            trailer.text(4), thousands=thousands, allow_negative=True, allow_zero=True, what="net"
        )
    except BadValue as problem:
        raise ParseError(problem.code, f"line {trailer.line_no}: {problem.message}") from None
    if check_count and count != batch.tally.count:
        raise ParseError(
            codes.COUNT_MISMATCH,
            f"line {trailer.line_no}: {where} declares {count} records, has {batch.tally.count}",
        )
    if batch.tally.complete and net != batch.tally.net:
        raise ParseError(
            codes.TOTALS_DO_NOT_TIE,
            f"line {trailer.line_no}: {where} declares net {net}, records net {batch.tally.net}",
        )
