"""Portal-facing postal endpoints and VNPost's status pushes: parse → service → render."""

from __future__ import annotations

from typing import Annotated, Literal

import structlog
from aiohttp import web
from pydantic import BaseModel, Field

from gateway.api.spec import IDEMPOTENCY_KEY, Header, Param, Reply, Route
from gateway.core.fields import OneOf, ResponseModel
from gateway.core.postal.orders import CANCELLABLE
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.idempotent import create_once, replay_headers
from gateway.http.responses import parse_body, parse_query, read_body, read_json, respond
from gateway.keys import CARRIER_SYNC, METRICS, POSTAL_ORDERS, SETTINGS, VNPOST_PUSHES
from gateway.models.postal import (
    POSTAL_ORDER_STATUSES,
    S10_PATTERN,
    PostalOrder,
    PostalOrderCreated,
    PostalOrderPage,
)
from gateway.models.postal_requests import CreatePostalOrder, OrderQuery, ReviewDecision
from gateway.services.postal.orders import OrderFilter
from gateway.services.postal.pushes import push_summary
from providers.postal.vnpost.codec import SIGNATURE_HEADER

PORTAL_ROLES = (Role.PORTAL,)
log = structlog.get_logger(__name__)

PUSH_OUTCOMES = {
    "applied": "Stored, and it moved the order",
    "stored": "Stored as history only: older or lower-ranked than the order's status, or the "
    "order is final",
    "duplicate": "This push (item code, status code, time) was received before",
    "deferred": "A final status or a COD code: stored, and believed only once the order is "
    "read back from VNPost (by the next pass of the background loop)",
    "unknown_order": "No order has this item code; the push is kept for review",
    "unknown_code": "No source explains this status code in the configured status profile "
    "(`vnpost.status_profile`): stored on the order as `unknown` (shown to operators and the "
    "portal), never applied, never guessed",
}


class VnpostStatusPush(BaseModel):
    """VNPost's status push. Unknown fields are ignored; `location` and `note` are not signed
    and are kept as information only. (Documentation only: the connector parses the bytes.)"""

    item_code: str = Field(pattern=S10_PATTERN, description="The tracking number")
    sale_order_code: str = Field("", description="Our `client_reference`")
    status: int = Field(
        description="VNPost's status code in the configured status profile (`partner_order`: "
        "0–29; `myvnpost`: 10–170); another code is stored as `unknown`, never applied"
    )
    time: str = Field(
        pattern="^[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}$",
        description="dd/mm/yyyy hh:mm:ss, wall-clock time in Vietnam (GMT+7)",
    )
    location: str | None = None
    note: str | None = None


class VnpostPushAck(ResponseModel):
    status: Literal["accepted"]
    outcome: Annotated[str, OneOf(PUSH_OUTCOMES)] = Field(
        description="; ".join(f"`{name}`: {text}" for name, text in PUSH_OUTCOMES.items())
    )


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
    created = PostalOrderCreated.model_validate(
        {**view, "warnings": stored.body.get("warnings", [])}
    )
    return respond(created, status=stored.status, headers=replay_headers(stored))


