"""The citizen's checkout page ``/pay/{payment_id}``: what is paid for, the VietQR, the
details for a manual transfer, a countdown, and a status that updates itself.

The payment id (130 random bits) is the capability: these routes need no API key and show
nothing personal beyond the payer's name.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.channels.base import Explains
from gateway.channels.dvcqg import DvcqgChannel
from gateway.channels.vnpay import VnpayChannel
from gateway.core.errors import InvalidTransition, NotFound, ValidationFailed
from gateway.http.responses import json_response
from gateway.keys import ATTEMPTS, CLOCK, DATABASE, PAYMENTS, SETTINGS
from gateway.pages.render import render
from providers.payment.vietqr import render_png, render_svg

#: Short names of banks by NAPAS BIN, for display only.
BANK_NAMES = {
    "970499": "Ngân hàng mô phỏng (sandbox)",
    "970436": "Vietcombank",
    "970415": "VietinBank",
    "970418": "BIDV",
    "970405": "Agribank",
    "970422": "MB",
    "970407": "Techcombank",
    "970416": "ACB",
    "970432": "VPBank",
    "970423": "TPBank",
    "970403": "Sacombank",
}

STATUS_LABELS = {
    "pending": "Chờ thanh toán",
    "paid": "Đã thanh toán",
    "expired": "Hết hạn",
    "cancelled": "Đã hủy",
    "needs_review": "Đang được kiểm tra",
    "partially_refunded": "Đã hoàn tiền một phần",
    "refunded": "Đã hoàn tiền",
}

KIND_LABELS = {"fee": "Phí", "charge": "Lệ phí", "postal": "Cước bưu chính"}


async def checkout_page(request: web.Request) -> web.Response:
    try:
        payment = await request.app[PAYMENTS].get_public(request.match_info["payment_id"])
    except NotFound:
        return render("not_found.html", status=404)
    qr = payment["vietqr"]
    service = request.app[ATTEMPTS]
    vnpay = service.channels.get("vnpay")
    dvcqg = service.channels.get("dvcqg")
    dvcqg_available = isinstance(dvcqg, DvcqgChannel) and dvcqg.available_for(
        payment["agency_code"]
    )
    origins = (
        *(vnpay.origins() if isinstance(vnpay, VnpayChannel) else ()),
        *(dvcqg.origins() if isinstance(dvcqg, DvcqgChannel) and dvcqg_available else ()),
    )
    return render(
        "checkout.html",
        form_origins=origins,
        payment=payment,
        bank_name=BANK_NAMES.get(qr["bank_bin"], f"Ngân hàng (BIN {qr['bank_bin']})"),
        status_label=STATUS_LABELS[payment["status"]],
        status_labels=STATUS_LABELS,
        kind_labels=KIND_LABELS,
        server_now=request.app[CLOCK]().isoformat(),
        vnpay_available=vnpay is not None,
        dvcqg_available=dvcqg_available,
        attempt_failure=await _failure_message(request, payment),
        poll_ms=request.app[SETTINGS].payments.checkout_poll_ms,
    )


async def _failure_message(request: web.Request, payment: dict[str, object]) -> str | None:
    """Why the citizen's last try failed, in Vietnamese, while the bill is still open (the
    channel's own table, e.g. DVCQG's ``statuses.FAILURE_MESSAGES``)."""
    if payment["status"] != "pending":
        return None
    service = request.app[ATTEMPTS]
    failure = await service.latest_failure(str(payment["id"]))
    if failure is None:
        return None
    channel = service.channels.get(failure[0])
    return channel.failure_message(failure[1]) if isinstance(channel, Explains) else None


async def checkout_status(request: web.Request) -> web.Response:
    payment = await request.app[PAYMENTS].get_public(request.match_info["payment_id"])
    return json_response(
        {
            "status": payment["status"],
            "status_label": STATUS_LABELS[payment["status"]],
            "expires_at": payment["expires_at"],
            "paid_at": payment["paid_at"],
        },
        headers={"Cache-Control": "no-store"},
    )


async def qr_png(request: web.Request) -> web.Response:
    payment = await request.app[PAYMENTS].get_public(request.match_info["payment_id"])
    png = await asyncio.to_thread(render_png, payment["vietqr"]["payload"])
    return _image(png, "image/png")


async def qr_svg(request: web.Request) -> web.Response:
    payment = await request.app[PAYMENTS].get_public(request.match_info["payment_id"])
    svg = await asyncio.to_thread(render_svg, payment["vietqr"]["payload"])
    return _image(svg, "image/svg+xml")


def _image(body: bytes, content_type: str) -> web.Response:
    response = web.Response(body=body, content_type=content_type)
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    return response


async def pay_with_vnpay(request: web.Request) -> web.Response:
    """The citizen chose VNPAY: start (or reuse) a VNPAY attempt and go to VNPAY's page."""
    return await _redirect_channel(request, "vnpay")


async def pay_with_dvcqg(request: web.Request) -> web.Response:
    """The citizen chose the DVCQG payment platform: start (or reuse) an attempt and go to
    the platform's page, where the bank or intermediary is chosen."""
    return await _redirect_channel(request, "dvcqg")


async def _redirect_channel(request: web.Request, method: str) -> web.Response:
    payment_id = request.match_info["payment_id"]
    service = request.app[ATTEMPTS]
    try:
        async with request.app[DATABASE].write() as conn:
            attempt_id = await service.reuse_or_begin(conn, payment_id, method)
        view = await service.start(attempt_id, request.remote or "127.0.0.1")
    except (InvalidTransition, NotFound, ValidationFailed):
        raise web.HTTPSeeOther(f"/pay/{payment_id}") from None
    action = view.get("next_action") or {}
    if view["status"] != "pending" or action.get("type") != "redirect":
        raise web.HTTPSeeOther(f"/pay/{payment_id}")
    raise web.HTTPSeeOther(action["url"])
