"""The sandbox control page: every behaviour of the sandbox providers, documented and
triggered from one page (``docs/sandbox.md`` describes the same routes for ``curl``).

    GET  /sandbox/controls                 the page: one form per control, grouped by provider
    POST /sandbox/controls/{control}       a form: its fields become the JSON body (and path) of
                                           the sandbox route it stands for, which is called over
                                           HTTP like any client would; then 303 back to the page
                                           with the route's HTTP status and answer
    GET  /sandbox/controls/statement       ``day``, ``kind`` and the discrepancy parameters →
                                           303 to ``/sandbox/statements/{day}/{kind}?…``

A form whose fields do not parse is not sent anywhere: the page shows ``invalid_form`` and
the field. The controls add no power the sandbox routes do not already give anyone who can
reach them (they are unauthenticated by design, and exist in sandbox mode only) — except that
a form post, unlike their JSON, needs no CORS pre-flight: so a post another site's page makes
a browser send (``Origin`` of another host, or ``Sec-Fetch-Site`` cross-site/same-site) is
refused with 403 ``cross_origin`` and reaches nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Literal
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
from aiohttp import web

from config import Settings
from gateway.keys import SETTINGS, WORKFLOW
from gateway.pages.render import render
from gateway.services.demo import DEMO_ACCOUNT, DEMO_TERMINAL
from providers.postal.vnpost import PROFILES as VNPOST_PROFILES
from providers.sandbox.dvcqg import OUTCOMES as DVCQG_OUTCOMES
from providers.sandbox.momo import OUTCOMES as MOMO_OUTCOMES
from providers.sandbox.pos import CARD_PREFIXES, COMPLETE_OUTCOMES, SCRIPT_OUTCOMES
from providers.sandbox.tax_authority import OUTCOMES as TAX_OUTCOMES
from providers.sandbox.vnpay import OUTCOMES as VNPAY_OUTCOMES
from providers.sandbox.vnpost import FAULTS as VNPOST_FAULTS
from providers.sandbox.vnpt_receipts import FAULTS as VNPT_FAULTS
from providers.sandbox.zalopay import OUTCOMES as ZALOPAY_OUTCOMES

Kind = Literal["text", "int", "choice", "flag", "list"]
#: The statement files ``/sandbox/statements/{day}/{kind}`` writes.
STATEMENT_KINDS: Final = (
    ("camt053.xml", "Sao kê ngân hàng"),
    ("vnpay_day.csv", "Đối soát VNPAY"),
    ("pos_settlement.csv", "Quyết toán POS"),
    ("treasury.csv", "Kho bạc Nhà nước"),
    ("vnpost_cod.csv", "Thu hộ COD VNPost"),
)
DISCREPANCIES: Final = (
    ("drop", "Bỏ các dòng (tham chiếu, cách nhau dấu phẩy)"),
    ("delta", "Lệch số tiền (THAM_CHIẾU:±VND, …)"),
    ("duplicate", "Ghi trùng hai lần (tham chiếu, …)"),
    ("unknown", "Khoản không ai giải thích được (số tiền VND, …)"),
    ("failed", "Báo thất bại — VNPAY, hoặc POS ghi VOID (tham chiếu, …)"),
    ("shift", "Lệch ngày (THAM_CHIẾU:số ngày, …)"),
)
#: How much of a sandbox route's answer the page shows.
ANSWER_CHARS: Final = 1500
_TIMEOUT: Final = aiohttp.ClientTimeout(total=30)


@dataclass(frozen=True)
class Field:
    """One form field. ``in_path`` fields fill the route's ``{name}``; the others become the
    JSON body (``list``: comma-separated; ``flag``: a checkbox, sent only when ticked)."""

    name: str
    label: str
    kind: Kind = "text"
    options: tuple[tuple[str, str], ...] = ()
    default: str = ""
    required: bool = True
    in_path: bool = False


@dataclass(frozen=True)
class Control:
    key: str
    section: str
    title: str
    path: str  # under /sandbox
    fields: tuple[Field, ...] = ()
    #: Wraps the parsed fields into the route's body where it is not the fields themselves.
    body: Callable[[dict[str, Any]], Any] | None = None

    @property
    def route(self) -> str:
        """The sandbox route the form calls, as the page and ``docs/sandbox.md`` write it."""
        return f"POST /sandbox{self.path}"


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    hint: str
    listings: tuple[tuple[str, str], ...] = ()


def _options(values: Any) -> tuple[tuple[str, str], ...]:
    return tuple((value, value) for value in sorted(values))


OUTCOME_LABELS: Final = {
    "success": "thành công",
    "failure": "thất bại",
    "cancel": "người trả tiền huỷ",
    "pending": "đang xử lý (không gửi kết quả)",
}


def _outcomes(values: Any) -> tuple[tuple[str, str], ...]:
    return tuple((value, OUTCOME_LABELS.get(value, value)) for value in values)


SECTIONS: Final = (
    Section(
        "bank",
        "Ngân hàng thu hộ (VietQR)",
        "Một khoản chuyển khoản vào tài khoản thu của cơ quan; ngân hàng gửi báo có có chữ ký "
        "cho cổng (mã tham chiếu của hoá đơn trong nội dung chuyển khoản).",
        (("/sandbox/bank/transfers", "Các khoản đã ghi có"),),
    ),
    Section(
        "pos",
        "Máy POS tại quầy",
        "Kịch bản cho các giao dịch sau của một máy POS, hoặc kết thúc ngay giao dịch đang chờ "
        "thẻ (máy POS mẫu: DEMO-POS-01).",
        (("/sandbox/pos/sandbox/sales", "Các giao dịch thẻ"),),
    ),
    Section(
        "vnpay",
        "VNPAY",
        "Kết quả của một giao dịch VNPAY không cần trình duyệt, và gửi lại IPN (một bản "
        "trùng). vnp_TxnRef là provider_reference của lần thanh toán; mở next_action.url "
        "trước (VNPAY chỉ biết giao dịch sau khi trang thanh toán được mở).",
        (("/sandbox/vnpay/transactions", "Các giao dịch VNPAY"),),
    ),
    Section(
        "dvcqg",
        "Nền tảng thanh toán Cổng DVC quốc gia",
        "Kết quả theo MaThamChieu (provider_reference của lần thanh toán); có thể làm mất "
        "callback (cổng chỉ tin kết quả khi truy vấn QUERY xác nhận).",
        (("/sandbox/dvcqg/transactions", "Các giao dịch"),),
    ),
    Section(
        "momo",
        "Ví MoMo",
        "Kết quả theo orderId (provider_reference của lần thanh toán); có thể làm mất IPN.",
        (("/sandbox/momo/transactions", "Các giao dịch MoMo"),),
    ),
    Section(
        "zalopay",
        "ZaloPay",
        "Kết quả theo app_trans_id (provider_reference của lần thanh toán); có thể làm mất "
        "callback.",
        (("/sandbox/zalopay/transactions", "Các đơn ZaloPay"),),
    ),
    Section(
        "vnpost",
        "Bưu điện (VNPost)",
        "Đóng vai bưu tá: chuyển một bưu gửi sang trạng thái bất kỳ hoặc bước tiếp theo; gây lỗi "
        "cho các lần tạo đơn sau; làm mất thông báo trạng thái.",
        (("/sandbox/vnpost/sandbox/orders", "Các bưu gửi"),),
    ),
    Section(
        "messages",
        "Tin nhắn cho công dân (Zalo ZNS, SMS)",
        "Số điện thoại không có Zalo, mẫu tin bị từ chối, nhà mạng tạm không phục vụ; báo đã "
        "nhận cho một tin.",
        (("/sandbox/messages/", "Các tin đã nhận (trang)"), ("/sandbox/messages/list", "JSON")),
    ),
    Section(
        "receipts",
        "Biên lai điện tử: cơ quan thuế, VNPT",
        "Cơ quan thuế chấp nhận, từ chối hoặc không trả lời các bảng tổng hợp tiếp theo; lỗi "
        "của dịch vụ biên lai VNPT.",
        (
            ("/sandbox/tax-authority/sandbox/messages", "Các thông điệp gửi cơ quan thuế"),
            ("/sandbox/vnpt-receipts/sandbox/receipts", "Các biên lai VNPT"),
        ),
    ),
)


def _tax_script(values: dict[str, Any]) -> Any:
    return {"next": [{"outcome": outcome} for outcome in values["next"]]}


def controls(settings: Settings) -> tuple[Control, ...]:
    """Every control, in page order (VNPost codes are those of the configured profile)."""
    profile = VNPOST_PROFILES[settings.vnpost.status_profile]
    vnpost_codes = tuple(
        # The Vietnamese label only (the English gloss in brackets would widen a phone's page).
        (str(code), f"{code} — {meaning.label.split(' (')[0]}")
        for code, meaning in sorted(profile.codes.items())
    )
    brands = (("", "ngẫu nhiên"), *_options(brand.value for brand in CARD_PREFIXES))
    return (
        Control(
            "bank_transfer",
            "bank",
            "Chuyển khoản vào tài khoản thu",
            "/bank/transfers",
            (
                Field("bin", "BIN ngân hàng", default=settings.sandbox_bank.bin),
                Field("account_number", "Số tài khoản", default=DEMO_ACCOUNT),
                Field("amount", "Số tiền (VND)", "int"),
                Field("description", "Nội dung chuyển khoản (chứa mã tham chiếu DVC…)"),
            ),
        ),
        Control(
            "bank_resend",
            "bank",
            "Gửi lại báo có (bản trùng)",
            "/bank/transfers/{transaction_id}/resend",
            (Field("transaction_id", "Mã giao dịch ngân hàng", in_path=True),),
        ),
        Control(
            "pos_script",
            "pos",
            "Kịch bản cho các giao dịch sau",
            "/pos/sandbox/terminals/{terminal_id}/script",
            (
                Field("terminal_id", "Mã máy POS", default=DEMO_TERMINAL, in_path=True),
                Field("outcome", "Kết quả", "choice", _options(SCRIPT_OUTCOMES)),
                Field("delay_ms", "Chờ (ms)", "int", default="0", required=False),
                Field("card_brand", "Loại thẻ", "choice", brands, required=False),
                Field(
                    "decline_reason", "Lý do từ chối", default="insufficient_funds", required=False
                ),
            ),
        ),
        Control(
            "pos_complete",
            "pos",
            "Kết thúc ngay giao dịch đang chờ thẻ",
            "/pos/sandbox/terminals/{terminal_id}/complete",
            (
                Field("terminal_id", "Mã máy POS", default=DEMO_TERMINAL, in_path=True),
                Field("outcome", "Kết quả", "choice", _options(COMPLETE_OUTCOMES)),
                Field(
                    "decline_reason", "Lý do từ chối", default="insufficient_funds", required=False
                ),
            ),
        ),
        Control(
            "vnpay_simulate",
            "vnpay",
            "Kết quả giao dịch",
            "/vnpay/paymentv2/simulate",
            (
                Field("txn_ref", "vnp_TxnRef"),
                Field("outcome", "Kết quả", "choice", _outcomes(VNPAY_OUTCOMES)),
            ),
        ),
        Control(
            "vnpay_resend_ipn",
            "vnpay",
            "Gửi lại IPN",
            "/vnpay/paymentv2/resend_ipn",
            (Field("txn_ref", "vnp_TxnRef"),),
        ),
        Control(
            "dvcqg_simulate",
            "dvcqg",
            "Kết quả giao dịch",
            "/dvcqg/simulate",
            (
                Field("MaThamChieu", "MaThamChieu"),
                Field("outcome", "Kết quả", "choice", _outcomes(DVCQG_OUTCOMES)),
                Field("bank", "Ngân hàng", default="VCB", required=False),
                Field("lose_callback", "Làm mất callback", "flag", required=False),
            ),
        ),
        Control(
            "dvcqg_resend",
            "dvcqg",
            "Gửi lại callback",
            "/dvcqg/resend_callback",
            (Field("MaThamChieu", "MaThamChieu"),),
        ),
        Control(
            "momo_simulate",
            "momo",
            "Kết quả giao dịch",
            "/momo/simulate",
            (
                Field("order_id", "orderId"),
                Field("outcome", "Kết quả", "choice", _outcomes(MOMO_OUTCOMES)),
                Field("lose_ipn", "Làm mất IPN", "flag", required=False),
            ),
        ),
        Control(
            "momo_resend",
            "momo",
            "Gửi lại IPN",
            "/momo/resend_ipn",
            (Field("order_id", "orderId"),),
        ),
        Control(
            "zalopay_simulate",
            "zalopay",
            "Kết quả giao dịch",
            "/zalopay/simulate",
            (
                Field("app_trans_id", "app_trans_id"),
                Field("outcome", "Kết quả", "choice", _outcomes(ZALOPAY_OUTCOMES)),
                Field("lose_callback", "Làm mất callback", "flag", required=False),
            ),
        ),
        Control(
            "vnpost_advance",
            "vnpost",
            "Chuyển sang trạng thái",
            "/vnpost/orders/{item_code}/advance",
            (
                Field("item_code", "Số hiệu bưu gửi (EB…VN)", in_path=True),
                Field("status", "Trạng thái", "choice", vnpost_codes),
            ),
            body=lambda values: {"status": int(values["status"])},
        ),
        Control(
            "vnpost_step",
            "vnpost",
            "Bước tiếp theo của bưu tá",
            "/vnpost/orders/{item_code}/step",
            (Field("item_code", "Số hiệu bưu gửi (EB…VN)", in_path=True),),
        ),
        Control(
            "vnpost_tick",
            "vnpost",
            "Một bước cho mọi bưu gửi đang đi",
            "/vnpost/sandbox/tick",
        ),
        Control(
            "vnpost_faults",
            "vnpost",
            "Lỗi khi tạo đơn, mất thông báo trạng thái",
            "/vnpost/sandbox/faults",
            (
                Field(
                    "create",
                    "Các lần tạo đơn tiếp theo lỗi, lần lượt (cách nhau dấu phẩy)",
                    "list",
                    _options(VNPOST_FAULTS),
                    required=False,
                ),
                Field(
                    "pushes",
                    "Thông báo trạng thái",
                    "choice",
                    (("send", "gửi"), ("drop", "làm mất")),
                ),
            ),
        ),
        Control(
            "vnpost_tokens_expire",
            "vnpost",
            "Mọi token hết hạn ngay",
            "/vnpost/sandbox/tokens/expire",
        ),
        Control(
            "messages_switches",
            "messages",
            "Điều kiện gửi tin",
            "/messages/switches",
            (
                Field(
                    "no_zalo_account",
                    "Số không có Zalo (84…, cách nhau dấu phẩy)",
                    "list",
                    required=False,
                ),
                Field("reject_templates", "Mẫu ZNS bị từ chối (mã mẫu, …)", "list", required=False),
                Field(
                    "unavailable",
                    "Số lần gửi tiếp theo bị trả 503",
                    "int",
                    default="0",
                    required=False,
                ),
            ),
        ),
        Control(
            "messages_receipt",
            "messages",
            "Máy điện thoại đã nhận tin (gửi báo nhận cho cổng)",
            "/messages/{message_id}/receipt",
            (Field("message_id", "Mã tin", in_path=True),),
        ),
        Control(
            "tax_faults",
            "receipts",
            "Cơ quan thuế: các thông điệp tiếp theo",
            "/tax-authority/sandbox/faults",
            (
                Field(
                    "next",
                    "Lần lượt (cách nhau dấu phẩy; để trống: chấp nhận tất cả)",
                    "list",
                    _options(TAX_OUTCOMES),
                    required=False,
                ),
            ),
            body=_tax_script,
        ),
        Control(
            "vnpt_faults",
            "receipts",
            "VNPT: lỗi các lần phát hành, lần đọc tiếp theo",
            "/vnpt-receipts/sandbox/faults",
            (
                Field(
                    "publish",
                    "Phát hành (cách nhau dấu phẩy)",
                    "list",
                    _options(VNPT_FAULTS),
                    required=False,
                ),
                Field(
                    "reads",
                    "Đọc (cách nhau dấu phẩy)",
                    "list",
                    _options({"unavailable"}),
                    required=False,
                ),
            ),
        ),
    )


class InvalidForm(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")


def parse_fields(fields: tuple[Field, ...], form: Mapping[str, str]) -> dict[str, Any]:
    """The typed values of a control's form, or :class:`InvalidForm` naming the field."""
    values: dict[str, Any] = {}
    allowed = {f.name: {value for value, _ in f.options} for f in fields}
    for f in fields:
        text = str(form.get(f.name, "")).strip()
        if f.kind == "flag":
            values[f.name] = bool(text)
            continue
        if f.kind == "list":
            items = [item.strip() for item in text.split(",") if item.strip()]
            wrong = [item for item in items if allowed[f.name] and item not in allowed[f.name]]
            if wrong:
                raise InvalidForm(f.name, f"không nhận {', '.join(wrong)}")
            values[f.name] = items
            continue
        if not text:
            if f.required:
                raise InvalidForm(f.name, "cần nhập")
            continue
        if f.kind == "int":
            try:
                values[f.name] = int(text)
            except ValueError:
                raise InvalidForm(f.name, "cần một số nguyên") from None
        elif f.kind == "choice" and text not in allowed[f.name]:
            raise InvalidForm(f.name, "không phải một lựa chọn của danh sách")
        else:
            values[f.name] = text
    return values


