"""MoMo AIO v2 messages, pure: build requests, parse answers, sign and verify.

Spec: ``specs/momo-zalopay.md`` §A.2 (signature: lower-case hex HMAC-SHA256 with the secret
key over ``k1=v1&k2=v2…``, keys in alphabetical order, values not URL-encoded, empty values
kept as ``key=``; ``accessKey`` is signed over but not sent in the IPN), §A.3 (create), §A.4
(IPN). The field list of every message is data (:data:`SIGNED_FIELDS`), so a corrected spec
is a data change. MoMo's signing of its own API answers is not documented [U]: answers are
read over TLS from MoMo's host and are not verified here; IPNs always are.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from providers.common import json_text

from .errors import INVALID_FIELD, MALFORMED, SIGNATURE_INVALID, UNKNOWN_PARTNER, MomoError
from .settings import MomoMerchant

#: The fields each message's signature covers, in the spec's (alphabetical) order.
SIGNED_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "create": (
        "accessKey",
        "amount",
        "extraData",
        "ipnUrl",
        "orderId",
        "orderInfo",
        "partnerCode",
        "redirectUrl",
        "requestId",
        "requestType",
    ),
    "query": ("accessKey", "orderId", "partnerCode", "requestId"),
    "refund": (
        "accessKey",
        "amount",
        "description",
        "orderId",
        "partnerCode",
        "requestId",
        "transId",
    ),
    "ipn": (
        "accessKey",
        "amount",
        "extraData",
        "message",
        "orderId",
        "orderInfo",
        "orderType",
        "partnerCode",
        "payType",
        "requestId",
        "responseTime",
        "resultCode",
        "transId",
    ),
}
#: MoMo's rule for ``orderId`` (one-time payment page).
ORDER_ID: Final = re.compile(r"^[0-9a-zA-Z]([-_.]*[0-9a-zA-Z]+)*$")
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
CAPTURE_WALLET: Final = "captureWallet"


def raw_signature(fields: Mapping[str, object], names: tuple[str, ...]) -> str:
    """``k1=v1&k2=v2…`` over ``names`` sorted; a missing or ``None`` value is empty."""
    return "&".join(f"{name}={_text(fields.get(name))}" for name in sorted(names))


def sign(secret_key: str, raw: str) -> str:
    return hmac.new(secret_key.encode(), raw.encode("utf-8"), hashlib.sha256).hexdigest()


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _signed(merchant: MomoMerchant, message: str, body: dict[str, Any]) -> dict[str, Any]:
    fields = {**body, "accessKey": merchant.access_key.reveal()}
    raw = raw_signature(fields, SIGNED_FIELDS[message])
    return {**body, "signature": sign(merchant.secret_key.reveal(), raw)}


# -- requests ------------------------------------------------------------------------------


def create_request(
    merchant: MomoMerchant,
    *,
    order_id: str,
    request_id: str,
    amount: int,
    order_info: str,
    redirect_url: str,
    ipn_url: str,
    extra_data: str = "",
    lang: str = "vi",
) -> dict[str, Any]:
    """The signed ``/create`` body of a one-step wallet payment (``captureWallet``)."""
    if not ORDER_ID.match(order_id) or len(order_id) > 50:
        raise MomoError(INVALID_FIELD, f"orderId {order_id!r} does not match MoMo's rule")
    if not 0 < len(request_id) <= 50:
        raise MomoError(INVALID_FIELD, "requestId must be 1 to 50 characters")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise MomoError(INVALID_FIELD, "amount is a positive integer of VND")
    if "?" in ipn_url:
        raise MomoError(INVALID_FIELD, "MoMo's ipnUrl must carry no query string")
    body = {
        "partnerCode": merchant.partner_code,
        "requestId": request_id,
        "amount": amount,
        "orderId": order_id,
        "orderInfo": order_info,
        "redirectUrl": redirect_url,
        "ipnUrl": ipn_url,
        "requestType": CAPTURE_WALLET,
        "extraData": extra_data,
        "lang": lang,
    }
    return _signed(merchant, "create", body)


def query_request(
    merchant: MomoMerchant, *, order_id: str, request_id: str, lang: str = "vi"
) -> dict[str, Any]:
    """The signed ``/query`` body; every query has a new ``requestId`` (spec §A.5)."""
    body = {
        "partnerCode": merchant.partner_code,
        "requestId": request_id,
        "orderId": order_id,
        "lang": lang,
    }
    return _signed(merchant, "query", body)


def refund_request(
    merchant: MomoMerchant,
    *,
    order_id: str,
    request_id: str,
    amount: int,
    trans_id: int,
    description: str,
    lang: str = "vi",
) -> dict[str, Any]:
    """The signed ``/refund`` body; ``request_id`` is the refund's own, kept for retries."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise MomoError(INVALID_FIELD, "amount is a positive integer of VND")
    body = {
        "partnerCode": merchant.partner_code,
        "orderId": order_id,
        "requestId": request_id,
        "amount": amount,
        "transId": trans_id,
        "lang": lang,
        "description": description,
    }
    return _signed(merchant, "refund", body)


