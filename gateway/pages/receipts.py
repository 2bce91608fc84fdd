"""The citizen's receipt page ``/receipts/{receipt_id}?t=<token>``: the e-receipt (biên lai
điện tử) as a printable Vietnamese page. The token (unguessable, stored hashed) is the
capability: no login; a wrong or missing token is the same 404 as an unknown receipt."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.core.errors import NotFound
from gateway.core.money import CHANNEL_LABELS
from gateway.keys import RECEIPTS
from gateway.pages.render import render
from gateway.services.receipts.pdf import find_font, receipt_pdf

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


def _pdf_path(receipt: dict[str, Any]) -> str:
    path, _, query = receipt["view_path"].partition("?")
    return f"{path}.pdf?{query}"


async def receipt_pdf_page(request: web.Request) -> web.Response:
    """The receipt as a PDF download (``/receipts/{id}.pdf?t=<token>``): 404 like the page
    for a wrong token, and also while the receipt is pending or when the server has no font
    with the Vietnamese letters (docs/receipts.md, "PDF")."""
    token = request.rel_url.query.get("t", "")
    font = find_font()
    try:
        receipt = await request.app[RECEIPTS].public(request.match_info["receipt_id"], token)
    except NotFound:
        return render("receipt_not_found.html", status=404)
    if font is None or receipt["number"] is None:
        return render("receipt_not_found.html", status=404)
    body = receipt_pdf(
        receipt,
        font=font,
        title=TITLE,
        channel=CHANNEL_LABELS.get(receipt["channel"], receipt["channel"]),
        status=None if receipt["status"] == "issued" else STATUS_LABELS.get(receipt["status"]),
        kinds=KIND_LABELS,
    )
    name = f"bien-lai-{receipt['symbol']}-{receipt['number']:08d}.pdf"
    return web.Response(
        body=body,
        content_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


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
        pdf_url=_pdf_path(receipt) if receipt["number"] and find_font() else None,
    )
