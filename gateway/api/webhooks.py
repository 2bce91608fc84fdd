"""Webhook endpoints and events, for the API client that owns them."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.api.spec import IDEMPOTENCY_KEY, Reply, Route
from gateway.core.fields import PageSize, QueryModel
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.idempotent import create_once, replay_headers
from gateway.http.responses import parse_body, parse_query, read_json, respond
from gateway.keys import ENDPOINTS, EVENTS
from gateway.models.requests import CreateWebhookEndpoint, RecoverDeliveries
from webhooks.models import (
    DeliveryPage,
    EventWithDeliveries,
    Recovered,
    WebhookEndpoint,
    WebhookEndpointList,
    WebhookEndpointWithSecret,
)

ROLES = (Role.PORTAL, Role.POSTAL_OPERATOR)


class DeliveryQuery(QueryModel):
    limit: PageSize = 20
    cursor: str | None = Field(None, description="next_cursor of the previous page")


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
    return respond(
        WebhookEndpointWithSecret.model_validate(view),
        status=stored.status,
        headers=replay_headers(stored),
    )


async def list_endpoints(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    views = await request.app[ENDPOINTS].list(who.client_id)
    return respond(WebhookEndpointList(data=[WebhookEndpoint.model_validate(v) for v in views]))


async def delete_endpoint(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    await request.app[ENDPOINTS].delete(who.client_id, request.match_info["endpoint_id"])
    return web.Response(status=204)


async def rotate_secret(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    view = await request.app[ENDPOINTS].rotate(who.client_id, request.match_info["endpoint_id"])
    return respond(WebhookEndpointWithSecret.model_validate(view))


async def endpoint_deliveries(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    query = parse_query(DeliveryQuery, request)
    page = await request.app[EVENTS].deliveries_of_endpoint(
        who.client_id, request.match_info["endpoint_id"], query.limit, query.cursor
    )
    return respond(DeliveryPage.model_validate(page))


async def get_event(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    view = await request.app[EVENTS].get(who.client_id, request.match_info["event_id"])
    return respond(EventWithDeliveries.model_validate(view))


async def redeliver_event(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    view = await request.app[EVENTS].redeliver(who.client_id, request.match_info["event_id"])
    return respond(EventWithDeliveries.model_validate(view), status=202)


async def send_test_event(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    view = await request.app[EVENTS].send_test(who.client_id, request.match_info["endpoint_id"])
    return respond(EventWithDeliveries.model_validate(view), status=202)


async def recover_deliveries(request: web.Request) -> web.Response:
    who = await principal(request, *ROLES)
    body = parse_body(RecoverDeliveries, await read_json(request))
    count = await request.app[EVENTS].recover(
        who.client_id, request.match_info["endpoint_id"], body.since
    )
    return respond(Recovered(recovered=count), status=202)


_SCOPE = "Endpoints and events are per API client."

ROUTES = (
    Route(
        "POST",
        "/v1/webhook-endpoints",
        create_endpoint,
        "Register a webhook endpoint",
        ROLES,
        {
            201: Reply(
                "The endpoint with its signing secret (a retried key answers the stored response)",
                WebhookEndpointWithSecret,
            )
        },
        {
            409: "`idempotency_key_reused`",
            422: "`validation_failed`; `url` → `invalid_url`, `scheme_not_allowed`, "
            "`address_not_allowed`, `too_many_endpoints` (20); `events` → `unknown_event_type`",
        },
        body=CreateWebhookEndpoint,
        params=(IDEMPOTENCY_KEY,),
        description=_SCOPE,
    ),
    Route(
        "GET",
        "/v1/webhook-endpoints",
        list_endpoints,
        "List webhook endpoints (disabled ones too; deleted ones are gone)",
        ROLES,
        {200: Reply("The endpoints", WebhookEndpointList)},
        description=_SCOPE,
    ),
    Route(
        "DELETE",
        "/v1/webhook-endpoints/{endpoint_id}",
        delete_endpoint,
        "Delete a webhook endpoint; its pending deliveries fail",
        ROLES,
        {204: Reply("Deleted", media=())},
        {404: "`not_found`"},
        description=_SCOPE,
    ),
    Route(
        "POST",
        "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
        rotate_secret,
        "Issue a new signing secret; the previous one keeps signing for an overlap",
        ROLES,
        {200: Reply("The endpoint with its new secret", WebhookEndpointWithSecret)},
        {404: "`not_found` (also for a disabled endpoint)"},
        description=_SCOPE,
    ),
    Route(
        "GET",
        "/v1/webhook-endpoints/{endpoint_id}/deliveries",
        endpoint_deliveries,
        "Deliveries to an endpoint, newest first",
        ROLES,
        {200: Reply("A page of deliveries", DeliveryPage)},
        {
            400: "`invalid_cursor`",
            404: "`not_found`",
            422: "`validation_failed`: `limit` → `out_of_range`",
        },
        query=DeliveryQuery,
        description=_SCOPE,
    ),
    Route(
        "POST",
        "/v1/webhook-endpoints/{endpoint_id}/test",
        send_test_event,
        "Send a `webhook.test` event to this endpoint now",
        ROLES,
        {
            202: Reply(
                "Queued like any event (signed, retried on failure); the event as it is now",
                EventWithDeliveries,
            )
        },
        {
            404: "`not_found`",
            409: "`invalid_transition`: the endpoint is disabled",
        },
        description=_SCOPE + " Repeating it sends another test event; nothing else changes.",
    ),
    Route(
        "POST",
        "/v1/webhook-endpoints/{endpoint_id}/recover",
        recover_deliveries,
        "Send again every failed delivery to this endpoint since a time",
        ROLES,
        {202: Reply("Queued now with a fresh retry schedule; how many", Recovered)},
        {
            404: "`not_found`",
            409: "`invalid_transition`: the endpoint is disabled",
            422: "`validation_failed`: `since` → `required`, `datetime_parsing`, …",
        },
        body=RecoverDeliveries,
        description=_SCOPE
        + " Deliveries that failed at or after `since` (retries used up, or the endpoint was "
        "disabled meanwhile), whenever their event was created, go out again in each "
        "resource's `sequence` order; repeating the call queues only what failed since.",
    ),
    Route(
        "GET",
        "/v1/events/{event_id}",
        get_event,
        "An event with its deliveries and their attempts",
        ROLES,
        {200: Reply("The event", EventWithDeliveries)},
        {404: "`not_found`"},
        description=_SCOPE,
    ),
    Route(
        "POST",
        "/v1/events/{event_id}/redeliver",
        redeliver_event,
        "Send an event again now to every enabled endpoint subscribed to it",
        ROLES,
        {
            202: Reply(
                "Queued (the retry schedule starts afresh); the event as it is now",
                EventWithDeliveries,
            )
        },
        {404: "`not_found`"},
        description=_SCOPE,
    ),
)
