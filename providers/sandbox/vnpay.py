"""VNPAY's payment gateway, imitated: payment page, IPN with redelivery, querydr and refund.

``GET /paymentv2/vpcpay.html?vnp_...`` checks the request as VNPAY does (terminal, then
signature, then format, then expiry) and answers a VNPAY-like HTML error page with HTTP 400
(``72`` unknown website, ``70`` bad signature, ``03`` bad format, ``11`` expired, ``01``
transaction already exists), or a payment page with buttons that ``POST
/paymentv2/complete`` (form ``txn_ref``, ``outcome`` = success | failure | cancel).
Completing sends the signed IPN to ``ipn_url`` (GET), first attempt before answering;
VNPAY stops on a JSON body whose ``RspCode`` is ``00`` or ``02`` and otherwise retries every
``retry_seconds`` up to ``max_ipn_attempts`` in all. Then the browser is redirected (302) to
vnp_ReturnUrl with the same signed parameters.
``POST /paymentv2/simulate`` ``{"txn_ref", "outcome"}`` does the same without a browser and
answers JSON; ``POST /paymentv2/resend_ipn`` ``{"txn_ref"}`` sends the IPN again (a duplicate).
``POST /merchant_webapi/api/transaction`` serves ``querydr`` and ``refund`` (pipe-joined
request hash; signed answers: 00, 02, 03, 04, 91, 93, 94, 95, 97 as VNPAY documents them).
A refund it accepts is kept in status ``05`` (VNPAY processing it); once a payment has a
refund, ``querydr`` answers about its latest refund (``vnp_TransactionType`` 02/03, the
refund's amount, status and its own ``vnp_TransactionNo``, given when it was accepted:
specs/vnpay-reference.md §3.4 — whether VNPAY numbers a refund apart from its payment is
[U]), as the janitor's refund query expects. A test moves a refund on
(``Transaction.refunds[i].status = "06"`` or ``"09"``) and loses answers with
:class:`Switches`.
``GET /transactions`` lists what it holds. One terminal per app; state is in memory.
"""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp
from aiohttp import web
from yarl import URL

from providers.payment.vnpay import VnpayError
from providers.payment.vnpay.codec import (
    QUERYDR_REQUEST_FIELDS,
    QUERYDR_RESPONSE_FIELDS,
    REFUND_REQUEST_FIELDS,
    REFUND_RESPONSE_FIELDS,
    VERSION,
    pipe_hash,
    verify_pipe_hash,
)
from providers.payment.vnpay.wire import (
    format_date,
    from_wire_amount,
    parse_date,
    signed_query,
    verify_query,
)
from providers.sandbox.pages import json_object, page
from providers.sandbox.redelivery import Background, redeliver


@dataclass
class SandboxVnpayConfig:
    tmn_code: str
    hash_secret: str = field(repr=False)
    ipn_url: str
    # VNPAY waits minutes between IPN attempts; the default is short for the demo.
    retry_seconds: float = 5.0
    max_ipn_attempts: int = 10
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class IpnAttempt:
    http_status: int  # 0 = no answer
    rsp_code: str | None  # RspCode of a JSON answer, else None

    @property
    def accepted(self) -> bool:
        return self.rsp_code in ("00", "02")


@dataclass
class Refund:
    """A refund VNPAY accepted: ``vnp_TransactionType`` 02 (full) or 03 (partial)."""

    kind: str
    amount_vnd: int
    #: The refund's own ``vnp_TransactionNo`` (in its answer and in querydr about it).
    transaction_no: str = ""
    status: str = "05"  # VNPAY đang xử lý; 06 sent to the bank; 09 declined


@dataclass
class Switches:
    """What a test can turn on while the sandbox runs."""

    #: The next this many refunds are made, but their answer is lost (HTTP 503).
    lose_refund_answers: int = 0
    #: The next this many refund requests are dropped unseen (HTTP 503, nothing refunded).
    drop_refund_requests: int = 0


