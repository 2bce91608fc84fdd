"""The reconciliation API's bodies as pydantic models: what finance staff upload and send,
and the imports, runs, exceptions and closed days they get back."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.core.fields import ListOf, OneOf, ResponseModel, Time
from gateway.core.statuses import ExceptionStatus, ReceiptSummaryStatus, TaxNoticeStatus
from gateway.models.payments import public_id
from reconciliation.bank_layouts import PROFILES
from reconciliation.imports import FORMAT_SOURCES
from reconciliation.rules import ExceptionType
from reconciliation.workflow import RESOLUTIONS

#: The ``source`` of an upload names the file's format.
STATEMENT_FORMATS = tuple(FORMAT_SOURCES)
#: The counterparts: where statement files (and so exceptions) come from.
RECON_SOURCES = tuple(dict.fromkeys(source.value for source in FORMAT_SOURCES.values()))
#: ``superseded`` exceptions (of a run replaced by a re-run) are left out of the queue.
EXCEPTION_STATUSES = tuple(status.value for status in ExceptionStatus)
DAY_FORMAT = "YYYY-MM-DD, a business day in Asia/Ho_Chi_Minh"

Counterpart = Annotated[str, OneOf(RECON_SOURCES)]
Count = Annotated[int, Field(ge=0)]
Vnd = Annotated[int, Field(description="VND")]
RunId = Annotated[str, public_id("run")]


# -- requests (documented; the handlers read them field by field, see gateway/api) ---------


class StatementUpload(BaseModel):
    """Other fields are ignored."""

    source: Annotated[str, OneOf(STATEMENT_FORMATS)] = Field(
        description="The file's format (docs/reconciliation-formats.md)"
    )
    account: str = Field(
        "",
        max_length=34,
        description="The collection account; defaults to the one the file names",
    )
    bank_profile: Annotated[str, OneOf(tuple(PROFILES))] | None = Field(
        None,
        description="`bank_csv`/`bank_xlsx`: a shipped column layout (`vn_standard`: Ngày giao "
        "dịch, Ngày hiệu lực, Số bút toán, Ghi nợ, Ghi có, Mô tả; `generic`: booking_date, "
        "value_date, reference, amount, text, account, ISO dates); or give `mapping`",
    )
    mapping: str | None = Field(
        None,
        max_length=4096,
        description="`bank_csv`/`bank_xlsx`: a JSON object of ColumnMapping keys (`date`, `text`, "
        "`amount` or `credit`+`debit`, `reference`, `value_date`, `account`, `currency`, "
        "`date_format`, `thousands`, `encoding`, `delimiter`, `sheet`; "
        "docs/reconciliation-formats.md)",
    )
    file: bytes = Field(
        description="The statement file as the counterpart sent it",
        json_schema_extra={"contentMediaType": "application/octet-stream"},
    )


class SaveBankMapping(BaseModel):
    """A bank export's column layout: the :class:`ColumnMapping` keys
    (docs/reconciliation-formats.md). Give `amount` (signed) or both `credit` and `debit`."""

    model_config = ConfigDict(extra="forbid")

    date: str = Field(description="Header of the booking date")
    text: str = Field(description="Header of the transfer text (our payment reference is in it)")
    amount: str | None = Field(None, description="Header of a signed amount")
    credit: str | None = Field(None, description="Header of the credit amount (with `debit`)")
    debit: str | None = Field(None, description="Header of the debit amount (with `credit`)")
    reference: str | None = Field(None, description="Header of the bank's own reference")
    value_date: str | None = None
    account: str | None = Field(None, description="Header of the row's account (multi-account)")
    currency: str | None = None
    date_format: str | None = Field(None, description="strftime format of text dates, `%d/%m/%Y`")
    thousands: Literal[",", ".", ""] | None = Field(None, description="grouping character, `,`")
    encoding: str | None = Field(None, description="CSV encoding, `utf-8-sig`")
    delimiter: str | None = Field(None, description="CSV delimiter, `,`")
    sheet: str | None = Field(None, description="XLSX worksheet (default: the first)")


class CreateReconRun(BaseModel):
    """Other fields are ignored."""

    business_date: date


class ResolveException(BaseModel):
    """Other fields are ignored."""

    resolution: Annotated[str, OneOf(RESOLUTIONS)]
    reason: str = Field(min_length=1, pattern=r"\S")


class RejectResolution(BaseModel):
    """Other fields are ignored."""

    reason: str = Field(
        min_length=1, pattern=r"\S", description="Why the resolution is turned down"
    )


class RunQuery(BaseModel):
    business_date: date = Field(description=DAY_FORMAT)


class ExceptionQuery(BaseModel):
    business_date: date | None = Field(None, description=DAY_FORMAT)
    type: ExceptionType | None = None
    status: (
        Annotated[
            str, OneOf(tuple(s for s in EXCEPTION_STATUSES if s != ExceptionStatus.SUPERSEDED))
        ]
        | None
    ) = None
    source: Counterpart | None = Field(None, description="the counterpart")
    min_age_days: int | None = Field(None, ge=0, description="at least this many days old")
    agency: str | None = Field(
        None, max_length=32, description="an agency code (within the caller's agencies)"
    )


# -- responses ------------------------------------------------------------------------------


class RowError(ResponseModel):
    line_no: int = Field(
        description="Line (CSV), row (XLSX) or entry (XML, MT940) in the file; 0 for the file "
        "as a whole (a header without the mapped columns, a workbook that expands too far…)"
    )
    code: str = Field(
        description="`bad_amount`, `bad_date`, `date_out_of_range`, `unknown_currency`, "
        "`missing_field`, …"
    )
    message: str


class ControlTotals(ResponseModel):
    """What the file says about itself, where its format says it (null otherwise); empty when
    the file could not be read"""

    opening_balance: int | None = Field(None, description="VND")
    closing_balance: int | None = Field(None, description="VND")
    total_credits: int | None = Field(None, description="VND")
    total_debits: int | None = Field(None, description="VND")
    entry_count: int | None = Field(None, description="lines the file declares")


class StatementImport(ResponseModel):
    id: Annotated[str, public_id("imp")]
    source: Counterpart = Field(description="The counterpart the format belongs to")
    format: Annotated[str, OneOf(STATEMENT_FORMATS)]
    account: str | None = Field(
        description="The upload's `account`, else the account the file names"
    )
    filename: str | None
    file_hash: str = Field(
        json_schema_extra={"pattern": "^[0-9a-f]{64}$"},
        description="SHA-256 of the bytes: the same bytes are one import",
    )
    status: Literal["accepted", "quarantined"] = Field(
        description="Accepted whole or quarantined whole: a quarantined file contributes no "
        "line; fix it and upload it again"
    )
    reason: str | None = Field(
        description="Why quarantined, as `<code>: <message>`: `malformed_xml`, "
        "`external_entity`, `unsupported_namespace`, `missing_column`, `balances_do_not_tie`, "
        "`count_mismatch`, `too_large`, … or `row_errors` (see `row_errors`). Accepted: null, "
        "or `only_repeats: …` when every line repeats a line already imported (`overlapping` "
        "= `line_count`: the file adds nothing)"
    )
    line_count: Count = Field(
        description="Lines read from the file; they are used only when it is accepted"
    )
    overlapping: Count = Field(
        description="Lines that repeat a line of an earlier accepted file of the same source "
        "and account (same bank reference, else same date, amount, direction and text): "
        "stored linked to that line and not counted again"
    )
    error_count: Count
    row_errors: list[RowError]
    control: ControlTotals
    period_start: date | None
    period_end: date | None
    created_at: Time
    duplicate: bool = Field(
        description="True when this answers an earlier upload of the same bytes"
    )


class BankMapping(ResponseModel):
    """The column layout saved for a collection account"""

    account: str
    mapping: dict[str, str] = Field(description="The ColumnMapping keys that were given")
    updated_by: str
    updated_at: Time


class StatementLine(ResponseModel):
    """A line of an accepted statement file"""

    id: int
    source: Counterpart
    amount: int = Field(ge=1, description="VND, with `direction`")
    direction: Literal["credit", "debit"]
    booking_date: date
    reference: str | None = Field(description="Our payment reference when the line carries it")
    provider_txn_id: str | None
    text: str = Field(description="Transfer text exactly as the file gave it")
    account: str | None
    document_no: str | None


class Decision(ResponseModel):
    """What a maker and a checker decided about an exception."""

    resolution: Annotated[str, OneOf(RESOLUTIONS)] | None
    resolution_reason: str | None
    resolved_by: str | None
    resolved_at: Time | None
    approved_by: str | None
    approved_at: Time | None


class PreviousDecision(Decision):
    """The decision taken on an earlier run's exception about the same difference, before its
    lines, amount or candidates changed (a late file, a corrected amount): shown so finance
    staff decide again knowing it; the audit log has ``decision_superseded``."""

    exception_id: Annotated[str, public_id("exc")] = Field(
        description="The earlier exception (now `superseded`)"
    )
    run_id: RunId
    type: ExceptionType
    amount: Vnd
    line_ids: list[int] = Field(description="Its statement lines then")
    status: Annotated[str, OneOf(EXCEPTION_STATUSES)] = Field(
        description="`superseded` (it was `resolved` or `approved` when the re-run replaced it)"
    )


class ReconException(Decision):
    id: Annotated[str, public_id("exc")]
    run_id: RunId
    business_date: date
    agency: str | None = Field(
        description="The code of the agency it belongs to; `null` when no single agency was "
        "found (then only deployment-wide staff see it)"
    )
    agency_name: str | None = Field(description="That agency's name; `null` with `agency`")
    source: Counterpart = Field(description="The counterpart")
    type: ExceptionType
    status: Annotated[str, OneOf(EXCEPTION_STATUSES)] = Field(
        description="`open` → `resolved` (maker) → `approved` (checker, not the maker); "
        "`superseded` when a re-run replaced its run, or when another day's run matched its "
        "statement line (a late payment; the audit log says which run); `open` with a "
        "`previous_decision` when a re-run found the same difference with other lines"
    )
    amount: Vnd
    internal_keys: list[str] = Field(
        description="The gateway's side: `payment:<id>`, `refund:<id>`, `item:<payment>:<n>`"
    )
    line_ids: list[int] = Field(description="The counterpart's statement lines")
    candidates: list[int] = Field(
        description="Statement lines of an equal amount in the window that could be this "
        "line's partner (`ambiguous`, and a payment missing at the counterpart)"
    )
    age_days: int = Field(description="Days since the business date")
    previous_decision: PreviousDecision | None = Field(
        description="An earlier run's decision about the same difference whose lines changed "
        "since: this exception is `open` and needs deciding again"
    )


class ReconExceptionDetail(ReconException):
    lines: list[StatementLine] = Field(
        description="The statement lines of `line_ids` and `candidates`"
    )


class ReconExceptionList(ListOf[ReconException]):
    """At most 200 exceptions, by business date, type and id."""


class SourceRules(ResponseModel):
    """How a counterpart was compared (the `[reconciliation]` settings)"""

    window_days: Count = Field(description="Booking dates of a pair at most this far apart")
    transit_days: Count = Field(
        description="A payment of day D is `expected_in_transit` until the counterpart has "
        "reported through D + transit_days without it, then `missing_in_<source>`"
    )
    amount_tolerance: Count = Field(
        description="VND: a pair by key this close in amount is matched "
        "(`amount_within_tolerance`), not an `amount_mismatch`"
    )


class RunInputs(ResponseModel):
    imports: list[Annotated[str, public_id("imp")]] = Field(
        description="The imports whose lines were compared"
    )
    window_days: Count = Field(description="The widest date window of the counterparts")
    rules: dict[Counterpart, SourceRules] = Field(
        {}, description="Per counterpart: the rules the run used"
    )
    reported_through: dict[Counterpart, date] = Field(
        {}, description="Per counterpart that sent lines: the last day it reported"
    )


class Matched(ResponseModel):
    count: Count
    amount: Vnd


class ExceptionTotals(ResponseModel):
    count: Count
    by_type: dict[ExceptionType, Count]
    amount_by_type: dict[ExceptionType, Vnd]


class SourceTotals(ResponseModel):
    matched: Count
    matched_amount: Vnd
    exceptions: Count
    carried: Count = Field(
        0,
        description="Leftover differences not raised on this day: their statement lines "
        "belong to another day's exception, or to a booking day of their own",
    )
    within_tolerance: Count = Field(0, description="Matches `amount_within_tolerance`")
    tolerated_difference: int = Field(
        0, description="VND, counterpart − ledger, summed over those matches"
    )


class RunSummary(ResponseModel):
    matched: Matched
    exceptions: ExceptionTotals
    sources: dict[Counterpart, SourceTotals]


class ReconRun(ResponseModel):
    """The current run of a business day"""

    id: RunId
    business_date: date
    rule_version: str = Field(description="The matching rules that ran")
    status: Literal["current"] = Field(description="Re-running the day supersedes it")
    inputs: RunInputs
    summary: RunSummary
    day_closed: bool
    created_by: str = Field(description="Who ran it")
    created_at: Time


class DayCloseWarning(ResponseModel):
    """Closed, but worth a look (day close warns, it does not block)"""

    code: Literal["receipt_summary_unsent", "receipt_tax_notice_unsent"] = Field(
        description="`receipt_summary_unsent`: the agency's same-day summary of receipts "
        "(01/TH-BLĐT) for the day has not been accepted by the tax authority yet; "
        "`receipt_tax_notice_unsent`: a notice of receipt errors (04/SS-CTĐT) approved that "
        "day has not been accepted by the tax authority yet"
    )
    agency_code: str
    business_date: date
    status: ReceiptSummaryStatus | TaxNoticeStatus | None = Field(
        description="The summary's status (`unsent`, `rejected`, `failed`; null when none "
        "is built yet), or the notice's (`pending`, `sent`, `rejected`, `failed`)"
    )
    summary_id: str | None
    notice_id: str | None = Field(
        None, description="The notice (`receipt_tax_notice_unsent`); null for a summary"
    )


class DayClosed(ResponseModel):
    business_date: date
    status: Literal["closed"]
    run_id: RunId = Field(description="The run the day was closed on")
    closed_by: str
    closed_at: Time
    warnings: list[DayCloseWarning] = Field(
        description="What is still open about the day but does not stop it closing"
    )
