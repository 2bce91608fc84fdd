"""VNPT's e-receipt web services, in memory: an external provider that numbers receipts.

``POST /PublishService.asmx``, ``/BusinessService.asmx`` and ``/PortalService.asmx`` speak
the SOAP protocol of :mod:`providers.receipts.vnpt.codec`: the publisher account
(``Account``/``ACpass``) and the web-service user (``username``/``password``) are checked
(``ERR:1``/``ERR:7``); a publish numbers the receipt in its pattern and serial from 1
upwards (``ERR:20`` for a pattern/serial not registered, ``ERR:6`` once its range is used
up, ``ERR:3`` for a bad ``xmlInvData``); a second publish under an fkey answers ``ERR:13``
and numbers nothing. A publish naming a receipt it replaces (``codec.REPLACES_TAGS``, the
unverified replacement shape) needs that receipt issued here with the pattern, serial and
number named (else ``ERR:8``, checked before ``ERR:13``: VNPT's order is unverified, and a
replacement sent again is then refused as replaced already) and marks it replaced (status 3).
Cancelling needs the payment un-confirmed first (``ERR:9``), and a receipt cancelled already
answers ``ERR:8``. The view is a Vietnamese HTML page; the download is the receipt's XML with
its number.

Faults and inspection are unsigned control routes (they stand for VNPT's systems, not for
the protocol)::

    POST /sandbox/faults    {"publish": ["lost_answer" | "unavailable", ...],
                             "reads": ["unavailable", ...]}: the next publishes fail in turn —
         ``lost_answer`` publishes and numbers the receipt but answers 500, ``unavailable``
         answers 503 and does nothing; the next portal reads (look-up, view, download)
         answer 503 in turn
    GET  /sandbox/receipts  every receipt kept, with its number and status
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web

from providers.receipts.vnpt import codec
from providers.receipts.vnpt.codec import VnptInvoice
from providers.receipts.vnpt.errors import VnptError

VIETNAM: Final = ZoneInfo("Asia/Ho_Chi_Minh")
FAULTS: Final = frozenset({"lost_answer", "unavailable"})
ISSUED, REPLACED, CANCELLED = 1, 3, 5


@dataclass
class SandboxVnptConfig:
    username: str
    password: str
    account: str
    ac_pass: str
    #: Registered (pattern, serial) → the last number of its range. Empty: any
    #: well-formed pair, each with the full 8-digit range.
    ranges: dict[tuple[str, str], int] = field(default_factory=dict)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class Held:
    invoice: VnptInvoice
    pattern: str
    serial: str
    number: int
    published_at: datetime
    status: int = ISSUED
    paid: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "fkey": self.invoice.fkey,
            "pattern": self.pattern,
            "serial": self.serial,
            "number": self.number,
            "status": self.status,
            "paid": self.paid,
            "customer_name": self.invoice.customer_name,
            "total": self.invoice.total,
            "replaces": self.invoice.replaces.fkey if self.invoice.replaces else None,
            "published_at": self.published_at.isoformat(),
        }


@dataclass
class Tenant:
    receipts: dict[str, Held] = field(default_factory=dict)  # by fkey
    last_number: dict[tuple[str, str], int] = field(default_factory=dict)
    publish_faults: list[str] = field(default_factory=list)
    read_faults: list[str] = field(default_factory=list)


CONFIG = web.AppKey("sandbox_vnpt_config", SandboxVnptConfig)
TENANT = web.AppKey("sandbox_vnpt_tenant", Tenant)


def create_vnpt_receipts_app(config: SandboxVnptConfig) -> web.Application:
    app = web.Application()
    app[CONFIG] = config
    app[TENANT] = Tenant()
    for path in sorted(set(codec.SERVICES.values())):
        app.router.add_post(path, service(path))
    app.router.add_post("/sandbox/faults", set_faults)
    app.router.add_get("/sandbox/receipts", list_receipts)
    return app


def service(path: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of one ``.asmx`` service: the operations :data:`codec.SERVICES` puts there."""

    async def soap(request: web.Request) -> web.Response:
        try:
            operation, params = codec.parse_call(await request.read())
        except VnptError as error:
            return _fault(error.message)
        if codec.SERVICES.get(operation) != path:
            return _fault(f"{operation} is not an operation of {path}")
        tenant = request.app[TENANT]
        if path == "/PortalService.asmx" and tenant.read_faults:
            tenant.read_faults.pop(0)
            return web.Response(status=503, text="Service Unavailable (sandbox fault)")
        answer = OPERATIONS[operation](request.app, params)
        if isinstance(answer, web.Response):
            return answer
        body = codec.build_response(operation, answer)
        return web.Response(body=body, content_type="text/xml", charset="utf-8")

    return soap