@dataclass
class Transaction:
    tmn_code: str
    txn_ref: str
    amount_vnd: int
    order_info: str
    create_date: str  # vnp_CreateDate as sent; querydr/refund must quote it
    return_url: str
    bank_code: str
    response_code: str = ""
    status: str = "01"  # vnp_TransactionStatus: 01 = not finished
    transaction_no: str = ""
    pay_date: str = ""
    refunded_vnd: int = 0
    refunds: list[Refund] = field(default_factory=list)
    ipn_attempts: list[IpnAttempt] = field(default_factory=list)

    def result_params(self) -> dict[str, str]:
        """The parameters of the IPN and of the return URL (VNPAY signs both alike)."""
        params = {
            "vnp_Amount": str(self.amount_vnd * 100),
            "vnp_BankCode": self.bank_code,
            "vnp_OrderInfo": self.order_info,
            "vnp_PayDate": self.pay_date,
            "vnp_ResponseCode": self.response_code,
            "vnp_TmnCode": self.tmn_code,
            "vnp_TransactionNo": self.transaction_no,
            "vnp_TransactionStatus": self.status,
            "vnp_TxnRef": self.txn_ref,
        }
        if self.response_code != "24":  # a cancelled payment never reached a bank
            params |= {"vnp_BankTranNo": f"VNP{self.transaction_no}", "vnp_CardType": "ATM"}
        return params

    def as_json(self) -> dict[str, Any]:
        return {
            "tmn_code": self.tmn_code,
            "txn_ref": self.txn_ref,
            "amount_vnd": self.amount_vnd,
            "order_info": self.order_info,
            "create_date": self.create_date,
            "response_code": self.response_code,
            "transaction_status": self.status,
            "transaction_no": self.transaction_no,
            "refunded_vnd": self.refunded_vnd,
            "refundable_vnd": self.amount_vnd - self.refunded_vnd if self.status == "00" else 0,
            "refunds": [
                {
                    "kind": r.kind,
                    "amount_vnd": r.amount_vnd,
                    "transaction_no": r.transaction_no,
                    "status": r.status,
                }
                for r in self.refunds
            ],
            "ipn_attempts": [
                {"http_status": a.http_status, "rsp_code": a.rsp_code} for a in self.ipn_attempts
            ],
        }


CONFIG = web.AppKey("sandbox_vnpay_config", SandboxVnpayConfig)
TRANSACTIONS = web.AppKey("sandbox_vnpay_transactions", dict[tuple[str, str], Transaction])
REQUEST_IDS = web.AppKey("sandbox_vnpay_request_ids", set[tuple[str, str]])
SWITCHES = web.AppKey("sandbox_vnpay_switches", Switches)
SESSION = web.AppKey("sandbox_vnpay_session", aiohttp.ClientSession)
REDELIVERIES = web.AppKey("sandbox_vnpay_redeliveries", Background)

# outcome -> (vnp_ResponseCode, vnp_TransactionStatus)
OUTCOMES: Final[Mapping[str, tuple[str, str]]] = {
    "success": ("00", "00"),
    "failure": ("51", "02"),  # Tài khoản không đủ số dư
    "cancel": ("24", "02"),  # Khách hàng hủy giao dịch
}
PAGE_ERRORS: Final[Mapping[str, str]] = {
    "01": "Giao dịch đã tồn tại",
    "03": "Dữ liệu gửi sang không đúng định dạng",
    "11": "Giao dịch đã quá thời gian chờ thanh toán",
    "70": "Sai chữ ký",
    "72": "Không tìm thấy website",
}
API_MESSAGES: Final[Mapping[str, str]] = {
    "00": "Success",
    "02": "Refund amount exceeds the amount left to refund",
    "03": "Invalid data format",
    "04": "Full refund not allowed after a partial refund",
    "91": "Transaction not found",
    "93": "Invalid refund amount",
    "94": "Duplicate request",
    "95": "Transaction is not successful at VNPAY",
    "97": "Invalid Checksum",
}


def create_vnpay_app(config: SandboxVnpayConfig) -> web.Application:
    app = web.Application()
    app[CONFIG] = config
    app[TRANSACTIONS] = {}
    app[REQUEST_IDS] = set()
    app[SWITCHES] = Switches()
    app[REDELIVERIES] = Background()
    app.cleanup_ctx.append(_session)
    app.router.add_get("/paymentv2/vpcpay.html", payment_page)
    app.router.add_post("/paymentv2/complete", complete)
    app.router.add_post("/paymentv2/simulate", simulate)
    app.router.add_post("/paymentv2/resend_ipn", resend_ipn)
    app.router.add_post("/merchant_webapi/api/transaction", transaction_api)
    app.router.add_get("/transactions", list_transactions)
    return app


async def _session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        app[SESSION] = session
        yield
        await app[REDELIVERIES].cancel()


# -- the payer's browser ---------------------------------------------------------------------


def _error_page(code: str, status: int = 400) -> web.Response:
    message = html.escape(PAGE_ERRORS[code])
    body = f'<h1>Thông báo</h1><p class="error" data-code="{code}">{message} (mã lỗi: {code})</p>'
    return page(f"Lỗi {code}", body, status)


