"""ZNS on the wire, pure (``specs/notifications.md`` §1).

Send (§1.1, [I]): ``POST <base>/message/template`` with header ``access_token`` and the JSON
``{"phone": "84…", "template_id", "template_data": {...}, "tracking_id", "mode"?}``. The
answer is ``{"error": 0, "message", "data": {"msg_id", "sent_time", "quota": {...}}}`` on
success; any other ``error`` is looked up in :mod:`.statuses`.

Delivery receipt (§1.3, [I]): the OA webhook event ``user_received_message`` with
``message.msg_id`` and ``message.delivery_time`` (milliseconds). Zalo's webhook signature is
not verified (§5.1), so the gateway takes a receipt as a hint correlated by ``msg_id``, behind
a secret callback path; other event names are not receipts (``None``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from providers.common import json_text
from providers.notify.base import Accepted, DeliveryReceipt, Message, Refused, SendResult

from .errors import MALFORMED, UNAUTHORIZED, UNAVAILABLE, ZnsError
from .statuses import result_for

TOKEN_HEADER: Final = "access_token"  # noqa: S105 -- a header name, not a secret
RECEIPT_EVENT: Final = "user_received_message"


def build_send(message: Message, mode: str | None = None) -> bytes:
    if message.template_id is None:
        raise ValueError("a ZNS message needs a template_id")
    body: dict[str, Any] = {
        "phone": message.phone,
        "template_id": message.template_id,
        "template_data": dict(message.template_data),
        "tracking_id": message.tracking_id,
    }
    if mode:
        body["mode"] = mode
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def parse_send(http_status: int, raw: bytes) -> SendResult:
    """The answer to a send: accepted with ``msg_id``, or refused; a 5xx is ``unavailable``
    and a refused token ``unauthorized`` (both raised, both retryable)."""
    if http_status >= 500:
        raise ZnsError(UNAVAILABLE, f"HTTP {http_status}", http_status)
    try:
        answer = json_text.loads(raw)
        error = answer["error"]
    except (ValueError, KeyError, TypeError):
        raise ZnsError(MALFORMED, "the answer is not ZNS JSON", http_status) from None
    if type(error) is not int:
        raise ZnsError(MALFORMED, "error is not an integer", http_status)
    if error == 0:
        msg_id = (answer.get("data") or {}).get("msg_id")
        if not isinstance(msg_id, str) or not msg_id:
            raise ZnsError(MALFORMED, "success without data.msg_id", http_status)
        return Accepted(msg_id)
    result = result_for(error)
    if result.code == UNAUTHORIZED:
        raise ZnsError(UNAUTHORIZED, f"ZNS error {error}", http_status)
    if result.retryable:
        raise ZnsError(UNAVAILABLE, f"ZNS error {error} ({result.code})", http_status)
    return Refused(result.code, str(error), fallback=result.fallback)


def parse_receipt(raw: bytes) -> DeliveryReceipt | None:
    """A ``user_received_message`` event as a receipt; another event is ``None``."""
    try:
        event = json_text.loads(raw)
        name = event["event_name"]
    except (ValueError, KeyError, TypeError):
        raise ZnsError(MALFORMED, "not a Zalo OA webhook event") from None
    if name != RECEIPT_EVENT:
        return None
    message = event.get("message")
    msg_id = message.get("msg_id") if isinstance(message, dict) else None
    if not isinstance(msg_id, str) or not msg_id:
        raise ZnsError(MALFORMED, "user_received_message without message.msg_id")
    at = None
    millis = message.get("delivery_time")
    if isinstance(millis, str) and millis.isdigit():
        millis = int(millis)
    if type(millis) is int:
        try:
            at = datetime.fromtimestamp(millis / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise ZnsError(MALFORMED, "message.delivery_time out of range") from None
    return DeliveryReceipt(msg_id, True, f"{RECEIPT_EVENT}:{msg_id}", at=at)
