"""Portal-facing payment endpoints: parse → service → render."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from gateway.api.spec import IDEMPOTENCY_KEY, Reply, Route
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.idempotent import answer, keyed_request
from gateway.http.responses import model_text, parse_body, parse_query, read_json, respond
from gateway.keys import ATTEMPTS, METRICS, PAYMENTS
from gateway.models.payments import Payment, PaymentList
from gateway.models.requests import CreatePayment, PaymentQuery

PORTAL_ROLES = (Role.PORTAL, Role.COUNTER)
log = structlog.get_logger(__name__)


async def create_payment(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    data = await read_json(request)
    body = parse_body(CreatePayment, data)
    service = request.app[PAYMENTS]
    stored = await service.create_once(who, body, keyed_request(request, who, data), payment_text)
    if not stored.replayed:
        request.app[METRICS].payments_created.inc()
        created = stored.body
        log.info(
            "payment_created",
            payment_id=created["id"],
            agency_code=created["agency_code"],
            amount=created["amount"],
        )
    return answer(stored, payment_text)


def payment_text(view: dict[str, Any]) -> str:
    """A payment's view (the service's dict) as the API answers it: through :class:`Payment`."""
    return model_text(Payment.model_validate(view))


async def get_payment(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    payment = await request.app[PAYMENTS].get(who, request.match_info["payment_id"])
    return respond(Payment.model_validate(payment))


async def list_payments(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    query = parse_query(PaymentQuery, request)
    return respond(PaymentList.model_validate(await request.app[PAYMENTS].list_page(who, query)))


async def cancel_payment(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    payment = Payment.model_validate(
        await request.app[PAYMENTS].cancel(who, request.match_info["payment_id"])
    )
    log.info("payment_cancelled", payment_id=payment.id)
    # A sale still waiting on a card terminal is stopped, so the card cannot pay a dead bill.
    await request.app[ATTEMPTS].stop_running(payment.id)
    return respond(payment)


ROUTES = (
    Route(
        "POST",
        "/v1/payments",
        create_payment,
        "Create a fee payment for a dossier",
        PORTAL_ROLES,
        {201: Reply("Created (or the stored response of a retried key)", Payment)},
        {
            403: "`forbidden` or `agency_not_in_scope`",
            409: "`idempotency_key_reused`",
            422: "`validation_failed` with field-level `errors`",
        },
        body=CreatePayment,
        params=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "GET",
        "/v1/payments",
        list_payments,
        "List payments of the caller's agencies, newest first",
        PORTAL_ROLES,
        {200: Reply("A page of payments", PaymentList)},
        {400: "`invalid_cursor`", 422: "`validation_failed`"},
        query=PaymentQuery,
    ),
    Route(
        "GET",
        "/v1/payments/{payment_id}",
        get_payment,
        "Get a payment",
        PORTAL_ROLES,
        {200: Reply("The payment", Payment)},
        {404: "`not_found` (also for other agencies' payments)"},
    ),
    Route(
        "POST",
        "/v1/payments/{payment_id}/cancel",
        cancel_payment,
        "Cancel a pending payment",
        PORTAL_ROLES,
        {200: Reply("The cancelled payment", Payment)},
        {404: "`not_found`", 409: "`invalid_transition`: not pending"},
    ),
)