async def payment_page(request: web.Request) -> web.Response:
    config, query = request.app[CONFIG], request.query
    if query.get("vnp_TmnCode") != config.tmn_code:
        return _error_page("72")
    if not verify_query(config.hash_secret, query):
        return _error_page("70")
    try:
        txn = _transaction_from_query(query, config)
    except (VnpayError, KeyError):
        return _error_page("03")
    if config.clock() > parse_date(query["vnp_ExpireDate"], "vnp_ExpireDate"):
        return _error_page("11")
    key = (txn.tmn_code, txn.txn_ref)
    known = request.app[TRANSACTIONS].get(key)
    if known is not None and (known.status != "01" or known.amount_vnd != txn.amount_vnd):
        return _error_page("01")
    request.app[TRANSACTIONS][key] = txn
    amount = f"{txn.amount_vnd:,}".replace(",", ".")
    buttons = "".join(
        f'<form method="post" action="complete"><input type="hidden" name="txn_ref" '
        f'value="{html.escape(txn.txn_ref)}"><button name="outcome" value="{outcome}">'
        f"{label}</button></form>"
        for outcome, label in (
            ("success", "Thanh toán thành công"),
            ("failure", "Thanh toán thất bại"),
            ("cancel", "Hủy giao dịch"),
        )
    )
    body = (
        "<h1>Cổng thanh toán VNPAY (sandbox)</h1>"
        f'<p>Số tiền: <strong class="amount">{amount} VND</strong></p>'
        f'<p>Nội dung: <span class="order-info">{html.escape(txn.order_info)}</span></p>'
        f"<p>Mã giao dịch: {html.escape(txn.txn_ref)}</p>{buttons}"
    )
    return page("Thanh toán VNPAY", body)


def _transaction_from_query(query: Mapping[str, str], config: SandboxVnpayConfig) -> Transaction:
    """Check the format as VNPAY does; raise VnpayError or KeyError if anything is off."""
    names = [name for name, _ in query.items()]  # a MultiDict's keys() hides repeats
    fixed = {"vnp_Version": VERSION, "vnp_Command": "pay", "vnp_CurrCode": "VND"}
    if len(names) != len(set(names)) or any(query.get(k) != v for k, v in fixed.items()):
        raise KeyError("vnp_Version/vnp_Command/vnp_CurrCode")
    for name in ("vnp_TxnRef", "vnp_OrderInfo", "vnp_OrderType", "vnp_IpAddr"):
        if not 0 < len(query[name]) <= 255:
            raise KeyError(name)
    if query.get("vnp_Locale") not in ("vn", "en"):
        raise KeyError("vnp_Locale")
    if not query["vnp_ReturnUrl"].startswith(("http://", "https://")):
        raise KeyError("vnp_ReturnUrl")
    if parse_date(query["vnp_ExpireDate"], "vnp_ExpireDate") <= parse_date(
        query["vnp_CreateDate"], "vnp_CreateDate"
    ):
        raise KeyError("vnp_ExpireDate")
    return Transaction(
        tmn_code=config.tmn_code,
        txn_ref=query["vnp_TxnRef"],
        amount_vnd=from_wire_amount(query["vnp_Amount"]),
        order_info=query["vnp_OrderInfo"],
        create_date=query["vnp_CreateDate"],
        return_url=query["vnp_ReturnUrl"],
        bank_code=query.get("vnp_BankCode") or "NCB",  # NCB: VNPAY's sandbox test bank
    )


async def complete(request: web.Request) -> web.Response:
    form = await request.post()
    txn_ref, outcome = form.get("txn_ref"), form.get("outcome")
    txn = request.app[TRANSACTIONS].get((request.app[CONFIG].tmn_code, str(txn_ref)))
    if txn is None or outcome not in OUTCOMES:
        return page("Lỗi", "<p>Không tìm thấy giao dịch</p>", 404)
    if txn.status != "01":
        return page("Lỗi", "<p>Giao dịch đã được xử lý</p>", 409)
    await _finish(request.app, txn, str(outcome))
    raise web.HTTPFound(_return_url(request.app, txn))


async def simulate(request: web.Request) -> web.Response:
    data = await json_object(request)
    txn = request.app[TRANSACTIONS].get((request.app[CONFIG].tmn_code, str(data.get("txn_ref"))))
    outcome = data.get("outcome")
    if txn is None:
        return _problem(404, "unknown_transaction", "open the payment URL first")
    if outcome not in OUTCOMES:
        return _problem(422, "invalid_outcome", f"outcome: one of {sorted(OUTCOMES)}")
    if txn.status != "01":
        return _problem(409, "already_completed", "this transaction has its result")
    await _finish(request.app, txn, str(outcome))
    return web.json_response({**txn.as_json(), "return_url": _return_url(request.app, txn)})