async def get_order(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    order_id = request.match_info["order_id"]
    return respond(PostalOrder.model_validate(await request.app[POSTAL_ORDERS].get(who, order_id)))


async def list_orders(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    query = parse_query(OrderQuery, request)
    listing = OrderFilter(
        dossier_code=query.dossier_code,
        status=query.status,
        limit=query.limit,
        cursor=query.cursor,
    )
    page = await request.app[POSTAL_ORDERS].list_page(who, listing)
    return respond(PostalOrderPage.model_validate(page))


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
    return respond(PostalOrder.model_validate(await orders.get(who, order_id)))


async def review_order(request: web.Request) -> web.Response:
    """A person's decision about an order the gateway could not settle alone."""
    who = await principal(request, *PORTAL_ROLES)
    body = parse_body(ReviewDecision, await read_json(request))
    order = await request.app[POSTAL_ORDERS].review(who, request.match_info["order_id"], body)
    return respond(PostalOrder.model_validate(order))


async def vnpost_push(request: web.Request) -> web.Response:
    """A VNPost status push: verified, stored, acknowledged with 200 (VNPost retries on any
    other answer, so only an unverifiable push gets one)."""
    body = await read_body(request, request.app[SETTINGS].max_callback_bytes)
    result = await request.app[VNPOST_PUSHES].receive_push(
        request.headers, body, request.remote, request.match_info.get("secret")
    )
    request.app[METRICS].notices.labels("vnpost", result.outcome).inc()
    return respond(VnpostPushAck.model_validate(push_summary(result)))


_CANCELLABLE = ", ".join(f"`{status}`" for status in POSTAL_ORDER_STATUSES if status in CANCELLABLE)
_FIELD_CODES = (
    "`validation_failed` with field-level `errors`. Besides the codes of the shape "
    "(`required`, `unknown_field`, `too_long`, `invalid_choice`, `not_integer`, …): "
    "`agency_code` → `unknown_agency`; `sender.address.province_code` (and `recipient.…`) → "
    "`unknown_province`; `….address.ward_code` → `unknown_ward`, `ward_not_in_province` "
    "(since July 2025 a ward belongs directly to a province); `….phone` → `invalid_phone`; "
    "`cod_amount` → `cod_on_pickup` (COD only on a delivery), `out_of_range` (not positive), "
    "`cod_too_large`, `amount_mismatch` (differs from the linked payment's amount); "
    "`payment_id` → `unknown_payment` (not a payment of the agency), `payment_not_pending` "
    "(COD for a settled payment); `pickup_window` → `not_allowed` (delivery leg), "
    "`pickup_window.end` → `invalid` (not after `start`); `Idempotency-Key` → `required`"
)
_NOT_FOUND = "`not_found` (also for other agencies' orders)"
_PUSH_ERRORS = {
    400: "`callback_malformed`: not a status push (not a JSON object, `item_code`, `status` or "
    "`time` missing or badly formatted)",
    401: f"`callback_rejected`: `{SIGNATURE_HEADER}` missing or wrong, wrong secret path "
    "segment, or a sender address not allowed",
    413: "`payload_too_large`",
}
_PUSH_SIGNATURE = Param(
    SIGNATURE_HEADER,
    "header",
    description="hex HMAC-SHA256 with the webhook key over '<item_code>|<status>|<time>'",
)
_PUSH_DESCRIPTION = (
    "De-duplicated by item code, status code and time. A push that would end the order or "
    "touches COD (codes 16, 26) is `deferred`: the signature covers only item code, status and "
    "time, so the order is read back from VNPost before it is believed. When "
    "`vnpost.callback_secret` is configured, pushes must come to `/callbacks/vnpost/{secret}`; "
    "when `vnpost.callback_allowed_ips` is, only from those addresses."
)
_PUSH_ACK = Reply(
    "Verified and stored; `outcome` tells what became of it. VNPost retries on any other "
    "answer, so only an unverifiable push gets one",
    VnpostPushAck,
)

ROUTES = (
    Route(
        "POST",
        "/v1/postal/orders",
        create_order,
        "Book a postal pickup (citizen → agency) or delivery (agency → citizen)",
        PORTAL_ROLES,
        {
            201: Reply(
                "Booked (or, for a retried key, the order as it stands now with the first "
                "answer's `warnings`). VNPost is tried once before the answer: `status` is "
                "`created` with a `tracking_number` when it accepted the order, still "
                "`submitting` when it could not be reached (retried in the background, never "
                "booked twice), or `submit_failed` when it refused (`last_error`)",
                PostalOrderCreated,
                headers={
                    "Idempotent-Replayed": Header(
                        "Present when the key was used before", {"const": "true"}, False
                    )
                },
            )
        },
        {
            403: "`forbidden` or `agency_not_in_scope`",
            409: "`postal_order_active`: the dossier already has a live order for this leg "
            "(cancel it, or wait until it ends); `idempotency_key_reused`",
            422: _FIELD_CODES,
        },
        body=CreatePostalOrder,
        params=(IDEMPOTENCY_KEY,),
        description="Phones and streets are encrypted at rest and never shown again (the view "
        "has masked phones and no street). The order's changes reach the portal as "
        "`postal.order.*` webhooks.",
    ),
    Route(
        "GET",
        "/v1/postal/orders",
        list_orders,
        "List the postal orders of the caller's agencies, newest first",
        PORTAL_ROLES,
        {200: Reply("A page of orders", PostalOrderPage)},
        {
            400: "`invalid_cursor`",
            422: "`validation_failed`: `limit` → `out_of_range`, `status` → `invalid_choice`",
        },
        query=OrderQuery,
    ),
    Route(
        "GET",
        "/v1/postal/orders/{order_id}",
        get_order,
        "Get a postal order with its history",
        PORTAL_ROLES,
        {200: Reply("The order", PostalOrder)},
        {404: _NOT_FOUND},
    ),
    Route(
        "POST",
        "/v1/postal/orders/{order_id}/cancel",
        cancel_order,
        "Ask for a postal order to be cancelled (asynchronous)",
        PORTAL_ROLES,
        {
            200: Reply(
                "The order as it stands: `cancel_state` is `requested` until VNPost answers, "
                "then the order is `cancelled` (`cancel_state: confirmed`) or goes on with "
                "`cancel_state: refused`. Asking again while `requested` answers the order as "
                "it is",
                PostalOrder,
            )
        },
        {
            404: _NOT_FOUND,
            409: "`not_cancellable` (`current` names the status): the parcel is picked up, or "
            "the order has ended",
        },
        description=f"Allowed while nothing is picked up: {_CANCELLABLE}. VNPost is told at "
        "once when it can be (else by the background loop); an order VNPost never received is "
        "cancelled without it. The outcome arrives as `postal.order.cancelled` or "
        "`postal.order.updated`.",
    ),
    Route(
        "POST",
        "/v1/postal/orders/{order_id}/review",
        review_order,
        "Decide about an order the gateway could not settle alone (`review_reason`)",
        PORTAL_ROLES,
        {200: Reply("The order after the decision", PostalOrder)},
        {
            404: _NOT_FOUND,
            409: "`not_under_review` (`current` names the status): the order is not "
            "`needs_review` (or only `acknowledge` applies to its flag), or it has no flag; "
            "`tracking_number_taken`: another order holds that item code",
            422: "`validation_failed`: `decision` → `invalid_choice`, `reason` missing or "
            "shorter than 3 characters, `tracking_number` missing with `adopt` or given "
            "without it",
        },
        body=ReviewDecision,
        description="Check with VNPost first (its customer service or the MyVNPost portal), "
        "then say what it holds. `adopt` → `created` with the item code (read from VNPost "
        "at once); `not_at_carrier` → `submit_failed` (the leg may be booked again); "
        "`withdraw` → `cancelled`; `acknowledge` clears `delivered_after_return` or "
        "`delivery_attempts_rule` without moving the order. Announced as `postal.order.*` and "
        "kept in the audit log with `reason`.",
    ),
    Route(
        "POST",
        "/callbacks/vnpost",
        vnpost_push,
        "VNPost status push (server to server)",
        None,
        {200: _PUSH_ACK},
        _PUSH_ERRORS,
        body=VnpostStatusPush,
        params=(_PUSH_SIGNATURE,),
        json_body=False,
        description=_PUSH_DESCRIPTION,
    ),
    Route(
        "POST",
        "/callbacks/vnpost/{secret}",
        vnpost_push,
        "VNPost status push to the secret callback URL",
        None,
        {200: _PUSH_ACK},
        _PUSH_ERRORS,
        body=VnpostStatusPush,
        params=(
            Param(
                "secret",
                "path",
                description="`vnpost.callback_secret` (checked only when configured)",
            ),
            _PUSH_SIGNATURE,
        ),
        description=_PUSH_DESCRIPTION,
        json_body=False,
    ),
)
