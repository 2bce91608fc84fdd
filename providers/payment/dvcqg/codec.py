"""DVCQG payment-platform messages: INIT, the Confirm callback and our reply, QUERY and
GET_BILL (``specs/dvcqg-payment-platform.md`` §3–§7, reconstructed from two open-source
one-stop systems; unverified details are data here).

Pure and synchronous: every input is an argument (partner, times, ids); nothing reads a
clock or the network.

The checksum ``MaXacThuc`` (§7) is plain SHA-256, not HMAC, over the message's fields joined
with ``|`` in a fixed order, followed by ``|`` and the secret, printed as lower-case hex::

    MaXacThuc = hex(SHA-256(UTF-8(f1 + "|" + f2 + … + "|" + fn + "|" + secret)))

The orders are :data:`FIELD_ORDERS`, one list per message, kept as data so that a corrected
onboarding document is a change of that table only. Mind the order trap: INIT has
``ThongTinGiaoDich|ThoiGianGD``, the callback ``ThoiGianGD|ThongTinGiaoDich``. An absent field
counts as ``""``; ``ThongTinBienLai`` (the fee lines) is covered by no checksum (§7). A received
checksum is compared in constant time and case-insensitively (§7: the platform's hex case is
unverified; ours is lower case).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from providers.common import json_text
from providers.common.text import fold_vietnamese

from .errors import INVALID_FIELD, MALFORMED, NOT_A_PDF, QUERY_FAILED, SIGNATURE_INVALID, DvcqgError
from .model import Bill, Callback, InitResult, QueryResult
from .settings import DvcqgPartner
from .statuses import OK, OTHER_ERROR, REPLY_TEXTS

#: Every ``ThoiGianGD`` is Vietnam local time without an offset (§2); Vietnam keeps UTC+7
#: without DST, so a fixed offset is exactly what the wire means.
GMT7: Final = timezone(timedelta(hours=7), "GMT+7")
CHECKSUM: Final = "MaXacThuc"

#: Field order of each message's checksum (§7). ``QUERY_RESPONSE``: whether a QUERY answer is
#: signed is unverified (§5, §15.6); when it carries ``MaXacThuc`` it is checked in the
#: callback's order, the shape TD rebuilds from a QUERY answer.
FIELD_ORDERS: Final[Mapping[str, tuple[str, ...]]] = {
    "INIT": (
        "LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "SoTien", "LoaiHinhThanhToan",
        "MaKenhThanhToan", "MaThietBi", "NgonNgu", "MaTienTe", "MaNganHang",
        "ThongTinGiaoDich", "ThoiGianGD", "Ip",
    ),
    "CALLBACK": (
        "LoaiBanTin", "MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", "MaTienTe", "MaGiaoDich",
        "MaNganHang", "ThoiGianGD", "ThongTinGiaoDich",
    ),
    "QUERY": ("LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD"),
    "GET_BILL": ("LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD"),
    "QUERY_RESPONSE": (
        "LoaiBanTin", "MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", "MaTienTe", "MaGiaoDich",
        "MaNganHang", "ThoiGianGD", "ThongTinGiaoDich",
    ),
}  # fmt: skip

#: Constant INIT fields (§3.1); meanings of MaKenhThanhToan and MaThietBi are unverified.
INIT_CONSTANTS: Final[Mapping[str, str]] = {
    "LoaiBanTin": "INIT",
    "LoaiHinhThanhToan": "PAY",
    "MaKenhThanhToan": "1",
    "MaThietBi": "1",
    "NgonNgu": "vi-VN",
    "MaTienTe": "VND",
    "MaNganHang": "PAYMENT",  # the citizen chooses the bank on the platform's page
}
#: ``LoaiPhiLePhi`` (§9): phí → "1", lệ phí → "2".
FEE_KINDS: Final[Mapping[str, str]] = {"phi": "1", "le_phi": "2"}
#: ``MaDichVu`` (§9): "2" = thu phí, lệ phí.
SERVICE_FEES: Final = "2"
#: The fine fields of ``ThongTinBienLai``, sent empty for fees (§9).
FINE_FIELDS: Final = (
    "MaCoQuanQD", "TenCoQuanQD", "MaLoaiHinhThuPhat", "TenLoaiHinhThuPhat", "KhoBac", "NgayQD",
    "SoQD", "ThoiGianViPham", "DiaDiemViPham", "TenNguoiViPham",
)  # fmt: skip
#: TD cuts procedure names longer than 250 characters to 200 + "..." (§9; real limit unknown).
MAX_NAME: Final = 250
MAX_REFERENCE: Final = 255
MAX_AMOUNT: Final = 999_999_999_999

_REFERENCE_RE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,255}")
_DIGITS_RE: Final = re.compile(r"[0-9]{1,15}")
_TIME_RE: Final = re.compile(r"[0-9]{14}")
_HEX64_RE: Final = re.compile(r"[0-9A-Fa-f]{64}")
_CALLBACK_REQUIRED: Final = ("MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", CHECKSUM)


# -- the checksum ----------------------------------------------------------------------------


def field_text(value: object, name: str = "field") -> str:
    """A field as the checksum sees it: absent/null → ``""``; text as is; an integer (or a
    float with no fraction) in plain decimal digits; anything else is ``malformed``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise DvcqgError(MALFORMED, f"{name}: a boolean is not a field value")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    raise DvcqgError(MALFORMED, f"{name}: {type(value).__name__} is not a field value")


