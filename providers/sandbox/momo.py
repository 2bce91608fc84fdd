"""MoMo's AIO v2 gateway, imitated (``specs/momo-zalopay.md`` §A): create, the payer's page,
IPN with redelivery, query and refund — every request's signature checked as MoMo does.

``POST /v2/gateway/api/create`` (``captureWallet``) answers ``payUrl`` → ``GET /pay?orderId=``
where the citizen picks an outcome: success (0), failure (1001, not enough money), cancel
(1006, the payer refused) or pending (7000: no IPN; the merchant must query). Completing
POSTs the signed IPN (JSON) to ``ipnUrl`` — MoMo wants HTTP 204, and resends otherwise every
``retry_seconds`` up to ``max_ipn_attempts`` in all — then redirects the browser to
``redirectUrl`` with the same signed fields. ``lose_ipn`` (config, or ``"lose_ipn": true`` in
``POST /simulate``) drops the IPN, as a lost one. ``POST /simulate {"order_id", "outcome"}``
completes without a browser; ``POST /resend_ipn {"order_id"}`` sends the IPN again;
``GET /transactions`` lists what it holds. One merchant per app; state is in memory. A test
loses refund answers with :class:`Switches` (the refund is made; MoMo's answer never comes).
"""

from __future__ import annotations

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

from providers.payment.momo.codec import SIGNED_FIELDS, raw_signature, sign
from providers.sandbox.pages import json_object, page
from providers.sandbox.redelivery import Background, redeliver

API: Final = "/v2/gateway/api"


@dataclass
class SandboxMomoConfig:
    partner_code: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    retry_seconds: float = 5.0
    max_ipn_attempts: int = 3
    #: Drop every IPN (a lost callback); the merchant must query.
    lose_ipn: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class Order:
    order_id: str
    request_id: str
    amount: int
    order_info: str
    redirect_url: str
    ipn_url: str
    extra_data: str
    result_code: int = 1000  # waiting for the payer
    message: str = "Giao dịch đang chờ người dùng xác nhận."
    trans_id: int = 0
    response_time: int = 0
    refunded: int = 0
    ipn_statuses: list[int] = field(default_factory=list)  # HTTP status per try, 0: none

    def as_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "amount": self.amount,
            "result_code": self.result_code,
            "trans_id": self.trans_id,
            "refunded": self.refunded,
            "ipn_statuses": self.ipn_statuses,
        }


@dataclass
class Switches:
    """What a test can turn on while the sandbox runs."""

    #: The next this many refunds are made, but their answer is lost (HTTP 503).
    lose_refund_answers: int = 0


CONFIG = web.AppKey("sandbox_momo_config", SandboxMomoConfig)
SWITCHES = web.AppKey("sandbox_momo_switches", Switches)
ORDERS = web.AppKey("sandbox_momo_orders", dict[str, Order])
REQUEST_IDS = web.AppKey("sandbox_momo_request_ids", set[str])
SESSION = web.AppKey("sandbox_momo_session", aiohttp.ClientSession)
BACKGROUND = web.AppKey("sandbox_momo_background", Background)

#: outcome → (resultCode, message)
OUTCOMES: Final[Mapping[str, tuple[int, str]]] = {
    "success": (0, "Thành công."),
    "failure": (1001, "Giao dịch thanh toán thất bại do tài khoản người dùng không đủ tiền."),
    "cancel": (1006, "Giao dịch thất bại do người dùng đã từ chối xác nhận thanh toán."),
    "pending": (7000, "Giao dịch đang được xử lý."),
}


def create_momo_app(config: SandboxMomoConfig) -> web.Application:
    app = web.Application()
    app[CONFIG] = config
    app[ORDERS] = {}
    app[REQUEST_IDS] = set()
    app[SWITCHES] = Switches()
    app[BACKGROUND] = Background()
    app.cleanup_ctx.append(_session)
    app.router.add_post(f"{API}/create", create)
    app.router.add_post(f"{API}/query", query)
    app.router.add_post(f"{API}/refund", refund)
    app.router.add_get("/pay", payment_page)
    app.router.add_post("/complete", complete)
    app.router.add_post("/simulate", simulate)
    app.router.add_post("/resend_ipn", resend_ipn)
    app.router.add_get("/transactions", transactions)
    return app


async def _session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        app[SESSION] = session
        yield
        await app[BACKGROUND].cancel()


def _now_ms(app: web.Application) -> int:
    return int(app[CONFIG].clock().timestamp() * 1000)


