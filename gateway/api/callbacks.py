"""Inbound provider callbacks. Each reads the raw bytes first: signatures cover bytes."""

from __future__ import annotations

from aiohttp import web

from gateway.http.responses import json_response
from gateway.keys import BANK_CREDITS, METRICS


async def bank_credit_notice(request: web.Request) -> web.Response:
    bank = request.match_info["bank"]
    body = await request.read()
    result = await request.app[BANK_CREDITS].receive(bank, request.headers, body)
    metrics = request.app[METRICS]
    outcome = "duplicate" if result.duplicate else result.outcome
    metrics.notices.labels(f"bank:{bank}", outcome).inc()
    if result.outcome == "applied" and not result.duplicate:
        metrics.payments_paid.labels("vietqr").inc()
    return json_response(result.acknowledgement())
