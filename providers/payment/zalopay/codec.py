"""ZaloPay Open API v2 messages, pure: build requests, parse answers, MAC and verify.

Spec: ``specs/momo-zalopay.md`` §B.2: ``mac = lower-case hex HMAC-SHA256(key, fields joined
by "|")`` — key1 for our requests (the query's MAC has key1 inside its data too), key2 over
the callback's raw ``data`` string exactly as received. The field order of each message is
data (:data:`MAC_FIELDS`). §B.3: ``app_trans_id`` starts with the Vietnam-time ``yyMMdd``,
``app_time`` is epoch milliseconds; ``embed_data`` and ``item`` are JSON *strings*, signed
exactly as sent. §B.5: ``m_refund_id`` is ``yymmdd_appid_xxxxxxxxxx``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from providers.common import json_text

from .errors import INVALID_FIELD, MAC_INVALID, MALFORMED, UNKNOWN_APP, ZalopayError
from .settings import ZalopayApp

#: Vietnam time (UTC+7, no daylight saving): the ``yyMMdd`` of ids is a Vietnamese date.
VIETNAM: Final = timezone(timedelta(hours=7))
#: The fields each request's MAC covers, in order (``key1`` is the key itself).
MAC_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "create": ("app_id", "app_trans_id", "app_user", "amount", "app_time", "embed_data", "item"),
    "query": ("app_id", "app_trans_id", "key1"),
    "refund": ("app_id", "zp_trans_id", "amount", "description", "timestamp"),
    "query_refund": ("app_id", "m_refund_id", "timestamp"),
}
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
MAX_APP_TRANS_ID: Final = 40


def mac(key: str, *parts: object) -> str:
    data = "|".join("" if part is None else str(part) for part in parts)
    return hmac.new(key.encode(), data.encode("utf-8"), hashlib.sha256).hexdigest()


def _mac_of(app: ZalopayApp, message: str, body: Mapping[str, object]) -> str:
    key1 = app.key1.reveal()
    values = {**body, "key1": key1}
    return mac(key1, *(values.get(name) for name in MAC_FIELDS[message]))


def vietnam_day(at: datetime) -> str:
    """``yyMMdd`` of ``at`` in Vietnam (an aware datetime)."""
    if at.tzinfo is None:
        raise ZalopayError(INVALID_FIELD, "a timezone-aware time is needed")
    return at.astimezone(VIETNAM).strftime("%y%m%d")


def app_trans_id(created_at: datetime, suffix: str) -> str:
    """``yyMMdd_<suffix>``, at most 40 characters."""
    value = f"{vietnam_day(created_at)}_{suffix}"
    if len(value) > MAX_APP_TRANS_ID or not re.fullmatch(r"[0-9A-Za-z_]+", suffix):
        raise ZalopayError(INVALID_FIELD, f"app_trans_id {value!r} is not valid")
    return value


def m_refund_id(at: datetime, app_id: int, suffix: str) -> str:
    """``yymmdd_appid_xxxxxxxxxx``."""
    return f"{vietnam_day(at)}_{app_id}_{suffix}"


def epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


# -- requests (form fields, all text) -------------------------------------------------------


def create_request(
    app: ZalopayApp,
    *,
    trans_id: str,
    app_user: str,
    amount: int,
    app_time: datetime,
    description: str,
    redirect_url: str,
    callback_url: str,
    title: str = "",
) -> dict[str, str]:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ZalopayError(INVALID_FIELD, "amount is a positive integer of VND")
    body: dict[str, str] = {
        "app_id": str(app.app_id),
        "app_user": app_user,
        "app_trans_id": trans_id,
        "app_time": str(epoch_ms(app_time)),
        "amount": str(amount),
        "item": "[]",
        "embed_data": json.dumps({"redirecturl": redirect_url}, separators=(",", ":")),
        "description": description,
        "callback_url": callback_url,
    }
    if title:
        body["title"] = title
    body["mac"] = _mac_of(app, "create", body)
    return body


def query_request(app: ZalopayApp, *, trans_id: str) -> dict[str, str]:
    body = {"app_id": str(app.app_id), "app_trans_id": trans_id}
    return {**body, "mac": _mac_of(app, "query", body)}


def refund_request(
    app: ZalopayApp,
    *,
    refund_id: str,
    zp_trans_id: str,
    amount: int,
    description: str,
    timestamp: datetime,
) -> dict[str, str]:
    body = {
        "app_id": str(app.app_id),
        "m_refund_id": refund_id,
        "zp_trans_id": zp_trans_id,
        "amount": str(amount),
        "timestamp": str(epoch_ms(timestamp)),
        "description": description,
    }
    return {**body, "mac": _mac_of(app, "refund", body)}


def query_refund_request(app: ZalopayApp, *, refund_id: str, timestamp: datetime) -> dict[str, str]:
    body = {
        "app_id": str(app.app_id),
        "m_refund_id": refund_id,
        "timestamp": str(epoch_ms(timestamp)),
    }
    return {**body, "mac": _mac_of(app, "query_refund", body)}


# -- answers and the callback -------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """An answer of ``/v2/create``, ``/v2/query``, ``/v2/refund`` or ``/v2/query_refund``."""

    return_code: int
    sub_return_code: int | None
    return_message: str
    order_url: str | None = None
    amount: int | None = None
    zp_trans_id: str | None = None
    is_processing: bool = False
    refund_id: str | None = None


@dataclass(frozen=True)
class CallbackData:
    """What a verified callback's ``data`` says (ZaloPay calls back on success only)."""

    app_id: int
    app_trans_id: str
    amount: int
    zp_trans_id: str
    server_time_ms: int | None
    channel: int | None


