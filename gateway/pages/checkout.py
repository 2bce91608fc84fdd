"""The citizen's checkout page ``/pay/{payment_id}``: what is paid for, the VietQR, the
details for a manual transfer, a countdown, and a status that updates itself.

The payment id (130 random bits) is the capability: these routes need no API key and show
nothing personal beyond the payer's name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from gateway.channels import momo as momo_channel
from gateway.channels import zalopay as zalopay_channel
from gateway.channels.base import Channel, Explains
from gateway.channels.dvcqg import DvcqgChannel
from gateway.channels.vnpay import VnpayChannel
from gateway.core.errors import InvalidTransition, NotFound, ValidationFailed
from gateway.core.money import CHANNEL_LABELS, ReviewReason
from gateway.core.statuses import ReceiptStatus
from gateway.http.responses import json_response
from gateway.keys import ATTEMPTS, CLOCK, DATABASE, PAYMENTS, POLLER, RECEIPTS, SETTINGS
from gateway.pages.render import local_time, render, vnd
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

#: Why a bill is being checked (``needs_review``), in the citizen's words, by review reason
#: (gateway/core/money.py). ``amount_mismatch`` is told with the amounts (:func:`_why`).
REVIEW_REASONS = {
    ReviewReason.PAID_AFTER_EXPIRY: "Khoản tiền đến sau khi yêu cầu thanh toán đã hết hạn.",
    ReviewReason.REPORTED_AFTER_EXPIRY: (
        "Bạn đã thanh toán trong thời hạn, nhưng thông báo của ngân hàng hoặc nhà cung cấp "
        "đến sau khi yêu cầu thanh toán đã hết hạn."
    ),
    ReviewReason.PAID_AFTER_CANCELLATION: ("Khoản tiền đến sau khi yêu cầu thanh toán đã bị hủy."),
    ReviewReason.SUCCEEDED_AFTER_FAILURE: (
        "Nhà cung cấp đã báo giao dịch không thành công, sau đó lại báo đã nhận tiền của bạn."
    ),
}
#: What happens next, whatever the reason: a person decides; the citizen pays nothing more.
REVIEW_NEXT = (
    "Kế toán của cơ quan sẽ kiểm tra và xác nhận khoản nộp hoặc hoàn trả tiền cho bạn. "
    "Vui lòng không chuyển thêm tiền trước khi được hướng dẫn."
)

# -- wallets (issue 12): MoMo and ZaloPay ---------------------------------------------------

#: The wallets offered on the page: method → (name shown, logo text, what the citizen does).
WALLETS = {
    "momo": ("Ví MoMo", "MoMo", "Bạn sẽ được chuyển sang trang thanh toán của Ví MoMo."),
    "zalopay": ("ZaloPay", "ZaloPay", "Bạn sẽ được chuyển sang trang thanh toán của ZaloPay."),
}
#: The query parameter a wallet adds when it sends the citizen back: its order id.
RETURN_REFERENCES = {"momo": "orderId", "zalopay": "apptransid"}


def _form_origins(channels: Mapping[str, Channel]) -> tuple[str, ...]:
    """Where the page's forms may lead: the redirect channels' payment pages (VNPAY, the
    DVCQG platform, the wallets)."""
    found: set[str] = set()
    redirects = (
        VnpayChannel,
        DvcqgChannel,
        momo_channel.MomoChannel,
        zalopay_channel.ZalopayChannel,
    )
    for channel in channels.values():
        if isinstance(channel, redirects):
            found.update(channel.origins())
    return tuple(sorted(found))


async def _returned_from_wallet(request: web.Request, payment_id: str) -> None:
    """Back from a wallet's page: ask the wallet now rather than wait for its callback
    (ZaloPay sends none for a failure). Display only: the answer goes through the janitor."""
    for channel, name in RETURN_REFERENCES.items():
        reference = request.rel_url.query.get(name)
        if reference:
            await request.app[POLLER].query_now(payment_id, channel, reference)


async def checkout_page(request: web.Request) -> web.Response:
    payment_id = request.match_info["payment_id"]
    try:
        await request.app[PAYMENTS].get_public(payment_id)
        await _returned_from_wallet(request, payment_id)
        payment = await request.app[PAYMENTS].get_public(payment_id)
    except NotFound:
        return render("not_found.html", status=404)
    qr = payment["vietqr"]
    channels = request.app[ATTEMPTS].channels
    vnpay = channels.get("vnpay")
    dvcqg = channels.get("dvcqg")
    wallets = [
        (method, *WALLETS[method])
        for method in WALLETS
        if method in channels and channels[method].available_for(payment["agency_code"])
    ]
    receipts = await _receipts(request, payment)
    return render(
        "checkout.html",
        form_origins=_form_origins(channels),
        payment=payment,
        bank_name=BANK_NAMES.get(qr["bank_bin"], f"Ngân hàng (BIN {qr['bank_bin']})"),
        status_label=STATUS_LABELS[payment["status"]],
        status_labels=STATUS_LABELS,
        kind_labels=KIND_LABELS,
        server_now=request.app[CLOCK]().isoformat(),
        vnpay_available=isinstance(vnpay, VnpayChannel)
        and vnpay.available_for(payment["agency_code"]),
        dvcqg_available=isinstance(dvcqg, DvcqgChannel)
        and dvcqg.available_for(payment["agency_code"]),
        attempt_failure=await _failure_message(request, payment),
        wallets=wallets,
        poll_ms=request.app[SETTINGS].payments.checkout_poll_ms,
        receipts=receipts,
        review=await _review(request, payment),
        receipts_pending=any(receipt["number"] is None for receipt in receipts),
    )


async def _review(request: web.Request, payment: dict[str, Any]) -> dict[str, Any] | None:
    """For a bill in ``needs_review``: what was received (channel, amount, time), why a person
    checks it, what happens next and whom to contact (``[contacts]`` in the configuration)."""
    if payment["status"] != "needs_review":
        return None
    received = await request.app[ATTEMPTS].money_received(payment["id"])
    contact = request.app[SETTINGS].contacts.for_agency(payment["agency_code"])
    return {
        "received": [
            {
                "channel": CHANNEL_LABELS.get(money["method"], money["method"]),
                "amount": vnd(money["amount"]),
                "at": local_time(money["at"]),
            }
            for money in received
        ],
        "why": _why(payment, sum(money["amount"] for money in received)),
        "next": REVIEW_NEXT,
        "contact": contact,
    }


def _why(payment: dict[str, Any], received: int) -> str:
    """Why the bill is checked: a differing amount says by how much."""
    reason = payment["review_reason"]
    due = int(payment["amount"])
    if reason == ReviewReason.AMOUNT_MISMATCH and received and received != due:
        gap = vnd(abs(due - received))
        side = f"thiếu {gap}" if received < due else f"thừa {gap}"
        return f"Số tiền nhận được ({vnd(received)}) khác số tiền phải nộp ({vnd(due)}): {side}."
    if reason in REVIEW_REASONS:
        return REVIEW_REASONS[ReviewReason(reason)]
    return "Khoản thanh toán cần được kiểm tra thêm trước khi xác nhận."


async def _failure_message(request: web.Request, payment: dict[str, object]) -> str | None:
    """Why the citizen's last try failed, in Vietnamese, while the bill is still open: the
    channel's own words for its failure code where it has them (:class:`Explains`: the DVCQG
    platform's and the wallets' code tables), else that it did not go through."""
    if payment["status"] != "pending":
        return None
    service = request.app[ATTEMPTS]
    failure = await service.latest_failure(str(payment["id"]))
    if failure is None:
        return None
    method, code = failure
    return failure_text(method, code, service.channels.get(method))


#: The reason told when the channel has no words of its own for a failure code.
UNEXPLAINED_FAILURE = "giao dịch chưa được thực hiện."


def failure_text(method: str, code: str, channel: Channel | None) -> str:
    """The sentence the checkout page shows for an attempt of ``method`` that failed with
    ``code`` (docs/errors.md lists every code with its words)."""
    reason = channel.failure_message(code) if isinstance(channel, Explains) else None
    name = CHANNEL_LABELS.get(method, method)
    return f"Thanh toán qua {name} không thành công: {reason or UNEXPLAINED_FAILURE}"


async def checkout_status(request: web.Request) -> web.Response:
    payment = await request.app[PAYMENTS].get_public(request.match_info["payment_id"])
    receipts = await _receipts(request, payment)
    return json_response(
        {
            "status": payment["status"],
            "status_label": STATUS_LABELS[payment["status"]],
            "expires_at": payment["expires_at"],
            "paid_at": payment["paid_at"],
            "receipts": receipts,
            "receipts_pending": any(receipt["number"] is None for receipt in receipts),
        },
        headers={"Cache-Control": "no-store"},
    )


async def _receipts(request: web.Request, payment: dict[str, Any]) -> list[dict[str, Any]]:
    """The payment's valid receipts as the paid page shows them (number, symbol, time,
    channel, a link to the receipt page, and what a replacement replaces): a replaced receipt
    is no longer valid and is left out; one pending a number is shown as waiting."""
    if payment["paid_at"] is None:
        return []
    found = await request.app[RECEIPTS].of_payment_public(payment["id"])
    by_id = {receipt["id"]: receipt for receipt in found}
    return [
        {
            "symbol": receipt["symbol"],
            "number": f"{receipt['number']:08d}" if receipt["number"] else None,
            "issued_at": local_time(receipt["issued_at"]) or None,
            "channel": CHANNEL_LABELS.get(receipt["channel"], receipt["channel"]),
            "amount": vnd(receipt["amount"]),
            "url": _path_of(receipt["view_url"]),
            "replaces": _series(by_id.get(receipt["replaces"] or "")),
        }
        for receipt in found
        if receipt["status"] != ReceiptStatus.REPLACED
    ]


def _series(receipt: dict[str, Any] | None) -> str | None:
    """``26TAB số 00000001``: how a receipt is named to the citizen."""
    if receipt is None or receipt["number"] is None:
        return None
    return f"{receipt['symbol']} số {receipt['number']:08d}"


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


async def pay_with_wallet(request: web.Request) -> web.Response:
    """The citizen chose a wallet (``/pay/{payment_id}/momo`` or ``…/zalopay``): start (or
    reuse) its attempt and go to the wallet's page."""
    return await _redirect_channel(request, request.path.rsplit("/", 1)[-1])
