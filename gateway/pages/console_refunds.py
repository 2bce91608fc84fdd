"""A refund in the finance console: finance's result of a refund made by hand (bank transfer,
card terminal) or handed over at its horizon, proposed by one person and approved by another
(:meth:`gateway.services.refunds.RefundService.propose` / ``decide``, the maker-checker of
:mod:`gateway.services.resolutions`). After each POST the browser goes back to the refund's
page (303) saying what happened; a refused form shows the page again with the reason."""

from __future__ import annotations

from aiohttp import web

from gateway.core.errors import (
    GatewayError,
    InvalidTransition,
    NotFound,
)
from gateway.keys import REFUNDS
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
from gateway.services.resolutions import REASON_MAX
from gateway.services.staff import StaffUser


def _message(error: GatewayError) -> str:
    if isinstance(error, InvalidTransition):
        status = labels.REFUND_STATUSES.get(
            error.current, labels.RESOLUTION_STATUSES.get(error.current, error.current)
        )
        return (
            f"Khoản hoàn tiền hoặc đề xuất không còn chờ xử lý (trạng thái: “{status}”); nhà "
            "cung cấp có thể đã trả kết quả, hoặc đề xuất đã được người khác quyết định."
        )
    return labels.error_message(error)


@view
async def refund_detail(request: web.Request, user: StaffUser) -> web.StreamResponse:
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
    refund = await request.app[REFUNDS].detail(
        user.agency_ids, request.match_info["refund_id"], viewer=user.id
    )
    waiting = [r for r in refund["resolutions"] if r["status"] == "proposed"]
    return page(
        "console_refund.html",
        status=status,
        user=user,
        nav="dashboard",
        error=error,
        notice=notice,
        refund=refund,
        resolutions=refund["resolutions"],
        waiting=waiting[0] if waiting else None,
        can_propose=refund["status"] == "pending" and not waiting and not refund["still_queried"],
        # The maker — whichever login or key they proposed with — is offered no decision.
        can_decide=bool(waiting) and user.role in APPROVER_ROLES and not refund["viewer_proposed"],
        viewer_proposed=refund["viewer_proposed"],
        form=form.fields if form else {},
        reason_max=REASON_MAX,
        labels=labels,
    )


def _back(refund_id: str, msg: str) -> web.Response:
    return back_to(f"{PREFIX}/refunds/{refund_id}", msg=msg)


async def _propose(request: web.Request, user: StaffUser, form: Form) -> web.StreamResponse:
    refund_id = request.match_info["refund_id"]
    try:
        await request.app[REFUNDS].propose(
            user.id,
            user.agency_ids,
            refund_id,
            outcome=form.get("outcome"),
            provider_transaction_id=form.get("provider_transaction_id"),
            reason=form.get("reason"),
        )
    except NotFound:
        raise
    except GatewayError as exc:
        return await _detail(request, user, error=_message(exc), status=exc.http_status, form=form)
    return _back(refund_id, "proposed")


async def _decide(request: web.Request, user: StaffUser, form: Form) -> web.StreamResponse:
    refund_id = request.match_info["refund_id"]
    try:
        approve = approves(form)
        await request.app[REFUNDS].decide(
            user.id,
            user.agency_ids,
            refund_id,
            form.get("resolution_id") or None,
            approver=user.role in APPROVER_ROLES,
            approve=approve,
            reason=form.get("reason"),
        )
    except NotFound:
        raise
    except GatewayError as exc:
        return await _detail(request, user, error=_message(exc), status=exc.http_status)
    return _back(refund_id, "refund_approved" if approve else "resolution_rejected")


propose_resolution = action(_propose)
decide_resolution = action(_decide)
