"""The DVCQG payment platform, imitated: INIT, the platform's page, the Confirm callback,
QUERY and GET_BILL, with the checksums of ``specs/dvcqg-payment-platform.md`` §7.

``POST /init`` checks the partner, the checksum (INIT's field order) and the fields, and
answers in TD's envelope ``{"error_code": "0", "message": "{\\"UrlThanhToan\\": …}"}``;
refusals carry another ``error_code`` (``"1"`` unknown partner, ``"2"`` bad checksum, ``"3"``
bad format, ``"4"`` reference already used). ``GET /pay?MaThamChieu=…`` is the platform's
page: the citizen picks a bank and an outcome (success, failure, cancel, stay pending);
``POST /complete`` records it, posts the signed callback to ``callback_url`` (none while
pending, none when ``lose_callbacks`` is set or the form asks ``lose=1``) and sends the
browser to ``return_url?MaThamChieu=…``. ``POST /simulate`` ``{"MaThamChieu", "outcome",
"bank"?, "lose_callback"?}`` does the same without a browser, also to finish a transaction
left pending; ``POST /resend_callback`` ``{"MaThamChieu"}`` sends the callback again.
``POST /query`` and ``POST /getbill`` answer QUERY (``TrangThaiGD`` 1/3/4, answer signed in the
callback's order) and GET_BILL (a PDF once paid). ``GET /transactions`` lists what it holds.

The platform's codes besides ``00`` are not public; the sandbox's own choices (``MaLoi``
``01`` failed, ``24`` cancelled in a callback; ``01`` not found, ``97`` bad checksum, ``99``
malformed in a QUERY answer) are marked as such here, and the gateway branches on none of
them. State is in memory; one partner per app.
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

from providers.payment.dvcqg import DvcqgError, checksum, format_time, verify
from providers.payment.dvcqg.codec import FIELD_ORDERS, amount_of, parse_time
from providers.sandbox.pages import page


@dataclass
class SandboxDvcqgConfig:
    partner_code: str
    secret_key: str = field(repr=False)
    callback_url: str
    #: Where the platform's page sends the citizen back (registered at onboarding).
    return_url: str
    lose_callbacks: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class Transaction:
    reference: str
    amount: int
    description: str
    transaction_time: str  # INIT's ThoiGianGD: QUERY and GET_BILL must repeat it
    receipt: dict[str, Any]
    state: str = "3"  # TrangThaiGD: 3 until the citizen finishes
    result_code: str = ""  # the callback's MaLoi
    bank: str = ""
    transaction_id: str = ""
    callbacks: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "MaThamChieu": self.reference,
            "SoTien": self.amount,
            "ThoiGianGD": self.transaction_time,
            "TrangThaiGD": self.state,
            "MaLoi": self.result_code,
            "MaNganHang": self.bank,
            "MaGiaoDich": self.transaction_id,
            "ThongTinBienLai": self.receipt,
            "callbacks": self.callbacks,
        }


CONFIG = web.AppKey("sandbox_dvcqg_config", SandboxDvcqgConfig)
TRANSACTIONS = web.AppKey("sandbox_dvcqg_transactions", dict[str, Transaction])
SESSION = web.AppKey("sandbox_dvcqg_session", aiohttp.ClientSession)

#: outcome → (TrangThaiGD, the callback's MaLoi; None: no callback yet). 01 and 24 are the
#: sandbox's own choices: the platform's list is not public.
OUTCOMES: Final[Mapping[str, tuple[str, str | None]]] = {
    "success": ("1", "00"),
    "failure": ("4", "01"),
    "cancel": ("4", "24"),
    "pending": ("3", None),
}
LABELS: Final = (
    ("success", "Thanh toán thành công"),
    ("failure", "Thanh toán thất bại"),
    ("cancel", "Hủy giao dịch"),
    ("pending", "Chưa rõ kết quả (chờ xử lý)"),
)
BANKS: Final = (
    ("VCB", "Vietcombank"),
    ("BIDV", "BIDV"),
    ("CTG", "VietinBank"),
    ("AGRIBANK", "Agribank"),
    ("VNPAY", "VNPAY"),
    ("MOMO", "Ví MoMo"),
)
PDF_TEMPLATE: Final = (
    "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"
    "% BIEN LAI (sandbox) {reference} {amount} VND {transaction_id}\ntrailer << >>\n%%EOF\n"
)


def create_dvcqg_app(config: SandboxDvcqgConfig) -> web.Application:
    app = web.Application()
    app[CONFIG] = config
    app[TRANSACTIONS] = {}
    app.cleanup_ctx.append(_session)
    app.router.add_post("/init", init)
    app.router.add_get("/pay", payment_page)
    app.router.add_post("/complete", complete)
    app.router.add_post("/simulate", simulate)
    app.router.add_post("/resend_callback", resend_callback)
    app.router.add_post("/query", query)
    app.router.add_post("/getbill", get_bill)
    app.router.add_get("/transactions", list_transactions)
    return app


async def _session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        app[SESSION] = session
        yield


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


# -- INIT ------------------------------------------------------------------------------------


def _init_answer(code: str, **inner: str) -> web.Response:
    return web.json_response({"error_code": code, "message": json.dumps(inner)})


async def init(request: web.Request) -> web.Response:
    config, body = request.app[CONFIG], await _json_object(request)
    if body is None or body.get("LoaiBanTin") != "INIT":
        return _init_answer("3", MoTaLoi="Dữ liệu không đúng định dạng")
    if body.get("MaDoiTac") != config.partner_code:
        return _init_answer("1", MoTaLoi="Không tìm thấy đối tác")
    if not verify(body, "INIT", config.secret_key):
        return _init_answer("2", MoTaLoi="Sai mã xác thực")
    receipt = body.get("ThongTinBienLai")
    try:
        amount = amount_of(str(body.get("SoTien", "")))
        parse_time(str(body.get("ThoiGianGD", "")))
        if not isinstance(receipt, dict) or not isinstance(receipt.get("PhiLePhi"), list):
            raise DvcqgError("malformed", "ThongTinBienLai.PhiLePhi")
        lines = sum(amount_of(str(line.get("SoTien", ""))) for line in receipt["PhiLePhi"])
        if lines != amount or body.get("PhienBan") != "1.0.6":
            raise DvcqgError("malformed", "PhiLePhi do not add up to SoTien")
    except (DvcqgError, AttributeError):
        return _init_answer("3", MoTaLoi="Dữ liệu không đúng định dạng")
    reference = str(body.get("MaThamChieu", ""))
    if not reference or reference in request.app[TRANSACTIONS]:
        return _init_answer("4", MoTaLoi="Mã tham chiếu đã tồn tại")
    request.app[TRANSACTIONS][reference] = Transaction(
        reference=reference,
        amount=amount,
        description=str(body.get("ThongTinGiaoDich", "")),
        transaction_time=str(body["ThoiGianGD"]),
        receipt=receipt,
    )
    page = str(request.url).rsplit("/init", 1)[0] + "/pay"
    return _init_answer("0", UrlThanhToan=f"{page}?MaThamChieu={reference}")


# -- the citizen's page ----------------------------------------------------------------------


async def payment_page(request: web.Request) -> web.Response:
    txn = request.app[TRANSACTIONS].get(request.query.get("MaThamChieu", ""))
    if txn is None:
        return page("Lỗi", "<p>Không tìm thấy giao dịch</p>", 404)
    if txn.state != "3" or txn.result_code:
        return page("Lỗi", "<p>Giao dịch đã được xử lý</p>", 409)
    amount = f"{txn.amount:,}".replace(",", ".")
    banks = "".join(
        f'<label><input type="radio" name="bank" value="{code}"{" checked" if i == 0 else ""}>'
        f"{html.escape(name)}</label>"
        for i, (code, name) in enumerate(BANKS)
    )
    buttons = "".join(
        f'<button name="outcome" value="{outcome}">{label}</button>' for outcome, label in LABELS
    )
    body = (
        "<h1>Nền tảng thanh toán – Cổng Dịch vụ công quốc gia (sandbox)</h1>"
        f'<p>Số tiền: <strong class="amount">{amount} VND</strong></p>'
        f'<p>Nội dung: <span class="order-info">{html.escape(txn.description)}</span></p>'
        f'<form method="post" action="complete"><input type="hidden" name="MaThamChieu" '
        f'value="{html.escape(txn.reference)}"><fieldset><legend>Chọn ngân hàng / trung gian '
        f"thanh toán</legend>{banks}</fieldset>"
        '<label><input type="checkbox" name="lose" value="1">Làm mất thông báo kết quả '
        f"(callback)</label><div>{buttons}</div></form>"
    )
    return page("Thanh toán – Cổng Dịch vụ công quốc gia", body)


async def complete(request: web.Request) -> web.Response:
    form = await request.post()
    txn = request.app[TRANSACTIONS].get(str(form.get("MaThamChieu", "")))
    outcome = str(form.get("outcome", ""))
    if txn is None or outcome not in OUTCOMES:
        return page("Lỗi", "<p>Không tìm thấy giao dịch</p>", 404)
    if txn.state != "3":
        return page("Lỗi", "<p>Giao dịch đã được xử lý</p>", 409)
    await _finish(
        request.app, txn, outcome, str(form.get("bank") or "VCB"), form.get("lose") == "1"
    )
    config = request.app[CONFIG]
    separator = "&" if "?" in config.return_url else "?"
    raise web.HTTPSeeOther(f"{config.return_url}{separator}MaThamChieu={txn.reference}")


async def simulate(request: web.Request) -> web.Response:
    data = await _json_object(request) or {}
    txn = request.app[TRANSACTIONS].get(str(data.get("MaThamChieu")))
    outcome = data.get("outcome")
    if txn is None:
        return web.json_response({"code": "unknown_transaction"}, status=404)
    if outcome not in OUTCOMES:
        return web.json_response({"code": "invalid_outcome", "one_of": list(OUTCOMES)}, status=422)
    if txn.state != "3":
        return web.json_response({"code": "already_completed"}, status=409)
    lose = bool(data.get("lose_callback"))
    await _finish(request.app, txn, str(outcome), str(data.get("bank") or "VCB"), lose)
    return web.json_response(txn.as_json())


async def resend_callback(request: web.Request) -> web.Response:
    data = await _json_object(request) or {}
    txn = request.app[TRANSACTIONS].get(str(data.get("MaThamChieu")))
    if txn is None or not txn.result_code:
        return web.json_response({"code": "unknown_transaction"}, status=404)
    await _send_callback(request.app, txn)
    return web.json_response(txn.as_json())


async def list_transactions(request: web.Request) -> web.Response:
    return web.json_response([txn.as_json() for txn in request.app[TRANSACTIONS].values()])


async def _finish(
    app: web.Application, txn: Transaction, outcome: str, bank: str, lose: bool
) -> None:
    state, result_code = OUTCOMES[outcome]
    txn.state, txn.bank = state, bank
    if result_code is None:
        return  # stays pending: no callback, QUERY answers 3
    txn.result_code = result_code
    txn.transaction_id = f"PP{secrets.randbelow(10**12):012d}"
    if not (lose or app[CONFIG].lose_callbacks):
        await _send_callback(app, txn)


def callback_body(config: SandboxDvcqgConfig, txn: Transaction) -> dict[str, Any]:
    """The Confirm callback of ``txn``, signed in the callback's field order."""
    body: dict[str, Any] = {
        "LoaiBanTin": "CONFIRM",  # the platform's value is not public (§15.5)
        "MaLoi": txn.result_code,
        "MaDoiTac": config.partner_code,
        "MaThamChieu": txn.reference,
        "SoTien": str(txn.amount),
        "MaTienTe": "VND",
        "MaGiaoDich": txn.transaction_id,
        "MaNganHang": txn.bank,
        "ThoiGianGD": format_time(config.clock()),
        "ThongTinGiaoDich": txn.description,
    }
    body["MaXacThuc"] = checksum(body, "CALLBACK", config.secret_key)
    return body


