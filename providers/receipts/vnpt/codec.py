"""VNPT e-receipt web services (VNPT Invoice, ASMX SOAP 1.1): the wire protocol, pure.

Source: ``/work/shared/specs/e-receipts.md`` §10 [I] — the TD one-stop system's
``BienLaiVNPTServices.cs`` (``HuanVu201/DichVuCong_KhoaLuan_PASETO``) and other public VNPT
integrations. Every operation is a SOAP 1.1 POST to one of three services under the
tenant's ``base_url``, with ``SOAPAction: "http://tempuri.org/<operation>"`` and a body
``<operation xmlns="http://tempuri.org/"><param>…</param>…</operation>``; the answer is
``<operationResponse><operationResult>text</operationResult></operationResponse>``, the
text being ``OK:…``, ``ERR:n`` (:mod:`.results`) or the data asked for::

    PublishService.asmx   ImportAndPublishInv(Account, ACpass, xmlInvData, username,
                          password, pattern, serial, convert=0)
                          → "OK:<pattern>;<serial>-<fkey>_<number>" | "ERR:n"
    BusinessService.asmx  UnConfirmPaymentFkey(lstFkey, userName, userPass) → "OK:" | ERR
                          cancelInv(Account, ACpass, fkey, userName, userPass) → "OK:" | ERR
    PortalService.asmx    getInvViewFkey(fkey, userName, userPass) → HTML | ERR
                          downloadInvFkeyNoPay(fkey, userName, userPass) → receipt XML | ERR
                          listInvByCusFkey(key, fromDate, toDate, userName, userPass)
                          → "<Data><Item>…<pattern/><serial/><invNum/><status/><fkey/>…</Item>
                             </Data>" | ERR

**A replacement receipt** (TT 91/2026 Điều 20) is the same ``ImportAndPublishInv`` of a new
receipt under its own fkey whose ``Invoice`` also names the receipt it replaces, after
``Extra2``::

      <ReplacedFkey>{fkey}</ReplacedFkey><ReplacedPattern>EBL01</ReplacedPattern>
      <ReplacedSerial>26TAB</ReplacedSerial><ReplacedNo>1</ReplacedNo>
      <ReplacedDate>22/11/2026</ReplacedDate>

**Unverified** [U]: spec §10 knows only ``ImportAndPublishInv``, the legacy ``AdjustInvoice``
(an adjustment, which TT 91 has not for biên lai) and the cancellation; how VNPT's 2026
service takes a replacement (these tags, or an operation of its own such as the
``replaceInv`` some integrations name) is not known. The operation and the tags are data —
:data:`REPLACEMENT_OPERATION`, :data:`REPLACES_TAGS`, ``results.REPLACE`` — to be changed
here alone once VNPT confirms them.

``pattern`` is the template code and ``serial`` the symbol (``EBL01``/``26TAB``; which
pattern strings VNPT registers for 2026 receipts is unverified); ``fkey`` is our key for the
receipt, unique per tenant: a second publish under it answers ``ERR:13`` and numbers nothing.
Cancellation is two calls (un-confirm the payment, then cancel), as the TD system does.

``xmlInvData`` (one receipt; tag names as the TD system sends them [I], kept in this one
module; amounts are integer VND; ``ArisingDate`` is the Vietnamese date ``dd/MM/yyyy``;
``Extra2`` of a product is ``0`` for a phí and ``1`` for a lệ phí)::

    <Invoices><Inv><key>{fkey}</key><Invoice>
      <CusCode>{dossier code}</CusCode><CusName>…</CusName><CusTaxCode>…</CusTaxCode>
      <CusAddress>…</CusAddress><ArisingDate>22/11/2026</ArisingDate>
      <PaymentMethod>CK</PaymentMethod><PaymentStatus>1</PaymentStatus>
      <Extra>{procedure}</Extra><Extra1>{dossier code}</Extra1><Extra2>{channel, reference}</Extra2>
      <Products><Product><Code>…</Code><ProdName>…</ProdName><ProdUnit>Lần</ProdUnit>
        <ProdQuantity>1</ProdQuantity><ProdPrice>135000</ProdPrice><Total>135000</Total>
        <Amount>135000</Amount><Extra2>1</Extra2></Product></Products>
      <Total>135000</Total><VATRate>0</VATRate><VATAmount>0</VATAmount>
      <Amount>135000</Amount><AmountInWords>Một trăm ba mươi lăm nghìn đồng</AmountInWords>
    </Invoice></Inv></Invoices>

Everything here is pure: keys, dates and credentials are arguments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Final
from xml.etree.ElementTree import Element  # types only; parsing goes through defusedxml
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from providers.receipts.document import ReceiptDocument

from . import results
from .errors import INVALID_FIELD, MALFORMED, NOT_FOUND, REJECTED, VnptError
from .results import ResultCode

VIETNAM: Final = ZoneInfo("Asia/Ho_Chi_Minh")
SOAP_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_NS: Final = "http://tempuri.org/"
#: Which service answers which operation.
SERVICES: Final[Mapping[str, str]] = {
    "ImportAndPublishInv": "/PublishService.asmx",
    "UnConfirmPaymentFkey": "/BusinessService.asmx",
    "cancelInv": "/BusinessService.asmx",
    "getInvViewFkey": "/PortalService.asmx",
    "downloadInvFkeyNoPay": "/PortalService.asmx",
    "listInvByCusFkey": "/PortalService.asmx",
}
#: ``PaymentMethod`` per gateway channel: TM cash, CK bank transfer, TTO online payment
#: (the TD system's values [I]; others unverified).
PAYMENT_METHODS: Final[Mapping[str, str]] = {"vietqr": "CK", "cod": "TM", "cash": "TM"}
DEFAULT_PAYMENT_METHOD: Final = "TTO"
#: The operation that publishes a replacement receipt, and the ``Invoice`` tags that name the
#: receipt it replaces (unverified: see the module docstring).
REPLACEMENT_OPERATION: Final = "ImportAndPublishInv"
REPLACES_TAGS: Final[Mapping[str, str]] = {
    "fkey": "ReplacedFkey",
    "pattern": "ReplacedPattern",
    "serial": "ReplacedSerial",
    "number": "ReplacedNo",
    "date": "ReplacedDate",
}
#: A key we send as fkey (VNPT's own limits are unverified; this is what we produce).
FKEY: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_PUBLISHED: Final = re.compile(r"^OK:(?P<pattern>[^;]+);(?P<serial>[^-]+)-(?P<rest>.+)$")


@dataclass(frozen=True)
class WireRequest:
    """One SOAP call: the service path, the ``SOAPAction`` and the envelope (which holds the
    passwords, so ``repr`` leaves it out)."""

    operation: str
    path: str
    action: str
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class Credentials:
    """What each call carries: the passwords as the client reveals them for one call (never
    shown by ``repr``)."""

    username: str
    password: str = field(repr=False)
    account: str
    ac_pass: str = field(repr=False)


@dataclass(frozen=True)
class VnptLine:
    """One fee or charge; ``is_charge`` marks a lệ phí (``Extra2`` = 1), else a phí."""

    name: str
    amount: int
    is_charge: bool
    code: str = ""


@dataclass(frozen=True)
class VnptReference:
    """The receipt a replacement replaces: its fkey at VNPT, pattern, serial, number, date."""

    fkey: str
    pattern: str
    serial: str
    number: int
    arising_date: date


@dataclass(frozen=True)
class VnptInvoice:
    """One receipt in VNPT's shape; ``total`` is the sum of the lines; ``replaces`` names the
    receipt a replacement replaces."""

    fkey: str
    customer_code: str
    customer_name: str
    arising_date: date
    lines: tuple[VnptLine, ...]
    total: int
    amount_in_words: str
    payment_method: str = DEFAULT_PAYMENT_METHOD
    customer_tax_code: str = ""
    customer_address: str = ""
    extra: str = ""
    extra2: str = ""
    replaces: VnptReference | None = None


@dataclass(frozen=True)
class Published:
    """A receipt VNPT holds under ``fkey``: its pattern, serial and number."""

    fkey: str
    pattern: str
    serial: str
    number: int


@dataclass(frozen=True)
class ReceiptState(Published):
    """A receipt found by a look-up, with VNPT's ``status`` (:data:`results.STATUS`)."""

    status: int
    amount: int | None

    @property
    def state(self) -> str:
        """Our word for the status: created, issued, replaced, adjusted, cancelled."""
        return results.STATUS.get(self.status, ("unknown", ""))[0]