# -- answers and the IPN ----------------------------------------------------------------------


@dataclass(frozen=True)
class CreateResult:
    result_code: int
    message: str
    pay_url: str | None


@dataclass(frozen=True)
class PaymentResult:
    """A payment's state as an IPN or a ``/query`` answer states it."""

    partner_code: str
    order_id: str
    request_id: str
    amount: int
    trans_id: int | None
    result_code: int
    message: str
    pay_type: str
    response_time_ms: int | None


@dataclass(frozen=True)
class RefundResult:
    result_code: int
    message: str
    trans_id: int | None


def _int(data: Mapping[str, Any], name: str, *, required: bool = True) -> int | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MomoError(MALFORMED, f"{name} must be an integer")
    return value


def _str(data: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name, None if required else "")
    if not isinstance(value, str):
        raise MomoError(MALFORMED, f"{name} must be a string")
    return value


def parse_json(raw: bytes | str) -> dict[str, Any]:
    try:
        data = json_text.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MomoError(MALFORMED, "not JSON") from None
    if not isinstance(data, dict):
        raise MomoError(MALFORMED, "not a JSON object")
    return data


def parse_create_response(data: Mapping[str, Any]) -> CreateResult:
    code = _int(data, "resultCode")
    assert code is not None
    pay_url = data.get("payUrl")
    return CreateResult(
        code, _str(data, "message", required=False), pay_url if isinstance(pay_url, str) else None
    )


def _payment(data: Mapping[str, Any]) -> PaymentResult:
    code = _int(data, "resultCode")
    amount = _int(data, "amount")
    assert code is not None and amount is not None
    trans_id = _int(data, "transId", required=False)
    return PaymentResult(
        partner_code=_str(data, "partnerCode"),
        order_id=_str(data, "orderId"),
        request_id=_str(data, "requestId", required=False),
        amount=amount,
        trans_id=trans_id or None,
        result_code=code,
        message=_str(data, "message", required=False),
        pay_type=_str(data, "payType", required=False),
        response_time_ms=_int(data, "responseTime", required=False),
    )


def parse_query_response(data: Mapping[str, Any]) -> PaymentResult:
    return _payment(data)


def parse_refund_response(data: Mapping[str, Any]) -> RefundResult:
    code = _int(data, "resultCode")
    assert code is not None
    return RefundResult(
        code, _str(data, "message", required=False), _int(data, "transId", required=False)
    )


def parse_ipn(
    raw: bytes, keys_for: Callable[[str], tuple[str, str] | None]
) -> tuple[PaymentResult, dict[str, Any]]:
    """Verify an IPN body (JSON) and read it. ``keys_for(partnerCode)`` gives that merchant's
    ``(access_key, secret_key)``. The signature must be MoMo's lower-case hex exactly (an
    upper-cased one is refused) and is compared in constant time. Returns the result and the
    decoded body (to store)."""
    data = parse_json(raw)
    signature = data.get("signature")
    partner = data.get("partnerCode")
    if not isinstance(partner, str) or not partner:
        raise MomoError(MALFORMED, "partnerCode is missing")
    keys = keys_for(partner)
    if keys is None:
        raise MomoError(UNKNOWN_PARTNER, "no keys for this partnerCode")
    if not isinstance(signature, str) or not _HEX64.match(signature):
        raise MomoError(SIGNATURE_INVALID, "signature is missing or not lower-case hex")
    access_key, secret_key = keys
    if any(isinstance(data.get(name), (dict, list, float, bool)) for name in SIGNED_FIELDS["ipn"]):
        raise MomoError(MALFORMED, "a signed field has the wrong type")
    fields = {**data, "accessKey": access_key}
    expected = sign(secret_key, raw_signature(fields, SIGNED_FIELDS["ipn"]))
    if not hmac.compare_digest(expected, signature):
        raise MomoError(SIGNATURE_INVALID, "signature does not match")
    return _payment(data), data
