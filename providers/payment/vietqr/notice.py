"""Bank credit notices: how a collection bank tells the gateway that money arrived.

Wire format (JSON body, UTF-8)::

    POST /callbacks/bank/<bank>
    X-Bank-Timestamp: 1763800000                      (Unix seconds when signed)
    X-Bank-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

    {"transaction_id": "FT2532612345", "bin": "970499", "account_number": "0011001234567",
     "amount": 150000, "description": "MBVCB.123.DVC7K3M9QX2PAB3F.CT tu ...",
     "booked_at": "2026-11-22T15:04:05+07:00"}

The timestamp is inside the signed text, so a captured notice cannot be replayed with a fresh
timestamp; a replay inside the window is caught by the unique ``transaction_id``.
Everything here is pure: keys and the current time are arguments.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from providers.common import json_text
from providers.common.errors import ProviderError

TIMESTAMP_HEADER = "X-Bank-Timestamp"
SIGNATURE_HEADER = "X-Bank-Signature"
MAX_AMOUNT = 9_999_999_999_999


class NoticeError(ProviderError):
    """A notice failed a check; ``code`` names it: ``signature_missing``,
    ``signature_invalid``, ``timestamp_invalid``, ``timestamp_stale``, ``malformed_notice``.
    None is retryable: the same bytes fail the same way."""


@dataclass(frozen=True)
class CreditNotice:
    transaction_id: str
    bin: str
    account_number: str
    amount: int
    description: str
    booked_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "bin": self.bin,
            "account_number": self.account_number,
            "amount": self.amount,
            "description": self.description,
            "booked_at": self.booked_at.isoformat(),
        }


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(
    secret: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: int,
    tolerance_seconds: int,
) -> None:
    """Check the signature over the raw bytes, then the timestamp window; raise on failure."""
    if not timestamp or not signature:
        raise NoticeError("signature_missing", "signature or timestamp header is missing")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise NoticeError("timestamp_invalid", "timestamp must be Unix seconds")
    expected = sign(secret, int(timestamp), body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise NoticeError("signature_invalid", "signature does not match the body")
    if abs(now - int(timestamp)) > tolerance_seconds:
        raise NoticeError("timestamp_stale", "timestamp is outside the accepted window")


def parse(body: bytes) -> CreditNotice:
    """Parse a verified body strictly: every field present, amount a positive integer."""
    try:
        data = json_text.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise NoticeError("malformed_notice", "body is not JSON") from None
    if not isinstance(data, dict):
        raise NoticeError("malformed_notice", "body must be a JSON object")
    text_fields = ("transaction_id", "bin", "account_number", "description", "booked_at")
    for field in text_fields:
        if not isinstance(data.get(field), str) or (field != "description" and not data[field]):
            raise NoticeError("malformed_notice", f"{field} must be a non-empty string")
    amount = data.get("amount")
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
        raise NoticeError("malformed_notice", "amount must be a positive integer number of VND")
    if len(data["transaction_id"]) > 128:
        raise NoticeError("malformed_notice", "transaction_id is longer than 128 characters")
    try:
        booked_at = datetime.fromisoformat(data["booked_at"])
    except ValueError:
        raise NoticeError("malformed_notice", "booked_at must be an ISO 8601 time") from None
    if booked_at.tzinfo is None:
        raise NoticeError("malformed_notice", "booked_at must carry a UTC offset")
    return CreditNotice(
        transaction_id=data["transaction_id"],
        bin=data["bin"],
        account_number=data["account_number"],
        amount=amount,
        description=data["description"],
        booked_at=booked_at,
    )
