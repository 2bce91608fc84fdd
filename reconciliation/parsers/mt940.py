"""SWIFT MT940 customer statements, through the ``mt-940`` package.

The package splits the message into tags, files ``:86:`` under the ``:61:`` before it and
keeps ``:20:``/``:25:``/``:28C:``. It is lenient where we must not be, so three of its tags
are replaced (:class:`_StatementLine`, :class:`_Balance`): amounts and dates are read here,
strictly. Its pattern would read ``150000.50`` as 150000 with ``.50`` in the reference, and
its pre-processor turns 30 February into the 28th; its balance pattern stops at a ``.``.

One statement per file: ``:60F:`` (or ``:60M:``) + credits − debits = ``:62F:`` (or
``:62M:``), else ``balances_do_not_tie``. VND amounts must be whole (``150000,`` or
``150000,00``). ``line_no`` is the 1-based index of the ``:61:`` entry.
"""

from __future__ import annotations

import re
from datetime import date
from itertools import count
from typing import Any, ClassVar, Final

import mt940
from mt940.models import Transactions

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
from .values import BadValue, Tally, check_date, decode, parse_amount

FORMAT: Final = "mt940"
NO_REFERENCE: Final = "NONREF"
#: 6!n[4!n]2a[1!a]15d1!a3!c: value date, entry date, mark, funds code, amount, type code.
_LINE: Final = re.compile(
    r"(?P<value>\d{6})(?P<entry>\d{4})?(?P<mark>R?[CD])(?P<funds>[A-Z])?"
    r"(?P<amount>[^A-Z\n]*?)(?P<type>[A-Z][A-Z0-9]{3})(?P<rest>.*)",
    re.DOTALL,
)
_BALANCE: Final = re.compile(r"(?P<mark>[CD])(?P<date>\d{6})(?P<currency>[A-Z]{3})(?P<amount>\S*)")
_MARKS: Final = {
    "C": Direction.CREDIT,
    "D": Direction.DEBIT,
    "RC": Direction.DEBIT,  # reversal of a credit takes the money out again
    "RD": Direction.CREDIT,
}
_TRAILER_LINE: Final = re.compile(r"^-\}?\s*$", re.MULTILINE)