async def resend_ipn(request: web.Request) -> web.Response:
    data = await json_object(request)
    txn = request.app[TRANSACTIONS].get((request.app[CONFIG].tmn_code, str(data.get("txn_ref"))))
    if txn is None or txn.status == "01":
        return _problem(404, "unknown_transaction", "no completed transaction with this txn_ref")
    await _deliver(request.app, txn)
    return web.json_response(txn.as_json())


async def list_transactions(request: web.Request) -> web.Response:
    return web.json_response([txn.as_json() for txn in request.app[TRANSACTIONS].values()])


def _problem(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"code": code, "detail": detail}, status=status)


async def _finish(app: web.Application, txn: Transaction, outcome: str) -> None:
    txn.response_code, txn.status = OUTCOMES[outcome]
    txn.transaction_no = "0" if outcome == "cancel" else _new_transaction_no(app)
    txn.pay_date = format_date(app[CONFIG].clock(), "pay_date")
    await _deliver(app, txn)


def _new_transaction_no(app: web.Application) -> str:
    # Random rather than counted: unique across restarts, as the gateway may key on it.
    held = app[TRANSACTIONS].values()
    used = {txn.transaction_no for txn in held} | {
        r.transaction_no for t in held for r in t.refunds
    }
    while (number := str(10_000_000 + secrets.randbelow(90_000_000))) in used:
        pass
    return number


def _return_url(app: web.Application, txn: Transaction) -> str:
    separator = "&" if "?" in txn.return_url else "?"
    query = signed_query(app[CONFIG].hash_secret, txn.result_params())
    return f"{txn.return_url}{separator}{query}"


# -- IPN delivery ----------------------------------------------------------------------------


async def _deliver(app: web.Application, txn: Transaction) -> None:
    """One attempt now; if it is not accepted, the rest in the background."""
    if not await _attempt(app, txn) and app[CONFIG].max_ipn_attempts > 1:
        app[REDELIVERIES].start(_retry(app, txn))


async def _retry(app: web.Application, txn: Transaction) -> None:
    config = app[CONFIG]
    # Then gives up, as VNPAY does; the merchant has querydr
    await redeliver(
        lambda: _attempt(app, txn),
        tries=config.max_ipn_attempts - 1,
        interval=config.retry_seconds,
    )


async def _attempt(app: web.Application, txn: Transaction) -> bool:
    config = app[CONFIG]
    separator = "&" if "?" in config.ipn_url else "?"
    query = signed_query(config.hash_secret, txn.result_params())
    url = URL(f"{config.ipn_url}{separator}{query}", encoded=True)  # exactly these bytes
    status, rsp_code = 0, None
    try:
        async with app[SESSION].get(url) as response:
            status = response.status
            body = await response.read()
        answer = json.loads(body)
        if isinstance(answer, dict) and isinstance(answer.get("RspCode"), str):
            rsp_code = answer["RspCode"]
    except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError, json.JSONDecodeError):
        pass
    ipn = IpnAttempt(status, rsp_code)
    txn.ipn_attempts.append(ipn)
    return ipn.accepted


# -- merchant API: querydr and refund --------------------------------------------------------


