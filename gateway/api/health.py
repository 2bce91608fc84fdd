"""Liveness, readiness and Prometheus metrics.

Who may read ``/metrics`` (docs/configuration.md, "Metrics"): anyone on the metrics listener
(``metrics_port``, an address only the scraper reaches); on the public port, a caller with
``Authorization: Bearer <metrics_token>`` when a token is set; in sandbox mode without a
metrics listener, anyone. Otherwise the public port does not serve metrics (404).
"""

from __future__ import annotations

import hmac
from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api.spec import Reply, Route
from gateway.core.errors import NotFound, ServiceUnavailable, Unauthenticated
from gateway.core.fields import ResponseModel
from gateway.http.responses import respond
from gateway.keys import DATABASE, METRICS, SETTINGS


class Alive(ResponseModel):
    status: Literal["ok"]


class Ready(ResponseModel):
    status: Literal["ready"]
    checks: dict[str, Literal["ok"]]


async def healthz(_request: web.Request) -> web.Response:
    return respond(Alive(status="ok"))


async def readyz(request: web.Request) -> web.Response:
    try:
        await request.app[DATABASE].ping()
    except Exception as exc:
        raise ServiceUnavailable(f"database is not reachable: {type(exc).__name__}") from None
    return respond(Ready(status="ready", checks={"database": "ok"}))


async def metrics(request: web.Request) -> web.Response:
    _check_metrics_access(request)
    body = generate_latest(request.app[METRICS].registry)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


def _check_metrics_access(request: web.Request) -> None:
    settings = request.app[SETTINGS]
    if settings.metrics_port is not None and _local_port(request) == settings.metrics_port:
        return
    token = settings.metrics_token
    if token is not None:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").encode()
        if not hmac.compare_digest(sent, token.get_secret_value().encode()):
            raise Unauthenticated("a valid metrics token is required")
        return
    if settings.sandbox and settings.metrics_port is None:
        return
    raise NotFound("metrics are not served on this port")


def _local_port(request: web.Request) -> int | None:
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    return sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else None


ROUTES = (
    Route("GET", "/healthz", healthz, "Liveness", None, {200: Reply("Alive", Alive)}),
    Route(
        "GET",
        "/readyz",
        readyz,
        "Readiness (checks the database)",
        None,
        {200: Reply("Ready", Ready)},
        {503: "`service_unavailable`"},
    ),
    Route(
        "GET",
        "/metrics",
        metrics,
        "Prometheus metrics",
        None,
        {200: Reply("Prometheus text format", media=("text/plain",))},
        {
            401: "`unauthenticated` (a `metrics_token` is set and not sent as a bearer token)",
            404: "`not_found` (metrics are served on the metrics listener, or not configured)",
        },
    ),
)
