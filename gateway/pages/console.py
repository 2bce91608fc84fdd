"""The finance staff console (``/console``): the day dashboard, statement upload, and the
exception queue with maker-checker resolution. Server-rendered, in Vietnamese.

Each handler parses the request, calls one reconciliation service and renders a page; the
session, role, CSRF and error-page rules live in :mod:`gateway.pages.console_auth`. After a
successful POST the browser is sent on with 303 (so a reload does not repeat it); a refused
one shows the same page again with the reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import Any

from aiohttp import web

from gateway.core.errors import GatewayError, NotFound
from gateway.keys import (
    ATTEMPTS,
    IMPORTS,
    LEDGER,
    RECEIPT_SUMMARIES,
    RECEIPT_TAX_NOTICES,
    RECON_RUNS,
    REFUNDS,
    REPORTS,
    WORKFLOW,
)
from gateway.pages import console_labels as labels
from gateway.pages.console_auth import (
    APPROVER_ROLES,
    PREFIX,
    Form,
    FormPage,
    action,
    back_to,
    page,
    upload_action,
    view,
)
from gateway.pages.console_ledger import ledger_entries
from gateway.services.receipts.summary_views import STATUS_LABELS as SUMMARY_STATUS_LABELS
from gateway.services.receipts.tax_notices import STATUS_LABELS as NOTICE_STATUS_LABELS
from gateway.services.resolutions import REASON_MAX
from gateway.services.staff import StaffUser
from reconciliation.bank_layouts import BANK_FORMATS, parsed_json
from reconciliation.imports import ONLY_REPEATS
from reconciliation.model import business_day
from reconciliation.scope import Scope
from reconciliation.workflow import Actor

QUEUE_LIMIT = 500
ACCOUNT_MAX = 34
#: Row errors listed per quarantined file on the day page (the upload's answer lists all).
ROW_ERRORS_SHOWN = 20


def staff_actor(user: StaffUser) -> Actor:
    return Actor(user.id, user.role, Scope(user.agency_ids, user.all_agencies))


def _parse_day(text: str) -> date | None:
    return business_day(text)


def _path_day(request: web.Request) -> date:
    day = _parse_day(request.match_info["day"])
    if day is None:
        raise NotFound("no such day")
    return day


def _notice(request: web.Request) -> str | None:
    return labels.NOTICES.get(request.rel_url.query.get("msg", ""))


# -- the day dashboard -----------------------------------------------------------------------


@view
async def dashboard(request: web.Request, user: StaffUser) -> web.StreamResponse:
    text = request.rel_url.query.get("date", "")
    day = _parse_day(text) if text else request.app[WORKFLOW].today()
    if day is None:
        return await _dashboard(
            request,
            user,
            request.app[WORKFLOW].today(),
            error="Ngày không hợp lệ (định dạng YYYY-MM-DD); đang hiển thị hôm nay.",
            status=400,
        )
    return await _dashboard(request, user, day, notice=_notice(request))


async def _dashboard(
    request: web.Request,
    user: StaffUser,
    day: date,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> web.Response:
    run: dict[str, Any] | None
    try:
        run = await request.app[RECON_RUNS].current(day)
    except NotFound:
        run = None
    scope = staff_actor(user).scope
    by_agency: Sequence[dict[str, Any]] = []
    if run is not None:
        by_agency = await request.app[WORKFLOW].figures_by_agency(run, scope)
        run = await request.app[WORKFLOW].run_in_scope(run, scope)
    queue = await request.app[WORKFLOW].list(scope=scope, business_date=day, limit=10_000)
    by_status = Counter(item["status"] for item in queue)
    summary = run["summary"] if run else {}
    exceptions = summary.get("exceptions", {})
    flagged = await request.app[ATTEMPTS].flagged(scope.agency_ids, all_agencies=scope.all_agencies)
    flagged_refunds = await request.app[REFUNDS].flagged(
        scope.agency_ids, all_agencies=scope.all_agencies
    )
    summaries = request.app[RECEIPT_SUMMARIES]
    open_summaries = await summaries.open_items(scope.agency_ids, all_agencies=scope.all_agencies)
    summary_warnings = await summaries.close_warnings(
        day, scope.agency_ids, all_agencies=scope.all_agencies
    )
    notices = request.app[RECEIPT_TAX_NOTICES]
    open_notices = await notices.open_items(scope.agency_ids, all_agencies=scope.all_agencies)
    notice_warnings = await notices.close_warnings(
        day, scope.agency_ids, all_agencies=scope.all_agencies
    )
    files = await request.app[IMPORTS].of_day(day, user.id, scope)
    return page(
        "console_dashboard.html",
        status=status,
        user=user,
        nav="dashboard",
        error=error,
        notice=notice,
        day=day.isoformat(),
        run=run,
        closed=bool(run and run["day_closed"]),
        matched=summary.get("matched", {"count": 0, "amount": 0}),
        by_type=sorted(
            (
                (kind, count, exceptions.get("amount_by_type", {}).get(kind, 0))
                for kind, count in exceptions.get("by_type", {}).items()
            ),
            key=lambda row: row[0],
        ),
        exception_count=exceptions.get("count", 0),
        sources=sorted(summary.get("sources", {}).items()),
        by_agency=by_agency,
        by_status=[(key, by_status.get(key, 0)) for key in labels.EXCEPTION_STATUSES],
        labels=labels,
        flagged=flagged,
        flagged_refunds=flagged_refunds,
        open_summaries=open_summaries,
        summary_warnings=summary_warnings,
        summary_labels=SUMMARY_STATUS_LABELS,
        open_notices=open_notices,
        notice_warnings=notice_warnings,
        notice_labels=NOTICE_STATUS_LABELS,
        files=files,
        only_repeats=ONLY_REPEATS,
        row_errors_shown=ROW_ERRORS_SHOWN,
    )


def _day_action(
    done: str, act: Callable[[web.Application, Actor, date], Awaitable[object]]
) -> FormPage:
    """A dashboard button that acts on the day in the path: back to that day's dashboard with
    ``msg=done``, or the dashboard again with the refusal."""

    async def handle(request: web.Request, user: StaffUser, form: Form) -> web.StreamResponse:
        day = _path_day(request)
        try:
            await act(request.app, staff_actor(user), day)
        except GatewayError as exc:
            return await _dashboard(
                request, user, day, error=labels.error_message(exc), status=exc.http_status
            )
        return back_to(PREFIX, date=day.isoformat(), msg=done)

    return handle


async def _dismiss_notice(request: web.Request, user: StaffUser, form: Form) -> web.StreamResponse:
    """Dismiss a rejected or failed notice to the tax authority from the dashboard, with a
    reason (docs/receipts.md, "Dealing with a rejected or failed notice"); back to the day
    the form was on."""
    day = _parse_day(form.get("date")) or request.app[WORKFLOW].today()
    try:
        await request.app[RECEIPT_TAX_NOTICES].dismiss(
            staff_actor(user), request.match_info["notice_id"], form.get("reason")
        )
    except GatewayError as exc:
        return await _dashboard(
            request, user, day, error=labels.error_message(exc), status=exc.http_status
        )
    return back_to(PREFIX, date=day.isoformat(), msg="notice_dismissed")


dismiss_notice = action(_dismiss_notice)
run_day = action(_day_action("run", lambda app, actor, day: app[RECON_RUNS].run(actor, day)))
close_day = action(
    _day_action("closed", lambda app, actor, day: app[WORKFLOW].close_day(actor, day))
)


@view
async def day_report(request: web.Request, user: StaffUser) -> web.StreamResponse:
    day = _path_day(request)
    fmt = request.match_info["format"]
    try:
        body, content_type = await request.app[REPORTS].render(day, fmt, staff_actor(user).scope)
    except NotFound as exc:
        return page(
            "console_error.html",
            status=404,
            user=user,
            title="Chưa có báo cáo",
            message="Ngày này chưa chạy đối soát nên chưa có báo cáo.",
            code=exc.code,
        )
    response = web.Response(body=body, content_type=content_type)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="doi-soat-{day.isoformat()}.{fmt}"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# -- statement upload ------------------------------------------------------------------------


def _statements_page(
    user: StaffUser,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
    source: str = "",
    account: str = "",
    saved_mapping: bool = False,
) -> web.Response:
    reason = labels.parse_reason(result["reason"]) if result and result["reason"] else None
    return page(
        "console_statements.html",
        status=status,
        user=user,
        nav="statements",
        result=result,
        reason=reason,
        error=error,
        source=source,
        account=account,
        saved_mapping=saved_mapping,
        labels=labels,
    )


@view
async def statements_form(request: web.Request, user: StaffUser) -> web.StreamResponse:
    return _statements_page(user)


async def _upload(request: web.Request, user: StaffUser, form: Form) -> web.StreamResponse:
    source = form.get("source").strip()
    account = form.get("account").strip()
    profile = form.get("bank_profile").strip()
    mapping = form.get("mapping").strip()
    problems = []
    if source not in labels.FORMATS:
        problems.append("Hãy chọn loại tệp sao kê.")
    if form.upload is None or not form.upload.data:
        problems.append("Hãy chọn tệp sao kê để tải lên.")
    if len(account) > ACCOUNT_MAX:
        problems.append(f"Số tài khoản dài tối đa {ACCOUNT_MAX} ký tự.")
    if problems or form.upload is None:
        return _statements_page(
            user, error=" ".join(problems), status=422, source=source, account=account
        )
    saved = False
    try:
        result = await request.app[IMPORTS].import_file(
            format=source,
            data=form.upload.data,
            filename=form.upload.filename,
            account=account or None,
            actor=user.id,
            scope=staff_actor(user).scope,
            bank_profile=profile or None,
            mapping=mapping or None,
        )
        wanted = form.get("save_mapping") and mapping and account and source in BANK_FORMATS
        if wanted and result["status"] == "accepted" and not profile:
            # Saved only once a file was read with it: a layout that does not fit is not kept.
            await request.app[IMPORTS].mappings.save(
                account, parsed_json(mapping), user.id, staff_actor(user).scope
            )
            saved = True
    except GatewayError as exc:
        return _statements_page(
            user,
            error=labels.error_message(exc),
            status=exc.http_status,
            source=source,
            account=account,
        )
    quarantined = result["status"] == "quarantined" and not result["duplicate"]
    return _statements_page(
        user,
        result=result,
        status=422 if quarantined else 200,
        source=source,
        account=account,
        saved_mapping=saved,
    )


upload_statement = upload_action(_upload)


# -- the exception queue ---------------------------------------------------------------------


@view
async def exception_list(request: web.Request, user: StaffUser) -> web.StreamResponse:
    query = request.rel_url.query
    text = query.get("date", "").strip()
    kind = query.get("type", "")
    state = query.get("status", "")
    agency = query.get("agency", "").strip()[:32]
    day = _parse_day(text) if text else None
    error = None
    if text and day is None:
        error = "Ngày không hợp lệ (định dạng YYYY-MM-DD); bộ lọc ngày bị bỏ qua."
    items = await request.app[WORKFLOW].list(
        scope=staff_actor(user).scope,
        agency=agency or None,
        business_date=day,
        type=kind if kind in labels.EXCEPTION_TYPES else None,
        status=state if state in labels.EXCEPTION_STATUSES else None,
        limit=QUEUE_LIMIT,
    )
    return page(
        "console_exceptions.html",
        status=400 if error else 200,
        user=user,
        nav="exceptions",
        error=error,
        items=items,
        total=sum(item["amount"] for item in items),
        truncated=len(items) >= QUEUE_LIMIT,
        filters={
            "date": day.isoformat() if day else "",
            "type": kind,
            "status": state,
            "agency": agency,
        },
        labels=labels,
    )


@view
async def exception_detail(request: web.Request, user: StaffUser) -> web.StreamResponse:
    return await _detail(request, user, notice=_notice(request))


async def _detail(
    request: web.Request,
    user: StaffUser,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
    resolution: str = "",
    reason: str = "",
) -> web.Response:
    item = await request.app[WORKFLOW].get(
        request.match_info["exception_id"], staff_actor(user).scope
    )
    books = request.app[LEDGER]
    try:
        closed = (await request.app[RECON_RUNS].current(date.fromisoformat(item["business_date"])))[
            "day_closed"
        ]
    except NotFound:
        closed = False
    lines = {line["id"]: line for line in item["lines"]}
    earlier = item["previous_decision"] or {}
    names = await books.staff_names(
        [
            item["resolved_by"],
            item["approved_by"],
            earlier.get("resolved_by"),
            earlier.get("approved_by"),
        ]
    )
    ledger = await ledger_entries(books, item["internal_keys"])
    ours = [entry.signed_amount for entry in ledger if entry.signed_amount is not None]
    theirs = [
        lines[i]["amount"] * (-1 if lines[i]["direction"] == "debit" else 1)
        for i in item["line_ids"]
        if i in lines
    ]
    return page(
        "console_exception.html",
        status=status,
        user=user,
        nav="exceptions",
        error=error,
        notice=notice,
        item=item,
        closed=closed,
        ledger=ledger,
        # Both sides known: what separates them (an amount mismatch, a partial group).
        difference=sum(ours) - sum(theirs) if ours and theirs else None,
        lines=[lines[i] for i in item["line_ids"] if i in lines],
        candidates=[lines[i] for i in item["candidates"] if i in lines],
        resolved_by=names.get(item["resolved_by"] or "", item["resolved_by"]),
        approved_by=names.get(item["approved_by"] or "", item["approved_by"]),
        previous_resolved_by=names.get(
            earlier.get("resolved_by") or "", earlier.get("resolved_by")
        ),
        previous_approved_by=names.get(
            earlier.get("approved_by") or "", earlier.get("approved_by")
        ),
        can_resolve=item["status"] == "open" and not closed,
        can_approve=item["status"] == "resolved" and not closed and user.role in APPROVER_ROLES,
        resolution=resolution,
        reason=reason,
        reason_max=REASON_MAX,
        labels=labels,
    )


def _to_detail(exception_id: str, msg: str) -> web.Response:
    return back_to(f"{PREFIX}/exceptions/{exception_id}", msg=msg)


async def _resolve(request: web.Request, user: StaffUser, form: Form) -> web.StreamResponse:
    exception_id = request.match_info["exception_id"]
    resolution, reason = form.get("resolution"), form.get("reason")
    if len(reason) > REASON_MAX:
        return await _detail(
            request,
            user,
            error=f"Lý do dài tối đa {REASON_MAX} ký tự.",
            status=422,
            resolution=resolution,
            reason=reason,
        )
    try:
        await request.app[WORKFLOW].resolve(staff_actor(user), exception_id, resolution, reason)
    except NotFound:
        raise
    except GatewayError as exc:
        return await _detail(
            request,
            user,
            error=labels.error_message(exc),
            status=exc.http_status,
            resolution=resolution,
            reason=reason,
        )
    return _to_detail(exception_id, "resolved")


async def _approve(request: web.Request, user: StaffUser, form: Form) -> web.StreamResponse:
    exception_id = request.match_info["exception_id"]
    try:
        if form.get("decision") == "reject":
            reason = form.get("reason")[:REASON_MAX]
            await request.app[WORKFLOW].reject(staff_actor(user), exception_id, reason)
        else:
            await request.app[WORKFLOW].approve(staff_actor(user), exception_id)
    except NotFound:
        raise
    except GatewayError as exc:
        return await _detail(request, user, error=labels.error_message(exc), status=exc.http_status)
    return _to_detail(exception_id, "rejected" if form.get("decision") == "reject" else "approved")


resolve_exception = action(_resolve)
approve_exception = action(_approve)
