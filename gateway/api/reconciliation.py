"""Reconciliation for finance staff (API keys with role ``finance`` or ``finance_approver``),
each within its agencies or deployment-wide (:mod:`reconciliation.scope`)."""

from __future__ import annotations

from datetime import date
from typing import Any

import structlog
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.api.spec import Header, Param, Reply, Route
from gateway.core.errors import BadRequest, FieldError, PayloadTooLarge, ValidationFailed
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.responses import read_json, respond
from gateway.keys import (
    IMPORTS,
    RECEIPT_SUMMARIES,
    RECEIPT_TAX_NOTICES,
    RECON_RUNS,
    REPORTS,
    SETTINGS,
    WORKFLOW,
)
from gateway.services.clients import Principal
from reconciliation.api_models import (
    DAY_FORMAT,
    BankMapping,
    CreateReconRun,
    DayClosed,
    ExceptionQuery,
    ReconException,
    ReconExceptionDetail,
    ReconExceptionList,
    ReconRun,
    RejectResolution,
    ResolveException,
    RunQuery,
    SaveBankMapping,
    StatementImport,
    StatementUpload,
)
from reconciliation.model import BUSINESS_DAYS, business_day
from reconciliation.scope import Scope
from reconciliation.workflow import Actor

log = structlog.get_logger(__name__)

FINANCE = (Role.FINANCE, Role.FINANCE_APPROVER)
_ACCOUNT_SCOPE = (
    "`forbidden`: the role may not; `account_not_in_scope`: the account is not a collection "
    "account of the caller's agencies"
)


def actor_of(who: Principal) -> Actor:
    """An API key as maker-checker sees it: its id, role and agency scope."""
    return Actor(who.client_id, who.role, Scope(who.agency_ids, who.all_agencies))


async def finance_actor(request: web.Request, *roles: Role) -> Actor:
    return actor_of(await principal(request, *roles))


def _day(text: object, field: str = "business_date") -> date:
    day = business_day(text)
    if day is None:
        raise ValidationFailed(
            [
                FieldError(
                    field,
                    "invalid_format",
                    f"a date: YYYY-MM-DD, from {BUSINESS_DAYS[0]} to {BUSINESS_DAYS[1]}",
                )
            ]
        )
    return day


#: A bank layout given with the upload is a small JSON object.
MAPPING_MAX = 4096


async def _read_upload(request: web.Request) -> tuple[dict[str, str], bytes | None, str | None]:
    """The upload's text fields, file and file name, refusing a file over the upload limit
    while it is read."""
    limit = request.app[SETTINGS].max_upload_bytes
    fields: dict[str, str] = {}
    data: bytes | None = None
    filename: str | None = None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file":
            filename = part.filename
            chunks, size = [], 0
            while chunk := await part.read_chunk(256 * 1024):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"statement files are limited to {limit} bytes")
                chunks.append(chunk)
            data = b"".join(chunks)
        elif part.name in ("source", "account", "bank_profile"):
            fields[part.name] = (await part.text()).strip()[:64]
        elif part.name == "mapping":
            fields[part.name] = (await part.text()).strip()[:MAPPING_MAX]
    if any("\x00" in value for value in fields.values()):
        raise ValueError("a field holds a NUL character")
    return fields, data, filename


async def upload_statement(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *FINANCE)
    if not request.content_type.startswith("multipart/"):
        raise BadRequest("send multipart/form-data with fields source, account and file")
    try:
        fields, data, filename = await _read_upload(request)
    except (ValueError, AssertionError, LookupError, HttpProcessingError) as exc:
        # aiohttp's multipart reader: a missing boundary, a part cut short, text that is
        # not in its charset (UnicodeDecodeError is a ValueError), a part header with a
        # control character (InvalidHeader)
        raise BadRequest(f"malformed multipart body: {exc}") from None
    errors = []
    if not fields.get("source"):
        errors.append(FieldError("source", "required", "the file's format, e.g. camt053"))
    if data is None:
        errors.append(FieldError("file", "required", "the statement file"))
    if len(fields.get("account", "")) > 34:
        errors.append(
            FieldError("account", "too_long", "an account number has at most 34 characters")
        )
    if errors:
        raise ValidationFailed(errors)
    assert data is not None
    view = await request.app[IMPORTS].import_file(
        format=fields["source"],
        data=data,
        filename=filename,
        account=fields.get("account") or None,
        actor=actor.id,
        scope=actor.scope,
        bank_profile=fields.get("bank_profile") or None,
        mapping=fields.get("mapping") or None,
    )
    answer = StatementImport.model_validate(view)
    if answer.duplicate:
        return respond(answer, status=200)
    return respond(answer, status=201 if answer.status == "accepted" else 422)


