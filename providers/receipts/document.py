"""The e-receipt (biên lai điện tử) as data and as unsigned XML.

Content per NĐ 254/2026/NĐ-CP Điều 23.2 (``/work/shared/specs/e-receipts.md`` §2): title,
template code and symbol (TT 91/2026 Điều 19, spec §3), number of at most 8 digits (spec §4),
the collector's name and tax code, each fee/charge with its amount, the total in figures and
in words, the time of issue, and the payer, dossier, procedure, channel and transaction
reference the spec says to always include. The XML follows spec §9 (UTF-8, ``TTChung`` +
``DLieu``, dates ``YYYY-MM-DD`` and times ``YYYY-MM-DDThh:mm:ss`` in GMT+7); its element names
come from :mod:`providers.receipts.schema` (mostly [U]).

Every check raises :class:`~providers.receipts.errors.InvalidDocument` (a ``ValueError``)
with a stable ``code`` and a message that names the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from lxml import etree

from providers.receipts import schema
from providers.receipts.errors import InvalidDocument
from providers.receipts.words import amount_in_words

__all__ = [
    "MAX_NUMBER",
    "Delegate",
    "ReceiptDocument",
    "ReceiptLine",
    "RelatedReceipt",
    "build_receipt_xml",
    "document_id",
    "validate_document",
    "validate_number",
    "validate_symbol",
    "validate_tax_code",
    "validate_template",
    "xml_date",
    "xml_datetime",
]

#: Template codes (TT 91/2026 Phụ lục II): EBL01 without face value, EBL02 with. [V]
TEMPLATE: Final = re.compile(r"EBL0[12]")
#: Symbol since 2026: two-digit year, ``T``, two of the 20 allowed capitals. [V]
SYMBOL_LETTERS: Final = "ABCDEGHKLMNPQRSTUVXY"
SYMBOL_2026: Final = re.compile(rf"(\d{{2}})T[{SYMBOL_LETTERS}]{{2}}")
#: The 3-character symbol of TT 32/2025, accepted only for receipts issued before. [V]
SYMBOL_LEGACY: Final = re.compile(r"(\d{2})T")
#: The receipt number has at most 8 digits (NĐ 254 Điều 23.2.c). [V]
MAX_NUMBER: Final = 99_999_999
#: A tax code (MST): 10 digits, or 10 digits, a dash and a 3-digit branch number.
TAX_CODE: Final = re.compile(r"\d{10}(-\d{3})?")
LINE_KINDS: Final = frozenset(schema.LINE_KINDS)

_ZONE: Final = ZoneInfo(schema.TIMEZONE)


@dataclass(frozen=True)
class ReceiptLine:
    """One fee or charge on the receipt: ``kind`` is ``fee`` (phí), ``charge`` (lệ phí) or
    ``postal``; ``amount`` is integer VND."""

    kind: str
    code: str | None
    name: str
    amount: int


@dataclass(frozen=True)
class RelatedReceipt:
    """The receipt a replacement replaces (or a summary row refers to)."""

    template_code: str
    symbol: str
    number: int
    issued_at: datetime


@dataclass(frozen=True)
class Delegate:
    """Who issues the receipt on the collecting agency's behalf under a delegation agreement
    (NĐ 254/2026 Điều 4.6, spec §8: the receipt shows the delegate's name and address; the
    agency stays the collector)."""

    name: str
    address: str
    tax_code: str | None = None


@dataclass(frozen=True)
class ReceiptDocument:
    """Everything written on one receipt. ``issued_at`` is timezone-aware; ``total`` is the
    sum of the lines and ``amount_in_words`` is :func:`amount_in_words` of it. Texts are
    written as given, for the payer to read: ``channel`` is the channel's Vietnamese name
    (e.g. ``"Chuyển khoản VietQR"``), not its code."""

    receipt_id: str
    template_code: str
    symbol: str
    number: int
    issued_at: datetime
    agency_name: str
    agency_tax_code: str
    agency_address: str | None
    payer_name: str
    payer_id_number: str | None
    payer_tax_code: str | None
    payer_address: str | None
    dossier_code: str
    procedure_name: str | None
    channel: str
    transaction_reference: str | None
    lines: tuple[ReceiptLine, ...]
    total: int
    amount_in_words: str
    replaces: RelatedReceipt | None = None
    note: str | None = None
    delegate: Delegate | None = None


def validate_template(code: str) -> None:
    """Refuse a template code other than ``EBL01`` or ``EBL02`` (``invalid_template_code``)."""
    if not isinstance(code, str) or not TEMPLATE.fullmatch(code):
        raise InvalidDocument(
            "invalid_template_code",
            f"template code {code!r} is not EBL01 (without face value) or EBL02 (with face value)",
        )


def validate_symbol(symbol: str, *, legacy_ok: bool) -> None:
    """Refuse a symbol that is not ``YYT`` + two of ``ABCDEGHKLMNPQRSTUVXY`` (e.g. ``26TAB``);
    with ``legacy_ok`` the 3-character ``YYT`` of receipts issued before 2026 is accepted
    (``invalid_symbol``)."""
    if isinstance(symbol, str) and SYMBOL_2026.fullmatch(symbol):
        return
    if legacy_ok and isinstance(symbol, str) and SYMBOL_LEGACY.fullmatch(symbol):
        return
    allowed = "YYT + two letters from " + SYMBOL_LETTERS + " (e.g. 26TAB)"
    if legacy_ok:
        allowed += ", or the legacy YYT"
    raise InvalidDocument("invalid_symbol", f"symbol {symbol!r} is not {allowed}")


def validate_number(number: int) -> None:
    if type(number) is not int or not 1 <= number <= MAX_NUMBER:
        raise InvalidDocument(
            "invalid_number", f"receipt number {number!r} is not a whole number 1..{MAX_NUMBER}"
        )


def validate_tax_code(tax_code: str) -> None:
    if not isinstance(tax_code, str) or not TAX_CODE.fullmatch(tax_code):
        raise InvalidDocument(
            "invalid_tax_code",
            f"tax code {tax_code!r} is not 10 digits (or 10 digits, '-' and 3 digits)",
        )


def xml_datetime(moment: datetime) -> str:
    """``2026-07-01T09:30:15``: the moment in GMT+7, as QĐ 1271 writes a dateTime."""
    return _local(moment).strftime(schema.DATETIME_FORMAT)


def xml_date(moment: datetime) -> str:
    """``2026-07-01``: the GMT+7 date of the moment."""
    return _local(moment).strftime(schema.DATE_FORMAT)


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidDocument("invalid_time", f"time {moment.isoformat()} has no timezone")
    return moment.astimezone(_ZONE)


def validate_document(doc: ReceiptDocument) -> None:
    """Every rule :func:`build_receipt_xml` relies on; raises :class:`InvalidDocument`."""
    validate_template(doc.template_code)
    validate_symbol(doc.symbol, legacy_ok=False)
    validate_number(doc.number)
    validate_tax_code(doc.agency_tax_code)
    issued_year = _local(doc.issued_at).year
    if int(doc.symbol[:2]) != issued_year % 100:
        raise InvalidDocument(
            "invalid_symbol",
            f"symbol {doc.symbol!r} is for 20{doc.symbol[:2]} but the receipt is issued in "
            f"{issued_year} (the year in the symbol is the year of issue)",
        )
    if not doc.lines:
        raise InvalidDocument("invalid_document", "a receipt needs at least one line")
    for line in doc.lines:
        if line.kind not in LINE_KINDS:
            raise InvalidDocument(
                "invalid_document",
                f"line kind {line.kind!r} is not one of {', '.join(sorted(LINE_KINDS))}",
            )
        if type(line.amount) is not int or line.amount <= 0:
            raise InvalidDocument(
                "invalid_amount", f"line {line.name!r}: amount {line.amount!r} is not VND > 0"
            )
    total = sum(line.amount for line in doc.lines)
    if type(doc.total) is not int or doc.total != total:
        raise InvalidDocument(
            "invalid_amount", f"total {doc.total!r} is not the sum of the lines ({total})"
        )
    if doc.amount_in_words != amount_in_words(total):
        raise InvalidDocument(
            "invalid_amount",
            f"amount in words {doc.amount_in_words!r} does not read {total} "
            f"({amount_in_words(total)!r})",
        )
    for label, text in (
        ("agency_name", doc.agency_name),
        ("payer_name", doc.payer_name),
        ("dossier_code", doc.dossier_code),
        ("channel", doc.channel),
        ("receipt_id", doc.receipt_id),
    ):
        if not text or not text.strip():
            raise InvalidDocument("invalid_document", f"{label} is empty")
    if doc.replaces is not None:
        validate_related(doc.replaces)
    if doc.delegate is not None:
        for label, text in (
            ("delegate name", doc.delegate.name),
            ("delegate address", doc.delegate.address),
        ):
            if not text or not text.strip():
                raise InvalidDocument("invalid_document", f"{label} is empty")
        if doc.delegate.tax_code is not None:
            validate_tax_code(doc.delegate.tax_code)


def validate_related(related: RelatedReceipt) -> None:
    validate_template(related.template_code)
    validate_symbol(related.symbol, legacy_ok=True)
    validate_number(related.number)
    _local(related.issued_at)


def document_id(receipt_id: str) -> str:
    """The value of the signed root's ``Id`` attribute: an XML name (it may not start with
    a digit), so the receipt id gets a prefix."""
    return "BL-" + re.sub(r"[^A-Za-z0-9_.-]", "_", receipt_id)


def build_receipt_xml(doc: ReceiptDocument) -> bytes:
    """The receipt as unsigned UTF-8 XML with an empty place for the signature
    (``DSCKS``); the same document always gives the same bytes."""
    validate_document(doc)
    general, data = schema.RECEIPT_GENERAL, schema.RECEIPT_DATA
    root, head, body = envelope(schema.ENVELOPE["receipt_root"], document_id(doc.receipt_id))
    add_text(head, general["version"], schema.SCHEMA_VERSION)
    add_text(head, general["title"], schema.RECEIPT_TITLE)
    add_text(head, general["template_code"], doc.template_code)
    add_text(head, general["symbol"], doc.symbol)
    add_text(head, general["number"], str(doc.number))
    add_text(head, general["issued_on"], xml_date(doc.issued_at))
    add_text(head, general["issued_at"], xml_datetime(doc.issued_at))
    add_text(head, general["currency"], schema.CURRENCY)
    add_text(head, general["receipt_id"], doc.receipt_id)
    if doc.replaces is not None:
        related = etree.SubElement(head, general["related"])
        add_text(related, general["related_kind"], schema.RELATED_REPLACED)
        add_text(related, general["related_template_code"], doc.replaces.template_code)
        add_text(related, general["related_symbol"], doc.replaces.symbol)
        add_text(related, general["related_number"], str(doc.replaces.number))
        add_text(related, general["related_issued_on"], xml_date(doc.replaces.issued_at))

    collector = etree.SubElement(body, data["collector"])
    add_text(collector, data["collector_name"], doc.agency_name)
    add_text(collector, data["collector_tax_code"], doc.agency_tax_code)
    add_text(collector, data["collector_address"], doc.agency_address)
    if doc.delegate is not None:  # issued by the agency's delegate (spec §8)
        delegate = etree.SubElement(body, data["delegate"])
        add_text(delegate, data["delegate_name"], doc.delegate.name)
        add_text(delegate, data["delegate_tax_code"], doc.delegate.tax_code)
        add_text(delegate, data["delegate_address"], doc.delegate.address)
    payer = etree.SubElement(body, data["payer"])
    add_text(payer, data["payer_name"], doc.payer_name)
    add_text(payer, data["payer_id_number"], doc.payer_id_number)
    add_text(payer, data["payer_tax_code"], doc.payer_tax_code)
    add_text(payer, data["payer_address"], doc.payer_address)
    add_text(body, data["dossier_code"], doc.dossier_code)
    add_text(body, data["procedure_name"], doc.procedure_name)
    add_text(body, data["channel"], doc.channel)
    add_text(body, data["transaction_reference"], doc.transaction_reference)
    lines = etree.SubElement(body, data["lines"])
    for index, line in enumerate(doc.lines, start=1):
        item = etree.SubElement(lines, data["line"])
        add_text(item, data["line_number"], str(index))
        add_text(item, data["line_kind"], schema.LINE_KINDS[line.kind])
        add_text(item, data["line_code"], line.code)
        add_text(item, data["line_name"], line.name)
        add_text(item, data["line_amount"], str(line.amount))
    add_text(body, data["total"], str(doc.total))
    add_text(body, data["total_in_words"], doc.amount_in_words)
    add_text(body, data["note"], doc.note)
    etree.SubElement(root, schema.ENVELOPE["signatures"])
    return serialize(root)


def envelope(root_tag: str, document: str) -> tuple[etree._Element, etree._Element, etree._Element]:
    """The root with its ``TTChung`` and ``DLieu``, each with the ``Id`` the signature's
    references point at (``<document>-TTChung``, ``<document>-DLieu``)."""
    root = etree.Element(root_tag)
    root.set(schema.ID_ATTRIBUTE, document)
    parts = []
    for name in ("general", "data"):
        part = etree.SubElement(root, schema.ENVELOPE[name])
        part.set(schema.ID_ATTRIBUTE, f"{document}-{schema.ENVELOPE[name]}")
        parts.append(part)
    return root, parts[0], parts[1]


def serialize(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def add_text(parent: etree._Element, tag: str, value: str | None) -> None:
    """A child element with ``value``; an absent optional value writes no element."""
    if value is None:
        return
    etree.SubElement(parent, tag).text = value
