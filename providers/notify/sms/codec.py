"""SMS brandname through eSMS on the wire, pure (``specs/notifications.md`` §2.1, §3).

Text (§3): brandname content goes without diacritics — folded with
:func:`providers.common.text.fold_vietnamese` — and without the characters some providers
forbid (``# & % [ ] { } \\ < @``) or that GSM-7 counts twice; it must fit three segments of
the CSKH table (160 / 306 / 459 characters), one where possible.

Send (§2.1, [V]): ``POST <base>/MainService.svc/json/SendMultipleMessage_V4_post_json/`` with
``{"ApiKey", "SecretKey", "Phone", "Content", "Brandname", "SmsType": "2", "IsUnicode": "0",
"Sandbox", "RequestId", "CallbackUrl"}``; the answer ``{"CodeResult": "100", "SMSID"}`` on
success. ``RequestId`` is our notification id: eSMS refuses a repeat within 24 h (124).

Delivery callback (§2.1): an unsigned HTTPS GET with ``SMSID, SendStatus, SendSuccess,
SendFailed, …`` (the gateway guards it with a secret path segment). ``SendSuccess ≥ 1`` is
delivered, ``SendFailed ≥ 1`` not delivered; anything else is not a final word (``None``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from providers.common.text import fold_vietnamese
from providers.notify.base import Accepted, DeliveryReceipt, Message, Refused, SendResult

from .errors import MALFORMED, TOO_LONG, UNAVAILABLE, SmsError
from .settings import SmsAccount
from .statuses import (
    ACCEPTED,
    DUPLICATE_REQUEST,
    FORBIDDEN,
    GSM_EXTENSION,
    SEGMENT_LIMITS,
    result_for,
)

#: What is left after folding: printable ASCII of GSM-7's basic set (and newlines).
_GSM_BASIC = re.compile(r"[A-Za-z0-9 \n!\"$'()*+,\-./:;=>?_]*")


def prepare_text(text: str) -> tuple[str, int]:
    """``text`` without diacritics or forbidden characters, spaces collapsed, and the number
    of SMS it takes; :class:`SmsError` ``too_long`` past the last segment limit."""
    folded = fold_vietnamese(text)
    kept = "".join(c for c in folded if c not in FORBIDDEN and c not in GSM_EXTENSION)
    kept = "".join(c if _GSM_BASIC.fullmatch(c) else " " for c in kept)
    kept = re.sub(r"[ ]{2,}", " ", kept).strip()
    for parts, limit in enumerate(SEGMENT_LIMITS, 1):
        if len(kept) <= limit:
            return kept, parts
    raise SmsError(TOO_LONG, f"{len(kept)} characters, more than {SEGMENT_LIMITS[-1]}")


def build_send(message: Message, account: SmsAccount) -> bytes:
    if message.text is None:
        raise ValueError("an SMS needs its text")
    body: dict[str, Any] = {
        "ApiKey": account.api_key.reveal(),
        "SecretKey": account.secret_key.reveal(),
        "Phone": message.phone,
        "Content": message.text,
        "Brandname": account.brandname,
        "SmsType": "2",
        "IsUnicode": "0",
        "Sandbox": "1" if account.sandbox else "0",
        "RequestId": message.tracking_id,
    }
    if account.callback_url:
        body["CallbackUrl"] = account.callback_url
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def parse_send(http_status: int, raw: bytes) -> SendResult:
    if http_status >= 500:
        raise SmsError(UNAVAILABLE, f"HTTP {http_status}", http_status)
    try:
        answer = json.loads(raw)
        code = str(answer["CodeResult"])
    except (ValueError, KeyError, TypeError):
        raise SmsError(MALFORMED, "the answer is not eSMS JSON", http_status) from None
    if code == ACCEPTED:
        sms_id = answer.get("SMSID")
        if not isinstance(sms_id, str) or not sms_id:
            raise SmsError(MALFORMED, "accepted without SMSID", http_status)
        return Accepted(sms_id)
    if code == DUPLICATE_REQUEST:
        return Accepted(None)
    result = result_for(code)
    if result.retryable:
        raise SmsError(UNAVAILABLE, f"eSMS {code}", http_status)
    return Refused(result.code, code)


def _count(query: Mapping[str, str], name: str) -> int:
    """A count of the report: ASCII digits (``str.isdigit`` also says yes to ``²``, which
    ``int`` refuses), anything else is malformed; absent or empty is 0."""
    value = query.get(name) or "0"
    if not (value.isascii() and value.isdigit()):
        raise SmsError(MALFORMED, f"{name}: expected a count")
    return int(value)


def parse_receipt(query: Mapping[str, str]) -> DeliveryReceipt | None:
    sms_id = query.get("SMSID", "")
    if not sms_id or len(sms_id) > 64 or not sms_id.isprintable():
        # A NUL or control character is no eSMS id, and PostgreSQL cannot store a NUL.
        raise SmsError(MALFORMED, "a delivery report without a readable SMSID")
    status = query.get("SendStatus", "")
    if _count(query, "SendSuccess") >= 1:
        return DeliveryReceipt(sms_id, True, f"{sms_id}:{status}:delivered")
    if _count(query, "SendFailed") >= 1:
        failure = (query.get("error_info") or "not_delivered")[:48]
        return DeliveryReceipt(sms_id, False, f"{sms_id}:{status}:failed", failure=failure)
    return None
