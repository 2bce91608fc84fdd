"""Webhook operations in the finance console: the portals' endpoints of the user's agencies,
each with its delivery log, a test event, redelivery of one event, and sending again every
delivery that failed since a time, whenever its event was created (after the portal's outage).

The same services as the API (:mod:`gateway.api.webhooks`), acting for the endpoint's owner
once the staff member's scope has found the endpoint (an endpoint outside it is a 404). After
each POST the browser is sent back to the endpoint's page (303) with what happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from gateway.core.errors import GatewayError, NotFound
from gateway.keys import ENDPOINTS, EVENTS
from gateway.pages import console_labels as labels
from gateway.pages.console_auth import PREFIX, Form, action, back_to, page, page_links, view
from gateway.services.staff import StaffUser
from reconciliation.model import BUSINESS_TZ

PAGE_SIZE = 20
#: What the redirect after each action says (the query carries the key and a count).
NOTICES = {
    "tested": "Đã xếp hàng gửi một sự kiện thử tới điểm nhận này.",
    "redelivered": "Đã xếp hàng gửi lại sự kiện.",
    "recovered": "Đã xếp hàng gửi lại {count} thông báo bị lỗi.",
}


async def _endpoint(request: web.Request, user: StaffUser) -> dict[str, Any]:
    found = await request.app[ENDPOINTS].for_staff(
        user.agency_ids, user.all_agencies, request.match_info["endpoint_id"]
    )
    if not found:
        raise NotFound("webhook endpoint not found")
    return found[0]


def _back(endpoint_id: str, msg: str, **more: str) -> web.Response:
    return back_to(f"{PREFIX}/webhooks/{endpoint_id}", msg=msg, **more)


def _since(text: str) -> datetime | None:
    """A ``datetime-local`` value (Vietnam time, minutes) as an aware instant."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None or not 2000 <= moment.year <= 2100:
        return None
    return moment.replace(tzinfo=BUSINESS_TZ)


@view
async def endpoint_list(request: web.Request, user: StaffUser) -> web.StreamResponse:
    endpoints = await request.app[ENDPOINTS].for_staff(user.agency_ids, user.all_agencies)
    return page(
        "console_webhooks.html", user=user, nav="webhooks", endpoints=endpoints, labels=labels
    )


@view
async def endpoint_detail(request: web.Request, user: StaffUser) -> web.StreamResponse:
    return await _detail(request, user)


async def _detail(
    request: web.Request,
    user: StaffUser,
    *,
    error: str | None = None,
    status: int = 200,
    since: str = "",
) -> web.Response:
    endpoint = await _endpoint(request, user)
    query = request.rel_url.query
    cursor = query.get("cursor") or None
    log = await request.app[EVENTS].deliveries_of_endpoint(
        endpoint["client_id"], endpoint["id"], PAGE_SIZE, cursor
    )
    notice = NOTICES.get(query.get("msg", ""))
    count = query.get("count", "")
    return page(
        "console_webhook.html",
        status=status,
        user=user,
        nav="webhooks",
        error=error,
        notice=notice.format(count=count if count.isdigit() else "0") if notice else None,
        endpoint=endpoint,
        deliveries=log["data"],
        **page_links(f"{PREFIX}/webhooks/{endpoint['id']}", {}, log["next_cursor"], cursor),
        since=since,
        labels=labels,
    )


async def _refused(request: web.Request, user: StaffUser, exc: GatewayError) -> web.Response:
    if isinstance(exc, NotFound):
        raise exc
    return await _detail(request, user, error=labels.error_message(exc), status=exc.http_status)


async def _send_test(request: web.Request, user: StaffUser, form: Form) -> web.StreamResponse:
    endpoint = await _endpoint(request, user)
    try:
        await request.app[EVENTS].send_test(endpoint["client_id"], endpoint["id"])
    except GatewayError as exc:
        return await _refused(request, user, exc)
    return _back(endpoint["id"], "tested")


async def _redeliver(request: web.Request, user: StaffUser, form: Form) -> web.StreamResponse:
    endpoint = await _endpoint(request, user)
    try:
        await request.app[EVENTS].redeliver(endpoint["client_id"], request.match_info["event_id"])
    except GatewayError as exc:
        return await _refused(request, user, exc)
    return _back(endpoint["id"], "redelivered")


async def _recover(request: web.Request, user: StaffUser, form: Form) -> web.StreamResponse:
    endpoint = await _endpoint(request, user)
    text = form.get("since").strip()
    since = _since(text)
    if since is None:
        return await _detail(
            request,
            user,
            error="Hãy chọn thời điểm bắt đầu (ngày và giờ) để gửi lại các thông báo bị lỗi.",
            status=422,
            since=text[:32],
        )
    try:
        count = await request.app[EVENTS].recover(endpoint["client_id"], endpoint["id"], since)
    except GatewayError as exc:
        return await _refused(request, user, exc)
    return _back(endpoint["id"], "recovered", count=str(count))


send_test = action(_send_test)
redeliver = action(_redeliver)
recover = action(_recover)
