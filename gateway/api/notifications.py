"""Citizen notifications: list them, record opt-outs, take the providers' delivery receipts.
Thin: parse → service → render."""

from __future__ import annotations

from aiohttp import web

from gateway.api.spec import Param, Reply, Route
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.responses import (
    json_response,
    parse_body,
    parse_query,
    read_body,
    read_json,
    respond,
)
from gateway.keys import METRICS, NOTIFICATION_RECEIPTS, NOTIFICATION_VIEWS, SETTINGS
from gateway.models.notifications import (
    CreateOptOut,
    NotificationList,
    NotificationQuery,
    OptOut,
    ReceiptAck,
)

ROLES = (Role.PORTAL, Role.COUNTER)


async def list_notifications(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    query = parse_query(NotificationQuery, request)
    found = await request.app[NOTIFICATION_VIEWS].list_for(
        who, query.payment_id, query.postal_order_id
    )
    return respond(NotificationList.model_validate(found))


async def create_opt_out(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    body = parse_body(CreateOptOut, await read_json(request))
    view, created = await request.app[NOTIFICATION_VIEWS].opt_out(who, body.phone)
    return respond(OptOut.model_validate(view), status=201 if created else 200)


async def zns_receipt(request: web.Request) -> web.Response:
    body = await read_body(request, request.app[SETTINGS].max_callback_bytes)
    answer = await request.app[NOTIFICATION_RECEIPTS].zns(request.match_info["secret"], body)
    request.app[METRICS].notices.labels("zns", answer.outcome).inc()
    return json_response(answer.body())


async def sms_receipt(request: web.Request) -> web.Response:
    answer = await request.app[NOTIFICATION_RECEIPTS].sms(
        request.match_info["secret"], request.rel_url.query
    )
    request.app[METRICS].notices.labels("sms", answer.outcome).inc()
    return json_response(answer.body())


_SECRET = Param("secret", "path", description="The channel's `callback_secret`")
_RECEIPT_ERRORS = {
    400: "`callback_malformed`",
    401: "`callback_rejected`: wrong secret path segment",
}

ROUTES = (
    Route(
        "GET",
        "/v1/notifications",
        list_notifications,
        "The notifications sent to the citizen about a payment or a postal order",
        ROLES,
        {200: Reply("Oldest first", NotificationList)},
        {
            404: "`not_found`: no such payment or postal order among the caller's agencies",
            422: "`validation_failed` (`one_subject_required`)",
        },
        query=NotificationQuery,
    ),
    Route(
        "POST",
        "/v1/notifications/opt-outs",
        create_opt_out,
        "Stop every notification to a phone number (the citizen asked)",
        ROLES,
        {
            201: Reply("Recorded", OptOut),
            200: Reply("Recorded before (idempotent by number)", OptOut),
        },
        {422: "`validation_failed` (`invalid_phone`)"},
        body=CreateOptOut,
        description="Idempotent by the number itself, so no Idempotency-Key is needed. "
        "Notifications queued after this are recorded `failed` with reason `opted_out` and "
        "not sent. The number is kept only as a keyed hash.",
    ),
    Route(
        "POST",
        "/callbacks/zns/{secret}",
        zns_receipt,
        "Zalo OA webhook: ZNS delivery receipts (`user_received_message`)",
        None,
        {200: Reply("Stored (and applied if it names a message we sent)", ReceiptAck)},
        _RECEIPT_ERRORS,
        params=(_SECRET,),
        json_body=False,
        description="Zalo's webhook signature is not verified (specs/notifications.md §1.3): "
        "the secret path segment guards it, and a receipt only marks a message delivered.",
    ),
    Route(
        "GET",
        "/callbacks/sms/{secret}",
        sms_receipt,
        "eSMS delivery report (unsigned GET with SMSID, SendStatus, SendSuccess, SendFailed)",
        None,
        {200: Reply("Stored (and applied if it names a message we sent)", ReceiptAck)},
        _RECEIPT_ERRORS,
        params=(_SECRET,),
    ),
)