def checksum_text(message: Mapping[str, object], fields: Iterable[str], secret: str) -> str:
    """The string that is hashed: the fields joined with ``|``, then ``|`` and the secret."""
    return "|".join([*(field_text(message.get(name), name) for name in fields), secret])


def checksum(message: Mapping[str, object], kind: str, secret: str) -> str:
    """``MaXacThuc`` of ``message`` for message kind ``kind`` (a key of :data:`FIELD_ORDERS`)."""
    text = checksum_text(message, FIELD_ORDERS[kind], secret)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify(message: Mapping[str, object], kind: str, secret: str) -> bool:
    """Whether ``message["MaXacThuc"]`` is its checksum: 64 hex digits, any case, compared in
    constant time."""
    given = message.get(CHECKSUM)
    if not isinstance(given, str) or not _HEX64_RE.fullmatch(given):
        return False
    try:
        expected = checksum(message, kind, secret)
    except DvcqgError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), given.lower().encode("ascii"))


# -- INIT ------------------------------------------------------------------------------------


def format_time(moment: datetime, field: str = "time") -> str:
    """``yyyyMMddHHmmss`` (24-hour) in Vietnam time of an aware ``moment``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise DvcqgError(INVALID_FIELD, f"{field}: a timezone-aware datetime is required")
    return moment.astimezone(GMT7).strftime("%Y%m%d%H%M%S")


def parse_time(text: str, field: str = "ThoiGianGD") -> datetime:
    """An aware datetime (GMT+7) from ``yyyyMMddHHmmss``; ``malformed`` otherwise."""
    if not _TIME_RE.fullmatch(text):
        raise DvcqgError(MALFORMED, f"{field}: expected yyyyMMddHHmmss, got {text!r}")
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=GMT7)
    except ValueError:
        raise DvcqgError(MALFORMED, f"{field}: {text!r} is not a calendar time") from None


def ascii_text(text: str, field: str, max_len: int = 255) -> str:
    """Vietnamese folded to printable ASCII without ``|`` (TD sends the description "without
    diacritics"), whitespace collapsed, cut to ``max_len``."""
    printable = (c for c in fold_vietnamese(text) if " " <= c <= "~" and c != "|")
    kept = " ".join("".join(printable).split())[:max_len].strip()
    if not kept:
        raise DvcqgError(INVALID_FIELD, f"{field}: no printable text left after folding")
    return kept


def init_request(
    partner: DvcqgPartner,
    *,
    reference: str,
    bill: Bill,
    transaction_time: datetime,
    ip: str,
) -> dict[str, Any]:
    """The JSON body of INIT (§3.1) for ``bill``, whose total is ``SoTien``.

    ``reference`` (``MaThamChieu``) is new for every attempt; ``transaction_time`` becomes
    ``ThoiGianGD``, which QUERY and GET_BILL must repeat. Bad arguments raise
    ``DvcqgError("invalid_field")``: no line, a line of 0 VND, a line kind other than phí or
    lệ phí, a ``|`` in a checksummed field.
    """
    if not _REFERENCE_RE.fullmatch(reference):
        raise DvcqgError(INVALID_FIELD, f"reference: {reference!r} is not 1-255 of [A-Za-z0-9_.-]")
    if not bill.lines:
        raise DvcqgError(INVALID_FIELD, "bill: at least one fee line")
    for line in bill.lines:
        if line.kind not in FEE_KINDS:
            raise DvcqgError(INVALID_FIELD, f"bill: {line.kind!r} is neither phí nor lệ phí")
        if type(line.amount) is not int or line.amount <= 0:
            raise DvcqgError(INVALID_FIELD, "bill: every line is a positive integer of VND")
    total = bill.total
    if total > MAX_AMOUNT:
        raise DvcqgError(INVALID_FIELD, f"bill: the total is above {MAX_AMOUNT}")
    body: dict[str, Any] = {
        **INIT_CONSTANTS,
        "PhienBan": partner.version,
        "MaDoiTac": partner.partner_code,
        "MaThamChieu": reference,
        "SoTien": str(total),
        "ThongTinGiaoDich": ascii_text(f"THANH TOAN HO SO {bill.dossier_code}", "description"),
        "ThoiGianGD": format_time(transaction_time, "transaction_time"),
        "Ip": ascii_text(ip, "ip", 45),
    }
    body = {name: body[name] for name in FIELD_ORDERS["INIT"]}  # the documented order
    body[CHECKSUM] = checksum(body, "INIT", partner.secret_key.reveal())
    body["ThongTinBienLai"] = receipt_info(bill)
    return body


def receipt_info(bill: Bill) -> dict[str, Any]:
    """``ThongTinBienLai`` (§9): strings throughout, as TD sends them."""
    procedure_name = bill.procedure_name
    if len(procedure_name) > MAX_NAME:
        procedure_name = procedure_name[:200] + "..."
    info: dict[str, Any] = {
        "MaDichVu": SERVICE_FEES,
        "MaDVC": bill.service_code or (f"{bill.procedure_code}.01" if bill.procedure_code else ""),
        "TenDVC": procedure_name,
        "MaTTHC": bill.procedure_code,
        "TenTTHC": procedure_name,
        "MaDonVi": bill.agency_code,
        "TenDonVi": bill.agency_name,
        "MaHoSo": bill.dossier_code,
        "TKThuHuong": bill.beneficiary_account,
        "MaNHThuHuong": bill.beneficiary_bank,
        "TenTKThuHuong": bill.beneficiary_name,
        "TaiKhoanThuNSNN": bill.budget_account,
        "NoiDungThanhToan": f"Thanh toán hồ sơ {bill.dossier_code}",
        "HoTenNguoiNop": bill.payer_name,
        "SoCMNDNguoiNop": bill.payer_id,
        "DiaChiNguoiNop": bill.payer_address,
        "HuyenNguoiNop": "",
        "TinhNguoiNop": bill.payer_province,
        **dict.fromkeys(FINE_FIELDS, ""),
        "PhiLePhi": [
            {
                "LoaiPhiLePhi": FEE_KINDS[line.kind],
                "MaPhiLePhi": line.code,
                "TenPhiLePhi": line.name,
                "SoTien": str(line.amount),
            }
            for line in bill.lines
        ],
        "DSKhoanNop": [
            {"NoiDung": f"Thanh toán hồ sơ {bill.dossier_code}", "SoTien": str(bill.total)}
        ],
    }
    return info


def parse_init_response(body: object) -> InitResult:
    """INIT's answer in either envelope (§3.2): TD's ``{"error_code": "0", "message":
    "<JSON string with UrlThanhToan>"}`` or OpenCPS's top-level ``MaLoi = "00"`` with
    ``UrlThanhToan``. A refusal is a result; an answer of neither shape is ``malformed``."""
    if not isinstance(body, dict):
        raise DvcqgError(MALFORMED, "INIT answer is not a JSON object")
    if "error_code" in body:
        code = field_text(body.get("error_code"), "error_code")
        inner: object = body.get("message")
        if isinstance(inner, str):
            try:
                inner = json.loads(inner)
            except json.JSONDecodeError:
                inner = {"MoTaLoi": inner}
        if not isinstance(inner, dict):
            inner = {}
        accepted = code == "0"
        message = inner.get("MoTaLoi") or ""
    elif "MaLoi" in body:
        code = field_text(body.get("MaLoi"), "MaLoi")
        inner = body
        accepted = code == OK
        message = body.get("MoTaLoi") or ""
    else:
        raise DvcqgError(MALFORMED, "INIT answer has neither error_code nor MaLoi")
    url = inner.get("UrlThanhToan")
    if accepted and not (isinstance(url, str) and url.startswith(("https://", "http://"))):
        raise DvcqgError(MALFORMED, "INIT accepted without an http(s) UrlThanhToan")
    return InitResult(
        accepted=accepted,
        payment_url=url if accepted else None,
        code=code,
        message=str(message)[:255],
        raw=body,
    )


# -- the Confirm callback and our reply ---------------------------------------------------------


def parse_callback(raw: bytes, secret_for: Callable[[str], str | None]) -> Callback:
    """Verify and parse a Confirm callback's raw body (§4.1); raise :class:`DvcqgError`.

    Checks, in order: a JSON object (``malformed``), ``MaDoiTac`` with a secret
    (``signature_invalid``: without it nothing can be verified), the checksum
    (``signature_invalid``), then the fields (``malformed``).
    """
    try:
        body = json_text.loads(raw)  # also refuses deep nesting and NUL characters
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DvcqgError(MALFORMED, "the callback is not JSON") from None
    if not isinstance(body, dict):
        raise DvcqgError(MALFORMED, "the callback is not a JSON object")
    partner_code = body.get("MaDoiTac")
    secret = secret_for(partner_code) if isinstance(partner_code, str) else None
    if secret is None:
        raise DvcqgError(SIGNATURE_INVALID, f"no secret for MaDoiTac {partner_code!r}")
    if not verify(body, "CALLBACK", secret):
        raise DvcqgError(SIGNATURE_INVALID, "MaXacThuc does not sign the callback")
    for name in _CALLBACK_REQUIRED:
        if body.get(name) in (None, ""):
            raise DvcqgError(MALFORMED, f"{name} is missing")
    texts = {name: field_text(body.get(name), name) for name in FIELD_ORDERS["CALLBACK"]}
    return Callback(
        result_code=texts["MaLoi"],
        partner_code=texts["MaDoiTac"],
        reference=texts["MaThamChieu"],
        amount=amount_of(texts["SoTien"]),
        transaction_id=texts["MaGiaoDich"],
        bank_code=texts["MaNganHang"],
        transaction_time=texts["ThoiGianGD"],
        checksum=str(body[CHECKSUM]),
        raw=body,
    )


def callback_reply(
    partner_code: str, received: Mapping[str, object] | None, *, ok: bool
) -> dict[str, str]:
    """Our answer to a callback (§4.2): ``MaLoi`` ``00``/``99`` with OpenCPS's texts, our
    ``MaDoiTac``, and ``MaThamChieu``, ``ThoiGianGD`` and ``MaXacThuc`` echoed as received
    (``""`` where the callback had none, or could not be read)."""
    code = OK if ok else OTHER_ERROR
    echo = received or {}

    def echoed(name: str) -> str:
        value = echo.get(name)
        return value if isinstance(value, str) else ""

    return {
        "MaLoi": code,
        "MoTaLoi": REPLY_TEXTS[code],
        "MaDoiTac": partner_code,
        "MaThamChieu": echoed("MaThamChieu"),
        "ThoiGianGD": echoed("ThoiGianGD"),
        "MaXacThuc": echoed(CHECKSUM),
    }


def amount_of(text: str, field: str = "SoTien") -> int:
    """``SoTien`` → integer VND: plain decimal digits of a positive amount."""
    if not _DIGITS_RE.fullmatch(text) or int(text) <= 0:
        raise DvcqgError(MALFORMED, f"{field}: expected a positive whole VND, got {text!r}")
    return int(text)


# -- QUERY and GET_BILL ----------------------------------------------------------------------


def query_request(
    partner: DvcqgPartner, *, reference: str, transaction_time: str, kind: str = "QUERY"
) -> dict[str, str]:
    """The JSON body of QUERY (§5) or GET_BILL (§6, ``kind="GET_BILL"``): ``transaction_time``
    is the ``ThoiGianGD`` string sent in INIT, not the current time."""
    if kind not in ("QUERY", "GET_BILL"):
        raise ValueError(f"kind: QUERY or GET_BILL, not {kind!r}")
    if not _TIME_RE.fullmatch(transaction_time):
        raise DvcqgError(INVALID_FIELD, "transaction_time: INIT's ThoiGianGD, yyyyMMddHHmmss")
    if not _REFERENCE_RE.fullmatch(reference):
        raise DvcqgError(INVALID_FIELD, f"reference: {reference!r}")
    body = {
        "LoaiBanTin": kind,
        "PhienBan": partner.version,
        "MaDoiTac": partner.partner_code,
        "MaThamChieu": reference,
        "ThoiGianGD": transaction_time,
    }
    body[CHECKSUM] = checksum(body, kind, partner.secret_key.reveal())
    return body


def parse_query_response(secret: str, body: object) -> QueryResult:
    """A QUERY answer (§5). ``MaLoi`` other than ``00`` (the query was not processed) raises
    ``query_failed``; a ``MaXacThuc`` that is present must be right (``signature_invalid``);
    ``TrangThaiGD`` is then the transaction's state (a result value)."""
    if not isinstance(body, dict):
        raise DvcqgError(MALFORMED, "QUERY answer is not a JSON object")
    if body.get(CHECKSUM) not in (None, "") and not verify(body, "QUERY_RESPONSE", secret):
        raise DvcqgError(SIGNATURE_INVALID, "MaXacThuc does not sign the QUERY answer")
    code = field_text(body.get("MaLoi"), "MaLoi")
    if code != OK:
        detail = field_text(body.get("MoTaLoi"), "MoTaLoi")[:100]
        raise DvcqgError(QUERY_FAILED, f"QUERY answered MaLoi {code!r} ({detail})")
    state = field_text(body.get("TrangThaiGD"), "TrangThaiGD")
    if not state:
        raise DvcqgError(MALFORMED, "TrangThaiGD is missing")
    amount = field_text(body.get("SoTien"), "SoTien")

    def optional(name: str) -> str | None:
        return field_text(body.get(name), name) or None

    return QueryResult(
        state=state,
        reference=field_text(body.get("MaThamChieu"), "MaThamChieu"),
        amount=amount_of(amount) if amount else None,
        transaction_id=optional("MaGiaoDich"),
        bank_code=optional("MaNganHang"),
        transaction_time=optional("ThoiGianGD"),
        raw=body,
    )


def parse_bill(content_type: str, body: bytes) -> bytes:
    """GET_BILL's answer (§6): a PDF byte stream. Anything else (a JSON error, HTML) is
    ``not_a_pdf``: checked by its ``%PDF-`` magic bytes, whatever the Content-Type says."""
    if not body.startswith(b"%PDF-"):
        raise DvcqgError(NOT_A_PDF, f"GET_BILL answered {content_type or 'no type'}, not a PDF")
    return body