def _answer(app: web.Application, body: Mapping[str, Any], code: int, **extra: Any) -> web.Response:
    messages = {
        0: "Thành công.",
        13: "Xác thực doanh nghiệp thất bại.",
        20: "Sai định dạng.",
        40: "RequestId bị trùng.",
        41: "OrderId bị trùng.",
        42: "OrderId không tồn tại.",
        1081: "Số tiền hoàn vượt quá số tiền được hoàn.",
        1088: "Không được hoàn tiền.",
    }
    return web.json_response(
        {
            "partnerCode": app[CONFIG].partner_code,
            "orderId": body.get("orderId", ""),
            "requestId": body.get("requestId", ""),
            "resultCode": code,
            "message": messages.get(code, ""),
            "responseTime": _now_ms(app),
            **extra,
        }
    )


async def _signed_body(request: web.Request, message: str) -> tuple[dict[str, Any], int | None]:
    """The JSON body and ``None``, or a MoMo error code: 20 format, 13 authentication."""
    config = request.app[CONFIG]
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}, 20
    if not isinstance(body, dict):
        return {}, 20
    if body.get("partnerCode") != config.partner_code:
        return body, 13
    fields = {**body, "accessKey": config.access_key}
    expected = sign(config.secret_key, raw_signature(fields, SIGNED_FIELDS[message]))
    if not secrets.compare_digest(expected, str(body.get("signature", ""))):
        return body, 13
    return body, None


async def create(request: web.Request) -> web.Response:
    app = request.app
    body, error = await _signed_body(request, "create")
    if error is not None:
        return _answer(app, body, error)
    amount = body.get("amount")
    if (
        body.get("requestType") != "captureWallet"
        or isinstance(amount, bool)
        or not isinstance(amount, int)
        or not 1000 <= amount <= 50_000_000
        or "?" in str(body.get("ipnUrl", ""))
    ):
        return _answer(app, body, 20 if not isinstance(amount, int) else 22)
    if body["requestId"] in app[REQUEST_IDS]:
        return _answer(app, body, 40)
    if body["orderId"] in app[ORDERS]:
        return _answer(app, body, 41)
    app[REQUEST_IDS].add(body["requestId"])
    order = Order(
        order_id=body["orderId"],
        request_id=body["requestId"],
        amount=amount,
        order_info=str(body.get("orderInfo", "")),
        redirect_url=str(body.get("redirectUrl", "")),
        ipn_url=str(body.get("ipnUrl", "")),
        extra_data=str(body.get("extraData", "")),
    )
    app[ORDERS][order.order_id] = order
    base = str(request.url).rsplit(f"{API}/create", 1)[0]
    pay_url = f"{base}/pay?{urlencode({'orderId': order.order_id})}"
    return _answer(app, body, 0, amount=amount, payUrl=pay_url, deeplink=pay_url, qrCodeUrl=pay_url)


async def query(request: web.Request) -> web.Response:
    app = request.app
    body, error = await _signed_body(request, "query")
    if error is not None:
        return _answer(app, body, error)
    order = app[ORDERS].get(str(body.get("orderId")))
    if order is None:
        return _answer(app, body, 42)
    return _answer(
        app,
        body,
        order.result_code,
        amount=order.amount,
        transId=order.trans_id,
        payType="qr" if order.trans_id else "",
        extraData=order.extra_data,
        lastUpdated=order.response_time or _now_ms(app),
    )


async def refund(request: web.Request) -> web.Response:
    app = request.app
    body, error = await _signed_body(request, "refund")
    if error is not None:
        return _answer(app, body, error)
    order = app[ORDERS].get(str(body.get("orderId")))
    amount = body.get("amount")
    if order is None or body.get("transId") != order.trans_id or order.result_code != 0:
        return _answer(app, body, 1088 if order is not None else 42)
    if body.get("requestId") in app[REQUEST_IDS]:
        return _answer(app, body, 40)
    app[REQUEST_IDS].add(str(body.get("requestId")))
    if not isinstance(amount, int) or amount <= 0 or order.refunded + amount > order.amount:
        return _answer(app, body, 1081)
    order.refunded += amount
    if app[SWITCHES].lose_refund_answers > 0:
        app[SWITCHES].lose_refund_answers -= 1
        return web.Response(status=503, text="answer lost by the sandbox")
    return _answer(app, body, 0, amount=amount, transId=secrets.randbelow(10**10) + 10**10)


# -- the payer's page -------------------------------------------------------------------------


