"""Reading single values the same way in every parser: amounts, dates, currency, text.

Every reader raises :class:`BadValue` (``code`` from :mod:`.codes`, a message naming the
problem); a parser turns it into a :class:`~reconciliation.model.RowError` for the row.

Amounts are integer VND. A *declared style* says which character groups thousands
(``","`` → ``150,000`` and decimal point ``.``; ``"."`` → ``150.000`` and decimal comma
``,``; ``""`` → no grouping, decimal point ``.``). Groups must be exactly three digits after
a first group of one to three (``1,50,000`` is refused). A decimal part is accepted only if
it is one or two zeros (``150,000.00``): VND has no minor unit, so ``150000.50`` is refused
rather than rounded, and ``150.000`` in the comma style is refused rather than read as 150.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from reconciliation.model import BUSINESS_TZ, Direction, ParseError, StatementLine

from . import codes

#: Dates before this are refused as ``date_out_of_range`` (no collection account is older).
EARLIEST_DATE: Final = date(2000, 1, 1)

_D_MAP: Final = str.maketrans({"đ": "d", "Đ": "D"})
_DECIMAL_MARK: Final = {",": ".", ".": ",", "": "."}


class BadValue(ValueError):
    """One value cannot be accepted; becomes a ``RowError`` for its row."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- text --------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Drop Vietnamese (and any Latin) diacritics; ``đ``→``d``. Case is kept."""
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped).translate(_D_MAP)


def header_key(text: str) -> str:
    """Comparable form of a column header or label: folded, case-folded, one space.

    ``"  Mã GD   VNPAY "`` → ``"ma gd vnpay"``; ``"Số tiền (VND)"`` → ``"so tien (vnd)"``.
    """
    return " ".join(fold(text).casefold().split())


def header_keys(text: str) -> frozenset[str]:
    """:func:`header_key` of a header, without and inside a trailing parenthesis too.

    ``"Mã GD VNPAY (vnp_TransactionNo)"`` answers to ``ma gd vnpay (vnp_transactionno)``,
    ``ma gd vnpay`` and ``vnp_transactionno``.
    """
    key = header_key(text)
    keys = {key}
    match = re.fullmatch(r"(.*?)\s*\(([^()]*)\)", key)
    if match:
        keys |= {match.group(1).strip(), match.group(2).strip()}
    return frozenset(k for k in keys if k)


def decode(data: bytes, encoding: str) -> str:
    """Bytes to text, strictly; a UTF-8 byte-order mark is dropped whatever the encoding."""
    if data.startswith(b"\xef\xbb\xbf") and encoding.replace("_", "-").lower() in {
        "utf-8",
        "utf8",
        "utf-8-sig",
    }:
        data = data[3:]
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise ParseError(codes.BAD_ENCODING, f"not {encoding} text: {exc}") from None


# --- amounts -----------------------------------------------------------------------------


def parse_amount(
    text: str,
    *,
    thousands: str = ",",
    allow_negative: bool = False,
    allow_zero: bool = False,
    what: str = "amount",
) -> int:
    """Integer VND from text in the declared style; signed only if ``allow_negative``."""
    if thousands not in _DECIMAL_MARK:
        raise ValueError(f"thousands separator must be ',', '.' or '', not {thousands!r}")
    raw = text.strip()  # also a non-breaking space at the ends; inside, it is no separator
    if not raw:
        raise BadValue(codes.BAD_AMOUNT, f"{what} is empty")
    sign = 1
    body = raw
    if body[0] in "+-":
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    mark = _DECIMAL_MARK[thousands]
    whole, has_mark, fraction = body.partition(mark)
    if mark in fraction or (has_mark and not fraction):
        raise BadValue(codes.BAD_AMOUNT, f"{what} {raw!r} is not a number")
    if fraction and not fraction.isdecimal():
        raise BadValue(codes.BAD_AMOUNT, f"{what} {raw!r} is not a number")
    grouped = thousands and re.fullmatch(rf"\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+", whole)
    if not (grouped or re.fullmatch(r"\d+", whole)) or not whole.isascii():
        raise BadValue(
            codes.BAD_AMOUNT,
            f"{what} {raw!r} is not an integer in the declared style "
            f"(thousands {thousands or 'none'!r}, decimal {mark!r})",
        )
    if fraction.strip("0"):
        raise BadValue(codes.BAD_AMOUNT, f"{what} {raw!r} has a fraction; VND has no minor unit")
    if len(fraction) > 2:
        # "150.000" in the comma style is a thousands group in the wrong style, not 150.
        raise BadValue(
            codes.BAD_AMOUNT,
            f"{what} {raw!r}: {len(fraction)} decimals look like a thousands group",
        )
    number = sign * int(whole.replace(thousands, "") if thousands else whole)
    return _checked(number, raw, what, allow_negative=allow_negative, allow_zero=allow_zero)


