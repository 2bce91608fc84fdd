"""VNPAY API 2.1.0 messages: the payment URL, the IPN, and the querydr/refund JSON APIs.

Pure and synchronous: every input is an argument (terminal, ids, times); nothing here reads a
clock, draws a random number or touches the network. Signing primitives live in
:mod:`.wire` and are re-exported here (``canonical_query``, ``sign``, ``verify_query``).

Message shapes::

    GET  vpcpay.html?<canonical vnp_* params>&vnp_SecureHash=<HMAC-SHA512 hex>
    GET  <ipn_url>?<the same, signed by VNPAY>        → {"RspCode": "00", "Message": ...}
    POST api/transaction {"vnp_RequestId", ..., "vnp_SecureHash": <HMAC over "a|b|c...">}

The JSON APIs sign their fields joined with ``|`` in a fixed order (the ``*_FIELDS`` tuples
below); a field that is absent counts as the empty string.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Final, TypeVar

from providers.common.text import fold_vietnamese

from .errors import INVALID_FIELD, MALFORMED, SIGNATURE_INVALID, UNKNOWN_TERMINAL, VnpayError
from .model import FULL_REFUND, PARTIAL_REFUND, IpnResult, QueryResult, RefundResult
from .settings import VnpayTerminal
from .wire import (
    HASH_PARAM,
    canonical_query,
    format_date,
    from_wire_amount,
    parse_date,
    pipe_message,
    sign,
    signed_params,
    signed_query,
    to_wire_amount,
    verify_pipe,
    verify_query,
)

__all__ = [
    "IPN_MESSAGES",
    "QUERYDR_REQUEST_FIELDS",
    "QUERYDR_RESPONSE_FIELDS",
    "REFUND_REQUEST_FIELDS",
    "REFUND_RESPONSE_FIELDS",
    "VERSION",
    "ascii_text",
    "build_payment_url",
    "canonical_query",
    "ipn_response",
    "parse_ipn",
    "parse_query_response",
    "parse_refund_response",
    "pipe_hash",
    "querydr_request",
    "refund_request",
    "sign",
    "signed_params",
    "signed_query",
    "verify_pipe_hash",
    "verify_query",
]

VERSION: Final = "2.1.0"
CURRENCY: Final = "VND"
LOCALES: Final = frozenset({"vn", "en"})
MAX_ORDER_INFO: Final = 255

QUERYDR_REQUEST_FIELDS: Final = (
    "vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TxnRef",
    "vnp_TransactionDate", "vnp_CreateDate", "vnp_IpAddr", "vnp_OrderInfo",
)  # fmt: skip
REFUND_REQUEST_FIELDS: Final = (
    "vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TransactionType",
    "vnp_TxnRef", "vnp_Amount", "vnp_TransactionNo", "vnp_TransactionDate", "vnp_CreateBy",
    "vnp_CreateDate", "vnp_IpAddr", "vnp_OrderInfo",
)  # fmt: skip
REFUND_RESPONSE_FIELDS: Final = (
    "vnp_ResponseId", "vnp_Command", "vnp_ResponseCode", "vnp_Message", "vnp_TmnCode",
    "vnp_TxnRef", "vnp_Amount", "vnp_BankCode", "vnp_PayDate", "vnp_TransactionNo",
    "vnp_TransactionType", "vnp_TransactionStatus", "vnp_OrderInfo",
)  # fmt: skip
QUERYDR_RESPONSE_FIELDS: Final = (
    *REFUND_RESPONSE_FIELDS, "vnp_PromotionCode", "vnp_PromotionAmount",
)  # fmt: skip

#: VNPAY's messages for the IPN answer, spelled as VNPAY spells them ("Unknow error").
IPN_MESSAGES: Final[Mapping[str, str]] = {
    "00": "Confirm Success",
    "01": "Order not found",
    "02": "Order already confirmed",
    "04": "invalid amount",
    "97": "Invalid signature",
    "99": "Unknow error",
}

_IPN_REQUIRED: Final = (
    "vnp_TxnRef", "vnp_Amount", "vnp_ResponseCode", "vnp_TransactionStatus",
)  # fmt: skip
_REF_RE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
_REQUEST_ID_RE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
_CODE_RE: Final = re.compile(r"[A-Za-z0-9_]{1,100}")
_BANK_CODE_RE: Final = re.compile(r"[A-Za-z0-9_]{3,20}")
_TWO_DIGITS_RE: Final = re.compile(r"[0-9]{2}")
_DIGITS_RE: Final = re.compile(r"[0-9]{1,20}")


# -- payment URL ---------------------------------------------------------------------------


def build_payment_url(
    terminal: VnpayTerminal,
    *,
    txn_ref: str,
    amount_vnd: int,
    order_info: str,
    ip_addr: str,
    return_url: str,
    create_date: datetime,
    expire_date: datetime,
    locale: str = "vn",
    bank_code: str | None = None,
    order_type: str = "other",
) -> str:
    """The signed ``vpcpay.html`` URL to send the payer's browser to.

    Exactly these parameters are sent: vnp_Version, vnp_Command, vnp_TmnCode, vnp_Amount
    (VND × 100), vnp_CurrCode, vnp_TxnRef, vnp_OrderInfo (folded to printable ASCII, at
    most 255 characters), vnp_OrderType, vnp_Locale, vnp_ReturnUrl, vnp_IpAddr,
    vnp_CreateDate, vnp_ExpireDate (GMT+7), vnp_BankCode if given; then vnp_SecureHash.
    Bad arguments raise ``VnpayError("invalid_field")``.
    """
    if locale not in LOCALES:
        raise VnpayError(INVALID_FIELD, f"locale: one of {sorted(LOCALES)}")
    if not return_url.startswith(("https://", "http://")) or len(return_url) > 255:
        raise VnpayError(INVALID_FIELD, "return_url: an http(s) URL of at most 255 characters")
    create, expire = (
        format_date(create_date, "create_date"),
        format_date(expire_date, "expire_date"),
    )
    if expire <= create:  # same fixed-width format, so text order is time order
        raise VnpayError(INVALID_FIELD, "expire_date must be after create_date")
    params = {
        "vnp_Version": VERSION,
        "vnp_Command": "pay",
        "vnp_TmnCode": terminal.tmn_code,
        "vnp_Amount": to_wire_amount(amount_vnd),
        "vnp_CurrCode": CURRENCY,
        "vnp_TxnRef": _checked(txn_ref, "txn_ref", _REF_RE),
        "vnp_OrderInfo": ascii_text(order_info, "order_info"),
        "vnp_OrderType": _checked(order_type, "order_type", _CODE_RE),
        "vnp_Locale": locale,
        "vnp_ReturnUrl": return_url,
        "vnp_IpAddr": _ip(ip_addr),
        "vnp_CreateDate": create,
        "vnp_ExpireDate": expire,
    }
    if bank_code is not None:
        params["vnp_BankCode"] = _checked(bank_code, "bank_code", _BANK_CODE_RE)
    return f"{terminal.payment_url}?{signed_query(terminal.hash_secret.reveal(), params)}"


def ascii_text(text: str, field: str, max_len: int = MAX_ORDER_INFO) -> str:
    """Fold Vietnamese to plain letters, collapse whitespace, keep printable ASCII, cut to
    ``max_len``. VNPAY asks for "Tiếng Việt không dấu" (Vietnamese without diacritics)."""
    printable = (c for c in fold_vietnamese(text) if " " <= c <= "~" or c.isspace())
    kept = " ".join("".join(printable).split())[:max_len].strip()
    if not kept:
        raise VnpayError(INVALID_FIELD, f"{field}: no printable text left after folding")
    return kept


# -- IPN -----------------------------------------------------------------------------------


def parse_ipn(params: Mapping[str, str], secret_for: Callable[[str], str | None]) -> IpnResult:
    """Verify and parse an IPN (or return-URL) query; raise :class:`VnpayError` if bad.

    Checks, in order: each parameter given once, vnp_TmnCode present (else ``malformed``), a
    secret for it (else ``unknown_terminal``), the signature (else ``signature_invalid``),
    then the fields (``malformed``): vnp_TxnRef, vnp_Amount, vnp_ResponseCode and
    vnp_TransactionStatus present; the amount plain digits and a whole number of VND (×100);
    the codes two digits; vnp_PayDate, when sent, a GMT+7 time. Parameters without the
    ``vnp_`` prefix are not signed (see :func:`~.wire.signed_params`): they are ignored and
    left out of ``raw``. Any extra ``vnp_*`` parameter changes the signed text and fails.
    """
    names = [name for name, _ in params.items()]  # a MultiDict's keys() hides repeats
    if len(names) != len(set(names)):
        raise VnpayError(MALFORMED, "a parameter is given more than once")
    tmn_code = params.get("vnp_TmnCode", "")
    if not tmn_code:
        raise VnpayError(MALFORMED, "vnp_TmnCode is missing")
    secret = secret_for(tmn_code)
    if secret is None:
        raise VnpayError(UNKNOWN_TERMINAL, f"no hash secret for terminal {tmn_code!r}")
    if not verify_query(secret, params):
        raise VnpayError(SIGNATURE_INVALID, "vnp_SecureHash does not sign the parameters")
    raw = {name: value for name, value in params.items() if name.startswith("vnp_")}
    for name in _IPN_REQUIRED:
        if not raw.get(name):
            raise VnpayError(MALFORMED, f"{name} is missing")
    pay_date = raw.get("vnp_PayDate")
    return IpnResult(
        tmn_code=tmn_code,
        txn_ref=raw["vnp_TxnRef"],
        amount_vnd=from_wire_amount(raw["vnp_Amount"]),
        response_code=_code(raw["vnp_ResponseCode"], "vnp_ResponseCode"),
        transaction_status=_code(raw["vnp_TransactionStatus"], "vnp_TransactionStatus"),
        transaction_no=raw.get("vnp_TransactionNo") or None,
        bank_code=raw.get("vnp_BankCode") or None,
        bank_tran_no=raw.get("vnp_BankTranNo") or None,
        card_type=raw.get("vnp_CardType") or None,
        pay_date=parse_date(pay_date, "vnp_PayDate") if pay_date else None,
        raw=raw,
    )


def ipn_response(code: str) -> dict[str, str]:
    """The JSON body to answer an IPN with: ``{"RspCode": code, "Message": ...}``.

    VNPAY stops redelivering on ``00`` and ``02`` and retries on anything else.
    """
    if code not in IPN_MESSAGES:
        raise ValueError(f"unknown IPN RspCode {code!r}; one of {sorted(IPN_MESSAGES)}")
    return {"RspCode": code, "Message": IPN_MESSAGES[code]}


# -- querydr and refund requests -------------------------------------------------------------


def querydr_request(
    terminal: VnpayTerminal,
    *,
    request_id: str,
    txn_ref: str,
    transaction_date: datetime,
    create_date: datetime,
    ip_addr: str,
    order_info: str,
) -> dict[str, str]:
    """The JSON body of a querydr call. ``transaction_date`` is the payment URL's
    vnp_CreateDate; ``create_date`` is now; ``request_id`` must be new each call (VNPAY
    answers 94 to a repeated one)."""
    body = {
        "vnp_RequestId": _checked(request_id, "request_id", _REQUEST_ID_RE),
        "vnp_Version": VERSION,
        "vnp_Command": "querydr",
        "vnp_TmnCode": terminal.tmn_code,
        "vnp_TxnRef": _checked(txn_ref, "txn_ref", _REF_RE),
        "vnp_TransactionDate": format_date(transaction_date, "transaction_date"),
        "vnp_CreateDate": format_date(create_date, "create_date"),
        "vnp_IpAddr": _ip(ip_addr),
        "vnp_OrderInfo": _pipe_safe(ascii_text(order_info, "order_info"), "order_info"),
    }
    body[HASH_PARAM] = pipe_hash(terminal.hash_secret.reveal(), body, QUERYDR_REQUEST_FIELDS)
    return body


def refund_request(
    terminal: VnpayTerminal,
    *,
    request_id: str,
    transaction_type: str,
    txn_ref: str,
    amount_vnd: int,
    transaction_no: str | None,
    transaction_date: datetime,
    create_by: str,
    create_date: datetime,
    ip_addr: str,
    order_info: str,
) -> dict[str, str]:
    """The JSON body of a refund call: ``transaction_type`` ``"02"`` (full) or ``"03"``
    (partial), ``amount_vnd`` the amount to refund, ``transaction_no`` VNPAY's number of the
    payment if known (optional for VNPAY), ``create_by`` who asked for the refund."""
    if transaction_type not in (FULL_REFUND, PARTIAL_REFUND):
        raise VnpayError(INVALID_FIELD, "transaction_type: '02' (full) or '03' (partial)")
    if transaction_no is not None and not _DIGITS_RE.fullmatch(transaction_no):
        raise VnpayError(INVALID_FIELD, "transaction_no: VNPAY's transaction number, digits")
    body = {
        "vnp_RequestId": _checked(request_id, "request_id", _REQUEST_ID_RE),
        "vnp_Version": VERSION,
        "vnp_Command": "refund",
        "vnp_TmnCode": terminal.tmn_code,
        "vnp_TransactionType": transaction_type,
        "vnp_TxnRef": _checked(txn_ref, "txn_ref", _REF_RE),
        "vnp_Amount": to_wire_amount(amount_vnd),
        "vnp_TransactionNo": transaction_no or "",
        "vnp_TransactionDate": format_date(transaction_date, "transaction_date"),
        "vnp_CreateBy": _pipe_safe(ascii_text(create_by, "create_by", 250), "create_by"),
        "vnp_CreateDate": format_date(create_date, "create_date"),
        "vnp_IpAddr": _ip(ip_addr),
        "vnp_OrderInfo": _pipe_safe(ascii_text(order_info, "order_info"), "order_info"),
    }
    body[HASH_PARAM] = pipe_hash(terminal.hash_secret.reveal(), body, REFUND_REQUEST_FIELDS)
    return body


def pipe_hash(secret: str, body: Mapping[str, object], fields: Iterable[str]) -> str:
    """The vnp_SecureHash of a JSON request or answer: HMAC over its ``fields`` joined with
    ``|``; an absent or null field counts as ``""``."""
    return sign(secret, pipe_message(_field_text(body, name) for name in fields))


def verify_pipe_hash(secret: str, body: Mapping[str, object], fields: Iterable[str]) -> bool:
    """True if ``body["vnp_SecureHash"]`` is :func:`pipe_hash` of ``body`` (case-sensitive)."""
    given = body.get(HASH_PARAM)
    if not isinstance(given, str) or not given:
        return False
    return verify_pipe(secret, (_field_text(body, name) for name in fields), given)


# -- querydr and refund answers --------------------------------------------------------------


def parse_query_response(secret: str, body: object) -> QueryResult:
    """Verify and parse a querydr answer (decoded JSON).

    Every answer must be signed, errors included: an unsigned or wrongly signed one raises
    ``signature_invalid``; a non-object, non-string fields or bad codes raise ``malformed``.
    VNPAY's own codes (91 not found, 94 duplicate, ...) are result values.
    """
    raw = _verified_answer(secret, body, QUERYDR_RESPONSE_FIELDS)
    return _answer(
        QueryResult,
        raw,
        promotion_code=raw.get("vnp_PromotionCode") or None,
        promotion_amount=raw.get("vnp_PromotionAmount") or None,
    )


def parse_refund_response(secret: str, body: object) -> RefundResult:
    """Verify and parse a refund answer (decoded JSON), as :func:`parse_query_response`."""
    raw = _verified_answer(secret, body, REFUND_RESPONSE_FIELDS)
    return _answer(RefundResult, raw)


def _verified_answer(secret: str, body: object, fields: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(body, dict):
        raise VnpayError(MALFORMED, "the answer is not a JSON object")
    for name in (*fields, HASH_PARAM):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise VnpayError(MALFORMED, f"{name} must be a string")
    if not verify_pipe_hash(secret, body, fields):
        code = body.get("vnp_ResponseCode")
        raise VnpayError(SIGNATURE_INVALID, f"answer (vnp_ResponseCode {code!r}) is not signed")
    return {name: value for name, value in body.items() if isinstance(value, str)}


_A = TypeVar("_A", QueryResult, RefundResult)


def _answer(kind: type[_A], raw: Mapping[str, str], **extra: str | None) -> _A:
    """A querydr or refund answer: the fields both share (:class:`~.model.Answer`), and
    ``extra`` for the fields only ``kind`` has."""
    amount = raw.get("vnp_Amount")
    pay_date = raw.get("vnp_PayDate")
    return kind(
        response_id=raw.get("vnp_ResponseId", ""),
        response_code=_code(raw.get("vnp_ResponseCode", ""), "vnp_ResponseCode"),
        message=raw.get("vnp_Message", ""),
        tmn_code=raw.get("vnp_TmnCode", ""),
        txn_ref=raw.get("vnp_TxnRef", ""),
        amount_vnd=from_wire_amount(amount) if amount else None,
        order_info=raw.get("vnp_OrderInfo", ""),
        bank_code=raw.get("vnp_BankCode") or None,
        pay_date=parse_date(pay_date, "vnp_PayDate") if pay_date else None,
        transaction_no=raw.get("vnp_TransactionNo") or None,
        transaction_type=raw.get("vnp_TransactionType") or None,
        transaction_status=raw.get("vnp_TransactionStatus") or None,
        raw=raw,
        **extra,
    )


# -- small checks ----------------------------------------------------------------------------


def _field_text(body: Mapping[str, object], name: str) -> str:
    value = body.get(name)
    return value if isinstance(value, str) else ""


def _checked(value: str, field: str, pattern: re.Pattern[str]) -> str:
    if not pattern.fullmatch(value):
        raise VnpayError(INVALID_FIELD, f"{field}: {value!r} does not match {pattern.pattern}")
    return value


def _pipe_safe(value: str, field: str) -> str:
    # A '|' inside a field would let two different requests share one signed message.
    if "|" in value:
        raise VnpayError(INVALID_FIELD, f"{field}: '|' separates signed fields")
    return value


def _ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise VnpayError(INVALID_FIELD, f"ip_addr: {value!r} is not an IP address") from None
    return value


def _code(value: str, field: str) -> str:
    if not _TWO_DIGITS_RE.fullmatch(value):
        raise VnpayError(MALFORMED, f"{field}: expected two digits, got {value!r}")
    return value
