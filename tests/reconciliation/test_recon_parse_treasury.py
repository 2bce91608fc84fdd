"""KBNN records in CSV and XLSX: documents, codes, and the header block they must tie to."""

from __future__ import annotations

import io
from datetime import date, datetime

import openpyxl
import pytest
from recon_parse_helpers import data, edited, refused, row_errors, text

from reconciliation.model import ControlTotals, Direction, Source, StatementLine
from reconciliation.parsers import parse_treasury_csv, parse_treasury_xlsx

D = date(2024, 5, 15)

SAMPLE = "treasury_kbnn_2024-05-15.csv"


def _document(
    line_no: int, document_no: str, account: str, chapter: str, sub_item: str, **fields: object
) -> StatementLine:
    """A credit of the sample day from KBNN office 0011; the codes in the file's column order."""
    return StatementLine(
        source=Source.TREASURY,
        line_no=line_no,
        direction=Direction.CREDIT,
        booking_date=D,
        account=account,
        document_no=document_no,
        extra={"kbnn_office": "0011", "chapter": chapter, "sub_item": sub_item},
        **fields,  # type: ignore[arg-type]
    )


SAMPLE_LINES = (
    _document(
        7,
        "0001234",
        "7111",
        "018",
        "2662",
        fee_kind="charge",
        agency_code="000.00.22.H26",
        amount=1500000,
        text="Lệ phí cấp hộ chiếu ngày 15/05/2024",
    ),
    _document(
        8,
        "0001235",
        "3511",
        "018",
        "2051",
        fee_kind="fee",
        agency_code="000.00.22.H26",
        amount=450000,
        text="Phí thẩm định hồ sơ ngày 15/05/2024",
    ),
    _document(
        9,
        "0001236",
        "7111",
        "422",
        "2663",
        fee_kind="charge",
        agency_code="000.00.25.H26",
        amount=200000,
        text="Lệ phí đăng ký cư trú ngày 15/05/2024",
    ),
)


def _sample(old: str, new: str) -> bytes:
    return edited(SAMPLE, (old, new))


def _xlsx(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Bảng kê"
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_sample_csv_gives_one_line_per_document() -> None:
    parsed = parse_treasury_csv(data(SAMPLE))

    assert parsed.lines == SAMPLE_LINES
    assert parsed.errors == ()
    assert parsed.control == ControlTotals(total_credits=2150000, entry_count=3)
    assert (parsed.source, parsed.period_start, parsed.format) == (
        Source.TREASURY,
        D,
        "treasury_csv",
    )


def test_xlsx_with_typed_cells_reads_like_the_csv() -> None:
    header = next(line for line in text(SAMPLE).splitlines() if line.startswith("Số chứng từ,"))
    workbook = _xlsx(
        [
            ["BẢNG KÊ CHỨNG TỪ NỘP NGÂN SÁCH NHÀ NƯỚC"],
            ["Kho bạc Nhà nước", "KBNN Hà Nội"],
            ["Ngày báo cáo", datetime(2024, 5, 15)],
            ["Tổng số chứng từ", 3],
            ["Tổng số tiền", 2150000],
            [],
            header.split(","),
            # numbers for codes lose their zeros in Excel; a date cell and a text date both work
            [
                "0001234",
                datetime(2024, 5, 15),
                "0011",
                7111,
                18,
                2662,
                "Lệ phí",
                "000.00.22.H26",
                1500000,
                "Lệ phí cấp hộ chiếu ngày 15/05/2024",
            ],
            [
                "0001235",
                "15/05/2024",
                11,
                "3511",
                "018",
                "2051",
                "Phí",
                "000.00.22.H26",
                450000.0,
                "Phí thẩm định hồ sơ ngày 15/05/2024",
            ],
            [
                "0001236",
                datetime(2024, 5, 15, 16, 30),
                "0011",
                7111,
                422,
                2663,
                "LỆ PHÍ",
                "000.00.25.H26",
                "200,000",
                "Lệ phí đăng ký cư trú ngày 15/05/2024",
            ],
        ]
    )

    parsed = parse_treasury_xlsx(workbook)

    assert parsed.lines == tuple(
        StatementLine(**{**_fields(line), "line_no": line.line_no + 1}) for line in SAMPLE_LINES
    )
    assert parsed.format == "treasury_xlsx"


def _fields(line: StatementLine) -> dict[str, object]:
    return {name: getattr(line, name) for name in StatementLine.__slots__}  # type: ignore[attr-defined]


def test_every_bad_document_row_is_reported_with_its_line_and_reason() -> None:
    parsed = parse_treasury_csv(data("treasury_bad_rows.csv"))

    assert [line.document_no for line in parsed.lines] == ["0000001"]
    assert row_errors(parsed) == [
        (6, "bad_field"),  # account 1112
        (7, "bad_field"),  # chapter of two digits
        (8, "bad_field"),  # fee kind "Thuế"
        (9, "missing_field"),  # no agency
        (10, "bad_date"),  # 31/02
        (11, "date_out_of_range"),  # two years after the report day
        (12, "bad_amount"),  # 1,00,000
    ]
    assert "Tài khoản" in parsed.errors[0].message


def test_document_count_that_differs_from_the_header_is_a_count_mismatch() -> None:
    broken = _sample("Tổng số chứng từ,3", "Tổng số chứng từ,4")
    assert refused(lambda: parse_treasury_csv(broken)).code == "count_mismatch"


def test_total_that_differs_from_the_documents_does_not_tie() -> None:
    broken = _sample('Tổng số tiền,"2,150,000"', 'Tổng số tiền,"2,150,001"')
    assert refused(lambda: parse_treasury_csv(broken)).code == "totals_do_not_tie"


def test_missing_header_block_total_is_refused() -> None:
    broken = _sample('Tổng số tiền,"2,150,000"\n', "")
    assert refused(lambda: parse_treasury_csv(broken)).code == "missing_total"


def test_missing_column_is_named() -> None:
    error = refused(lambda: parse_treasury_csv(_sample("Tiểu mục,", "Mục,")))
    assert error.code == "missing_column"
    assert "Tiểu mục" in error.message


def test_thousands_with_dots_when_declared() -> None:
    csv = text(SAMPLE)
    for grouped in ('"2,150,000"', '"1,500,000"', '"450,000"', '"200,000"'):
        csv = csv.replace(grouped, grouped.replace(",", "."))
    parsed = parse_treasury_csv(csv.encode(), thousands=".")
    assert [line.amount for line in parsed.lines] == [1500000, 450000, 200000]


def test_xlsx_without_the_named_sheet_is_refused() -> None:
    workbook = _xlsx([["Tổng số chứng từ", 0]])
    assert refused(lambda: parse_treasury_xlsx(workbook, sheet="KBNN")).code == "malformed_xlsx"


@pytest.mark.parametrize(
    "payload", [b"PK\x03\x04 not really", b"plain text"], ids=["broken-zip", "text"]
)
def test_bytes_that_are_not_a_workbook_are_refused(payload: bytes) -> None:
    assert refused(lambda: parse_treasury_xlsx(payload)).code == "malformed_xlsx"
