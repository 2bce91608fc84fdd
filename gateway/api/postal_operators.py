"""Postal operators' API (role ``postal_operator``, scoped to their post offices): the feed of
their orders, one order, accepting it, reporting events and recording handovers.

Handlers parse, call :class:`gateway.services.postal.operators.OperatorService` and answer
JSON; errors are ``application/problem+json`` through the error tree. Events and handovers
carry the operator's own ``event_id``/``handover_id``, which is their idempotency key: a new
one is answered ``201``, a resend of the same content ``200`` with ``Idempotent-Replayed``.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway.core.errors import FieldError, ValidationFailed
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.responses import json_response, parse_body, read_json
from gateway.keys import OPERATORS
from gateway.models.postal_requests import Handover, OperatorEvent
from gateway.services.postal.operators import FEED_LIMIT_MAX, Reported

log = structlog.get_logger(__name__)
PREFIX = "/v1/operator/orders"


async def feed(request: web.Request) -> web.Response:
    """``GET /v1/operator/orders?cursor=&limit=``: orders changed after the cursor."""
    who = await principal(request, Role.POSTAL_OPERATOR)
    query = request.rel_url.query
    limit_text = query.get("limit", "50")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= FEED_LIMIT_MAX:
        raise ValidationFailed([FieldError("limit", "out_of_range", f"1..{FEED_LIMIT_MAX}")])
    page = await request.app[OPERATORS].feed(who, query.get("cursor") or None, int(limit_text))
    return json_response(page)


async def get_order(request: web.Request) -> web.Response:
    who = await principal(request, Role.POSTAL_OPERATOR)
    return json_response(await request.app[OPERATORS].get(who, request.match_info["order_id"]))


async def accept_order(request: web.Request) -> web.Response:
    who = await principal(request, Role.POSTAL_OPERATOR)
    order_id = request.match_info["order_id"]
    view = await request.app[OPERATORS].accept(who, order_id)
    log.info("postal_order_accepted", postal_order_id=order_id, client_id=who.client_id)
    return json_response(view)


async def report_event(request: web.Request) -> web.Response:
    who = await principal(request, Role.POSTAL_OPERATOR)
    body = parse_body(OperatorEvent, await read_json(request))
    order_id = request.match_info["order_id"]
    result = await request.app[OPERATORS].report_event(who, order_id, body)
    log.info(
        "postal_operator_event",
        postal_order_id=order_id,
        client_id=who.client_id,
        status=body.status,
        applied=result.body["applied"],
        replayed=result.replayed,
    )
    return _answer(result)


async def record_handover(request: web.Request) -> web.Response:
    who = await principal(request, Role.POSTAL_OPERATOR)
    body = parse_body(Handover, await read_json(request))
    order_id = request.match_info["order_id"]
    result = await request.app[OPERATORS].record_handover(who, order_id, body)
    log.info(
        "postal_handover_recorded",
        postal_order_id=order_id,
        client_id=who.client_id,
        kind=body.kind,
        replayed=result.replayed,
    )
    return _answer(result)


def _answer(result: Reported) -> web.Response:
    if result.replayed:
        return json_response(result.body, headers={"Idempotent-Replayed": "true"})
    return json_response(result.body, status=201)


def setup_operator_routes(app: web.Application) -> None:
    """Add the operator API routes."""
    add = app.router
    add.add_get(PREFIX, feed)
    add.add_get(f"{PREFIX}/{{order_id}}", get_order)
    add.add_post(f"{PREFIX}/{{order_id}}/accept", accept_order)
    add.add_post(f"{PREFIX}/{{order_id}}/events", report_event)
    add.add_post(f"{PREFIX}/{{order_id}}/handovers", record_handover)
