"""The same-day summary of receipt data sent to the tax authority, form 01/TH-BLĐT.

NĐ 254/2026 Điều 29.3.b and TT 91/2026 Điều 4.6.d (``/work/shared/specs/e-receipts.md`` §6):
the collector sends, on the day, a table of the receipts issued, replaced and notified, with
its tax code in field [05], signed with its digital signature. The table has 13 columns:
(1) STT, (2) template code, (3) symbol, (4) number, (5) date of issue, (6) fee/charge name,
(7) amount, (8) exchange rate, (9) status, (10) correction period, (11) related receipt,
(12) explanation, (13) note. The allowed status values (9) are [U] (spec §12.2): the caller
passes them as text. Element names come from :mod:`providers.receipts.schema` ([U]).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from lxml import etree

from providers.receipts import schema
from providers.receipts.document import (
    RelatedReceipt,
    add_text,
    envelope,
    serialize,
    validate_number,
    validate_related,
    validate_symbol,
    validate_tax_code,
    validate_template,
    xml_date,
    xml_datetime,
)
from providers.receipts.errors import InvalidDocument

__all__ = ["DailySummary", "SummaryRow", "build_summary_xml"]


@dataclass(frozen=True)
class SummaryRow:
    """One row of the table; ``amount`` is integer VND (column 7)."""

    template_code: str
    symbol: str
    number: int
    issued_on: date
    fee_name: str
    amount: int
    exchange_rate: str | None
    status: str
    correction_period: str | None
    related: RelatedReceipt | None
    explanation: str | None
    note: str | None


@dataclass(frozen=True)
class DailySummary:
    """The table of one agency (tax code) for one business day (an Asia/Ho_Chi_Minh date)."""

    agency_name: str
    agency_tax_code: str
    business_date: date
    rows: tuple[SummaryRow, ...]
    created_at: datetime


def summary_id(summary: DailySummary) -> str:
    """The signed root's ``Id``: tax code and business date make it unique."""
    return f"TH-{summary.agency_tax_code}-{summary.business_date.isoformat()}"


def validate_summary(summary: DailySummary) -> None:
    validate_tax_code(summary.agency_tax_code)
    xml_datetime(summary.created_at)  # refuses a naive time
    if not summary.agency_name.strip():
        raise InvalidDocument("invalid_document", "agency_name is empty")
    for index, row in enumerate(summary.rows, start=1):
        validate_template(row.template_code)
        validate_symbol(row.symbol, legacy_ok=True)
        validate_number(row.number)
        if type(row.amount) is not int or row.amount < 0:
            raise InvalidDocument(
                "invalid_amount", f"row {index}: amount {row.amount!r} is not VND >= 0"
            )
        if not row.status.strip():
            raise InvalidDocument("invalid_document", f"row {index}: status is empty")
        if row.related is not None:
            validate_related(row.related)


def build_summary_xml(summary: DailySummary) -> bytes:
    """Form 01/TH-BLĐT as unsigned UTF-8 XML with an empty place for the signature; a day
    without receipts gives a table without rows."""
    validate_summary(summary)
    general, data = schema.SUMMARY_GENERAL, schema.SUMMARY_DATA
    root, head, body = envelope(schema.ENVELOPE["summary_root"], summary_id(summary))
    add_text(head, general["version"], schema.SCHEMA_VERSION)
    add_text(head, general["form"], schema.SUMMARY_FORM)
    add_text(head, general["title"], schema.SUMMARY_TITLE)
    add_text(head, general["business_date"], summary.business_date.strftime(schema.DATE_FORMAT))
    add_text(head, general["created_at"], xml_datetime(summary.created_at))
    add_text(head, general["collector_name"], summary.agency_name)
    add_text(head, general["collector_tax_code"], summary.agency_tax_code)
    add_text(head, general["currency"], schema.CURRENCY)
    rows = etree.SubElement(body, data["rows"])
    for index, row in enumerate(summary.rows, start=1):
        item = etree.SubElement(rows, data["row"])
        add_text(item, data["row_number"], str(index))
        add_text(item, data["template_code"], row.template_code)
        add_text(item, data["symbol"], row.symbol)
        add_text(item, data["number"], str(row.number))
        add_text(item, data["issued_on"], row.issued_on.strftime(schema.DATE_FORMAT))
        add_text(item, data["fee_name"], row.fee_name)
        add_text(item, data["amount"], str(row.amount))
        add_text(item, data["exchange_rate"], row.exchange_rate)
        add_text(item, data["status"], row.status)
        add_text(item, data["correction_period"], row.correction_period)
        if row.related is not None:
            related = etree.SubElement(item, data["related"])
            add_text(related, data["related_template_code"], row.related.template_code)
            add_text(related, data["related_symbol"], row.related.symbol)
            add_text(related, data["related_number"], str(row.related.number))
            add_text(related, data["related_issued_on"], xml_date(row.related.issued_at))
        add_text(item, data["explanation"], row.explanation)
        add_text(item, data["note"], row.note)
    etree.SubElement(root, schema.ENVELOPE["signatures"])
    return serialize(root)
