"""The finance console's receipts (``/console/receipts``): find a receipt by symbol and number,
see it with its corrections, propose a correction (maker) and approve or reject one
(checker, someone else; approving asks for confirmation: it issues a replacement or records
a notice, which cannot be undone). TT 91/2026 Điều 20; the rules are in
:mod:`gateway.services.receipts.corrections`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gateway.core.errors import (
    GatewayError,
    InvalidTransition,
    NotFound,
    ReceiptReplaced,
    ReplacementTotalMismatch,
    ValidationFailed,
)
from gateway.core.money import CHANNEL_LABELS
from gateway.keys import LEDGER, RECEIPT_CORRECTIONS
from gateway.pages import console_labels
from gateway.pages.console import staff_actor
from gateway.pages.console_auth import APPROVER_ROLES, PREFIX, Form, action, page, see_other, view
from gateway.pages.receipts import KIND_LABELS, REFUND_LABELS, STATUS_LABELS
from gateway.pages.render import vnd
from gateway.services.receipts.correction_rules import FIELD_LABELS
from gateway.services.resolutions import REASON_MAX
from gateway.services.staff import StaffUser

CORRECTION_KINDS = {
    "notify": "Thông báo sai sót (mẫu 04/SS-CTĐT)",
    "replace": "Lập biên lai thay thế",
}
CORRECTION_STATUSES = {
    "proposed": "Chờ phê duyệt",
    "approved": "Đã phê duyệt",
    "rejected": "Đã từ chối",
}
NOTICES = {
    "proposed": "Đã ghi nhận đề nghị điều chỉnh; cần một người phê duyệt khác duyệt.",
    "approved": "Đã phê duyệt đề nghị điều chỉnh.",
    "rejected": "Đã từ chối đề nghị điều chỉnh.",
}
#: The citizen's and the portal's codes, for staff.
_MESSAGES = {
    "receipt_not_issuable": "Chưa lập được biên lai thay thế (hết dải số, chưa có ký hiệu của "
    "năm hoặc chứng thư số hết hạn); đề nghị vẫn chờ phê duyệt.",
    "does_not_read_the_amount": "Số tiền bằng chữ không đọc đúng số tiền của biên lai.",
    "unknown_field": "Có trường không được phép điều chỉnh.",
}
ITEMS_MAX = 50


def error_text(error: GatewayError) -> str:
    """What a finance officer reads for a refused correction."""
    if isinstance(error, ReplacementTotalMismatch):
        return (
            f"Tổng các khoản ({vnd(error.extra['total'])}) phải bằng số tiền đã thu cho biên lai "
            f"này ({vnd(error.extra['expected'])}); đề nghị chưa được ghi nhận."
        )
    if isinstance(error, ReceiptReplaced):
        return "Biên lai đã được thay thế; hãy điều chỉnh biên lai thay thế."
    if isinstance(error, InvalidTransition):
        current = {**STATUS_LABELS, **CORRECTION_STATUSES}.get(error.current, error.current)
        return f"Không thể thực hiện: đang ở trạng thái “{current}”."
    if isinstance(error, ValidationFailed):
        texts = [
            _MESSAGES.get(item.code) or f"{_field_label(item.field)}: không hợp lệ."
            for item in error.errors
        ]
        return " ".join(dict.fromkeys(texts))
    return _MESSAGES.get(error.code) or console_labels.error_message(error)


def _field_label(field: str) -> str:
    if field == "reason":
        return "Lý do"
    name = field.removeprefix("fields.").partition(".")[0]
    return FIELD_LABELS.get(name, "Dữ liệu")


@view
async def receipt_list(request: web.Request, user: StaffUser) -> web.StreamResponse:
    symbol = request.rel_url.query.get("symbol", "").strip().upper()[:8]
    text = request.rel_url.query.get("number", "").strip()
    number = int(text) if text.isdigit() and len(text) <= 8 else None
    found = await request.app[RECEIPT_CORRECTIONS].find(
        staff_actor(user), symbol=symbol, number=number
    )
    return page(
        "console_receipts.html",
        user=user,
        nav="receipts",
        receipts=found,
        filters={"symbol": symbol, "number": text},
        status_labels=STATUS_LABELS,
        error=None if number is not None or not text else "Số biên lai gồm tối đa 8 chữ số.",
    )


@view
async def receipt_detail(request: web.Request, user: StaffUser) -> web.StreamResponse:
    notice = NOTICES.get(request.rel_url.query.get("msg", ""))
    return await _detail(request, user, request.match_info["receipt_id"], notice=notice)


async def _detail(
    request: web.Request,
    user: StaffUser,
    receipt_id: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
    form: Form | None = None,
) -> web.Response:
    service = request.app[RECEIPT_CORRECTIONS]
    actor = staff_actor(user)
    receipt = await service.receipt(actor, receipt_id)
    corrections = await service.of_receipt(actor, receipt_id)
    names = await request.app[LEDGER].staff_names(
        [c["proposed_by"] for c in corrections] + [c["decided_by"] for c in corrections]
    )
    return page(
        "console_receipt.html",
        status=status,
        user=user,
        nav="receipts",
        error=error,
        notice=notice,
        receipt=receipt,
        corrections=corrections,
        names=names,
        can_propose=receipt["status"] in ("issued", "error_notified"),
        can_decide=user.role in APPROVER_ROLES,
        status_labels=STATUS_LABELS,
        kind_labels=KIND_LABELS,
        refund_labels=REFUND_LABELS,
        correction_kinds=CORRECTION_KINDS,
        correction_statuses=CORRECTION_STATUSES,
        field_labels=FIELD_LABELS,
        channel_label=CHANNEL_LABELS.get(receipt["channel"], receipt["channel"]),
        form=form.fields if form else {},
        reason_max=REASON_MAX,
    )


def _fields(form: Form, receipt_items: int) -> dict[str, Any]:
    """The corrected fields a proposal form sends: the texts filled in, and the lines when
    the officer ticked that the lines are wrong (a replacement), without those ticked to be
    dropped (their money must then be written on another line: the total rule)."""
    fields: dict[str, Any] = {}
    for name in ("payer_name", "payer_address", "amount_in_words"):
        if form.get(name).strip():
            fields[name] = form.get(name)
    if form.get("replace_items") == "yes":
        items = []
        for index in range(min(receipt_items, ITEMS_MAX)):
            if form.get(f"item-{index}-drop") == "yes":  # a line that does not belong
                continue
            amount = form.get(f"item-{index}-amount").replace(".", "").strip()
            items.append(
                {
                    "kind": form.get(f"item-{index}-kind"),
                    "code": form.get(f"item-{index}-code") or None,
                    "description": form.get(f"item-{index}-description"),
                    "amount": int(amount) if amount.isdigit() else amount,
                }
            )
        fields["items"] = items
    return fields


async def _propose(request: web.Request, user: StaffUser, form: Form) -> web.StreamResponse:
    receipt_id = request.match_info["receipt_id"]
    service = request.app[RECEIPT_CORRECTIONS]
    actor = staff_actor(user)
    receipt = await service.receipt(actor, receipt_id)
    try:
        await service.propose(
            actor, receipt_id, form.get("reason")[:REASON_MAX], _fields(form, len(receipt["items"]))
        )
    except NotFound:
        raise
    except GatewayError as exc:
        return await _detail(
            request, user, receipt_id, error=error_text(exc), status=exc.http_status, form=form
        )
    return _to_receipt(receipt_id, "proposed")


async def _decide(request: web.Request, user: StaffUser, form: Form) -> web.StreamResponse:
    service = request.app[RECEIPT_CORRECTIONS]
    actor = staff_actor(user)
    correction = await service.get(actor, request.match_info["correction_id"])
    rejecting = form.get("decision") == "reject"
    try:
        if rejecting:
            await service.reject(actor, correction["id"], form.get("reason")[:REASON_MAX])
        else:
            await service.approve(actor, correction["id"])
    except NotFound:
        raise
    except GatewayError as exc:
        return await _detail(
            request, user, correction["receipt_id"], error=error_text(exc), status=exc.http_status
        )
    return _to_receipt(correction["receipt_id"], "rejected" if rejecting else "approved")


def _to_receipt(receipt_id: str, msg: str) -> web.Response:
    return see_other(f"{PREFIX}/receipts/{receipt_id}?{urlencode({'msg': msg})}")


propose_correction = action(_propose)
decide_correction = action(_decide)