async def control_page(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    query = request.rel_url.query
    by_key = {c.key: c for c in controls(settings)}
    done = by_key.get(query.get("done", ""))
    result = None
    if done is not None or query.get("done") == "statement":
        status = query.get("status", "")
        result = {
            "title": done.title if done else "Tải file sao kê",
            "section": done.section if done else "statements",
            "status": status,
            "ok": status.startswith("2"),
            "answer": query.get("answer", "")[:ANSWER_CHARS],
        }
    return render(
        "sandbox.html",
        sections=SECTIONS,
        controls=list(by_key.values()),
        result=result,
        statement_kinds=STATEMENT_KINDS,
        discrepancies=DISCREPANCIES,
        today=request.app[WORKFLOW].today().isoformat(),  # the business day, Vietnam time
    )


def _back(key: str, status: int | str, answer: str, section: str) -> web.HTTPSeeOther:
    query = urlencode({"done": key, "status": str(status), "answer": answer[:ANSWER_CHARS]})
    return web.HTTPSeeOther(f"/sandbox/controls?{query}#{section}")


def _from_elsewhere(request: web.Request, base_url: str) -> bool:
    """A browser's post made by another site's page."""
    if request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
        return True
    # Our pages send no referrer, so a browser says "Origin: null" for them; Sec-Fetch-Site
    # above is what tells a modern browser's cross-site post apart.
    origin = request.headers.get("Origin", "null")
    ours = {request.host, urlsplit(base_url).netloc}
    return origin != "null" and urlsplit(origin).netloc not in ours


async def run_control(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if _from_elsewhere(request, settings.base_url):
        return web.json_response({"code": "cross_origin"}, status=403)
    by_key = {c.key: c for c in controls(settings)}
    control = by_key.get(request.match_info["control"])
    if control is None:
        raise web.HTTPNotFound()
    form = await request.post()
    try:
        values = parse_fields(control.fields, {k: str(v) for k, v in form.items()})
    except InvalidForm as problem:
        raise _back(control.key, 422, f"invalid_form: {problem}", control.section) from None
    path_values = {f.name: quote(values.pop(f.name), safe="") for f in control.fields if f.in_path}
    body = control.body(values) if control.body else values
    url = f"{settings.base_url}/sandbox{control.path.format(**path_values)}"
    # Over HTTP, as any client of the sandbox route: the route checks what it always checks.
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as session:
        try:
            async with session.post(url, json=body) as response:
                status, answer = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            status, answer = 502, f"sandbox_unreachable: {type(error).__name__}"
    raise _back(control.key, status, answer, control.section)


async def statement_link(request: web.Request) -> web.Response:
    query = request.rel_url.query
    kinds = {kind for kind, _ in STATEMENT_KINDS}
    day, kind = query.get("day", ""), query.get("kind", "")
    try:
        date.fromisoformat(day)
    except ValueError:
        raise _back("statement", 422, "invalid_form: day: YYYY-MM-DD", "statements") from None
    if kind not in kinds:
        raise _back("statement", 422, "invalid_form: kind", "statements")
    problems = {name: query[name] for name, _ in DISCREPANCIES if query.get(name, "").strip()}
    suffix = f"?{urlencode(problems)}" if problems else ""
    raise web.HTTPSeeOther(f"/sandbox/statements/{day}/{kind}{suffix}")


def add_control_routes(app: web.Application) -> None:
    app.router.add_get("/sandbox/controls", control_page)
    app.router.add_get("/sandbox/controls/statement", statement_link)
    app.router.add_post("/sandbox/controls/{control}", run_control)