def whole_vnd(
    value: object,
    *,
    thousands: str = ",",
    allow_negative: bool = False,
    allow_zero: bool = False,
    what: str = "amount",
) -> int:
    """Integer VND from a spreadsheet cell (int, integral float, Decimal) or text."""
    if isinstance(value, bool) or value is None:
        raise BadValue(
            codes.BAD_AMOUNT, f"{what} is empty" if value is None else f"{what} is a boolean"
        )
    if isinstance(value, str):
        return parse_amount(
            value,
            thousands=thousands,
            allow_negative=allow_negative,
            allow_zero=allow_zero,
            what=what,
        )
    if isinstance(value, int):
        number = value
    elif isinstance(value, float | Decimal):
        if not Decimal(value).is_finite() or Decimal(value) != Decimal(value).to_integral_value():
            raise BadValue(
                codes.BAD_AMOUNT, f"{what} {value} has a fraction; VND has no minor unit"
            )
        number = int(value)
    else:
        raise BadValue(codes.BAD_AMOUNT, f"{what} {value!r} is not a number")
    return _checked(number, str(value), what, allow_negative=allow_negative, allow_zero=allow_zero)


def _checked(number: int, raw: str, what: str, *, allow_negative: bool, allow_zero: bool) -> int:
    if number < 0 and not allow_negative:
        raise BadValue(codes.BAD_AMOUNT, f"{what} {raw!r} is negative")
    if number == 0 and not allow_zero:
        raise BadValue(codes.BAD_AMOUNT, f"{what} is zero")
    return number


# --- dates -------------------------------------------------------------------------------


def parse_date(text: str, fmt: str, *, what: str = "date") -> date:
    """A date from text in ``fmt`` (``strptime`` directives), surrounding spaces ignored."""
    raw = text.strip()
    if not raw:
        raise BadValue(codes.BAD_DATE, f"{what} is empty")
    try:
        return datetime.strptime(raw, fmt).date()  # noqa: DTZ007 (a calendar date, no zone)
    except ValueError:
        raise BadValue(codes.BAD_DATE, f"{what} {raw!r} is not a date in format {fmt}") from None


def local_time(text: str, formats: tuple[str, ...], *, what: str, written: str) -> datetime:
    """A moment in Vietnam time from text in the first of ``formats`` that reads it;
    ``written`` shows the formats to a finance user (``dd/mm/yyyy HH:MM:SS``)."""
    if not text:
        raise BadValue(codes.BAD_DATE, f"{what} is empty")
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=BUSINESS_TZ)
        except ValueError:
            continue
    raise BadValue(codes.BAD_DATE, f"{what} {text!r} is not {written}")


def date_of(value: object, fmt: str, *, what: str = "date") -> date:
    """A date from a spreadsheet cell (date, datetime) or from text in ``fmt``.

    An aware datetime is taken in Asia/Ho_Chi_Minh; a naive one as written.
    """
    if isinstance(value, datetime):
        return (value.astimezone(BUSINESS_TZ) if value.tzinfo else value).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return parse_date(value, fmt, what=what)
    if value is None:
        raise BadValue(codes.BAD_DATE, f"{what} is empty")
    raise BadValue(codes.BAD_DATE, f"{what} {value!r} is not a date")


def latest_date(reference: date) -> date:
    """One year after ``reference``: the last date a line may carry."""
    try:
        return reference.replace(year=reference.year + 1)
    except ValueError:  # 29 February
        return date(reference.year + 1, 2, 28)


def check_date(value: date, reference: date | None, *, what: str = "date") -> date:
    """``value`` if it is sane: not before 2000, not more than a year after ``reference``.

    ``reference`` is the statement's period end or the file's declared date (else the
    caller's ``as_of``); without one only the lower bound applies.
    """
    if value < EARLIEST_DATE:
        raise BadValue(codes.DATE_OUT_OF_RANGE, f"{what} {value.isoformat()} is before 2000")
    if reference is not None and value > latest_date(reference):
        raise BadValue(
            codes.DATE_OUT_OF_RANGE,
            f"{what} {value.isoformat()} is more than a year after {reference.isoformat()}",
        )
    return value


# --- currency ----------------------------------------------------------------------------


def check_currency(text: str | None, *, what: str = "currency") -> str:
    """``"VND"`` for ``VND``/``VNĐ``/``704`` in any case; anything else is refused."""
    raw = (text or "").strip()
    if header_key(raw) in {"vnd", "704"}:
        return "VND"
    raise BadValue(
        codes.UNKNOWN_CURRENCY, f"{what} {raw!r} is not VND" if raw else f"{what} is empty"
    )


@dataclass(slots=True)
class Tally:
    """Sums the rows of a file as the file itself would, to tie to its control totals.

    ``complete`` turns False as soon as one row's amount could not be read: the file then
    already carries that row's ``bad_amount``, and a sum without it cannot be compared.
    """

    count: int = 0
    credits: int = 0
    debits: int = 0
    complete: bool = True

    def add(self, amount: int | None, *, credit: bool = True) -> None:
        self.count += 1
        if amount is None:
            self.complete = False
        elif credit:
            self.credits += amount
        else:
            self.debits += amount

    def add_unsettled(self) -> None:
        """Count a row that moves no money (a failed payment, a voided sale)."""
        self.count += 1

    def add_line(self, line: StatementLine) -> None:
        """Count a parsed line: one that ``failed`` moves no money, any other its amount."""
        if line.status == "failed":
            self.add_unsettled()
        else:
            self.add(line.amount, credit=line.direction is Direction.CREDIT)

    @property
    def net(self) -> int:
        return self.credits - self.debits
