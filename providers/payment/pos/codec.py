"""POS cloud wire protocol: card-present sales pushed to a terminal, results by callback.

JSON over HTTPS (UTF-8). Every request, every response and every callback is signed with the
merchant secret shared with the cloud::

    X-Pos-Timestamp: 1795312800                      (Unix seconds when signed)
    X-Pos-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

A body-less request (the GET) signs ``"<timestamp>."``: it proves the key and freshness but is
not bound to a path, so it is only ever used to read; the signed answer names its ``sale_id``
and the client checks it. Amounts are integer VND; ids match ``[A-Za-z0-9_-]{1,64}``.

Push a sale (``sale_id`` is our attempt id and the cloud's idempotency key)::

    POST {base}/v1/terminals/{terminal_id}/sales
    {"sale_id": "att_01J", "merchant_id": "M001", "amount": 185000, "currency": "VND",
     "reference": "DVC7K3M9QX2PAB3F", "description": "Le phi GPLX",
     "callback_url": "https://gateway.example/callbacks/pos"}
    → 202 {"sale_id": "att_01J", "status": "sent_to_terminal"}
    → 409 {"code": "terminal_busy"}     the terminal runs another sale; nothing was created

The same ``sale_id`` again gets the first answer again (202), whatever happened since; the
same ``sale_id`` with other details is refused (422 ``sale_id_reused``).

Cancel (the cardholder may still have paid first: wait for the callback or query)::

    POST {base}/v1/terminals/{terminal_id}/sales/{sale_id}/cancel
    {"merchant_id": "M001", "sale_id": "att_01J"}
    → 202 {"sale_id": "att_01J", "status": "cancelling"}
    → 409 {"code": "not_cancellable", "status": "approved"}     already final

Query, and the callback (POSTed to ``callback_url``; any 2xx acknowledges, anything else makes
the cloud retry), carry the same result body::

    GET {base}/v1/terminals/{terminal_id}/sales/{sale_id}        → 200, or 404 unknown_sale
    {"sale_id": "att_01J", "status": "approved", "amount": 185000, "approval_code": "042817",
     "masked_pan": "970436******1234", "card_brand": "NAPAS", "rrn": "632609123456",
     "decline_reason": null, "completed_at": "2026-11-22T09:00:12+07:00"}

``status`` is one of ``sent_to_terminal`` (the only non-final one), ``approved``, ``declined``,
``cancelled``, ``timed_out``. An approved result carries approval code, masked PAN, brand
(``NAPAS``, ``VISA``, ``MASTERCARD``, ``JCB``) and a 12-digit RRN; a declined one a
``decline_reason``; every final one ``completed_at`` with a UTC offset. Anything else (a new
brand, an unmasked card number) is ``malformed``: refused, so the cloud retries and we notice.
Error answers are ``{"code": ..., "detail": ...}``; a request that fails verification gets 401
with the failing check's code (``signature_missing``, ``signature_invalid``,
``timestamp_invalid``, ``timestamp_stale``). Timestamps are accepted within ±300 s.

Everything here is pure: keys, ids and the current time are arguments.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, TypeGuard

from providers.common import json_text

from .errors import (
    INVALID_FIELD,
    MALFORMED,
    REJECTED,
    SIGNATURE_INVALID,
    SIGNATURE_MISSING,
    TIMESTAMP_INVALID,
    TIMESTAMP_STALE,
    PosError,
)
from .statuses import FINAL_STATUSES, SaleStatus

TIMESTAMP_HEADER: Final = "X-Pos-Timestamp"
SIGNATURE_HEADER: Final = "X-Pos-Signature"
DEFAULT_TOLERANCE_SECONDS: Final = 300
MAX_AMOUNT: Final = 9_999_999_999_999
CURRENCY: Final = "VND"

ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")  # ids travel in URL paths
_APPROVAL_CODE: Final = re.compile(r"[0-9A-Z]{6}")
_MASKED_PAN: Final = re.compile(r"[0-9]{6}\*{3,9}[0-9]{4}")  # 13–19 digit card numbers
_RRN: Final = re.compile(r"[0-9]{12}")
_MAX_TEXT: Final = {"reference": 64, "description": 140}


class CardBrand(StrEnum):
    NAPAS = "NAPAS"
    VISA = "VISA"
    MASTERCARD = "MASTERCARD"
    JCB = "JCB"


_BRANDS: Final = frozenset(brand.value for brand in CardBrand)
_STATUSES: Final = frozenset(status.value for status in SaleStatus)


@dataclass(frozen=True)
class Sale:
    """What counter staff push to a terminal. ``sale_id`` is our attempt id."""

    terminal_id: str
    sale_id: str
    amount: int
    reference: str
    description: str
    callback_url: str


@dataclass(frozen=True)
class WireRequest:
    """A request ready to sign and send: ``path`` is relative to the cloud's base URL."""

    method: str
    path: str
    body: bytes