def _int(data: Mapping[str, Any], name: str, *, required: bool = True) -> int | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ZalopayError(MALFORMED, f"{name} must be an integer")
    return value


def parse_json(raw: bytes | str) -> dict[str, Any]:
    try:
        data = json_text.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ZalopayError(MALFORMED, "not JSON") from None
    if not isinstance(data, dict):
        raise ZalopayError(MALFORMED, "not a JSON object")
    return data


def parse_answer(data: Mapping[str, Any]) -> Answer:
    code = _int(data, "return_code")
    assert code is not None
    zp_trans_id = data.get("zp_trans_id")
    refund_id = data.get("refund_id")
    url = data.get("order_url")
    message = data.get("return_message")
    return Answer(
        return_code=code,
        sub_return_code=_int(data, "sub_return_code", required=False),
        return_message=message if isinstance(message, str) else "",
        order_url=url if isinstance(url, str) else None,
        amount=_int(data, "amount", required=False),
        zp_trans_id=str(zp_trans_id) if zp_trans_id not in (None, "", 0) else None,
        is_processing=data.get("is_processing") is True,
        refund_id=str(refund_id) if refund_id not in (None, "", 0) else None,
    )


def verify_callback(raw: bytes, key2_for: Callable[[int], str | None]) -> tuple[CallbackData, str]:
    """Verify a callback body ``{"data": "<JSON string>", "mac": "<hex>", "type": 1}``: the
    MAC is key2's over ``data`` exactly as received, lower-case hex as ZaloPay sends it (an
    upper-cased one is refused), compared in constant time. Returns what ``data`` says and
    the raw ``data`` string (to store)."""
    body = parse_json(raw)
    data_text, given = body.get("data"), body.get("mac")
    if not isinstance(data_text, str):
        raise ZalopayError(MALFORMED, "data must be a JSON string")
    if body.get("type", 1) != 1:
        raise ZalopayError(MALFORMED, "only order callbacks (type 1) are taken")
    data = parse_json(data_text)  # read before it is verified only to find the app's key2
    app_id = _int(data, "app_id")
    assert app_id is not None
    key2 = key2_for(app_id)
    if key2 is None:
        raise ZalopayError(UNKNOWN_APP, f"no key2 for app {app_id}")
    if not isinstance(given, str) or not _HEX64.match(given):
        raise ZalopayError(MAC_INVALID, "mac is missing or not lower-case hex")
    expected = hmac.new(key2.encode(), data_text.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise ZalopayError(MAC_INVALID, "mac does not match")
    trans = data.get("app_trans_id")
    zp = data.get("zp_trans_id")
    amount = _int(data, "amount")
    if not isinstance(trans, str) or not trans or zp in (None, "") or amount is None:
        raise ZalopayError(MALFORMED, "app_trans_id, amount and zp_trans_id are required")
    return (
        CallbackData(
            app_id=app_id,
            app_trans_id=trans,
            amount=amount,
            zp_trans_id=str(zp),
            server_time_ms=_int(data, "server_time", required=False),
            channel=_int(data, "channel", required=False),
        ),
        data_text,
    )


def callback_reply(return_code: int, message: str) -> dict[str, object]:
    """The reply ZaloPay reads: 1 processed, 2 processed before (or not applicable), -1 MAC
    mismatch; ``return_message`` carries our stable code."""
    return {"return_code": return_code, "return_message": message}
