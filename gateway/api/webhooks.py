"""Webhook endpoints and events, for the API client that owns them."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.errors import FieldError, ValidationFailed
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.idempotent import create_once, replay_headers
from gateway.http.responses import json_response, parse_body, read_json
from gateway.keys import ENDPOINTS, EVENTS
from gateway.models.requests import CreateWebhookEndpoint

ROLES = (Role.PORTAL, Role.POSTAL_OPERATOR)


async def create_endpoint(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    data = await read_json(request)
    body = parse_body(CreateWebhookEndpoint, data)
    service = request.app[ENDPOINTS]
    await service.validate(body.url, body.events)

    async def create(conn: AsyncConnection) -> dict[str, Any]:
        # Only the id is kept with the idempotency key: the secret lives in one place.
        return {"endpoint_id": await service.create(conn, who.client_id, body.url, body.events)}

    stored = await create_once(request, who, data, create)
    view = await service.created_view(who.client_id, stored.body["endpoint_id"])
    return json_response(view, status=stored.status, headers=replay_headers(stored))


async def list_endpoints(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    return json_response({"data": await request.app[ENDPOINTS].list(who.client_id)})


async def delete_endpoint(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    await request.app[ENDPOINTS].delete(who.client_id, request.match_info["endpoint_id"])
    return web.Response(status=204)


async def rotate_secret(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    view = await request.app[ENDPOINTS].rotate(who.client_id, request.match_info["endpoint_id"])
    return json_response(view)


async def endpoint_deliveries(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    limit_text = request.rel_url.query.get("limit", "20")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
        raise ValidationFailed([FieldError("limit", "out_of_range", "1..100")])
    page = await request.app[EVENTS].deliveries_of_endpoint(
        who.client_id,
        request.match_info["endpoint_id"],
        int(limit_text),
        request.rel_url.query.get("cursor") or None,
    )
    return json_response(page)


async def get_event(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    return json_response(
        await request.app[EVENTS].get(who.client_id, request.match_info["event_id"])
    )


async def redeliver_event(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    view = await request.app[EVENTS].redeliver(who.client_id, request.match_info["event_id"])
    return json_response(view, status=202)