async def transaction_api(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    try:
        body = await request.json()
    except json.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or body.get("vnp_Command") not in ("querydr", "refund"):
        return _answer(config, "querydr", "03", {})
    command = body["vnp_Command"]
    switches = request.app[SWITCHES]
    if command == "refund" and switches.drop_refund_requests > 0:
        switches.drop_refund_requests -= 1
        return web.Response(status=503, text="dropped by the sandbox")
    fields = QUERYDR_REQUEST_FIELDS if command == "querydr" else REFUND_REQUEST_FIELDS
    if any(not isinstance(body.get(name, ""), str) for name in fields):
        return _answer(config, command, "03", body)
    if body.get("vnp_TmnCode") != config.tmn_code:
        return _answer(config, command, "02", body)
    if not verify_pipe_hash(config.hash_secret, body, fields):
        return _answer(config, command, "97", body)
    request_key = (config.tmn_code, body.get("vnp_RequestId", ""))
    if request_key in request.app[REQUEST_IDS]:
        return _answer(config, command, "94", body)
    if not request_key[1] or body.get("vnp_Version") != VERSION:
        return _answer(config, command, "03", body)
    request.app[REQUEST_IDS].add(request_key)
    try:
        parse_date(body.get("vnp_CreateDate", ""), "vnp_CreateDate")
        parse_date(body.get("vnp_TransactionDate", ""), "vnp_TransactionDate")
        amount = from_wire_amount(body["vnp_Amount"]) if command == "refund" else 0
    except (VnpayError, KeyError):
        return _answer(config, command, "03", body)
    txn = request.app[TRANSACTIONS].get((config.tmn_code, body.get("vnp_TxnRef", "")))
    if txn is None or txn.create_date != body["vnp_TransactionDate"]:
        return _answer(config, command, "91", body)
    if command == "querydr":
        return _answer(config, command, "00", body, txn)
    answer = _refund(config, body, txn, amount, _new_transaction_no(request.app))
    if switches.lose_refund_answers > 0:
        switches.lose_refund_answers -= 1
        return web.Response(status=503, text="answer lost by the sandbox")
    return answer


def _refund(
    config: SandboxVnpayConfig,
    body: dict[str, str],
    txn: Transaction,
    amount: int,
    transaction_no: str,
) -> web.Response:
    kind = body.get("vnp_TransactionType")
    if kind not in ("02", "03") or not body.get("vnp_CreateBy"):
        return _answer(config, "refund", "03", body)
    if body.get("vnp_TransactionNo") not in ("", None, txn.transaction_no):
        return _answer(config, "refund", "91", body)
    if txn.status != "00":
        code = "95"
    elif kind == "02" and txn.refunded_vnd:
        code = "04"
    elif amount > txn.amount_vnd or (kind == "02" and amount != txn.amount_vnd):
        code = "93"
    elif txn.refunded_vnd + amount > txn.amount_vnd:
        code = "02"
    else:
        code = "00"
        txn.refunded_vnd += amount
        txn.refunds.append(Refund(kind, amount, transaction_no))
    return _answer(
        config,
        "refund",
        code,
        body,
        txn,
        refund_amount=amount,
        refund_no=transaction_no if code == "00" else txn.transaction_no,
    )


def _answer(
    config: SandboxVnpayConfig,
    command: str,
    code: str,
    request: Mapping[str, Any],
    txn: Transaction | None = None,
    refund_amount: int | None = None,
    refund_no: str = "",
) -> web.Response:
    """A signed API answer; transaction fields only when a transaction was found."""
    answer = {
        "vnp_ResponseId": secrets.token_hex(16),
        "vnp_Command": command,
        "vnp_ResponseCode": code,
        "vnp_Message": API_MESSAGES[code],
        "vnp_TmnCode": config.tmn_code,
        "vnp_TxnRef": str(request.get("vnp_TxnRef", "")),
    }
    if txn is not None and refund_amount is None and txn.refunds:
        latest = txn.refunds[-1]  # querydr about a refunded payment: its latest refund
        answer |= {
            "vnp_Amount": str(latest.amount_vnd * 100),
            "vnp_OrderInfo": txn.order_info,
            "vnp_BankCode": txn.bank_code,
            "vnp_PayDate": txn.pay_date,
            "vnp_TransactionNo": latest.transaction_no,
            "vnp_TransactionType": latest.kind,
            "vnp_TransactionStatus": latest.status,
            "vnp_PromotionCode": "",
            "vnp_PromotionAmount": "",
        }
    elif txn is not None and refund_amount is None:
        answer |= {
            "vnp_Amount": str(txn.amount_vnd * 100),
            "vnp_OrderInfo": txn.order_info,
            "vnp_BankCode": txn.bank_code,
            "vnp_PayDate": txn.pay_date,
            "vnp_TransactionNo": txn.transaction_no,
            "vnp_TransactionType": "01",  # a payment
            "vnp_TransactionStatus": txn.status,
            "vnp_PromotionCode": "",
            "vnp_PromotionAmount": "",
        }
    elif txn is not None and refund_amount is not None:
        answer |= {
            "vnp_Amount": str(refund_amount * 100),
            "vnp_OrderInfo": str(request.get("vnp_OrderInfo", "")),
            "vnp_BankCode": txn.bank_code,
            "vnp_PayDate": format_date(config.clock(), "pay_date"),
            "vnp_TransactionNo": refund_no,
            "vnp_TransactionType": str(request.get("vnp_TransactionType", "")),
            # 05: VNPAY is processing the refund (accepted); else the payment's own status.
            "vnp_TransactionStatus": "05" if code == "00" else txn.status,
        }
    fields = QUERYDR_RESPONSE_FIELDS if command == "querydr" else REFUND_RESPONSE_FIELDS
    answer["vnp_SecureHash"] = pipe_hash(config.hash_secret, answer, fields)
    return web.json_response(answer)