@dataclass(frozen=True)
class SaleResult:
    """A sale as the cloud reports it (query answer and callback body)."""

    sale_id: str
    status: SaleStatus
    amount: int
    approval_code: str | None = None
    masked_pan: str | None = None
    card_brand: CardBrand | None = None
    rrn: str | None = None
    decline_reason: str | None = None
    completed_at: datetime | None = None

    @property
    def final(self) -> bool:
        """True once the cloud will not change this sale again."""
        return self.status in FINAL_STATUSES

    def to_json(self) -> dict[str, Any]:
        return {
            "sale_id": self.sale_id,
            "status": self.status.value,
            "amount": self.amount,
            "approval_code": self.approval_code,
            "masked_pan": self.masked_pan,
            "card_brand": self.card_brand.value if self.card_brand else None,
            "rrn": self.rrn,
            "decline_reason": self.decline_reason,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }


@dataclass(frozen=True)
class PushResult:
    """``accepted``: the terminal shows the sale. Otherwise ``code`` says why not
    (``terminal_busy``: it runs another sale; nothing was created, push again later)."""

    accepted: bool
    code: str | None = None


@dataclass(frozen=True)
class CancelResult:
    """``accepted``: the cloud is cancelling; the final status still comes by callback or
    query, and may be ``approved`` if the card was faster. Otherwise ``code`` says why not:
    ``not_cancellable`` with the final ``status`` the sale already has, or ``unknown_sale``."""

    accepted: bool
    code: str | None = None
    status: SaleStatus | None = None


