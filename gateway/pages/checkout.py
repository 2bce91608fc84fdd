"""The citizen's checkout page ``/pay/{payment_id}``: what is paid for, the VietQR, the
details for a manual transfer, a countdown, and a status that updates itself.

The payment id (130 random bits) is the capability: these routes need no API key and show
nothing personal beyond the payer's name.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from gateway.channels.vnpay import VnpayChannel
from gateway.core.errors import InvalidTransition, NotFound, ValidationFailed
from gateway.http.responses import json_response
from gateway.keys import ATTEMPTS, CLOCK, DATABASE, PAYMENTS, RECEIPTS, SETTINGS
from gateway.pages.render import local_time, render, vnd
from gateway.services.receipts.issuance import CHANNEL_LABELS
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
    vnpay = request.app[ATTEMPTS].channels.get("vnpay")
    receipts = await _receipts(request, payment)
    return render(
        "checkout.html",
        form_origins=vnpay.origins() if isinstance(vnpay, VnpayChannel) else (),
        payment=payment,
        bank_name=BANK_NAMES.get(qr["bank_bin"], f"Ngân hàng (BIN {qr['bank_bin']})"),
        status_label=STATUS_LABELS[payment["status"]],
        status_labels=STATUS_LABELS,
        kind_labels=KIND_LABELS,
        server_now=request.app[CLOCK]().isoformat(),
        vnpay_available=vnpay is not None,
        poll_ms=request.app[SETTINGS].payments.checkout_poll_ms,
        receipts=receipts,
    )


async def checkout_status(request: web.Request) -> web.Response:
    payment = await request.app[PAYMENTS].get_public(request.match_info["payment_id"])
    return json_response(
        {
            "status": payment["status"],
            "status_label": STATUS_LABELS[payment["status"]],
            "expires_at": payment["expires_at"],
            "paid_at": payment["paid_at"],
            "receipts": await _receipts(request, payment),
        },
        headers={"Cache-Control": "no-store"},
    )


async def _receipts(request: web.Request, payment: dict[str, Any]) -> list[dict[str, Any]]:
    """The payment's receipts as the paid page shows them (number, symbol, time, channel and
    a link to the receipt page)."""
    if payment["paid_at"] is None:
        return []
    found = await request.app[RECEIPTS].of_payment_public(payment["id"])
    return [
        {
            "symbol": receipt["symbol"],
            "number": f"{receipt['number']:08d}" if receipt["number"] else None,
            "issued_at": local_time(receipt["issued_at"]) or None,
            "channel": CHANNEL_LABELS.get(receipt["channel"], receipt["channel"]),
            "amount": vnd(receipt["amount"]),
            "url": _path_of(receipt["view_url"]),
        }
        for receipt in found
    ]


def _path_of(url: str) -> str:
    """The receipt page's path and query: the page links within the host it was served from."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


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
    payment_id = request.match_info["payment_id"]
    service = request.app[ATTEMPTS]
    try:
        async with request.app[DATABASE].write() as conn:
            attempt_id = await service.reuse_or_begin_vnpay(conn, payment_id)
        view = await service.start(attempt_id, request.remote or "127.0.0.1")
    except (InvalidTransition, NotFound, ValidationFailed):
        raise web.HTTPSeeOther(f"/pay/{payment_id}") from None
    action = view.get("next_action") or {}
    if view["status"] != "pending" or action.get("type") != "redirect":
        raise web.HTTPSeeOther(f"/pay/{payment_id}")
    raise web.HTTPSeeOther(action["url"])
