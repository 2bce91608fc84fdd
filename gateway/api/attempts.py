"""Attempts, refunds and POS terminals: parse → service → render."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.channels.base import RefundOutcome
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.idempotent import create_once, replay_headers
from gateway.http.responses import json_response, parse_body, read_json
from gateway.keys import ATTEMPTS, REFUNDS, TERMINALS
from gateway.models.requests import CompleteRefund, CreateAttempt, CreateRefund, CreateTerminal

PORTAL_ROLES = (Role.PORTAL, Role.COUNTER)
FINANCE_ROLES = (Role.FINANCE, Role.FINANCE_APPROVER)


def client_ip(request: web.Request) -> str:
    return request.remote or "127.0.0.1"


async def create_attempt(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    data = await read_json(request)
    body = parse_body(CreateAttempt, data)
    payment_id = request.match_info["payment_id"]
    service = request.app[ATTEMPTS]

    async def begin(conn: AsyncConnection) -> dict[str, Any]:
        return {"attempt_id": await service.begin(conn, who, payment_id, body)}

    stored = await create_once(request, who, data, begin)
    view = await service.start(stored.body["attempt_id"], client_ip(request))
    return json_response(view, status=201, headers=replay_headers(stored))


async def list_attempts(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    views = await request.app[ATTEMPTS].list(who, request.match_info["payment_id"])
    return json_response({"data": views})


async def get_attempt(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    view = await request.app[ATTEMPTS].get(
        who, request.match_info["payment_id"], request.match_info["attempt_id"]
    )
    return json_response(view)


async def cancel_attempt(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    view = await request.app[ATTEMPTS].cancel(
        who, request.match_info["payment_id"], request.match_info["attempt_id"]
    )
    return json_response(view, status=202)


async def create_refund(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES, *FINANCE_ROLES)
    data = await read_json(request)
    body = parse_body(CreateRefund, data)
    payment_id = request.match_info["payment_id"]
    service = request.app[REFUNDS]

    async def begin(conn: AsyncConnection) -> dict[str, Any]:
        return {"refund_id": await service.begin(conn, who, payment_id, body)}

    stored = await create_once(request, who, data, begin)
    view = await service.execute(stored.body["refund_id"], who.client_id)
    return json_response(view, status=201, headers=replay_headers(stored))


async def get_refund(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES, *FINANCE_ROLES)
    return json_response(await request.app[REFUNDS].get(who, request.match_info["refund_id"]))


async def complete_refund(request: web.Request) -> web.Response:
    """Finance staff record a refund they made by bank transfer or at the terminal."""
    who = await principal(request, *FINANCE_ROLES)
    body = parse_body(CompleteRefund, await read_json(request))
    outcome = RefundOutcome(
        body.status,
        provider_transaction_id=body.provider_transaction_id,
        failure_code="manual" if body.status == "failed" else None,
    )
    view = await request.app[REFUNDS].complete(who, request.match_info["refund_id"], outcome)
    return json_response(view)


async def create_terminal(request: web.Request) -> web.Response:
    await principal(request, Role.ADMIN)
    body = parse_body(CreateTerminal, await read_json(request))
    view = await request.app[TERMINALS].add(body.agency_code, body.terminal_id, body.name)
    return json_response(view, status=201)


async def list_terminals(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    return json_response({"data": await request.app[TERMINALS].list(who.agency_ids)})
