"""Portal-facing payment endpoints: parse → service → render."""

from __future__ import annotations

from datetime import datetime

import structlog
from aiohttp import web

from gateway.core.errors import FieldError, ValidationFailed
from gateway.core.roles import Role
from gateway.core.statuses import PaymentStatus
from gateway.http.auth import principal
from gateway.http.idempotent import create_once, replay_headers
from gateway.http.responses import json_response, parse_body, read_json
from gateway.keys import METRICS, PAYMENTS
from gateway.models.requests import CreatePayment
from gateway.services.payments import ListFilter

PORTAL_ROLES = (Role.PORTAL, Role.COUNTER)
log = structlog.get_logger(__name__)


async def create_payment(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    data = await read_json(request)
    body = parse_body(CreatePayment, data)
    service = request.app[PAYMENTS]
    stored = await create_once(request, who, data, lambda conn: service.create(conn, who, body))
    if not stored.replayed:
        request.app[METRICS].payments_created.inc()
        log.info(
            "payment_created",
            payment_id=stored.body["id"],
            agency_code=stored.body["agency_code"],
            amount=stored.body["amount"],
        )
    return json_response(stored.body, status=stored.status, headers=replay_headers(stored))


async def get_payment(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    return json_response(await request.app[PAYMENTS].get(who, request.match_info["payment_id"]))


async def list_payments(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    query = request.rel_url.query
    errors: list[FieldError] = []
    status = None
    if query.get("status"):
        try:
            status = PaymentStatus(query["status"])
        except ValueError:
            errors.append(FieldError("status", "invalid_choice", "unknown payment status"))
    created: dict[str, datetime] = {}
    for name in ("created_from", "created_to"):
        if query.get(name):
            try:
                moment = datetime.fromisoformat(query[name].replace("Z", "+00:00"))
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None:
                errors.append(FieldError(name, "invalid_format", "ISO 8601 time with offset"))
            else:
                created[name] = moment
    limit_text = query.get("limit", "20")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
        errors.append(FieldError("limit", "out_of_range", "1..100"))
    if errors:
        raise ValidationFailed(errors)
    listing = ListFilter(
        dossier_code=query.get("dossier_code") or None,
        status=status,
        limit=int(limit_text),
        cursor=query.get("cursor") or None,
        created_from=created.get("created_from"),
        created_to=created.get("created_to"),
    )
    return json_response(await request.app[PAYMENTS].list_page(who, listing))


async def cancel_payment(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    payment = await request.app[PAYMENTS].cancel(who, request.match_info["payment_id"])
    log.info("payment_cancelled", payment_id=payment["id"])
    return json_response(payment)
