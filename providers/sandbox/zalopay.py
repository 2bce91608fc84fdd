"""ZaloPay's Open API v2, imitated (``specs/momo-zalopay.md`` §B): create order, the payer's
page, the callback (success only, at most 3 tries), query, refund and refund query — every
request's MAC checked with key1, callbacks signed with key2.

``POST /v2/create`` (form or JSON) checks the MAC, ``app_id``, the ``yyMMdd`` (Vietnam time)
prefix of ``app_trans_id`` and that ``app_time`` is within 15 minutes of its clock; an
existing ``app_trans_id`` is answered 2/-68. ``order_url`` → ``GET /pay?apptransid=`` where
the citizen picks: success (1, callback sent), failure (2, -54), cancel (2, -329) or pending
(3, nothing sent). ``lose_callbacks`` (config, or ``"lose_callback": true`` in ``POST
/simulate``) drops the callback. ``/v2/refund`` answers 3 (processing) and
``/v2/query_refund`` then 1 (or 3 for the next ``Switches.processing_refund_queries``
queries: a bank still at work). ``GET /transactions`` lists the orders. State is in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from providers.payment.zalopay.codec import MAC_FIELDS, mac, vietnam_day
from providers.sandbox.pages import json_object, page
from providers.sandbox.redelivery import Background, redeliver

#: ``app_time`` may differ from ZaloPay's clock by at most this much (spec §B.3).
APP_TIME_SKEW_MS: Final = 15 * 60 * 1000


@dataclass
class SandboxZalopayConfig:
    app_id: int
    key1: str = field(repr=False)
    key2: str = field(repr=False)
    retry_seconds: float = 5.0
    max_callback_attempts: int = 3
    lose_callbacks: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class Order:
    app_trans_id: str
    app_user: str
    app_time: int
    amount: int
    description: str
    embed_data: str
    item: str
    callback_url: str
    return_code: int = 3  # not paid yet
    sub_return_code: int = 3
    zp_trans_id: int = 0
    server_time: int = 0
    refunded: int = 0
    callback_replies: list[int | None] = field(default_factory=list)  # return_code per try

    def as_json(self) -> dict[str, Any]:
        return {
            "app_trans_id": self.app_trans_id,
            "amount": self.amount,
            "return_code": self.return_code,
            "sub_return_code": self.sub_return_code,
            "zp_trans_id": self.zp_trans_id,
            "refunded": self.refunded,
            "callback_replies": self.callback_replies,
        }


@dataclass
class Switches:
    """What a test can turn on while the sandbox runs."""

    #: The next this many refund queries answer 3 (processing) instead of 1.
    processing_refund_queries: int = 0


CONFIG = web.AppKey("sandbox_zalopay_config", SandboxZalopayConfig)
SWITCHES = web.AppKey("sandbox_zalopay_switches", Switches)
ORDERS = web.AppKey("sandbox_zalopay_orders", dict[str, Order])
REFUNDS = web.AppKey("sandbox_zalopay_refunds", dict[str, int])
SESSION = web.AppKey("sandbox_zalopay_session", aiohttp.ClientSession)
BACKGROUND = web.AppKey("sandbox_zalopay_background", Background)

#: outcome → (return_code, sub_return_code)
OUTCOMES: Final[Mapping[str, tuple[int, int]]] = {
    "success": (1, 1),
    "failure": (2, -54),  # the payer's balance was not enough (sandbox's choice of code)
    "cancel": (2, -329),  # the payer cancelled
    "pending": (3, 3),
}


def create_zalopay_app(config: SandboxZalopayConfig) -> web.Application:
    app = web.Application()
    app[CONFIG] = config
    app[ORDERS] = {}
    app[REFUNDS] = {}
    app[SWITCHES] = Switches()
    app[BACKGROUND] = Background()
    app.cleanup_ctx.append(_session)
    app.router.add_post("/v2/create", create)
    app.router.add_post("/v2/query", query)
    app.router.add_post("/v2/refund", refund)
    app.router.add_post("/v2/query_refund", query_refund)
    app.router.add_get("/pay", payment_page)
    app.router.add_post("/complete", complete)
    app.router.add_post("/simulate", simulate)
    app.router.add_get("/transactions", transactions)
    return app


async def _session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        app[SESSION] = session
        yield
        await app[BACKGROUND].cancel()


def _now_ms(app: web.Application) -> int:
    return int(app[CONFIG].clock().timestamp() * 1000)


def _reply(return_code: int, sub: int, message: str, **extra: Any) -> web.Response:
    return web.json_response(
        {
            "return_code": return_code,
            "return_message": message,
            "sub_return_code": sub,
            "sub_return_message": message,
            **extra,
        }
    )


async def _fields(request: web.Request, message: str) -> tuple[dict[str, str], bool]:
    """The request's fields (form or JSON, as text) and whether its key1 MAC is right."""
    config = request.app[CONFIG]
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}, False
        fields = {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    else:
        fields = {k: str(v) for k, v in (await request.post()).items()}
    values = {**fields, "key1": config.key1}
    expected = mac(config.key1, *(values.get(name, "") for name in MAC_FIELDS[message]))
    ok = fields.get("app_id") == str(config.app_id) and secrets.compare_digest(
        expected, fields.get("mac", "")
    )
    return fields, ok


async def create(request: web.Request) -> web.Response:
    app = request.app
    fields, ok = await _fields(request, "create")
    if not ok:
        return _reply(2, -402, "Ứng dụng hoặc chữ ký không hợp lệ")
    try:
        amount, app_time = int(fields["amount"]), int(fields["app_time"])
        json.loads(fields["embed_data"])
        json.loads(fields["item"])
    except (KeyError, ValueError):
        return _reply(2, -401, "Dữ liệu yêu cầu không hợp lệ")
    trans_id = fields.get("app_trans_id", "")
    now = _now_ms(app)
    today = vietnam_day(app[CONFIG].clock())
    if not trans_id.startswith(f"{today}_") or len(trans_id) > 40 or amount <= 0:
        return _reply(2, -401, "app_trans_id phải bắt đầu bằng ngày yyMMdd (giờ Việt Nam)")
    if abs(now - app_time) > APP_TIME_SKEW_MS:
        return _reply(2, -401, "app_time lệch quá 15 phút")
    if trans_id in app[ORDERS]:
        return _reply(2, -68, "Đơn hàng đã tồn tại")
    app[ORDERS][trans_id] = Order(
        app_trans_id=trans_id,
        app_user=fields.get("app_user", ""),
        app_time=app_time,
        amount=amount,
        description=fields.get("description", ""),
        embed_data=fields["embed_data"],
        item=fields["item"],
        callback_url=fields.get("callback_url", ""),
    )
    base = str(request.url).rsplit("/v2/create", 1)[0]
    order_url = f"{base}/pay?{urlencode({'apptransid': trans_id})}"
    return _reply(
        1,
        1,
        "Giao dịch thành công",
        order_url=order_url,
        zp_trans_token=secrets.token_hex(8),
        order_token=secrets.token_hex(8),
    )


async def query(request: web.Request) -> web.Response:
    fields, ok = await _fields(request, "query")
    if not ok:
        return _reply(-402, -402, "Chữ ký không hợp lệ")
    order = request.app[ORDERS].get(fields.get("app_trans_id", ""))
    if order is None:
        return _reply(2, -401, "Giao dịch không tồn tại")
    return _reply(
        order.return_code,
        order.sub_return_code,
        "Giao dịch thành công" if order.return_code == 1 else "Giao dịch chưa hoàn tất",
        is_processing=False,
        amount=order.amount if order.return_code == 1 else 0,
        zp_trans_id=order.zp_trans_id,
        server_time=order.server_time,
    )


async def refund(request: web.Request) -> web.Response:
    fields, ok = await _fields(request, "refund")
    if not ok:
        return _reply(2, -402, "Chữ ký không hợp lệ")
    order = next(
        (
            o
            for o in request.app[ORDERS].values()
            if str(o.zp_trans_id) == fields.get("zp_trans_id")
        ),
        None,
    )
    try:
        amount = int(fields.get("amount", ""))
    except ValueError:
        return _reply(2, -401, "Dữ liệu yêu cầu không hợp lệ")
    refund_id = fields.get("m_refund_id", "")
    if order is None or order.return_code != 1:
        return _reply(2, -13, "Giao dịch không được hoàn tiền")
    if refund_id in request.app[REFUNDS]:
        return _reply(3, 1, "Đang xử lý", refund_id=request.app[REFUNDS][refund_id])
    if amount <= 0 or order.refunded + amount > order.amount:
        return _reply(2, -14, "Số tiền hoàn vượt quá số tiền được hoàn")
    order.refunded += amount
    request.app[REFUNDS][refund_id] = secrets.randbelow(10**10) + 10**10
    return _reply(3, 1, "Đang xử lý", refund_id=request.app[REFUNDS][refund_id])


async def query_refund(request: web.Request) -> web.Response:
    fields, ok = await _fields(request, "query_refund")
    if not ok:
        return _reply(2, -402, "Chữ ký không hợp lệ")
    refund_id = request.app[REFUNDS].get(fields.get("m_refund_id", ""))
    if refund_id is None:
        return _reply(2, -401, "Không tìm thấy yêu cầu hoàn tiền")
    switches = request.app[SWITCHES]
    if switches.processing_refund_queries > 0:
        switches.processing_refund_queries -= 1
        return _reply(3, 1, "Đang xử lý", refund_id=refund_id)
    return _reply(1, -101, "Hoàn tiền thành công", refund_id=refund_id)


# -- the payer's page -------------------------------------------------------------------------


async def payment_page(request: web.Request) -> web.Response:
    order = request.app[ORDERS].get(request.query.get("apptransid", ""))
    if order is None:
        return page("Lỗi", "<p>Không tìm thấy đơn hàng</p>", 404)
    buttons = "".join(
        f'<form method="post" action="complete"><input type="hidden" name="app_trans_id" '
        f'value="{html.escape(order.app_trans_id)}"><button name="outcome" value="{outcome}">'
        f"{label}</button></form>"
        for outcome, label in (
            ("success", "Xác nhận thanh toán"),
            ("failure", "Thanh toán thất bại"),
            ("cancel", "Hủy giao dịch"),
            ("pending", "Để giao dịch chờ xử lý"),
        )
    )
    amount = f"{order.amount:,}".replace(",", ".")
    body = (
        "<h1>ZaloPay (sandbox)</h1>"
        f'<p>Số tiền: <strong class="amount">{amount} VND</strong></p>'
        f'<p>Nội dung: <span class="order-info">{html.escape(order.description)}</span></p>'
        f"<p>Mã đơn hàng: {html.escape(order.app_trans_id)}</p>{buttons}"
    )
    return page("Thanh toán ZaloPay", body)


async def complete(request: web.Request) -> web.Response:
    form = await request.post()
    order = request.app[ORDERS].get(str(form.get("app_trans_id")))
    outcome = str(form.get("outcome"))
    if order is None or outcome not in OUTCOMES:
        return page("Lỗi", "<p>Không tìm thấy đơn hàng</p>", 404)
    if order.return_code != 3:
        return page("Lỗi", "<p>Giao dịch đã được xử lý</p>", 409)
    await _finish(request.app, order, outcome, lose=request.app[CONFIG].lose_callbacks)
    raise web.HTTPFound(_redirect(request.app, order))


async def simulate(request: web.Request) -> web.Response:
    data = await json_object(request)
    order = request.app[ORDERS].get(str(data.get("app_trans_id")))
    outcome = str(data.get("outcome"))
    if order is None:
        return web.json_response({"code": "unknown_order"}, status=404)
    if outcome not in OUTCOMES:
        return web.json_response({"code": "invalid_outcome"}, status=422)
    if order.return_code != 3:
        return web.json_response({"code": "already_completed"}, status=409)
    lose = bool(data.get("lose_callback")) or request.app[CONFIG].lose_callbacks
    await _finish(request.app, order, outcome, lose=lose)
    return web.json_response({**order.as_json(), "redirect_url": _redirect(request.app, order)})


async def transactions(request: web.Request) -> web.Response:
    return web.json_response([order.as_json() for order in request.app[ORDERS].values()])


async def _finish(app: web.Application, order: Order, outcome: str, *, lose: bool) -> None:
    order.return_code, order.sub_return_code = OUTCOMES[outcome]
    order.server_time = _now_ms(app)
    if outcome != "success":
        return  # ZaloPay calls back on success only
    order.zp_trans_id = 240_000_000_000 + secrets.randbelow(10**9)
    if lose:
        return
    if not await _attempt(app, order) and app[CONFIG].max_callback_attempts > 1:
        app[BACKGROUND].start(_retry(app, order))


async def _retry(app: web.Application, order: Order) -> None:
    config = app[CONFIG]
    await redeliver(
        lambda: _attempt(app, order),
        tries=min(config.max_callback_attempts, 3) - 1,
        interval=config.retry_seconds,
    )


def callback_body(config: SandboxZalopayConfig, order: Order) -> dict[str, Any]:
    data = json.dumps(
        {
            "app_id": config.app_id,
            "app_trans_id": order.app_trans_id,
            "app_time": order.app_time,
            "app_user": order.app_user,
            "amount": order.amount,
            "embed_data": order.embed_data,
            "item": order.item,
            "zp_trans_id": order.zp_trans_id,
            "server_time": order.server_time,
            "channel": 38,
            "merchant_user_id": "",
            "user_fee_amount": 0,
            "discount_amount": 0,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    signature = hmac.new(config.key2.encode(), data.encode(), hashlib.sha256).hexdigest()
    return {"data": data, "mac": signature, "type": 1}


async def _attempt(app: web.Application, order: Order) -> bool:
    code: int | None = None
    try:
        body = callback_body(app[CONFIG], order)
        async with app[SESSION].post(order.callback_url, json=body) as answer:
            reply = json.loads(await answer.read())
            if isinstance(reply, dict) and isinstance(reply.get("return_code"), int):
                code = reply["return_code"]
    except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError, json.JSONDecodeError):
        pass
    order.callback_replies.append(code)
    return code in (1, 2)  # 0 (or no answer): try again


def _redirect(app: web.Application, order: Order) -> str:
    """The browser goes back to ``embed_data.redirecturl`` with a key2 checksum."""
    config = app[CONFIG]
    try:
        url = str(json.loads(order.embed_data).get("redirecturl") or "")
    except (ValueError, AttributeError):
        url = ""
    status = 1 if order.return_code == 1 else -49 if order.return_code == 2 else 3
    params = {
        "appid": str(config.app_id),
        "apptransid": order.app_trans_id,
        "pmcid": "38",
        "bankcode": "",
        "amount": str(order.amount),
        "discountamount": "0",
        "status": str(status),
    }
    params["checksum"] = mac(config.key2, *params.values())
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{urlencode(params)}"
