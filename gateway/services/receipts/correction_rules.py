"""What a receipt correction may say (TT 91/2026 Điều 20; ``/work/shared/specs/e-receipts.md``
§7), as pure functions over the receipt row: the kind the circular requires for the corrected
fields, their checks (each refusal a stable ``FieldError`` code), and the data of the notice,
form 04/SS-CTĐT. :mod:`.corrections` does the maker-checker and the writing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gateway.core.errors import (
    FieldError,
    ReceiptReplaced,
    ReplacementTotalMismatch,
    ValidationFailed,
)
from gateway.core.statuses import RECEIPTS, ReceiptStatus
from gateway.services.receipts.issuance import LINE_KINDS
from gateway.services.resolutions import REASON_MAX
from gateway.services.sealing import Sealer
from providers.receipts.document import xml_date
from providers.receipts.words import amount_in_words

NOTIFY = "notify"
REPLACE = "replace"
#: Errors the circular lets an agency notify without re-issuing (besides "other content").
NOTIFY_FIELDS = ("payer_name", "payer_address", "amount_in_words")
#: What only a replacement can correct.
REPLACE_FIELDS = ("items",)
#: The name of each corrected field on the notice (form 04/SS-CTĐT is for people to read).
FIELD_LABELS = {
    "payer_name": "Tên người nộp",
    "payer_address": "Địa chỉ người nộp",
    "amount_in_words": "Số tiền bằng chữ",
    "items": "Khoản thu và số tiền",
}
NOTICE_FORM = "04/SS-CTĐT"
TEXT_MAX = 255
ITEMS_MAX = 50
#: A sealed value is bound to its field: the address as the payment's payer block seals it.
ADDRESS_FIELD = "payer.address"


def kind_of(fields: Mapping[str, Any]) -> str:
    """The kind of correction the circular requires for these corrected fields."""
    return REPLACE if any(name in fields for name in REPLACE_FIELDS) else NOTIFY


def check_correctable(receipt: Any, fields: Any) -> str:
    """The kind of correction, if the receipt's status allows it: a replaced receipt is final
    (``receipt_replaced``: correct its replacement), a pending one has nothing to correct
    yet (``invalid_transition``)."""
    kind = kind_of(fields) if isinstance(fields, dict) else NOTIFY
    current = ReceiptStatus(receipt.status)
    target = ReceiptStatus.REPLACED if kind == REPLACE else ReceiptStatus.ERROR_NOTIFIED
    if current is ReceiptStatus.REPLACED:
        raise ReceiptReplaced(current.value, target.value)
    if not (current is target is ReceiptStatus.ERROR_NOTIFIED):  # a further notice is allowed
        RECEIPTS.check(current, target)
    return kind


def validated(receipt: Any, reason: str, fields: Any, sealer: Sealer) -> dict[str, Any]:
    """The corrected fields as stored (an address sealed), or ``validation_failed``."""
    errors: list[FieldError] = []
    if not isinstance(reason, str) or not reason.strip():
        errors.append(FieldError("reason", "required", "say what is wrong"))
    elif len(reason) > REASON_MAX:
        errors.append(FieldError("reason", "too_long", f"≤ {REASON_MAX} characters"))
    if not isinstance(fields, dict) or not fields:
        errors.append(FieldError("fields", "required", "the corrected fields"))
        raise ValidationFailed(errors)
    stored: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in NOTIFY_FIELDS + REPLACE_FIELDS:
            errors.append(
                FieldError(
                    f"fields.{name}",
                    "unknown_field",
                    f"one of {', '.join(NOTIFY_FIELDS + REPLACE_FIELDS)}",
                )
            )
        elif name == "items":
            stored["items"] = _items(receipt, value, errors)
        elif not isinstance(value, str) or not value.strip() or len(value) > TEXT_MAX:
            errors.append(FieldError(f"fields.{name}", "invalid", f"1..{TEXT_MAX} characters"))
        elif name == "amount_in_words" and value.strip() != amount_in_words(receipt.amount):
            errors.append(
                FieldError(
                    "fields.amount_in_words",
                    "does_not_read_the_amount",
                    f"the amount reads: {amount_in_words(receipt.amount)}",
                )
            )
        elif name == "payer_address":
            stored[name] = sealer.seal(value.strip(), ADDRESS_FIELD)
        else:
            stored[name] = value.strip()
    if "items" in fields and "amount_in_words" in fields:
        errors.append(
            FieldError(
                "fields.amount_in_words",
                "not_with_items",
                "a replacement writes the words of its own total",
            )
        )
    if errors:
        raise ValidationFailed(errors)
    return stored


def _items(receipt: Any, value: Any, errors: list[FieldError]) -> list[dict[str, Any]]:
    """The replacement's lines: each a phí or lệ phí the receipt may carry (a split agency's
    phí receipt only phí lines), a name, and a whole positive amount of VND."""
    allowed = sorted(LINE_KINDS[receipt.kind])
    if not isinstance(value, list) or not 1 <= len(value) <= ITEMS_MAX:
        errors.append(FieldError("fields.items", "invalid", f"1..{ITEMS_MAX} lines"))
        return []
    lines = []
    for index, item in enumerate(value):
        where = f"fields.items.{index}"
        if not isinstance(item, dict):
            errors.append(FieldError(where, "invalid", "an object"))
            continue
        kind, amount = item.get("kind"), item.get("amount")
        description, code = item.get("description"), item.get("code")
        if kind not in allowed:
            errors.append(FieldError(f"{where}.kind", "invalid_choice", f"one of {allowed}"))
        if type(amount) is not int or amount <= 0:
            errors.append(FieldError(f"{where}.amount", "invalid", "a whole number of VND > 0"))
        if not isinstance(description, str) or not description.strip():
            errors.append(FieldError(f"{where}.description", "required", "the line's name"))
        elif len(description) > TEXT_MAX:
            errors.append(FieldError(f"{where}.description", "too_long", f"≤ {TEXT_MAX}"))
        if code is not None and (not isinstance(code, str) or len(code) > 64):
            errors.append(FieldError(f"{where}.code", "invalid", "text, ≤ 64 characters"))
        lines.append(
            {
                "kind": kind,
                "code": code,
                "description": description.strip() if isinstance(description, str) else "",
                "amount": amount,
            }
        )
    return lines


def check_total(items: list[dict[str, Any]], share: int) -> None:
    """A replacement's lines must add up to the receipt's ``share`` of the money collected
    (:func:`~gateway.services.receipts.issuance.receipt_share`): a replacement corrects what
    the collected money is written as (a line's amount or name, a line that does not
    belong), never how much was collected — so it can never claim more money than the
    payment received, nor less than it kept. A refund does not change it either: the
    receipt attests the collection, and the refund is recorded against it
    (docs/receipts.md, "Refunds")."""
    total = sum(int(item["amount"]) for item in items)
    if total != share:
        raise ReplacementTotalMismatch(
            f"the lines total {total} VND; the payment collected {share} VND for this receipt",
            expected=share,
            total=total,
        )


def notice_of(original: Any, correction: Any, now: datetime) -> dict[str, Any]:
    """The data of form 04/SS-CTĐT (thông báo biên lai điện tử có sai sót): which receipt,
    what it shows and what is right, why. Addresses stay sealed at rest."""
    shown = {
        "payer_name": original.payer.get("name"),
        "payer_address": original.payer.get("address"),
        "amount_in_words": original.amount_in_words,
    }
    return {
        "form": NOTICE_FORM,
        "agency_tax_code": original.tax_code,
        "agency_name": original.agency_name,
        "receipt": {
            "template_code": original.template_code,
            "symbol": original.symbol,
            "number": original.number,
            "issued_on": xml_date(original.issued_at),
        },
        "errors": [
            {
                "field": name,
                "label": FIELD_LABELS[name],
                "shown": shown[name],
                "correct": value,
            }
            for name, value in correction.fields.items()
        ],
        "reason": correction.reason,
        "notified_on": xml_date(now),
    }


def open_notice(notice: Mapping[str, Any], sealer: Sealer) -> dict[str, Any]:
    """The notice as staff and the portal read it (addresses opened)."""
    errors = []
    for error in notice["errors"]:
        opened = dict(error)
        if error["field"] == "payer_address":
            for key in ("shown", "correct"):
                if opened[key]:
                    opened[key] = sealer.open(opened[key], ADDRESS_FIELD)
        errors.append(opened)
    return {**notice, "errors": errors}


def corrected_payer(payer: Mapping[str, Any], fields: Mapping[str, Any]) -> Any:
    corrected = dict(payer)
    if "payer_name" in fields:
        corrected["name"] = fields["payer_name"]
    if "payer_address" in fields:
        corrected["address"] = fields["payer_address"]
    return corrected
