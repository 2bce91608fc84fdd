"""The citizen's checkout page ``/pay/{payment_id}``: what is paid for, the VietQR, the
details for a manual transfer, a countdown, and a status that updates itself.

The payment id (130 random bits) is the capability: these routes need no API key and show
nothing personal beyond the payer's name.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.errors import NotFound
from gateway.http.responses import json_response
from gateway.keys import CLOCK, PAYMENTS, SETTINGS
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
    return render(
        "checkout.html",
        payment=payment,
        bank_name=BANK_NAMES.get(qr["bank_bin"], f"Ngân hàng (BIN {qr['bank_bin']})"),
        status_label=STATUS_LABELS[payment["status"]],
        status_labels=STATUS_LABELS,
        kind_labels=KIND_LABELS,
        server_now=request.app[CLOCK]().isoformat(),
        poll_ms=request.app[SETTINGS].payments.checkout_poll_ms,
    )


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
