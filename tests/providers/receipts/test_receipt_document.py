"""The receipt and the 01/TH-BLĐT summary as unsigned XML (spec ``e-receipts.md`` §2, §3,
§6, §9): pinned output, GMT+7 times, and each rule that refuses a document."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from receipt_samples import SIGNED_AT, make_receipt, make_replacement

from providers.receipts import schema
from providers.receipts.document import (
    ReceiptLine,
    RelatedReceipt,
    build_receipt_xml,
    validate_symbol,
    validate_template,
)
from providers.receipts.errors import InvalidDocument
from providers.receipts.summary import DailySummary, SummaryRow, build_summary_xml

VECTORS = Path(__file__).resolve().parents[2] / "vectors"


def make_summary(**changes: Any) -> DailySummary:
    issued = SummaryRow(
        template_code="EBL01",
        symbol="26TAB",
        number=1,
        issued_on=date(2026, 7, 1),
        fee_name="Phí chứng thực bản sao",
        amount=100_000,
        exchange_rate=None,
        status="Mới",
        correction_period=None,
        related=None,
        explanation=None,
        note=None,
    )
    replacement = replace(
        issued,
        number=2,
        status="Thay thế",
        correction_period="07/2026",
        related=RelatedReceipt(
            template_code="EBL01", symbol="26TAB", number=1, issued_at=SIGNED_AT
        ),
        explanation="Sai số tiền",
        note="Thay thế biên lai số 1",
    )
    summary = DailySummary(
        agency_name="Ủy ban nhân dân phường Bến Nghé",
        agency_tax_code="0301234567",
        business_date=date(2026, 7, 1),
        rows=(issued, replacement),
        created_at=datetime(2026, 7, 1, 16, 0, tzinfo=UTC),
    )
    return replace(summary, **changes)


def test_the_unsigned_receipt_xml_is_the_pinned_vector() -> None:
    assert build_receipt_xml(make_receipt()) == (VECTORS / "receipt_ebl01_gateway.xml").read_bytes()


def test_the_unsigned_summary_xml_is_the_pinned_vector() -> None:
    assert (
        build_summary_xml(make_summary())
        == (VECTORS / "summary_01th_bldt_gateway.xml").read_bytes()
    )


def test_a_receipt_carries_the_decree_content_in_vietnamese() -> None:
    root = etree.fromstring(build_receipt_xml(make_receipt()))
    data = root.find("DLieu")
    assert root.findtext("TTChung/THDon") == "BIÊN LAI THU PHÍ, LỆ PHÍ"
    assert root.findtext("TTChung/KHMSBLai") == "EBL01"
    assert root.findtext("TTChung/KHBLai") == "26TAB"
    assert root.findtext("TTChung/SBLai") == "1"
    assert data.findtext("NThu/Ten") == "Ủy ban nhân dân phường Bến Nghé"
    assert data.findtext("NThu/MST") == "0301234567"
    assert [k.findtext("TChat") for k in data.iterfind("DSKThu/KThu")] == ["Phí", "Lệ phí"]
    assert data.findtext("TgTTTBSo") == "135000"
    assert data.findtext("TgTTTBChu") == "Một trăm ba mươi lăm nghìn đồng"
    assert data.findtext("MaHoSo") == "000.00.21.H29-260701-0001"


def test_times_are_written_in_gmt_plus_7_and_the_date_is_the_local_one() -> None:
    late_evening = datetime(2026, 7, 1, 17, 45, 0, tzinfo=UTC)  # 00:45 on 2 July in Hà Nội
    root = etree.fromstring(build_receipt_xml(make_receipt(issued_at=late_evening)))
    assert root.findtext("TTChung/TGLap") == "2026-07-02T00:45:00"
    assert root.findtext("TTChung/NLap") == "2026-07-02"


def test_a_replacement_names_the_receipt_it_replaces() -> None:
    root = etree.fromstring(build_receipt_xml(make_replacement()))
    related = root.find("TTChung/TTBLLQuan")
    assert related is not None
    assert [
        related.findtext(tag) for tag in ("TCBLai", "KHMSBLLQuan", "KHBLLQuan", "SBLLQuan")
    ] == [
        "Thay thế",
        "EBL01",
        "26TAB",
        "1",
    ]


def test_a_replacement_may_replace_a_receipt_with_a_legacy_symbol() -> None:
    legacy = RelatedReceipt(
        template_code="EBL01", symbol="25T", number=9, issued_at=datetime(2025, 12, 30, tzinfo=UTC)
    )
    root = etree.fromstring(build_receipt_xml(make_receipt(replaces=legacy)))
    assert root.findtext("TTChung/TTBLLQuan/KHBLLQuan") == "25T"


def test_an_absent_optional_value_writes_no_element() -> None:
    root = etree.fromstring(
        build_receipt_xml(make_receipt(procedure_name=None, payer_id_number=None))
    )
    assert root.find("DLieu/TTHC") is None
    assert root.find("DLieu/NNop/SDDanh") is None


def test_every_name_comes_from_the_versioned_schema_module() -> None:
    root = etree.fromstring(build_receipt_xml(make_replacement()))
    known = {
        *schema.ENVELOPE.values(),
        *schema.RECEIPT_GENERAL.values(),
        *schema.RECEIPT_DATA.values(),
    }
    assert {element.tag for element in root.iter()} <= known
    assert root.findtext("TTChung/PBan") == schema.SCHEMA_VERSION == "gateway-ebl/1"


@pytest.mark.parametrize("code", ["EBL03", "ebl01", "EBL1", "CTT50", ""])
def test_a_template_code_other_than_ebl01_or_ebl02_is_refused(code: str) -> None:
    with pytest.raises(InvalidDocument, match="EBL01") as raised:
        validate_template(code)
    assert raised.value.code == "invalid_template_code"


@pytest.mark.parametrize("symbol", ["26TAF", "26TA", "26KAB", "2026TAB", "26tab", "26TAÁ"])
def test_a_symbol_outside_the_2026_form_is_refused(symbol: str) -> None:
    with pytest.raises(InvalidDocument, match="26TAB") as raised:
        validate_symbol(symbol, legacy_ok=True)
    assert raised.value.code == "invalid_symbol"


def test_the_legacy_three_character_symbol_is_accepted_only_when_asked() -> None:
    validate_symbol("25T", legacy_ok=True)
    with pytest.raises(InvalidDocument, match="'25T'"):
        validate_symbol("25T", legacy_ok=False)


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"template_code": "EBL09"}, "invalid_template_code", "EBL09"),
        ({"symbol": "25T"}, "invalid_symbol", "25T"),
        ({"symbol": "25TAB"}, "invalid_symbol", "year of issue"),
        ({"number": 0}, "invalid_number", "1..99999999"),
        ({"number": 100_000_000}, "invalid_number", "1..99999999"),
        ({"agency_tax_code": "030123456"}, "invalid_tax_code", "10 digits"),
        ({"total": 135_001}, "invalid_amount", "sum of the lines"),
        ({"amount_in_words": "Một trăm nghìn đồng"}, "invalid_amount", "does not read 135000"),
        ({"lines": ()}, "invalid_document", "at least one line"),
        (
            {"lines": (ReceiptLine(kind="tax", code=None, name="Thuế", amount=1),)},
            "invalid_document",
            "'tax'",
        ),
        (
            {"lines": (ReceiptLine(kind="fee", code=None, name="Phí", amount=0),)},
            "invalid_amount",
            "VND > 0",
        ),
        ({"issued_at": datetime(2026, 7, 1, 9, 30)}, "invalid_time", "no timezone"),
        ({"payer_name": " "}, "invalid_document", "payer_name"),
        (
            {"replaces": RelatedReceipt("EBL01", "26TZZ", 1, SIGNED_AT)},
            "invalid_symbol",
            "26TZZ",
        ),
    ],
)
def test_a_receipt_that_breaks_a_rule_is_refused_with_a_clear_error(
    changes: dict[str, Any], code: str, message: str
) -> None:
    with pytest.raises(InvalidDocument, match=message) as raised:
        build_receipt_xml(make_receipt(**changes))
    assert raised.value.code == code
    assert isinstance(raised.value, ValueError)


def test_a_day_without_receipts_gives_a_summary_without_rows() -> None:
    root = etree.fromstring(build_summary_xml(make_summary(rows=())))
    assert root.find("DLieu/DSBLai") is not None
    assert root.findall("DLieu/DSBLai/BLai") == []
    assert root.findtext("TTChung/MSo") == "01/TH-BLĐT"


def test_a_summary_row_has_the_thirteen_columns_of_the_form() -> None:
    root = etree.fromstring(build_summary_xml(make_summary()))
    row = root.findall("DLieu/DSBLai/BLai")[1]
    assert [child.tag for child in row] == [
        "STT",
        "KHMSBLai",
        "KHBLai",
        "SBLai",
        "NLap",
        "TLPhi",
        "STien",
        "TThai",
        "KDChinh",
        "TTBLLQuan",
        "GTrinh",
        "GChu",
    ]  # (8) exchange rate is absent for a VND fee
    assert row.findtext("TTBLLQuan/SBLai") == "1"


def test_a_summary_with_a_bad_row_is_refused() -> None:
    row = replace(make_summary().rows[0], symbol="26TAW")
    with pytest.raises(InvalidDocument, match="26TAW"):
        build_summary_xml(make_summary(rows=(row,)))