async def payment_page(request: web.Request) -> web.Response:
    order = request.app[ORDERS].get(request.query.get("orderId", ""))
    if order is None:
        return page("Lỗi", "<p>Không tìm thấy đơn hàng</p>", 404)
    buttons = "".join(
        f'<form method="post" action="complete"><input type="hidden" name="order_id" '
        f'value="{html.escape(order.order_id)}"><button name="outcome" value="{outcome}">'
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
        "<h1>Ví MoMo (sandbox)</h1>"
        f'<p>Số tiền: <strong class="amount">{amount} VND</strong></p>'
        f'<p>Nội dung: <span class="order-info">{html.escape(order.order_info)}</span></p>'
        f"<p>Mã đơn hàng: {html.escape(order.order_id)}</p>{buttons}"
    )
    return page("Thanh toán MoMo", body)


async def complete(request: web.Request) -> web.Response:
    form = await request.post()
    order = request.app[ORDERS].get(str(form.get("order_id")))
    outcome = str(form.get("outcome"))
    if order is None or outcome not in OUTCOMES:
        return page("Lỗi", "<p>Không tìm thấy đơn hàng</p>", 404)
    if order.result_code not in (1000, 7000):
        return page("Lỗi", "<p>Giao dịch đã được xử lý</p>", 409)
    await _finish(request.app, order, outcome, lose_ipn=request.app[CONFIG].lose_ipn)
    raise web.HTTPFound(_redirect(request.app, order))


async def simulate(request: web.Request) -> web.Response:
    data = await json_object(request)
    order = request.app[ORDERS].get(str(data.get("order_id")))
    outcome = str(data.get("outcome"))
    if order is None:
        return web.json_response({"code": "unknown_order"}, status=404)
    if outcome not in OUTCOMES:
        return web.json_response({"code": "invalid_outcome"}, status=422)
    if order.result_code not in (1000, 7000):
        return web.json_response({"code": "already_completed"}, status=409)
    lose = bool(data.get("lose_ipn")) or request.app[CONFIG].lose_ipn
    await _finish(request.app, order, outcome, lose_ipn=lose)
    return web.json_response({**order.as_json(), "redirect_url": _redirect(request.app, order)})


async def resend_ipn(request: web.Request) -> web.Response:
    data = await json_object(request)
    order = request.app[ORDERS].get(str(data.get("order_id")))
    if order is None or order.result_code == 1000:
        return web.json_response({"code": "unknown_order"}, status=404)
    await _attempt(request.app, order)
    return web.json_response(order.as_json())


async def transactions(request: web.Request) -> web.Response:
    return web.json_response([order.as_json() for order in request.app[ORDERS].values()])


async def _finish(app: web.Application, order: Order, outcome: str, *, lose_ipn: bool) -> None:
    order.result_code, order.message = OUTCOMES[outcome]
    order.response_time = _now_ms(app)
    if outcome != "cancel":
        order.trans_id = order.trans_id or 4_000_000_000 + secrets.randbelow(10**9)
    if outcome == "pending" or lose_ipn:
        return  # no IPN: the merchant has /query
    if not await _attempt(app, order) and app[CONFIG].max_ipn_attempts > 1:
        app[BACKGROUND].start(_retry(app, order))


async def _retry(app: web.Application, order: Order) -> None:
    config = app[CONFIG]
    await redeliver(
        lambda: _attempt(app, order),
        tries=config.max_ipn_attempts - 1,
        interval=config.retry_seconds,
    )


def ipn_body(config: SandboxMomoConfig, order: Order) -> dict[str, Any]:
    """The signed IPN (and redirect) fields of ``order``'s result."""
    fields: dict[str, Any] = {
        "partnerCode": config.partner_code,
        "orderId": order.order_id,
        "requestId": order.request_id,
        "amount": order.amount,
        "orderInfo": order.order_info,
        "orderType": "momo_wallet",
        "transId": order.trans_id,
        "resultCode": order.result_code,
        "message": order.message,
        "payType": "qr" if order.trans_id else "",
        "responseTime": order.response_time,
        "extraData": order.extra_data,
    }
    raw = raw_signature({**fields, "accessKey": config.access_key}, SIGNED_FIELDS["ipn"])
    return {**fields, "signature": sign(config.secret_key, raw)}


async def _attempt(app: web.Application, order: Order) -> bool:
    status = 0
    try:
        async with app[SESSION].post(order.ipn_url, json=ipn_body(app[CONFIG], order)) as answer:
            status = answer.status
            await answer.read()
    except (aiohttp.ClientError, TimeoutError):
        pass
    order.ipn_statuses.append(status)
    return status == 204


def _redirect(app: web.Application, order: Order) -> str:
    separator = "&" if "?" in order.redirect_url else "?"
    params = {key: str(value) for key, value in ipn_body(app[CONFIG], order).items()}
    return f"{order.redirect_url}{separator}{urlencode(params)}"