def _fault(text: str) -> web.Response:
    body = (
        f'<soap:Envelope xmlns:soap="{codec.SOAP_NS}"><soap:Body><soap:Fault>'
        f"<faultcode>soap:Client</faultcode><faultstring>{html.escape(text)}</faultstring>"
        "</soap:Fault></soap:Body></soap:Envelope>"
    )
    return web.Response(status=500, text=body, content_type="text/xml")


def _service_user(config: SandboxVnptConfig, params: dict[str, str], names: str) -> bool:
    user, password = names.split("/")
    return (params.get(user), params.get(password)) == (config.username, config.password)


def _publisher(config: SandboxVnptConfig, params: dict[str, str]) -> bool:
    return (params.get("Account"), params.get("ACpass")) == (config.account, config.ac_pass)


def publish(app: web.Application, params: dict[str, str]) -> str | web.Response:
    config, tenant = app[CONFIG], app[TENANT]
    if not _publisher(config, params):
        return "ERR:1"
    if not _service_user(config, params, "username/password"):
        return "ERR:7"
    fault = tenant.publish_faults.pop(0) if tenant.publish_faults else None
    if fault == "unavailable":
        return web.Response(status=503, text="Service Unavailable (sandbox fault)")
    pattern, serial = params.get("pattern", ""), params.get("serial", "")
    if not pattern or not serial:
        return "ERR:2"
    last = config.ranges.get((pattern, serial), 99_999_999 if not config.ranges else 0)
    if not last:
        return "ERR:20"
    try:
        invoices = codec.parse_invoice_data(params.get("xmlInvData", ""))
    except VnptError:
        return "ERR:3"
    if len(invoices) != 1:
        return "ERR:10"
    [invoice] = invoices
    replaced = None
    if invoice.replaces is not None:  # a replacement: the original must be issued here
        # Checked before the fkey: VNPT's order is unverified, and this is the harder one for
        # the gateway (a replacement sent again is refused ERR:8, not ERR:13).
        replaced = tenant.receipts.get(invoice.replaces.fkey)
        named = invoice.replaces
        if (
            replaced is None
            or replaced.status != ISSUED
            or (replaced.pattern, replaced.serial, replaced.number)
            != (named.pattern, named.serial, named.number)
        ):
            return "ERR:8"
    if invoice.fkey in tenant.receipts:
        return "ERR:13"
    number = tenant.last_number.get((pattern, serial), 0) + 1
    if number > last:
        return "ERR:6"
    tenant.last_number[(pattern, serial)] = number
    tenant.receipts[invoice.fkey] = Held(invoice, pattern, serial, number, config.clock())
    if replaced is not None:
        replaced.status = REPLACED
    if fault == "lost_answer":
        return _fault("the receipt was published but the answer is lost (sandbox fault)")
    return f"OK:{pattern};{serial}-{invoice.fkey}_{number}"


def unconfirm(app: web.Application, params: dict[str, str]) -> str:
    if not _service_user(app[CONFIG], params, "userName/userPass"):
        return "ERR:1"
    held = app[TENANT].receipts.get(params.get("lstFkey", ""))
    if held is None:
        return "ERR:6"
    held.paid = False
    return "OK:"


def cancel(app: web.Application, params: dict[str, str]) -> str:
    config = app[CONFIG]
    if not _publisher(config, params) or not _service_user(config, params, "userName/userPass"):
        return "ERR:1"
    held = app[TENANT].receipts.get(params.get("fkey", ""))
    if held is None:
        return "ERR:2"
    if held.status != ISSUED:
        return "ERR:8"
    if held.paid:
        return "ERR:9"
    held.status = CANCELLED
    return "OK:"


