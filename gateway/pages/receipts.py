"""The citizen's receipt page ``/receipts/{receipt_id}?t=<token>``: the e-receipt (biên lai
điện tử) as a printable Vietnamese page. The token (unguessable, stored hashed) is the
capability: no login; a wrong or missing token is the same 404 as an unknown receipt."""

from __future__ import annotations

from aiohttp import web

from gateway.core.errors import NotFound
from gateway.core.money import CHANNEL_LABELS
from gateway.keys import RECEIPTS
from gateway.pages.render import render

TITLE = "BIÊN LAI THU PHÍ, LỆ PHÍ"
KIND_LABELS = {"fee": "Phí", "charge": "Lệ phí"}
STATUS_LABELS = {
    "pending": "Đang chờ cấp số",
    "issued": "Đã phát hành",
    "replaced": "Đã được thay thế",
    "error_notified": "Đã thông báo sai sót",
}
REFUND_LABELS = {
    "pending": "Đang hoàn tiền",
    "succeeded": "Đã hoàn tiền",
    "failed": "Hoàn tiền không thành công",
}


async def receipt_page(request: web.Request) -> web.Response:
    token = request.rel_url.query.get("t", "")
    try:
        receipt = await request.app[RECEIPTS].public(request.match_info["receipt_id"], token)
    except NotFound:
        return render("receipt_not_found.html", status=404)
    return render(
        "receipt.html",
        title=TITLE,
        receipt=receipt,
        kind_labels=KIND_LABELS,
        channel_label=CHANNEL_LABELS.get(receipt["channel"], receipt["channel"]),
        status_label=STATUS_LABELS.get(receipt["status"], receipt["status"]),
        refund_labels=REFUND_LABELS,
    )