# -- requests -----------------------------------------------------------------------------


def build_call(operation: str, params: Sequence[tuple[str, str]]) -> WireRequest:
    """The SOAP 1.1 envelope of ``operation`` with its parameters, in order."""
    fields = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in params)
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body>'
        f'<{operation} xmlns="{SERVICE_NS}">{fields}</{operation}>'
        "</soap:Body></soap:Envelope>"
    )
    return WireRequest(operation, SERVICES[operation], SERVICE_NS + operation, body.encode())


def build_publish(
    credentials: Credentials, invoice: VnptInvoice, pattern: str, serial: str
) -> WireRequest:
    if not pattern or not serial:
        raise VnptError(INVALID_FIELD, "pattern and serial are required")
    c = credentials
    return build_call(
        REPLACEMENT_OPERATION if invoice.replaces else "ImportAndPublishInv",
        (
            ("Account", c.account),
            ("ACpass", c.ac_pass),
            ("xmlInvData", invoice_data(invoice)),
            ("username", c.username),
            ("password", c.password),
            ("pattern", pattern),
            ("serial", serial),
            ("convert", "0"),
        ),
    )


def build_unconfirm(credentials: Credentials, fkey: str) -> WireRequest:
    _check_fkey(fkey)
    c = credentials
    return build_call(
        "UnConfirmPaymentFkey",
        (("lstFkey", fkey), ("userName", c.username), ("userPass", c.password)),
    )


