"""VNPost partner API wire protocol (MyVNPost-style): orders, statuses, pushed webhooks.

JSON over HTTPS (UTF-8). Paths are relative to ``base_url + path_prefix`` (``/api``).

Token (valid ``expires_in`` seconds; every other call sends it in a ``token`` header, and an
expired or wrong token gets 401)::

    POST /token  {"username": "...", "password": "...", "customer_code": "KH001"}
    → 200 {"token": "...", "expires_in": 3600}          → 401 {"code": "UNAUTHORIZED"}

Create an order (``sale_order_code`` is our client reference; addresses follow the two-level
administrative model in force since July 2025: ward + province, the district is optional and
only kept for legacy addresses)::

    POST /orders
    {"customer_code": "KH001", "sale_order_code": "PR01-delivery-1", "service_code": "EMS",
     "sender": {"full_name": "...", "phone": "0912345678",
                "address": {"street": "...", "ward_code": "26734", "province_code": "79"}},
     "receiver": {...}, "weight": 250, "addons": [{"code": "PICKUP"}, {"code": "COD",
     "amount": 50000}], "note": "..."}
    → 200 {"item_code": "EB123456789VN", "sale_order_code": "PR01-delivery-1"}
    → 409 {"code": "DUPLICATE_REFERENCE"}      this sale_order_code already has an order

``service_code`` is ``CTN`` (standard parcel) or ``EMS`` (express). ``PICKUP`` asks a postman
to collect at the sender's door; ``COD`` carries an integer VND amount.

Read, cancel and history::

    GET  /orders?sale_order_code=...     → 200 order | 404 {"code": "NOT_FOUND"}
    GET  /orders/{item_code}             → 200 order | 404
    POST /orders/{item_code}/cancel      → 200 order | 404 | 409 {"code": "NOT_CANCELLABLE"}
    GET  /orders/{item_code}/history     → 200 {"item_code": "...", "events": [event, ...]}

    order = {"item_code": "...", "sale_order_code": "...", "status": 7, "events": [event...]}
    event = {"status": 7, "time": "22/11/2026 09:00:12", "location": "...", "note": "..."}

``status`` is an integer code of the configured status profile (:mod:`.statuses`: the partner
order API's 0–29 or MyVNPost's order statuses); the codec does not interpret it.

``time`` is wall-clock time in Vietnam (GMT+7) without an offset; it is parsed as such.

Status webhook (POSTed to the partner's URL; any 2xx acknowledges, else VNPost retries)::

    X-Vnpost-Signature: <hex HMAC-SHA256(key, "<item_code>|<status>|<time>")>
    {"item_code": "...", "sale_order_code": "...", "status": 9, "time": "...",
     "location": "...", "note": "..."}

The signature covers only item code, status and time: ``location`` and ``note`` ride along
unsigned and are kept as information only (query the history for an authoritative copy).

Everything here is pure: keys, ids and times are arguments.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Final
from urllib.parse import quote

from providers.common import json_text

from .errors import (
    DUPLICATE_REFERENCE,
    INVALID_FIELD,
    MALFORMED,
    NOT_FOUND,
    REJECTED,
    UNAUTHORIZED,
    VnpostError,
)

ICT: Final = timezone(timedelta(hours=7), "ICT")
TIME_FORMAT: Final = "%d/%m/%Y %H:%M:%S"
TOKEN_HEADER: Final = "token"  # noqa: S105 (a header name, not a secret)
SIGNATURE_HEADER: Final = "X-Vnpost-Signature"
MAX_COD: Final = 100_000_000  # VND; above this VNPost requires insured shipping instead
MAX_WEIGHT_GRAMS: Final = 30_000

REFERENCE_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,50}")
ITEM_CODE_PATTERN: Final = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")  # UPU S10
_PHONE: Final = re.compile(r"0[0-9]{9,10}")  # mobile: 10 digits; fixed line: 11
_CODE: Final = re.compile(r"[0-9]{1,6}")


class Service(StrEnum):
    STANDARD = "standard"
    EXPRESS = "express"


SERVICE_CODES: Final[Mapping[Service, str]] = {Service.STANDARD: "CTN", Service.EXPRESS: "EMS"}


@dataclass(frozen=True)
class Address:
    street: str
    ward_code: str
    province_code: str
    district_code: str | None = None  # legacy three-level addresses only


@dataclass(frozen=True)
class Party:
    name: str
    phone: str
    address: Address


@dataclass(frozen=True)
class OrderRequest:
    """One leg of a postal request. ``door_pickup`` for a pickup leg; ``cod_amount`` in VND."""

    client_reference: str
    sender: Party
    receiver: Party
    weight_grams: int
    service: Service = Service.STANDARD
    door_pickup: bool = False
    cod_amount: int | None = None
    note: str = ""


@dataclass(frozen=True)
class WireRequest:
    """A request ready to send: ``path`` is relative to ``base_url + path_prefix``."""

    method: str
    path: str
    body: bytes = b""


@dataclass(frozen=True)
class CreatedOrder:
    item_code: str
    client_reference: str


@dataclass(frozen=True)
class CarrierEvent:
    """One event as the carrier reports it. ``code`` is opaque here: what it means depends on
    the configured status profile (:mod:`.statuses`)."""

    code: int
    at: datetime
    location: str
    note: str


@dataclass(frozen=True)
class OrderState:
    item_code: str
    status_code: int
    events: tuple[CarrierEvent, ...]
    client_reference: str = ""


@dataclass(frozen=True)
class StatusWebhook:
    """A verified push: the signed event plus the unsigned ``client_reference``."""

    item_code: str
    client_reference: str
    event: CarrierEvent


def encode_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


# -- requests -----------------------------------------------------------------------------


def build_token(username: str, password: str, customer_code: str) -> WireRequest:
    body = {"username": username, "password": password, "customer_code": customer_code}
    return WireRequest("POST", "/token", encode_json(body))


def build_create_order(customer_code: str, order: OrderRequest) -> WireRequest:
    _check_order(order)
    addons: list[dict[str, Any]] = []
    if order.door_pickup:
        addons.append({"code": "PICKUP"})
    if order.cod_amount is not None:
        addons.append({"code": "COD", "amount": order.cod_amount})
    body = {
        "customer_code": customer_code,
        "sale_order_code": order.client_reference,
        "service_code": SERVICE_CODES[order.service],
        "sender": _party(order.sender),
        "receiver": _party(order.receiver),
        "weight": order.weight_grams,
        "addons": addons,
        "note": order.note,
    }
    return WireRequest("POST", "/orders", encode_json(body))


def build_find_by_reference(client_reference: str) -> WireRequest:
    _check_reference(client_reference)
    return WireRequest("GET", f"/orders?sale_order_code={quote(client_reference)}")


def build_get_order(item_code: str) -> WireRequest:
    return WireRequest("GET", f"/orders/{_item_code(item_code)}")


def build_cancel(item_code: str) -> WireRequest:
    return WireRequest("POST", f"/orders/{_item_code(item_code)}/cancel", b"{}")


def build_history(item_code: str) -> WireRequest:
    return WireRequest("GET", f"/orders/{_item_code(item_code)}/history")


def _party(party: Party) -> dict[str, Any]:
    address: dict[str, str] = {
        "street": party.address.street,
        "ward_code": party.address.ward_code,
        "province_code": party.address.province_code,
    }
    if party.address.district_code is not None:
        address["district_code"] = party.address.district_code
    return {"full_name": party.name, "phone": party.phone, "address": address}


def _check_order(order: OrderRequest) -> None:
    _check_reference(order.client_reference)
    for role, party in (("sender", order.sender), ("receiver", order.receiver)):
        if not party.name.strip() or len(party.name) > 100:
            _invalid(f"{role} name must be 1–100 characters")
        if not _PHONE.fullmatch(party.phone):
            _invalid(f"{role} phone must be 10 or 11 digits starting with 0")
        address = party.address
        if not address.street.strip() or len(address.street) > 200:
            _invalid(f"{role} street must be 1–200 characters")
        codes = [address.ward_code, address.province_code]
        if address.district_code is not None:
            codes.append(address.district_code)
        if not all(_CODE.fullmatch(code) for code in codes):
            _invalid(f"{role} ward, province and district codes must be numeric")
    if type(order.weight_grams) is not int or not 0 < order.weight_grams <= MAX_WEIGHT_GRAMS:
        _invalid(f"weight must be an integer number of grams in 1..{MAX_WEIGHT_GRAMS}")
    if order.cod_amount is not None and (
        type(order.cod_amount) is not int or not 0 < order.cod_amount <= MAX_COD
    ):
        _invalid(f"COD amount must be an integer number of VND in 1..{MAX_COD}")
    if len(order.note) > 500:
        _invalid("note must be at most 500 characters")


def _check_reference(reference: str) -> None:
    if not REFERENCE_PATTERN.fullmatch(reference):
        _invalid("client reference must be 1–50 letters, digits, '_' or '-'")


def _item_code(item_code: str) -> str:
    if not ITEM_CODE_PATTERN.fullmatch(item_code):
        _invalid("item code must look like EB123456789VN")
    return item_code


def _invalid(message: str) -> None:
    raise VnpostError(INVALID_FIELD, message)


# -- responses ----------------------------------------------------------------------------


def parse_token(status: int, body: bytes) -> tuple[str, int]:
    """``(token, expires_in seconds)``."""
    data = _answer(status, body)
    token, expires_in = data.get("token"), data.get("expires_in")
    if not isinstance(token, str) or not token or type(expires_in) is not int or expires_in <= 0:
        raise VnpostError(MALFORMED, "token answer lacks token or expires_in", status)
    return token, expires_in


def parse_created(status: int, body: bytes, client_reference: str) -> CreatedOrder:
    data = _answer(status, body)
    item_code = _text(data, "item_code", status)
    if not ITEM_CODE_PATTERN.fullmatch(item_code):
        raise VnpostError(MALFORMED, "item_code is not an S10 code", status)
    if data.get("sale_order_code") != client_reference:
        raise VnpostError(MALFORMED, "the answer names another sale_order_code", status)
    return CreatedOrder(item_code, client_reference)


def parse_order(status: int, body: bytes) -> OrderState:
    return _order(_answer(status, body), status)


def parse_history(status: int, body: bytes) -> tuple[CarrierEvent, ...]:
    data = _answer(status, body)
    _text(data, "item_code", status)
    return _events(data.get("events"), status)


def _order(data: Mapping[str, Any], status: int) -> OrderState:
    item_code = _text(data, "item_code", status)
    if not ITEM_CODE_PATTERN.fullmatch(item_code):
        raise VnpostError(MALFORMED, "item_code is not an S10 code", status)
    code = data.get("status")
    if type(code) is not int:
        raise VnpostError(MALFORMED, "status must be an integer", status)
    reference = _text(data, "sale_order_code", status)
    return OrderState(item_code, code, _events(data.get("events", []), status), reference)


def _events(raw: Any, status: int) -> tuple[CarrierEvent, ...]:
    if not isinstance(raw, list):
        raise VnpostError(MALFORMED, "events must be a list", status)
    events = []
    for item in raw:
        if not isinstance(item, dict) or type(item.get("status")) is not int:
            raise VnpostError(MALFORMED, "an event lacks an integer status", status)
        events.append(
            CarrierEvent(
                item["status"],
                parse_time(_text(item, "time", status), status),
                _optional_text(item, "location", status),
                _optional_text(item, "note", status),
            )
        )
    return tuple(events)


def parse_time(text: str, http_status: int | None = None) -> datetime:
    """VNPost's offset-less GMT+7 wall-clock time, as an aware datetime."""
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=ICT)
    except ValueError as exc:
        message = f"time must be dd/mm/yyyy hh:mm:ss, got {text!r}"
        raise VnpostError(MALFORMED, message, http_status) from exc


