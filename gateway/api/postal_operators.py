"""Postal operators' API (role ``postal_operator``, scoped to their post offices): the feed of
their orders, one order, accepting it, reporting events and recording handovers.

Handlers parse, call :class:`gateway.services.postal.operators.OperatorService` and answer
JSON; errors are ``application/problem+json`` through the error tree. Events and handovers
carry the operator's own ``event_id``/``handover_id``, which is their idempotency key: a new
one is answered ``201``, a resend of the same content ``200`` with ``Idempotent-Replayed``.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from aiohttp import web
from pydantic import BaseModel, Field

from gateway.api.spec import Header, Reply, Route
from gateway.core.fields import QueryModel, page_size
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.responses import parse_body, parse_query, read_json, respond
from gateway.keys import OPERATORS
from gateway.models.operators import (
    OperatorEventReported,
    OperatorHandoverRecorded,
    OperatorOrder,
    OperatorOrderFeed,
)
from gateway.models.postal_requests import Handover, OperatorEvent
from gateway.services.postal.operators import FEED_LIMIT_MAX, MAX_CLOCK_SKEW, Reported

log = structlog.get_logger(__name__)
PREFIX = "/v1/operator/orders"
ROLES = (Role.POSTAL_OPERATOR,)


class FeedQuery(QueryModel):
    cursor: str | None = Field(None, description="`next_cursor` of the last page")
    limit: Annotated[
        int,
        page_size(FEED_LIMIT_MAX),
        Field(ge=1, le=FEED_LIMIT_MAX, description="page size"),
    ] = 50


async def feed(request: web.Request) -> web.Response:
    """``GET /v1/operator/orders?cursor=&limit=``: orders changed after the cursor."""
    who = await principal(request, *ROLES)
    query = parse_query(FeedQuery, request)
    page = await request.app[OPERATORS].feed(who, query.cursor, query.limit)
    return respond(OperatorOrderFeed.model_validate(page))


async def get_order(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    order = await request.app[OPERATORS].get(who, request.match_info["order_id"])
    return respond(OperatorOrder.model_validate(order))


async def accept_order(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    order_id = request.match_info["order_id"]
    view = await request.app[OPERATORS].accept(who, order_id)
    log.info("postal_order_accepted", postal_order_id=order_id, client_id=who.client_id)
    return respond(OperatorOrder.model_validate(view))


async def report_event(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
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
    return _answer(OperatorEventReported, result)


async def record_handover(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
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
    return _answer(OperatorHandoverRecorded, result)


def _answer(model: type[BaseModel], result: Reported) -> web.Response:
    if result.replayed:
        return respond(model.model_validate(result.body), headers={"Idempotent-Replayed": "true"})
    return respond(model.model_validate(result.body), status=201)


_ROLE = (
    "A bearer API key scoped to post offices (`gateway clients create --role postal_operator "
    "--post-office <code>`). Only the orders routed to those offices (the office serving the "
    "order's agency when it was booked) are visible; any other order answers `404 not_found`, "
    "exactly as one that does not exist. (An `admin` key passes the role check but, scoped to "
    "no office, sees no order.)"
)
_ERRORS = {
    403: "`forbidden`: not a `postal_operator` key",
    404: "`not_found` (also for orders outside the operator's offices)",
}
_SKEW = (
    f"more than {int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes ahead of the gateway's clock"
)
_EARLY = (
    f"more than {int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes before the order was booked"
)


def _reported(model: type[BaseModel], what: str) -> dict[int, Reply]:
    """The answers of a report the operator identifies by its own id."""
    return {
        201: Reply(f"Recorded: a new {what}", model),
        200: Reply(
            f"The same {what} id sent again with the same content: the first answer's {what}, "
            "the order as it is now; nothing stored again",
            model,
            headers={
                "Idempotent-Replayed": Header(
                    "The id was reported before with the same content", {"const": "true"}
                )
            },
        ),
    }


ROUTES = (
    Route(
        "GET",
        PREFIX,
        feed,
        "The feed: orders of the operator's offices changed after the cursor, oldest change first",
        ROLES,
        {200: Reply("A page of the feed", OperatorOrderFeed)},
        {
            400: "`invalid_cursor`",
            403: _ERRORS[403],
            422: "`validation_failed`: `limit` → `out_of_range`",
        },
        query=FeedQuery,
        description="Ordered by `(updated_at, id)`. An order that changes (status, acceptance, "
        "a handover, COD) gets a new `updated_at` and comes again. Orders still `submitting` or "
        "`submit_failed` are left out (the carrier does not have them). Poll with the last "
        "`next_cursor`; no cursor starts from the beginning. Known limit: `updated_at` is the "
        "writer's clock, so on PostgreSQL two transactions committing out of order within a "
        "moment can let a poller step past the earlier one; it comes again at its next change, "
        f"and an occasional read from the start catches up. {_ROLE}",
    ),
    Route(
        "GET",
        f"{PREFIX}/{{order_id}}",
        get_order,
        "One order of the operator's offices, with its events and handovers",
        ROLES,
        {200: Reply("The order", OperatorOrder)},
        _ERRORS,
        description=_ROLE,
    ),
    Route(
        "POST",
        f"{PREFIX}/{{order_id}}/accept",
        accept_order,
        "Accept (take on) an order",
        ROLES,
        {
            200: Reply(
                "The order, `accepted_at` and `accepted_by` set. Accepting again by the same "
                "operator answers the same",
                OperatorOrder,
            )
        },
        {
            **_ERRORS,
            409: "`already_accepted`: another operator accepted it; `order_not_acceptable` "
            "(`current` names the status): not with the carrier yet (`submitting`, "
            "`submit_failed`) or final",
        },
        description="Once per order; announced to the portal as `postal.order.updated` "
        f"(`accepted_at`). No body. {_ROLE}",
    ),
    Route(
        "POST",
        f"{PREFIX}/{{order_id}}/events",
        report_event,
        "Report what happened to the order (pickup assigned, picked up, failed, …)",
        ROLES,
        _reported(OperatorEventReported, "event"),
        {
            **_ERRORS,
            409: "`duplicate_event`: the `event_id` was reported before with other content (or "
            "for another order); nothing changed",
            422: "`validation_failed` with field-level `errors`: besides the codes of the shape, "
            "`event_id` → `reserved` (ids starting `handover:` belong to the handovers' own "
            f"events), `occurred_at` → `in_future` ({_SKEW}) or `before_order` ({_EARLY}); "
            "on a delivery (Circular 17/2017: two attempts two working days apart, Mon–Fri in "
            "Vietnam time, before the result goes back): `delivery_attempt_too_soon` (a "
            "`delivery_failed` fewer than two working days after the previous one) and "
            "`delivery_attempts_required` (`return_pending`, `returning` or `returned` before "
            "two such attempts). Nothing is stored",
        },
        body=OperatorEvent,
        description="De-duplicated by the operator's own `event_id` (no `Idempotency-Key`). "
        "Every event is stored; rank and time decide whether it moves the order (`applied`), "
        "exactly as for VNPost's reports, and a move is announced to the portal as a "
        f"`postal.order.*` webhook. {_ROLE}",
    ),
    Route(
        "POST",
        f"{PREFIX}/{{order_id}}/handovers",
        record_handover,
        "Record a handover (biên bản bàn giao): the postman collected the parcel or delivered it",
        ROLES,
        _reported(OperatorHandoverRecorded, "handover"),
        {
            **_ERRORS,
            409: "`duplicate_handover`: the `handover_id` was reported before with other "
            "content (or for another order); `cod_already_collected`: `cod_collected` on an "
            "order whose COD is already recorded (by a handover or by VNPost). Nothing changed",
            422: f"`validation_failed` with field-level `errors` (`at` → `in_future`: {_SKEW}; "
            f"`before_order`: {_EARLY}); "
            "`cod_not_expected`: `cod_collected` on an order without COD or on a `collected` "
            "handover; `cod_amount_mismatch` (`cod_amount` names the order's amount): not the "
            "order's `cod_amount`. Nothing is stored",
        },
        body=Handover,
        description="De-duplicated by the operator's own `handover_id`. In one transaction: "
        "the handover (the identity number sealed, only a masked copy shown), the COD if any "
        "(it pays the linked payment when that is still pending for exactly this amount), and "
        "its event (`collected` → `picked_up`, `delivered` → `delivered`), judged by rank and "
        "time like any report. A pickup delivered to the agency sets `handed_over_at`. "
        f"{_ROLE}",
    ),
)