def build_cancel(credentials: Credentials, fkey: str) -> WireRequest:
    _check_fkey(fkey)
    c = credentials
    return build_call(
        "cancelInv",
        (
            ("Account", c.account),
            ("ACpass", c.ac_pass),
            ("fkey", fkey),
            ("userName", c.username),
            ("userPass", c.password),
        ),
    )


def build_portal(operation: str, credentials: Credentials, fkey: str) -> WireRequest:
    """``getInvViewFkey`` or ``downloadInvFkeyNoPay`` of ``fkey``."""
    _check_fkey(fkey)
    c = credentials
    return build_call(
        operation, (("fkey", fkey), ("userName", c.username), ("userPass", c.password))
    )


def build_lookup(credentials: Credentials, fkey: str) -> WireRequest:
    _check_fkey(fkey)
    c = credentials
    return build_call(
        "listInvByCusFkey",
        (
            ("key", fkey),
            ("fromDate", ""),
            ("toDate", ""),
            ("userName", c.username),
            ("userPass", c.password),
        ),
    )


def invoice_data(invoice: VnptInvoice) -> str:
    """``xmlInvData`` of one receipt (see the module docstring)."""
    _check_invoice(invoice)
    lines = "".join(
        "<Product>"
        + _fields(
            ("Code", line.code),
            ("ProdName", line.name),
            ("ProdUnit", "Lần"),
            ("ProdQuantity", "1"),
            ("ProdPrice", str(line.amount)),
            ("Total", str(line.amount)),
            ("Amount", str(line.amount)),
            ("Extra2", "1" if line.is_charge else "0"),
        )
        + "</Product>"
        for line in invoice.lines
    )
    i = invoice
    head = _fields(
        ("CusCode", i.customer_code),
        ("CusName", i.customer_name),
        ("CusTaxCode", i.customer_tax_code),
        ("CusAddress", i.customer_address),
        ("ArisingDate", i.arising_date.strftime("%d/%m/%Y")),
        ("PaymentMethod", i.payment_method),
        ("PaymentStatus", "1"),
        ("Extra", i.extra),
        ("Extra1", i.customer_code),
        ("Extra2", i.extra2),
    )
    if i.replaces is not None:
        r = i.replaces
        head += _fields(
            (REPLACES_TAGS["fkey"], r.fkey),
            (REPLACES_TAGS["pattern"], r.pattern),
            (REPLACES_TAGS["serial"], r.serial),
            (REPLACES_TAGS["number"], str(r.number)),
            (REPLACES_TAGS["date"], r.arising_date.strftime("%d/%m/%Y")),
        )
    tail = _fields(
        ("Total", str(i.total)),
        ("VATRate", "0"),
        ("VATAmount", "0"),
        ("Amount", str(i.total)),
        ("AmountInWords", i.amount_in_words),
    )
    return (
        f"<Invoices><Inv><key>{escape(i.fkey)}</key><Invoice>{head}"
        f"<Products>{lines}</Products>{tail}</Invoice></Inv></Invoices>"
    )


