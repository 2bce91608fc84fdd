"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api.spec import Reply, Route
from gateway.core.errors import ServiceUnavailable
from gateway.core.fields import ResponseModel
from gateway.http.responses import respond
from gateway.keys import DATABASE, METRICS


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
    body = generate_latest(request.app[METRICS].registry)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


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
    ),
)
