"""A flagged attempt in the finance console: what finance found out from the provider,
proposed by one person and approved by another (:mod:`gateway.services.attempt_resolutions`).
After each POST the browser goes back to the attempt's page (303) saying what happened; a
refused form shows the page again with the reason."""

from __future__ import annotations

from aiohttp import web

from gateway.core.errors import (
    GatewayError,
    InvalidTransition,
    NotFound,
)
from gateway.keys import ATTEMPT_RESOLUTIONS
from gateway.pages import console_labels as labels
from gateway.pages.console_auth import (
    APPROVER_ROLES,
    PREFIX,
    Form,
    action,
    approves,
    back_to,
    page,
    view,
)
from gateway.services.attempt_resolutions import REASON_MAX
from gateway.services.staff import StaffUser


def _message(error: GatewayError) -> str:
    if isinstance(error, InvalidTransition):
        status = labels.LEDGER_STATUSES.get(error.current, error.current)
        return (
            f"Giao dịch không còn chờ kế toán xử lý (trạng thái: “{status}”); nhà cung cấp có "
            "thể đã trả kết quả, hoặc không còn đề xuất nào chờ phê duyệt."
        )
    return labels.error_message(error)


@view
async def attempt_detail(request: web.Request, user: StaffUser) -> web.StreamResponse:
    return await _detail(
        request, user, notice=labels.NOTICES.get(request.rel_url.query.get("msg", ""))
    )


async def _detail(
    request: web.Request,
    user: StaffUser,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
    form: Form | None = None,
) -> web.Response:
    found = await request.app[ATTEMPT_RESOLUTIONS].of_attempt(
        user.agency_ids, request.match_info["attempt_id"], viewer=user.id
    )
    attempt = found["attempt"]
    waiting = [r for r in found["resolutions"] if r["status"] == "proposed"]
    is_open = attempt["status"] in ("created", "pending", "unknown")
    return page(
        "console_attempt.html",
        status=status,
        user=user,
        nav="dashboard",
        error=error,
        notice=notice,
        attempt=attempt,
        resolutions=found["resolutions"],
        waiting=waiting[0] if waiting else None,
        can_propose=is_open and attempt["flagged_at"] is not None and not waiting,
        # A proposal whose attempt the provider closed meanwhile can still be rejected (so
        # it stops waiting), never approved.
        can_decide=bool(waiting) and user.role in APPROVER_ROLES and not found["viewer_proposed"],
        can_approve=is_open,
        viewer_proposed=found["viewer_proposed"],
        form=form.fields if form else {},
        reason_max=REASON_MAX,
        labels=labels,
    )


def _back(attempt_id: str, msg: str) -> web.Response:
    return back_to(f"{PREFIX}/attempts/{attempt_id}", msg=msg)


async def _propose(request: web.Request, user: StaffUser, form: Form) -> web.StreamResponse:
    attempt_id = request.match_info["attempt_id"]
    try:
        await request.app[ATTEMPT_RESOLUTIONS].propose(
            user.id,
            user.agency_ids,
            attempt_id,
            outcome=form.get("outcome"),
            reason=form.get("reason"),
            evidence=form.get("evidence"),
            amount=form.get("amount"),
        )
    except NotFound:
        raise
    except GatewayError as exc:
        return await _detail(request, user, error=_message(exc), status=exc.http_status, form=form)
    return _back(attempt_id, "proposed")


async def _decide(request: web.Request, user: StaffUser, form: Form) -> web.StreamResponse:
    attempt_id = request.match_info["attempt_id"]
    try:
        approve = approves(form)
        await request.app[ATTEMPT_RESOLUTIONS].decide(
            user.id,
            user.agency_ids,
            attempt_id,
            approver=user.role in APPROVER_ROLES,
            approve=approve,
            reason=form.get("reason"),
            resolution_id=form.get("resolution_id") or None,
        )
    except NotFound:
        raise
    except GatewayError as exc:
        return await _detail(request, user, error=_message(exc), status=exc.http_status)
    return _back(attempt_id, "resolution_approved" if approve else "resolution_rejected")


propose_resolution = action(_propose)
decide_resolution = action(_decide)
