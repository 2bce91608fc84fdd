"""Portal-facing postal endpoints and VNPost's status pushes: parse → service → render."""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway.core.errors import FieldError, ValidationFailed
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.idempotent import create_once, replay_headers
from gateway.http.responses import json_response, parse_body, read_body, read_json
from gateway.keys import CARRIER_SYNC, METRICS, POSTAL_ORDERS, VNPOST_PUSHES
from gateway.models.postal_requests import CreatePostalOrder
from gateway.services.postal.orders import OrderFilter
from gateway.services.postal.pushes import push_summary

PORTAL_ROLES = (Role.PORTAL,)
log = structlog.get_logger(__name__)


async def create_order(request: web.Request) -> web.Response:
    """Book the order, then try the carrier once right away (the background loop retries);
    the answer shows the order as it stands after that try. A replay answers the same
    order as it stands now."""
    who = await principal(request, *PORTAL_ROLES)
    data = await read_json(request)
    body = parse_body(CreatePostalOrder, data)
    orders = request.app[POSTAL_ORDERS]
    stored = await create_once(request, who, data, lambda conn: orders.create(conn, who, body))
    order_id = stored.body["id"]
    if not stored.replayed:
        log.info(
            "postal_order_booked",
            postal_order_id=order_id,
            leg=stored.body["leg"],
            agency_code=stored.body["agency_code"],
        )
        # A failed try is not the caller's problem: the order is booked and will be retried.
        try:
            await request.app[CARRIER_SYNC].submit(order_id)
        except Exception:
            log.exception("postal_submission_deferred", postal_order_id=order_id)
    view = await orders.get(who, order_id)
    view["warnings"] = stored.body.get("warnings", [])
    return json_response(view, status=stored.status, headers=replay_headers(stored))


async def get_order(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    order_id = request.match_info["order_id"]
    return json_response(await request.app[POSTAL_ORDERS].get(who, order_id))


async def list_orders(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    query = request.rel_url.query
    limit_text = query.get("limit", "20")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
        raise ValidationFailed([FieldError("limit", "out_of_range", "1..100")])
    listing = OrderFilter(
        dossier_code=query.get("dossier_code") or None,
        status=query.get("status") or None,
        limit=int(limit_text),
        cursor=query.get("cursor") or None,
    )
    return json_response(await request.app[POSTAL_ORDERS].list_page(who, listing))


async def cancel_order(request: web.Request) -> web.Response:
    """Ask for cancellation; the carrier is told right away when it can be (else by the
    background loop). ``cancel_state`` tells where it stands."""
    who = await principal(request, *PORTAL_ROLES)
    order_id = request.match_info["order_id"]
    orders = request.app[POSTAL_ORDERS]
    await orders.request_cancel(who, order_id)
    log.info("postal_cancel_requested", postal_order_id=order_id)
    carrier = request.app[CARRIER_SYNC]
    try:
        await carrier.submit(order_id)  # still submitting: look up, then cancel or withdraw
        await carrier.cancel(order_id)
    except Exception:  # the background loop asks again
        log.exception("postal_cancel_deferred", postal_order_id=order_id)
    return json_response(await orders.get(who, order_id))


async def vnpost_push(request: web.Request) -> web.Response:
    """A VNPost status push: verified, stored, acknowledged with 200 (VNPost retries on any
    other answer, so only an unverifiable push gets one)."""
    body = await read_body(request)
    result = await request.app[VNPOST_PUSHES].receive_push(
        request.headers, body, request.remote, request.match_info.get("secret")
    )
    request.app[METRICS].notices.labels("vnpost", result.outcome).inc()
    return json_response(push_summary(result))
