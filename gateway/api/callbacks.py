"""Inbound provider callbacks. Each reads the raw bytes first: signatures cover bytes."""

from __future__ import annotations

from aiohttp import web

from gateway.http.responses import json_response, read_body
from gateway.keys import BANK_CREDITS, CALLBACKS, METRICS, SETTINGS
from gateway.pages.render import render


async def bank_credit_notice(request: web.Request) -> web.Response:
    bank = request.match_info["bank"]
    body = await read_body(request, request.app[SETTINGS].max_callback_bytes)
    result = await request.app[BANK_CREDITS].receive(bank, request.headers, body)
    metrics = request.app[METRICS]
    outcome = "duplicate" if result.duplicate else result.outcome
    metrics.notices.labels(f"bank:{bank}", outcome).inc()
    return json_response(result.acknowledgement())


async def vnpay_ipn(request: web.Request) -> web.Response:
    """VNPAY's IPN: always HTTP 200 with ``{"RspCode", "Message"}``."""
    answer = await request.app[CALLBACKS].vnpay_ipn(
        request.rel_url.query, request.rel_url.raw_query_string
    )
    outcome = "rejected" if answer.rsp_code in ("97", "99") else answer.outcome
    request.app[METRICS].notices.labels("vnpay", outcome).inc()
    return json_response(answer.body())


async def vnpay_return(request: web.Request) -> web.Response:
    """Where VNPAY sends the citizen back: display only, never a state change."""
    payment_id = await request.app[CALLBACKS].vnpay_return(request.rel_url.query)
    if payment_id is None:
        return render("vnpay_return_invalid.html", status=400)
    raise web.HTTPSeeOther(f"/pay/{payment_id}")


async def pos_result(request: web.Request) -> web.Response:
    body = await read_body(request, request.app[SETTINGS].max_callback_bytes)
    outcome = await request.app[CALLBACKS].pos_callback(request.headers, body)
    request.app[METRICS].notices.labels("pos", outcome).inc()
    return json_response({"status": "accepted", "outcome": outcome})