def view(app: web.Application, params: dict[str, str]) -> str:
    if not _service_user(app[CONFIG], params, "userName/userPass"):
        return "ERR:1"
    held = app[TENANT].receipts.get(params.get("fkey", ""))
    if held is None:
        return "ERR:6"
    i, e = held.invoice, html.escape
    rows = "".join(f"<tr><td>{e(line.name)}</td><td>{line.amount:,}</td></tr>" for line in i.lines)
    return (
        '<!DOCTYPE html><html lang="vi"><meta charset="utf-8"><title>Biên lai điện tử</title>'
        f"<h1>BIÊN LAI THU PHÍ, LỆ PHÍ</h1><p>Mẫu số: {e(held.pattern)} — Ký hiệu: "
        f"{e(held.serial)} — Số: {held.number:07d}</p><p>Người nộp: {e(i.customer_name)}</p>"
        f"<table>{rows}</table><p>Tổng cộng: {i.total:,} đồng</p>"
        f"<p>Bằng chữ: {e(i.amount_in_words)}</p>"
        + ("<p><strong>ĐÃ HỦY</strong></p>" if held.status == CANCELLED else "")
        + "</html>"
    )


def download(app: web.Application, params: dict[str, str]) -> str:
    if not _service_user(app[CONFIG], params, "userName/userPass"):
        return "ERR:1"
    held = app[TENANT].receipts.get(params.get("fkey", ""))
    if held is None:
        return "ERR:6"
    data = codec.invoice_data(held.invoice)
    published = held.published_at.astimezone(VIETNAM).strftime("%Y-%m-%dT%H:%M:%S")
    return (
        data.removesuffix("</Invoice></Inv></Invoices>")
        + f"<Pattern>{html.escape(held.pattern)}</Pattern><Serial>{html.escape(held.serial)}"
        f"</Serial><InvoiceNo>{held.number}</InvoiceNo><PublishDate>{published}</PublishDate>"
        "</Invoice></Inv></Invoices>"
    )


def lookup(app: web.Application, params: dict[str, str]) -> str:
    if not _service_user(app[CONFIG], params, "userName/userPass"):
        return "ERR:1"
    held = app[TENANT].receipts.get(params.get("key", ""))
    if held is None:
        return "<Data></Data>"
    e = html.escape
    return (
        f"<Data><Item><index>1</index><cusCode>{e(held.invoice.customer_code)}</cusCode>"
        f"<pattern>{e(held.pattern)}</pattern><serial>{e(held.serial)}</serial>"
        f"<invNum>{held.number:07d}</invNum><amount>{held.invoice.total}</amount>"
        f"<status>{held.status}</status><payment>{int(held.paid)}</payment>"
        f"<fkey>{e(held.invoice.fkey)}</fkey></Item></Data>"
    )


OPERATIONS: Final[dict[str, Callable[[web.Application, dict[str, str]], str | web.Response]]] = {
    "ImportAndPublishInv": publish,
    "UnConfirmPaymentFkey": unconfirm,
    "cancelInv": cancel,
    "getInvViewFkey": view,
    "downloadInvFkeyNoPay": download,
    "listInvByCusFkey": lookup,
}


async def set_faults(request: web.Request) -> web.Response:
    try:
        data = await request.json()
        faults, reads = data.get("publish", []), data.get("reads", [])
    except (ValueError, AttributeError):
        faults = reads = None
    if not isinstance(faults, list) or not all(f in FAULTS for f in faults):
        return web.json_response(
            {"detail": f"publish must list faults among {sorted(FAULTS)}"}, status=422
        )
    if not isinstance(reads, list) or not all(f == "unavailable" for f in reads):
        return web.json_response({"detail": "reads must list 'unavailable' faults"}, status=422)
    tenant = request.app[TENANT]
    tenant.publish_faults[:] = faults
    tenant.read_faults[:] = reads
    return web.json_response({"publish": faults, "reads": reads})


async def list_receipts(request: web.Request) -> web.Response:
    return web.json_response([r.as_json() for r in request.app[TENANT].receipts.values()])