def invoice_from_document(
    document: ReceiptDocument, replaces_fkey: str | None = None
) -> VnptInvoice:
    """The receipt ``document`` in VNPT's shape, keyed by its ``receipt_id``: a phí line
    goes with ``Extra2`` 0, a lệ phí line with 1; the channel and the transaction reference
    ride in the invoice's ``Extra2`` (VNPT's shape has no field for them, nor for the
    payer's ID number, which is not sent). A replacement (``document.replaces``) names the
    receipt it replaces, held at VNPT under ``replaces_fkey``."""
    replaces = None
    if document.replaces is not None:
        if not replaces_fkey:
            raise VnptError(INVALID_FIELD, "a replacement needs the replaced receipt's fkey")
        _check_fkey(replaces_fkey)
        related = document.replaces
        replaces = VnptReference(
            replaces_fkey,
            related.template_code,
            related.symbol,
            related.number,
            related.issued_at.astimezone(VIETNAM).date(),
        )
    return VnptInvoice(
        fkey=document.receipt_id,
        customer_code=document.dossier_code,
        customer_name=document.payer_name,
        arising_date=document.issued_at.astimezone(VIETNAM).date(),
        lines=tuple(
            VnptLine(line.name, line.amount, is_charge=line.kind == "charge", code=line.code or "")
            for line in document.lines
        ),
        total=document.total,
        amount_in_words=document.amount_in_words,
        payment_method=PAYMENT_METHODS.get(document.channel, DEFAULT_PAYMENT_METHOD),
        customer_tax_code=document.payer_tax_code or "",
        customer_address=document.payer_address or "",
        extra=document.procedure_name or "",
        extra2=" ".join(p for p in (document.channel, document.transaction_reference) if p),
        replaces=replaces,
    )


# -- answers ------------------------------------------------------------------------------


def parse_result(status: int, body: bytes, operation: str) -> str:
    """The text of ``<operationResult>`` (raises ``malformed``)."""
    if status != 200:
        raise VnptError(MALFORMED, f"unexpected HTTP status {status}", status)
    root = _parse(body)
    found = root.find(f".//{{{SERVICE_NS}}}{operation}Result")
    if found is None:
        raise VnptError(MALFORMED, f"no {operation}Result in the answer")
    return (found.text or "").strip()


def raise_for_error(result: str, table: Mapping[str, ResultCode]) -> None:
    """Raise the :class:`VnptError` of an ``ERR:n`` answer (a no-op for anything else)."""
    if not result.startswith("ERR"):
        return
    code = result.split(",", 1)[0].strip()
    known = table.get(code, ResultCode(REJECTED, results.UNKNOWN_TEXT))
    raise VnptError(
        known.error, f"VNPT answered {code}", provider_code=code, message_vi=known.message_vi
    )


def parse_published(
    result: str, fkey: str, table: Mapping[str, ResultCode] = results.PUBLISH
) -> Published:
    """``OK:<pattern>;<serial>-<fkey>_<number>`` of our one receipt (``table``:
    ``results.REPLACE`` for a replacement)."""
    raise_for_error(result, table)
    match = _PUBLISHED.match(result)
    if match is None:
        raise VnptError(MALFORMED, "a publish answer that is neither OK nor ERR")
    for item in match["rest"].split(","):
        key, _, number = item.strip().rpartition("_")
        if key == fkey and number.isdigit():
            return Published(fkey, match["pattern"], match["serial"], int(number))
    raise VnptError(MALFORMED, "the publish answer does not name our fkey")


def parse_ok(result: str, table: Mapping[str, ResultCode]) -> None:
    raise_for_error(result, table)
    if not result.startswith("OK"):
        raise VnptError(MALFORMED, "an answer that is neither OK nor ERR")


def parse_lookup(result: str, fkey: str) -> ReceiptState | None:
    """The receipt held under ``fkey``, or ``None`` when there is none."""
    try:
        raise_for_error(result, results.LOOKUP)
    except VnptError as error:
        if error.code == NOT_FOUND:
            return None
        raise
    if not result:
        return None
    for item in _parse(result.encode()).iter("Item"):
        if _text(item, "fkey") != fkey:
            continue
        try:
            return ReceiptState(
                fkey,
                _text(item, "pattern"),
                _text(item, "serial"),
                int(_text(item, "invNum") or 0),  # a draft has no number yet
                int(_text(item, "status")),
                int(_text(item, "amount")) if _text(item, "amount") else None,
            )
        except ValueError as exc:
            raise VnptError(MALFORMED, "a look-up item with a bad number") from exc
    return None


def parse_view(result: str) -> str:
    raise_for_error(result, results.VIEW)
    if not result:
        raise VnptError(MALFORMED, "an empty view")
    return result


def parse_download(result: str) -> bytes:
    raise_for_error(result, results.VIEW)
    xml = result.encode()
    _parse(xml)  # must be one well-formed document
    return xml


# -- the provider's side (the sandbox, and tests) -----------------------------------------