def format_time(at: datetime) -> str:
    return at.astimezone(ICT).strftime(TIME_FORMAT)


def _answer(status: int, body: bytes) -> dict[str, Any]:
    """The JSON object of a 2xx answer; an error answer becomes the matching error."""
    try:
        data = json_text.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if 200 <= status < 300:
        if not isinstance(data, dict):
            raise VnpostError(MALFORMED, "the answer is not a JSON object", status)
        return data
    code = data.get("code") if isinstance(data, dict) else None
    if status == 401:
        raise VnpostError(UNAUTHORIZED, "the carrier refused our credentials", status)
    if status == 404:
        raise VnpostError(NOT_FOUND, "no such order", status)
    if status == 409 and code == "DUPLICATE_REFERENCE":
        raise VnpostError(DUPLICATE_REFERENCE, "the reference already has an order", status)
    raise VnpostError(REJECTED, f"the carrier refused the request: {code}", status)


def _text(data: Mapping[str, Any], name: str, status: int | None = None) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise VnpostError(MALFORMED, f"{name} must be a non-empty string", status)
    return value


def _optional_text(data: Mapping[str, Any], name: str, status: int | None = None) -> str:
    value = data.get(name) or ""
    if not isinstance(value, str):
        raise VnpostError(MALFORMED, f"{name} must be a string", status)
    return value