async def save_bank_mapping(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *FINANCE)
    data = await _json_object(request)
    view = await request.app[IMPORTS].mappings.save(
        request.match_info["account"], data, actor.id, actor.scope
    )
    return respond(BankMapping.model_validate(view))


async def get_bank_mapping(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *FINANCE)
    view = await request.app[IMPORTS].mappings.get(request.match_info["account"], actor.scope)
    return respond(BankMapping.model_validate(view))


async def create_run(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *FINANCE)
    data = await read_json(request)
    day = _day(data.get("business_date") if isinstance(data, dict) else None)
    run = await request.app[RECON_RUNS].run(actor, day)
    run = await request.app[WORKFLOW].run_in_scope(run, actor.scope)
    return respond(ReconRun.model_validate(run), status=201)


async def current_run(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *FINANCE)
    day = _day(request.rel_url.query.get("business_date"))
    run = await request.app[RECON_RUNS].current(day)
    run = await request.app[WORKFLOW].run_in_scope(run, actor.scope)
    return respond(ReconRun.model_validate(run))


async def list_exceptions(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *FINANCE)
    query = request.rel_url.query
    day = _day(query["business_date"]) if query.get("business_date") else None
    age = query.get("min_age_days")
    if age is not None and not age.isdigit():
        raise ValidationFailed([FieldError("min_age_days", "invalid_format", "whole days")])
    items = await request.app[WORKFLOW].list(
        scope=actor.scope,
        agency=query.get("agency") or None,
        business_date=day,
        type=query.get("type") or None,
        status=query.get("status") or None,
        source=query.get("source") or None,
        min_age_days=int(age) if age is not None else None,
    )
    return respond(ReconExceptionList(data=[ReconException.model_validate(i) for i in items]))


async def get_exception(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *FINANCE)
    view = await request.app[WORKFLOW].get(request.match_info["exception_id"], actor.scope)
    return respond(ReconExceptionDetail.model_validate(view))


async def _json_object(request: web.Request) -> dict[str, Any]:
    """The body of a decision (read field by field: the workflow checks each one)."""
    data: Any = await read_json(request)
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_object", "a JSON object")])
    return data


async def resolve_exception(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *FINANCE)
    data = await _json_object(request)
    view = await request.app[WORKFLOW].resolve(
        actor,
        request.match_info["exception_id"],
        str(data.get("resolution", "")),
        str(data.get("reason", "")),
    )
    return respond(ReconException.model_validate(view))


async def approve_exception(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *FINANCE)
    view = await request.app[WORKFLOW].approve(actor, request.match_info["exception_id"])
    return respond(ReconException.model_validate(view))


async def reject_resolution(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *APPROVERS)
    data = await _json_object(request)
    view = await request.app[WORKFLOW].reject(
        actor, request.match_info["exception_id"], str(data.get("reason", ""))
    )
    return respond(ReconException.model_validate(view))


async def close_day(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *FINANCE)
    day = _day(request.match_info["day"], "day")
    closed = await request.app[WORKFLOW].close_day(actor, day)
    # An unsent receipt summary warns, it does not block (docs/receipts.md, "Day close").
    warnings = await request.app[RECEIPT_SUMMARIES].close_warnings(day)
    warnings += await request.app[RECEIPT_TAX_NOTICES].close_warnings(day)
    closed["warnings"] = warnings
    if warnings:
        log.warning(
            "day_closed_with_unsent_receipt_summaries",
            business_date=day.isoformat(),
            agencies=sorted({warning["agency_code"] for warning in warnings}),
        )
    return respond(DayClosed.model_validate(closed))


async def day_report(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *FINANCE)
    day = _day(request.match_info["day"], "day")
    fmt = request.match_info["format"]
    body, content_type = await request.app[REPORTS].render(day, fmt, actor.scope)
    response = web.Response(body=body, content_type=content_type)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="doi-soat-{day.isoformat()}.{fmt}"'
    )
    return response