async def _send_callback(app: web.Application, txn: Transaction) -> None:
    body = callback_body(app[CONFIG], txn)
    record: dict[str, Any] = {"http_status": 0, "MaLoi": None}
    try:
        async with app[SESSION].post(app[CONFIG].callback_url, json=body) as response:
            record["http_status"] = response.status
            answer = json.loads(await response.read())
        if isinstance(answer, dict):
            record["MaLoi"] = answer.get("MaLoi")
    except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError, json.JSONDecodeError):
        pass
    txn.callbacks.append(record)


# -- QUERY and GET_BILL ----------------------------------------------------------------------


def _checked(app: web.Application, body: dict[str, Any] | None, kind: str) -> Transaction | str:
    """The transaction a QUERY/GET_BILL names, or the sandbox's MaLoi for what is wrong."""
    config = app[CONFIG]
    if body is None or body.get("LoaiBanTin") != kind:
        return "99"
    if body.get("MaDoiTac") != config.partner_code or not verify(body, kind, config.secret_key):
        return "97"
    txn = app[TRANSACTIONS].get(str(body.get("MaThamChieu")))
    if txn is None or txn.transaction_time != body.get("ThoiGianGD"):
        return "01"
    return txn


async def query(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    found = _checked(request.app, await _json_object(request), "QUERY")
    if isinstance(found, str):
        return web.json_response({"MaLoi": found, "MoTaLoi": "Lỗi truy vấn (sandbox)"})
    txn = found
    answer: dict[str, Any] = {
        "LoaiBanTin": "QUERY",
        "MaLoi": "00",
        "MoTaLoi": "Thành công",
        "MaDoiTac": config.partner_code,
        "MaThamChieu": txn.reference,
        "SoTien": str(txn.amount),
        "MaTienTe": "VND",
        "MaGiaoDich": txn.transaction_id,
        "MaNganHang": txn.bank,
        "ThoiGianGD": txn.transaction_time,
        "ThongTinGiaoDich": txn.description,
        "TrangThaiGD": txn.state,
    }
    answer["MaXacThuc"] = checksum(answer, "QUERY_RESPONSE", config.secret_key)
    return web.json_response(answer)


async def get_bill(request: web.Request) -> web.Response:
    found = _checked(request.app, await _json_object(request), "GET_BILL")
    if isinstance(found, str) or found.state != "1":
        code = found if isinstance(found, str) else "01"
        return web.json_response({"MaLoi": code, "MoTaLoi": "Không có biên lai (sandbox)"})
    text = PDF_TEMPLATE.format(
        reference=found.reference, amount=found.amount, transaction_id=found.transaction_id
    )
    return web.Response(body=text.encode("ascii"), content_type="application/pdf")


__all__ = ["FIELD_ORDERS", "SandboxDvcqgConfig", "Transaction", "callback_body", "create_dvcqg_app"]
