"""Inbound provider callbacks. Each reads the raw bytes first: signatures cover bytes."""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway.core.errors import PayloadTooLarge
from gateway.http.responses import json_response, read_body
from gateway.keys import BANK_CREDITS, CALLBACKS, METRICS, SETTINGS, WALLET_CALLBACKS
from gateway.pages.render import render
from gateway.services.provider_callbacks import dvcqg_answer, json_object
from gateway.services.wallet_callbacks import ZalopayReply

log = structlog.get_logger(__name__)


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


async def dvcqg_confirm(request: web.Request) -> web.Response:
    """The DVCQG platform's Confirm callback: a hint, settled only by QUERY; always HTTP 200
    with the documented echo (``MaLoi`` 00/99, spec §4.2), our code in a header."""
    service = request.app[CALLBACKS].dvcqg
    try:
        body = await read_body(request, request.app[SETTINGS].max_callback_bytes)
    except PayloadTooLarge as exc:
        log.warning("callback_rejected", provider="dvcqg", code=exc.code)
        answer = dvcqg_answer(exc.code, "", None)
    else:
        if service is None:
            log.warning("callback_rejected", provider="dvcqg", code="not_configured")
            answer = dvcqg_answer("not_configured", "", json_object(body))
        else:
            answer = await service.receive(body)
    request.app[METRICS].notices.labels("dvcqg", answer.outcome).inc()
    return json_response(answer.body, headers=answer.headers())


async def dvcqg_return(request: web.Request) -> web.Response:
    """Where the platform's page sends the citizen back: display only."""
    service = request.app[CALLBACKS].dvcqg
    reference = request.rel_url.query.get("MaThamChieu", "")
    payment_id = None if service is None else await service.return_target(reference)
    if payment_id is None:
        return render("dvcqg_return_invalid.html", status=400)
    raise web.HTTPSeeOther(f"/pay/{payment_id}")


# -- wallets (issue 12): MoMo and ZaloPay ---------------------------------------------------


async def momo_ipn(request: web.Request) -> web.Response:
    """MoMo's IPN: HTTP 204 once recorded (MoMo's deadline is 15 s); refusals as problems."""
    body = await read_body(request, request.app[SETTINGS].max_callback_bytes)
    outcome = await request.app[WALLET_CALLBACKS].momo_ipn(body)
    request.app[METRICS].notices.labels("momo", outcome).inc()
    return web.Response(status=204)


async def zalopay_callback(request: web.Request) -> web.Response:
    """ZaloPay's callback: always HTTP 200 with ``{"return_code", "return_message"}``."""
    try:
        body = await read_body(request, request.app[SETTINGS].max_callback_bytes)
    except PayloadTooLarge as exc:  # refused while read, answered in ZaloPay's own shape
        log.warning("callback_rejected", provider="zalopay", code=exc.code)
        reply = ZalopayReply(-1, exc.code, "rejected")
    else:
        reply = await request.app[WALLET_CALLBACKS].zalopay_callback(body)
    request.app[METRICS].notices.labels("zalopay", reply.outcome).inc()
    return json_response(reply.body())
