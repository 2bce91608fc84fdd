"""The normalised statement line every source is parsed into, and the shape of a parsed file.

Amounts are positive ``int`` VND with a ``direction``; dates are business dates
(Asia/Ho_Chi_Minh). A parser never invents a value: a row it cannot read is a
:class:`RowError` with its line number, never a line with a zero amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


#: Business days staff can name (API, console, CLI): adding a window or transit days to one
#: never overflows.
BUSINESS_DAYS = (date(2000, 1, 1), date(2999, 12, 31))


def business_day(text: object) -> date | None:
    """``text`` as a business day (``YYYY-MM-DD`` within :data:`BUSINESS_DAYS`), else None."""
    try:
        day = date.fromisoformat(text if isinstance(text, str) else "")
    except ValueError:
        return None
    return day if BUSINESS_DAYS[0] <= day <= BUSINESS_DAYS[1] else None


class Source(StrEnum):
    GATEWAY = "gateway"  # our own ledger: payments, refunds, COD (the internal side)
    VNPAY = "vnpay"  # VNPAY day settlement file
    POS = "pos"  # POS terminal end-of-day settlement
    BANK = "bank"  # bank statement of a collection account (camt.053/054, MT940, CSV/XLSX)
    TREASURY = "treasury"  # State Treasury (KBNN) records
    COD = "cod"  # collect-on-delivery remittances from the postal operator


class Direction(StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"


@dataclass(frozen=True, slots=True)
class StatementLine:
    source: Source
    line_no: int  # 1-based line (CSV), row (XLSX) or entry index (XML/MT940) in the file
    amount: int  # VND, > 0
    direction: Direction
    booking_date: date
    value_date: date | None = None
    #: Our payment reference when the source carries it (gateway ledger, provider files).
    reference: str | None = None
    #: The provider's transaction id (VNPAY TransactionNo, POS RRN, bank AcctSvcrRef).
    provider_txn_id: str | None = None
    end_to_end_id: str | None = None
    #: Remittance information / description exactly as the source gave it.
    text: str = ""
    account: str | None = None
    #: Provider status where the source reports one (``succeeded``/``failed``), else None.
    status: str | None = None
    #: Treasury and ledger lines: ``fee`` (phí) or ``charge`` (lệ phí).
    fee_kind: str | None = None
    agency_code: str | None = None
    #: Treasury document number, provider batch/settlement id.
    document_no: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RowError:
    line_no: int
    #: Stable: bad_amount, bad_date, date_out_of_range, unknown_currency, missing_field, ...
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ControlTotals:
    """What the file says about itself, to tie to (any may be absent in a format)."""

    opening_balance: int | None = None
    closing_balance: int | None = None
    total_credits: int | None = None
    total_debits: int | None = None
    entry_count: int | None = None


@dataclass(frozen=True)
class ParsedFile:
    source: Source
    lines: tuple[StatementLine, ...]
    errors: tuple[RowError, ...] = ()
    control: ControlTotals = ControlTotals()
    account: str | None = None
    currency: str = "VND"
    period_start: date | None = None
    period_end: date | None = None
    #: Format as detected, e.g. ``camt.053.001.08``, ``mt940``, ``vnpay_day_csv``.
    format: str = ""


class ParseError(ValueError):
    """The file as a whole cannot be accepted; ``code`` says why (``malformed_xml``,
    ``external_entity``, ``unsupported_namespace``, ``missing_column``, ``balances_do_not_tie``,
    ``count_mismatch``, ``not_a_statement``, ``too_large`` …)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
