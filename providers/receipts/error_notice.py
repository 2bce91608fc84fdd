"""The notice of receipt errors to the tax authority, form 04/SS-CTĐT.

TT 91/2026 Điều 20 (``/work/shared/specs/e-receipts.md`` §7): an error in the payer's name or
address, the amount in words or other content — not in the tax code or the amount — is not
corrected by a new receipt: the collector notifies the recipient and notifies the tax office
with Mẫu 04/SS-CTĐT. The notice names the receipt(s) concerned (template, symbol, number,
date of issue), the kind of error and the reason, signed with the collector's digital
signature like every document it sends (XML-DSig, spec §9). Element names come from
:mod:`providers.receipts.schema` (``NOTICE_*``), all unverified ([U]) but the form's name.
The payer's data (name, address) is not in the notice: the form is about which receipt is
wrong and in what, and that stays the case until a published format asks for more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from lxml import etree

from providers.receipts import schema
from providers.receipts.document import (
    add_text,
    envelope,
    serialize,
    validate_number,
    validate_symbol,
    validate_tax_code,
    validate_template,
    xml_datetime,
)
from providers.receipts.errors import InvalidDocument

__all__ = ["ErrorNotice", "NoticeRow", "build_notice_xml"]

#: The reason is free text written by staff; the notice keeps it whole up to this length.
REASON_MAX = 2000


@dataclass(frozen=True)
class NoticeRow:
    """One receipt concerned: which one, what was wrong in it, and why."""

    template_code: str
    symbol: str
    number: int
    issued_on: date
    error_kind: str
    reason: str


@dataclass(frozen=True)
class ErrorNotice:
    """One notice of one agency (tax code); ``reference`` makes its ``Id`` unique (our id of
    the notice), ``notified_on`` is the day the notice was approved (GMT+7)."""

    reference: str
    agency_name: str
    agency_tax_code: str
    notified_on: date
    rows: tuple[NoticeRow, ...]
    created_at: datetime


def validate_notice(notice: ErrorNotice) -> None:
    validate_tax_code(notice.agency_tax_code)
    xml_datetime(notice.created_at)  # refuses a naive time
    if not notice.agency_name.strip():
        raise InvalidDocument("invalid_document", "agency_name is empty")
    if not notice.reference.isascii() or not notice.reference.replace("_", "").isalnum():
        raise InvalidDocument("invalid_document", f"reference {notice.reference!r} is not an id")
    if not notice.rows:
        raise InvalidDocument("invalid_document", "a notice names at least one receipt")
    for index, row in enumerate(notice.rows, start=1):
        validate_template(row.template_code)
        validate_symbol(row.symbol, legacy_ok=True)
        validate_number(row.number)
        for name in ("error_kind", "reason"):
            text = getattr(row, name)
            if not text.strip() or len(text) > REASON_MAX:
                raise InvalidDocument(
                    "invalid_document", f"row {index}: {name} is empty or over {REASON_MAX}"
                )


def build_notice_xml(notice: ErrorNotice) -> bytes:
    """Form 04/SS-CTĐT as unsigned UTF-8 XML with an empty place for the signature."""
    validate_notice(notice)
    general, data = schema.NOTICE_GENERAL, schema.NOTICE_DATA
    root, head, body = envelope(schema.ENVELOPE["notice_root"], f"TB-{notice.reference}")
    add_text(head, general["version"], schema.SCHEMA_VERSION)
    add_text(head, general["form"], schema.NOTICE_FORM)
    add_text(head, general["title"], schema.NOTICE_TITLE)
    add_text(head, general["notified_on"], notice.notified_on.strftime(schema.DATE_FORMAT))
    add_text(head, general["created_at"], xml_datetime(notice.created_at))
    add_text(head, general["collector_name"], notice.agency_name)
    add_text(head, general["collector_tax_code"], notice.agency_tax_code)
    rows = etree.SubElement(body, data["rows"])
    for index, row in enumerate(notice.rows, start=1):
        item = etree.SubElement(rows, data["row"])
        add_text(item, data["row_number"], str(index))
        add_text(item, data["template_code"], row.template_code)
        add_text(item, data["symbol"], row.symbol)
        add_text(item, data["number"], str(row.number))
        add_text(item, data["issued_on"], row.issued_on.strftime(schema.DATE_FORMAT))
        add_text(item, data["nature"], schema.NOTICE_NATURE)
        add_text(item, data["error_kind"], row.error_kind)
        add_text(item, data["reason"], row.reason)
    etree.SubElement(root, schema.ENVELOPE["signatures"])
    return serialize(root)