# -- signatures -----------------------------------------------------------------------------


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signed_headers(secret: bytes, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers that sign ``body``; with a JSON content type when there is a body."""
    headers = {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}
    if body:
        headers["Content-Type"] = "application/json"
    return headers


def verify(
    secret: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: int,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Check the signature over the raw bytes, then the timestamp window; raise on failure.

    The signature is checked before the window so that an attacker without the key learns
    nothing about our clock.
    """
    if not timestamp or not signature:
        raise PosError(SIGNATURE_MISSING, "signature or timestamp header is missing")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise PosError(TIMESTAMP_INVALID, "timestamp must be Unix seconds")
    expected = sign(secret, int(timestamp), body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise PosError(SIGNATURE_INVALID, "signature does not match the body")
    if abs(now - int(timestamp)) > tolerance_seconds:
        raise PosError(TIMESTAMP_STALE, "timestamp is outside the accepted window")


# -- requests -------------------------------------------------------------------------------


def encode_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def build_sale(merchant_id: str, sale: Sale) -> WireRequest:
    _check_id("merchant_id", merchant_id)
    _check_id("terminal_id", sale.terminal_id)
    _check_id("sale_id", sale.sale_id)
    if not _is_amount(sale.amount):
        raise PosError(INVALID_FIELD, "amount must be a positive integer number of VND")
    _check_text("reference", sale.reference, required=True)
    _check_text("description", sale.description, required=False)
    if not sale.callback_url.startswith(("https://", "http://")):
        raise PosError(INVALID_FIELD, "callback_url must be an absolute http(s) URL")
    body = {
        "sale_id": sale.sale_id,
        "merchant_id": merchant_id,
        "amount": sale.amount,
        "currency": CURRENCY,
        "reference": sale.reference,
        "description": sale.description,
        "callback_url": sale.callback_url,
    }
    return WireRequest("POST", f"/v1/terminals/{sale.terminal_id}/sales", encode_json(body))


def build_cancel(merchant_id: str, terminal_id: str, sale_id: str) -> WireRequest:
    """The body repeats the ids so that the signature binds the cancel to this sale."""
    for name, value in (("merchant_id", merchant_id), ("terminal_id", terminal_id)):
        _check_id(name, value)
    _check_id("sale_id", sale_id)
    body = encode_json({"merchant_id": merchant_id, "sale_id": sale_id})
    return WireRequest("POST", f"/v1/terminals/{terminal_id}/sales/{sale_id}/cancel", body)


def build_query(terminal_id: str, sale_id: str) -> WireRequest:
    _check_id("terminal_id", terminal_id)
    _check_id("sale_id", sale_id)
    return WireRequest("GET", f"/v1/terminals/{terminal_id}/sales/{sale_id}", b"")


def _check_id(name: str, value: str) -> None:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise PosError(INVALID_FIELD, f"{name} must be 1–64 letters, digits, '_' or '-'")


def _check_text(name: str, value: str, *, required: bool) -> None:
    if not isinstance(value, str) or (required and not value) or len(value) > _MAX_TEXT[name]:
        raise PosError(INVALID_FIELD, f"{name} must be text of at most {_MAX_TEXT[name]} chars")


def _is_amount(value: object) -> TypeGuard[int]:
    # type() rather than isinstance(): True is an int too, and must not become 1 VND.
    return type(value) is int and 0 < value <= MAX_AMOUNT


# -- results --------------------------------------------------------------------------------


def parse_result(body: bytes) -> SaleResult:
    """Parse a verified query answer or callback strictly; raise ``malformed`` otherwise.

    Absent optional fields count as ``null``; unknown extra fields are ignored.
    """
    data = _object(body)
    sale_id = data.get("sale_id")
    if not isinstance(sale_id, str) or not ID_PATTERN.fullmatch(sale_id):
        raise PosError(MALFORMED, "sale_id must be an id")
    status = _status(data.get("status"))
    amount = data.get("amount")
    if not _is_amount(amount):
        raise PosError(MALFORMED, "amount must be a positive integer number of VND")
    brand = _optional(data, "card_brand", None)
    if brand is not None and brand not in _BRANDS:
        raise PosError(MALFORMED, "card_brand must be NAPAS, VISA, MASTERCARD or JCB")
    result = SaleResult(
        sale_id=sale_id,
        status=status,
        amount=amount,
        approval_code=_optional(data, "approval_code", _APPROVAL_CODE),
        masked_pan=_optional(data, "masked_pan", _MASKED_PAN),
        card_brand=CardBrand(brand) if brand is not None else None,
        rrn=_optional(data, "rrn", _RRN),
        decline_reason=_optional(data, "decline_reason", None),
        completed_at=_time(data.get("completed_at")),
    )
    _check_consistent(result)
    return result


def _check_consistent(result: SaleResult) -> None:
    """The fields a status promises: without them an approval cannot be reconciled."""
    if result.final != (result.completed_at is not None):
        raise PosError(MALFORMED, "completed_at is required exactly when the sale is final")
    approved = result.status is SaleStatus.APPROVED
    card = (result.approval_code, result.masked_pan, result.card_brand, result.rrn)
    if approved and None in card:
        raise PosError(MALFORMED, "an approval needs approval_code, masked_pan, card_brand, rrn")
    if not approved and result.approval_code is not None:
        raise PosError(MALFORMED, "only an approved sale has an approval_code")
    if (result.status is SaleStatus.DECLINED) != (result.decline_reason is not None):
        raise PosError(MALFORMED, "decline_reason is required exactly when declined")


def parse_push_response(http_status: int, body: bytes, sale_id: str) -> PushResult:
    """The cloud's verified answer to :func:`build_sale`."""
    data = _object(body)
    if http_status == 202:
        _check_echo(data, sale_id)
        if data.get("status") != SaleStatus.SENT_TO_TERMINAL:
            raise PosError(MALFORMED, "an accepted sale must be sent_to_terminal")
        return PushResult(accepted=True)
    if http_status == 409:
        return PushResult(accepted=False, code=_code(data))
    raise _rejected(http_status, data)


def parse_cancel_response(http_status: int, body: bytes, sale_id: str) -> CancelResult:
    """The cloud's verified answer to :func:`build_cancel`."""
    data = _object(body)
    if http_status == 202:
        _check_echo(data, sale_id)
        if data.get("status") != "cancelling":
            raise PosError(MALFORMED, "an accepted cancel must be cancelling")
        return CancelResult(accepted=True)
    if http_status == 409:
        return CancelResult(accepted=False, code=_code(data), status=_status(data.get("status")))
    if http_status == 404:
        return CancelResult(accepted=False, code=_code(data))
    raise _rejected(http_status, data)


def parse_query_response(http_status: int, body: bytes, sale_id: str) -> SaleResult | None:
    """The cloud's verified answer to :func:`build_query`; ``None``: it has no such sale."""
    if http_status == 404:
        return None
    if http_status != 200:
        raise _rejected(http_status, _object(body))
    result = parse_result(body)
    if result.sale_id != sale_id:
        raise PosError(MALFORMED, "the answer is about another sale")
    return result


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = json_text.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PosError(MALFORMED, "body is not JSON") from None
    if not isinstance(data, dict):
        raise PosError(MALFORMED, "body must be a JSON object")
    return data


def _status(value: object) -> SaleStatus:
    if not isinstance(value, str) or value not in _STATUSES:
        raise PosError(MALFORMED, "status is not a known sale status")
    return SaleStatus(value)


def _optional(data: dict[str, Any], name: str, pattern: re.Pattern[str] | None) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 128:
        raise PosError(MALFORMED, f"{name} must be a non-empty string or null")
    if pattern is not None and not pattern.fullmatch(value):
        raise PosError(MALFORMED, f"{name} does not have the documented format")
    return value


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise PosError(MALFORMED, "completed_at must be an ISO 8601 time with a UTC offset")
    return moment


def _check_echo(data: dict[str, Any], sale_id: str) -> None:
    if data.get("sale_id") != sale_id:
        raise PosError(MALFORMED, "the answer is about another sale")


def _code(data: dict[str, Any]) -> str:
    code = data.get("code")
    if not isinstance(code, str) or not code:
        raise PosError(MALFORMED, "a refusal must carry a code")
    return code


def _rejected(http_status: int, data: dict[str, Any]) -> PosError:
    code = data.get("code")
    return PosError(REJECTED, f"the cloud refused the request: {code!r}", http_status)