def parse_call(body: bytes) -> tuple[str, dict[str, str]]:
    """The operation of a SOAP request and its parameters (raises ``malformed``)."""
    envelope = _parse(body)
    soap_body = envelope.find(f"{{{SOAP_NS}}}Body")
    if soap_body is None or len(soap_body) != 1:
        raise VnptError(MALFORMED, "no SOAP body with one operation")
    call = soap_body[0]
    if not call.tag.startswith(f"{{{SERVICE_NS}}}"):
        raise VnptError(MALFORMED, "the operation is not in the service namespace")
    operation = call.tag.removeprefix(f"{{{SERVICE_NS}}}")
    params = {child.tag.removeprefix(f"{{{SERVICE_NS}}}"): child.text or "" for child in call}
    return operation, params


def build_response(operation: str, result: str) -> bytes:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body>'
        f'<{operation}Response xmlns="{SERVICE_NS}">'
        f"<{operation}Result>{escape(result)}</{operation}Result>"
        f"</{operation}Response></soap:Body></soap:Envelope>"
    )
    return body.encode()


def parse_invoice_data(xml: str) -> tuple[VnptInvoice, ...]:
    """The receipts of an ``xmlInvData`` (raises ``malformed``)."""
    root = _parse(xml.encode())
    if root.tag != "Invoices":
        raise VnptError(MALFORMED, "xmlInvData is not <Invoices>")
    invoices = []
    try:
        for inv in root.findall("Inv"):
            body = inv.find("Invoice")
            if body is None:
                raise VnptError(MALFORMED, "an Inv without Invoice")
            lines = tuple(
                VnptLine(
                    _text(p, "ProdName"),
                    int(_text(p, "Amount")),
                    _text(p, "Extra2") == "1",
                    _text(p, "Code"),
                )
                for p in body.iter("Product")
            )
            replaced = _text(body, REPLACES_TAGS["fkey"])
            replaces = (
                VnptReference(
                    replaced,
                    _text(body, REPLACES_TAGS["pattern"]),
                    _text(body, REPLACES_TAGS["serial"]),
                    int(_text(body, REPLACES_TAGS["number"])),
                    _vietnamese_date(_text(body, REPLACES_TAGS["date"])),
                )
                if replaced
                else None
            )
            invoices.append(
                VnptInvoice(
                    fkey=_text(inv, "key"),
                    customer_code=_text(body, "CusCode"),
                    customer_name=_text(body, "CusName"),
                    arising_date=_vietnamese_date(_text(body, "ArisingDate")),
                    lines=lines,
                    total=int(_text(body, "Total")),
                    amount_in_words=_text(body, "AmountInWords"),
                    payment_method=_text(body, "PaymentMethod"),
                    customer_tax_code=_text(body, "CusTaxCode"),
                    customer_address=_text(body, "CusAddress"),
                    extra=_text(body, "Extra"),
                    extra2=_text(body, "Extra2"),
                    replaces=replaces,
                )
            )
    except ValueError as exc:
        raise VnptError(MALFORMED, f"xmlInvData: {exc}") from exc
    for invoice in invoices:
        _check_invoice(invoice, MALFORMED)
    return tuple(invoices)


# -- helpers ------------------------------------------------------------------------------


def _check_fkey(fkey: str, code: str = INVALID_FIELD) -> None:
    if not FKEY.fullmatch(fkey):
        raise VnptError(code, "fkey must be 1–64 letters, digits, '_', '.', ':' or '-'")


def _check_invoice(invoice: VnptInvoice, code: str = INVALID_FIELD) -> None:
    _check_fkey(invoice.fkey, code)
    if not invoice.customer_name.strip():
        raise VnptError(code, "the payer's name is empty")
    if not invoice.lines:
        raise VnptError(code, "a receipt needs at least one line")
    for line in invoice.lines:
        if type(line.amount) is not int or line.amount <= 0:
            raise VnptError(code, "every amount must be integer VND > 0")
    if invoice.total != sum(line.amount for line in invoice.lines):
        raise VnptError(code, "the total is not the sum of the lines")


def _vietnamese_date(text: str) -> date:
    """``dd/MM/yyyy`` as a calendar date."""
    day, month, year = (int(part) for part in text.split("/"))
    return date(year, month, day)


def _fields(*pairs: tuple[str, str]) -> str:
    return "".join(f"<{tag}>{escape(value)}</{tag}>" for tag, value in pairs)


def _parse(xml: bytes) -> Element:
    try:
        root: Element = fromstring(xml, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise VnptError(MALFORMED, f"not well-formed XML: {type(exc).__name__}") from exc
    return root


def _text(parent: Element, tag: str) -> str:
    child = parent.find(tag)
    return "" if child is None else (child.text or "").strip()