RECON = "/v1/reconciliation"
APPROVERS = (Role.FINANCE_APPROVER,)
_CLOSED = "`day_closed`: the day is closed and immutable"
_BAD_DAY = {422: "`validation_failed`: `day` → `invalid_format`"}
_BAD_DATE = {422: "`validation_failed`: `business_date` → `invalid_format`"}
_NOT_FOUND = "`not_found`: no such exception, or another agency's"
_DAY = Param("day", "path", {"type": "string", "format": "date"}, DAY_FORMAT)
_REPORT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
}

ROUTES = (
    Route(
        "POST",
        f"{RECON}/statements",
        upload_statement,
        "Import a statement file (bank, VNPAY, POS, State Treasury)",
        FINANCE,
        {
            201: Reply("Accepted: every line is stored for reconciliation", StatementImport),
            200: Reply(
                "The same bytes were uploaded before: the earlier import, accepted or "
                "quarantined, with `duplicate: true`; nothing changes",
                StatementImport,
            ),
            422: Reply(
                "Quarantined (`application/json`): the file is stored with its `reason` and "
                "every row error, and none of its lines is used; or `validation_failed` "
                "(`application/problem+json`): `source` → `required`, `invalid_choice`; `file` "
                "→ `required`; for a bank export `bank_profile` → `required`, `invalid_choice`, "
                "`mapping` → `invalid_format`, `not_object`, `unknown_field`, `not_string`, "
                "`invalid`; a header without the mapped columns is quarantined "
                "(`missing_column`, with a row-0 error naming them)",
                StatementImport,
            ),
        },
        {
            400: "`bad_request`: not multipart/form-data",
            403: "`forbidden`: the role may not import; `account_not_in_scope`: a bank "
            "statement whose account (form, file or line) is not a collection account of the "
            "caller's agencies; `agency_not_in_scope`: a "
            "treasury file with lines of other agencies; `deployment_wide_only`: a VNPAY, POS "
            "or COD file (it spans agencies) from a key that is not deployment-wide; nothing is "
            "stored",
            409: f"{_CLOSED}: the file has a line on it; nothing is stored",
            413: "`payload_too_large`: the file is over the upload limit; `parse_timeout`: "
            "the file was not read within `parse_timeout_seconds`; nothing is stored",
            422: "see above",
        },
        body=StatementUpload,
        body_media="multipart/form-data",
        json_body=False,
        description="A file is accepted whole or quarantined whole, and identified by the "
        "SHA-256 of its bytes. A bank export with neither `bank_profile` nor `mapping` is read "
        "with the layout saved for its `account` (`PUT …/bank-mappings/{account}`). Lines "
        "already imported from another file of the same source and account are linked, not "
        "counted again (`overlapping`).",
    ),
    Route(
        "PUT",
        f"{RECON}/bank-mappings/{{account}}",
        save_bank_mapping,
        "Save the column layout of a collection account's bank export",
        FINANCE,
        {200: Reply("The saved layout; it replaces an earlier one", BankMapping)},
        {
            422: "`validation_failed`: `mapping` → `unknown_field`, `not_string`, `invalid`; "
            "`account` → `invalid`; `body` → `not_object`",
            403: _ACCOUNT_SCOPE,
        },
        body=SaveBankMapping,
        description="An upload of `bank_csv`/`bank_xlsx` for the account that names neither "
        "`bank_profile` nor `mapping` is read with it.",
    ),
    Route(
        "GET",
        f"{RECON}/bank-mappings/{{account}}",
        get_bank_mapping,
        "The column layout saved for a collection account",
        FINANCE,
        {200: Reply("The saved layout", BankMapping)},
        {404: "`not_found`: no layout is saved for the account", 403: _ACCOUNT_SCOPE},
    ),
    Route(
        "POST",
        f"{RECON}/runs",
        create_run,
        "Reconcile a business day: its ledger against every counterpart's lines",
        FINANCE,
        {
            201: Reply(
                "The new current run. A previous run of the day is superseded (never edited) "
                "and decisions taken on the same exceptions carry over. A run covers every "
                "agency; for a key that is not deployment-wide the summary holds only its "
                "agencies' figures (matched, exceptions, per counterpart)",
                ReconRun,
            )
        },
        {
            409: f"{_CLOSED}; `conflict` (retryable): runs of other days kept taking this "
            "run's statement lines while it was computed; run the day again",
            **_BAD_DATE,
        },
        body=CreateReconRun,
    ),
    Route(
        "GET",
        f"{RECON}/runs",
        current_run,
        "The current run of a business day",
        FINANCE,
        {200: Reply("The run", ReconRun)},
        {404: "`not_found`: the day has not been reconciled", **_BAD_DATE},
        query=RunQuery,
    ),
    Route(
        "GET",
        f"{RECON}/exceptions",
        list_exceptions,
        "The exception queue of the caller's agencies (superseded exceptions left out)",
        FINANCE,
        {200: Reply("At most 200 exceptions, by business date, type and id", ReconExceptionList)},
        _BAD_DATE,
        query=ExceptionQuery,
    ),
    Route(
        "GET",
        f"{RECON}/exceptions/{{exception_id}}",
        get_exception,
        "An exception with its statement lines, for side-by-side review",
        FINANCE,
        {200: Reply("The exception", ReconExceptionDetail)},
        {404: _NOT_FOUND},
    ),
    Route(
        "POST",
        f"{RECON}/exceptions/{{exception_id}}/resolve",
        resolve_exception,
        "Resolve an open exception (maker); it then awaits approval",
        FINANCE,
        {200: Reply("The resolved exception", ReconException)},
        {
            404: _NOT_FOUND,
            409: f"`invalid_transition`: not `open`; {_CLOSED}",
            422: "`validation_failed`: `resolution` → `invalid_choice`, `reason` → `required`, "
            "`body` → `not_object`",
        },
        body=ResolveException,
    ),
    Route(
        "POST",
        f"{RECON}/exceptions/{{exception_id}}/approve",
        approve_exception,
        "Approve a resolution (checker: someone other than who resolved it)",
        APPROVERS,
        {200: Reply("The approved exception", ReconException)},
        {
            403: "`forbidden`: approving needs `finance_approver`",
            404: _NOT_FOUND,
            409: "`invalid_transition`: not `resolved`; `self_approval`: the approver is the "
            f"person who resolved it (whichever key or console user each used); {_CLOSED}",
        },
    ),
    Route(
        "POST",
        f"{RECON}/exceptions/{{exception_id}}/reject",
        reject_resolution,
        "Turn a resolution down (checker): the exception is `open` again, the rejected "
        "decision and the reason are kept in the audit log",
        APPROVERS,
        {200: Reply("The exception, open again", ReconException)},
        {
            403: "`forbidden`: rejecting needs `finance_approver`",
            404: _NOT_FOUND,
            409: f"`invalid_transition`: not `resolved`; {_CLOSED}",
            422: "`validation_failed`: `reason` → `required`, `body` → `not_object`",
        },
        body=RejectResolution,
    ),
    Route(
        "POST",
        f"{RECON}/days/{{day}}/close",
        close_day,
        "Close a business day for every agency: no file, run, resolution or approval touches "
        "it again",
        APPROVERS,
        {200: Reply("Closed", DayClosed)},
        {
            403: "`forbidden`: closing needs `finance_approver`; `deployment_wide_only`: the "
            "key is not deployment-wide (a day closes for the whole deployment)",
            409: "`open_exceptions`: exceptions of the current run are open or await approval; "
            "`stale_run`: a statement accepted after the current run could change it (its "
            "period covers the day or it has lines within the run's window): re-run the day "
            "first; "
            "`invalid_transition` (`current`: `not_reconciled`): the day has no run; "
            f"{_CLOSED} already",
            **_BAD_DAY,
        },
        params=(_DAY,),
    ),
    Route(
        "GET",
        f"{RECON}/days/{{day}}/report.{{format:xlsx|csv}}",
        day_report,
        "The day report: per collection account opening balance, credits, debits and closing "
        "balance; matched count and VND; exceptions still open; what reached the State "
        "Treasury by fee kind; only what the caller's agencies own",
        FINANCE,
        {
            200: Reply(
                "`xlsx`: a workbook; `csv`: UTF-8 with a BOM",
                media=tuple(_REPORT_TYPES.values()),
                headers={
                    "Content-Disposition": Header('attachment; filename="doi-soat-<day>.<format>"')
                },
            )
        },
        {404: "`not_found`: the day has not been reconciled (or another format)", **_BAD_DAY},
        params=(
            _DAY,
            Param(
                "format",
                "path",
                {"type": "string", "enum": list(_REPORT_TYPES)},
                ", ".join(f"`{name}` → {media}" for name, media in _REPORT_TYPES.items()),
            ),
        ),
    ),
)
