"""The reconciliation API's bodies as pydantic models: what finance staff upload and send,
and the imports, runs, exceptions and closed days they get back."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from gateway.core.fields import ListOf, OneOf, ResponseModel, Time
from gateway.core.statuses import ExceptionStatus
from gateway.models.payments import public_id
from reconciliation.bank_layouts import PROFILES
from reconciliation.imports import FORMAT_SOURCES
from reconciliation.results import ExceptionType
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
    line_no: int = Field(description="Line (CSV), row (XLSX) or entry (XML, MT940) in the file")
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
        "`count_mismatch`, `too_large`, … or `row_errors` (see `row_errors`); null when accepted"
    )
    line_count: Count = Field(
        description="Lines read from the file; they are used only when it is accepted"
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


class ReconException(ResponseModel):
    id: Annotated[str, public_id("exc")]
    run_id: RunId
    business_date: date
    agency: str | None = Field(
        description="The code of the agency it belongs to; `null` when no single agency was "
        "found (then only deployment-wide staff see it)"
    )
    source: Counterpart = Field(description="The counterpart")
    type: ExceptionType
    status: Annotated[str, OneOf(EXCEPTION_STATUSES)] = Field(
        description="`open` → `resolved` (maker) → `approved` (checker, not the maker); "
        "`superseded` when a re-run replaced its run"
    )
    amount: Vnd
    internal_keys: list[str] = Field(
        description="The gateway's side: `payment:<id>`, `refund:<id>`, `item:<payment>:<n>`"
    )
    line_ids: list[int] = Field(description="The counterpart's statement lines")
    candidates: list[int] = Field(
        description="`ambiguous`: statement lines of an equal amount in the window"
    )
    resolution: Annotated[str, OneOf(RESOLUTIONS)] | None
    resolution_reason: str | None
    resolved_by: str | None
    resolved_at: Time | None
    approved_by: str | None
    approved_at: Time | None
    age_days: int = Field(description="Days since the business date")


class ReconExceptionDetail(ReconException):
    lines: list[StatementLine] = Field(
        description="The statement lines of `line_ids` and `candidates`"
    )


class ReconExceptionList(ListOf[ReconException]):
    """At most 200 exceptions, by business date, type and id."""


class RunInputs(ResponseModel):
    imports: list[Annotated[str, public_id("imp")]] = Field(
        description="The imports whose lines were compared"
    )
    window_days: Count
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


class DayClosed(ResponseModel):
    business_date: date
    status: Literal["closed"]
    run_id: RunId = Field(description="The run the day was closed on")
    closed_by: str
    closed_at: Time