class _StatementLine(mt940.tags.Statement):
    """``:61:`` kept as raw text; every one opens its own transaction."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = count(1)

    def parse(self, transactions: Transactions, value: str) -> dict[str, str | None]:
        del transactions  # the base class would log and raise on a line it cannot match
        return {"raw": value}

    def __call__(self, transactions: Transactions, value: dict[str, Any]) -> dict[str, object]:
        del transactions
        # The package merges a :61: into the previous transaction unless that one has a
        # truthy ``id``: give each its ordinal, so two entries can never merge.
        return {"raw": value["raw"], "id": str(next(self.seen))}


class _Balance(mt940.tags.Tag):
    """A balance tag kept as raw text, read by :func:`_balance`; one of each per file."""

    pattern: ClassVar[str] = r"(?P<raw>[\s\S]*)"
    key: ClassVar[str]

    def __call__(self, transactions: Transactions, value: dict[str, Any]) -> dict[str, object]:
        if self.key in transactions.data:
            raise ParseError(
                codes.MULTIPLE_STATEMENTS, f"a second :{self.id}: balance; one statement per file"
            )
        return {self.key: (self.id, value["raw"])}


class _Opening(_Balance):
    id: ClassVar[str | int] = "60F"
    key: ClassVar[str] = "opening"


class _IntermediateOpening(_Opening):
    id: ClassVar[str | int] = "60M"


class _Closing(_Balance):
    id: ClassVar[str | int] = "62F"
    key: ClassVar[str] = "closing"


class _IntermediateClosing(_Closing):
    id: ClassVar[str | int] = "62M"


def parse_mt940(data: bytes, *, as_of: date | None = None, encoding: str = "utf-8") -> ParsedFile:
    """Parse one MT940 statement. ``as_of`` bounds dates if the closing balance has none."""
    text = _TRAILER_LINE.sub("", decode(data, encoding))
    statement_line = _StatementLine()
    tags: dict[int | str, mt940.tags.Tag] = {
        61: statement_line,
        **{
            tag.id: tag
            for tag in (_Opening(), _IntermediateOpening(), _Closing(), _IntermediateClosing())
        },
    }
    # Not mt940.parse(): given bytes or a str that names an existing file, it reads the file.
    statement = Transactions(
        processors={"pre_statement": [], "post_statement": [], "post_transaction_details": []},
        tags=tags,
        options=mt940.Options(unbounded_details=True),
    )
    try:
        statement.parse(text)
    except ParseError:  # from our own tags; a ValueError too, so let it through first
        raise
    except (RuntimeError, ValueError, KeyError, IndexError, ArithmeticError) as exc:
        raise ParseError(codes.MALFORMED_MT940, f"MT940 tags cannot be read: {exc}") from None
    entries_seen = next(statement_line.seen) - 1
    if "opening" not in statement.data or "closing" not in statement.data:
        if not entries_seen and not statement.data:
            raise ParseError(codes.NOT_A_STATEMENT, "no MT940 tags")
        raise ParseError(codes.MISSING_BALANCE, "an MT940 needs :60F:/:60M: and :62F:/:62M:")
    if entries_seen != len(statement.transactions):
        raise ParseError(
            codes.MALFORMED_MT940,
            f"{entries_seen} :61: lines but {len(statement.transactions)} transactions read",
        )
    opening, _ = _balance(*statement.data["opening"])
    closing, closing_day = _balance(*statement.data["closing"])
    reference_day = closing_day or as_of
    account = str(statement.data.get("account_identification") or "").strip() or None

    lines: list[StatementLine] = []
    errors: list[RowError] = []
    tally = Tally()
    for index, transaction in enumerate(statement.transactions, 1):
        try:
            line = _line(index, transaction.data, account, reference_day, tally)
        except BadValue as problem:
            errors.append(RowError(index, problem.code, problem.message))
            continue
        lines.append(line)
    if tally.complete and opening + tally.net != closing:
        raise ParseError(
            codes.BALANCES_DO_NOT_TIE,
            f"opening {opening} + credits {tally.credits} − debits {tally.debits} = "
            f"{opening + tally.net}, closing balance is {closing}",
        )
    return ParsedFile(
        source=Source.BANK,
        lines=tuple(lines),
        errors=tuple(errors),
        control=ControlTotals(opening_balance=opening, closing_balance=closing),
        account=account,
        period_start=closing_day,
        period_end=closing_day,
        format=FORMAT,
    )


def _yymmdd(text: str, what: str) -> date:
    try:
        return date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise BadValue(codes.BAD_DATE, f"{what} {text!r} is not a YYMMDD date") from None


def _balance(tag: str, raw: str) -> tuple[int, date]:
    """Signed balance and its date from ``C240515VND1500000,``."""
    match = _BALANCE.fullmatch(raw.strip().split("\n")[0].strip())
    if not match:
        raise ParseError(codes.MALFORMED_MT940, f":{tag}: {raw.strip()!r} is not a balance")
    if match["currency"] != "VND":
        raise ParseError(codes.UNKNOWN_CURRENCY, f":{tag}: currency {match['currency']} is not VND")
    try:
        amount = _amount(match["amount"], f":{tag}: balance", allow_zero=True)
        day = _yymmdd(match["date"], f":{tag}: date")
    except BadValue as problem:
        raise ParseError(problem.code, problem.message) from None
    return (-amount if match["mark"] == "D" else amount), day


def _amount(text: str, what: str, *, allow_zero: bool = False) -> int:
    """SWIFT ``15d``: digits and one decimal comma (``150000,`` / ``150000,00``)."""
    if not re.fullmatch(r"\d+(,\d*)?", text):
        raise BadValue(
            codes.BAD_AMOUNT, f"{what} {text!r} is not SWIFT digits with one decimal comma"
        )
    return parse_amount(text.rstrip(","), thousands=".", allow_zero=allow_zero, what=what)


def _entry_date(value_date: date, mmdd: str) -> date:
    """The entry (booking) date's year is the one that puts it nearest the value date."""
    candidates = []
    for year in (value_date.year - 1, value_date.year, value_date.year + 1):
        try:
            candidates.append(date(year, int(mmdd[:2]), int(mmdd[2:])))
        except ValueError:
            continue
    if not candidates:
        raise BadValue(codes.BAD_DATE, f"entry date {mmdd!r} is not MMDD")
    return min(candidates, key=lambda d: (abs(d - value_date), d))


def _line(
    index: int, data: dict[str, Any], account: str | None, reference_day: date | None, tally: Tally
) -> StatementLine:
    raw = str(data["raw"])
    match = _LINE.fullmatch(raw)
    if not match:
        tally.add(None)
        raise BadValue(codes.BAD_RECORD, f":61: {raw.splitlines()[0]!r} cannot be read")
    direction = _MARKS[match["mark"]]
    try:
        amount = _amount(match["amount"], ":61: amount")
    except BadValue:
        tally.add(None)
        raise
    tally.add(amount, credit=direction is Direction.CREDIT)
    value_date = _yymmdd(match["value"], ":61: value date")
    booking = _entry_date(value_date, match["entry"]) if match["entry"] else value_date
    first, _, supplementary = match["rest"].partition("\n")
    customer_reference, _, bank_reference = first.partition("//")
    extra = {"type_code": match["type"]}
    if customer_reference.strip():
        extra["customer_reference"] = customer_reference.strip()
    if supplementary.strip():
        extra["supplementary"] = supplementary.strip()
    if match["mark"].startswith("R"):
        extra["reversal"] = "true"
    reference = bank_reference.strip() or customer_reference.strip()
    return StatementLine(
        source=Source.BANK,
        line_no=index,
        amount=amount,
        direction=direction,
        booking_date=check_date(booking, reference_day, what=":61: entry date"),
        value_date=check_date(value_date, reference_day, what=":61: value date"),
        provider_txn_id=None if reference in {"", NO_REFERENCE} else reference,
        text=str(data.get("transaction_details") or "").strip(),
        account=account,
        extra=extra,
    )