# -- webhooks -----------------------------------------------------------------------------


def webhook_signature(key: bytes, item_code: str, status: int, time: str) -> str:
    message = f"{item_code}|{status}|{time}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def parse_webhook(key: bytes, signature: str | None, body: bytes) -> StatusWebhook:
    """Verify and parse a pushed status. A missing or wrong signature is ``unauthorized``;
    a signed push of the wrong shape is ``malformed``."""
    if not signature:
        raise VnpostError(UNAUTHORIZED, f"no {SIGNATURE_HEADER} header")
    try:
        data = json_text.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VnpostError(MALFORMED, "the webhook is not JSON") from exc
    if not isinstance(data, dict):
        raise VnpostError(MALFORMED, "the webhook is not a JSON object")
    item_code, time, code = data.get("item_code"), data.get("time"), data.get("status")
    if not isinstance(item_code, str) or not isinstance(time, str) or type(code) is not int:
        raise VnpostError(MALFORMED, "item_code, status and time are required")
    expected = webhook_signature(key, item_code, code, time)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise VnpostError(UNAUTHORIZED, "the webhook signature does not match")
    if not ITEM_CODE_PATTERN.fullmatch(item_code):
        raise VnpostError(MALFORMED, "item_code is not an S10 code")
    event = CarrierEvent(
        code, parse_time(time), _optional_text(data, "location"), _optional_text(data, "note")
    )
    return StatusWebhook(item_code, _optional_text(data, "sale_order_code"), event)
