"""Bank CSV/XLSX exports read through a declared column mapping."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import openpyxl
import pytest
from recon_parse_helpers import (
    ACCOUNT,
    BANK_MAPPING,
    D,
    bank_line,
    data,
    refused,
    row_errors,
    text,
)

from reconciliation.model import ControlTotals, Direction, StatementLine
from reconciliation.parsers import ColumnMapping, parse_bank_csv, parse_bank_xlsx, sheets

SPLIT = BANK_MAPPING  # debit and credit in two columns; SIGNED: one signed amount
SIGNED = ColumnMapping(
    date="Ngày", amount="Số tiền", text="Nội dung", currency="Loại tiền", account="Tài khoản"
)


def _line(line_no: int, amount: int, direction: Direction, ref: str, text_: str) -> StatementLine:
    return bank_line(line_no, amount, direction, provider_txn_id=ref, text=text_)


def _signed_csv(*rows: str) -> bytes:
    return "\n".join(["Ngày,Số tiền,Loại tiền,Tài khoản,Nội dung", *rows]).encode()


def test_sample_export_with_debit_and_credit_columns() -> None:
    parsed = parse_bank_csv(data("bank_statement_2024-05-15.csv"), mapping=SPLIT, account=ACCOUNT)

    assert parsed.lines == (
        _line(
            5,
            150000,
            Direction.CREDIT,
            "FT24136000001",
            "MBVCB.5678901234.DVCAH0YN0WQ1NM Thanh toan le phi",
        ),
        _line(
            6,
            2500000,
            Direction.CREDIT,
            "FT24136000002",
            "VNPAY TT GD NGAY 14/05/2024 TMN DVCHN001",
        ),
        _line(7, 22000, Direction.DEBIT, "FT24136000003", "PHI QUAN LY TAI KHOAN THANG 05/2024"),
    )
    assert parsed.errors == ()
    assert parsed.control == ControlTotals()
    assert (parsed.account, parsed.format) == (ACCOUNT, "bank_csv")


def test_signed_amount_column_gives_direction_and_row_account() -> None:
    parsed = parse_bank_csv(
        _signed_csv("15/05/2024,150000,VND,111,A", "15/05/2024,-22000,VNĐ,222,B"), mapping=SIGNED
    )
    assert [(line.amount, line.direction, line.account) for line in parsed.lines] == [
        (150000, Direction.CREDIT, "111"),
        (22000, Direction.DEBIT, "222"),
    ]


def test_missing_mapped_column_is_refused_and_named() -> None:
    mapping = ColumnMapping(date="Ngày giao dịch", amount="Số tiền", text="Mô tả")

    error = refused(lambda: parse_bank_csv(data("bank_statement_2024-05-15.csv"), mapping=mapping))

    assert error.code == "missing_column"
    assert "Số tiền" in error.message


def test_headers_match_without_diacritics_or_case() -> None:
    csv = (
        text("bank_statement_2024-05-15.csv")
        .replace("Ngày giao dịch", "NGAY GIAO DICH")
        .replace("Mô tả", "mo ta")
    )
    assert len(parse_bank_csv(csv.encode(), mapping=SPLIT).lines) == 3


@pytest.mark.parametrize(
    ("amount", "thousands", "expected"),
    [
        ('"150,000"', ",", 150000),
        ("150000", ",", 150000),
        ('"150,000.00"', ",", 150000),
        ("150.000", ".", 150000),
        ('"150.000,00"', ".", 150000),
        ("1.500.000", ".", 1500000),
    ],
)
def test_valid_grouped_amounts_in_the_declared_style_are_accepted(
    amount: str, thousands: str, expected: int
) -> None:
    mapping = ColumnMapping(date="Ngày", amount="Số tiền", text="Nội dung", thousands=thousands)
    parsed = parse_bank_csv(
        f"Ngày,Số tiền,Nội dung\n15/05/2024,{amount},x\n".encode(), mapping=mapping
    )
    assert [line.amount for line in parsed.lines] == [expected]


@pytest.mark.parametrize(
    ("amount", "thousands"),
    [
        ("150000.50", ","),
        ('"150.000,5"', ","),
        ('"150.000,5"', "."),
        ('"1,50,000"', ","),
        ('"150,00"', ","),
        ("1.50.000", "."),
        ("150.000", ","),
        ("", ","),
        ("0", ","),
        ("abc", ","),
        ("١٥٠٠٠٠", ","),
    ],
    ids=[
        "fraction",
        "comma-fraction-wrong-style",
        "comma-fraction",
        "indian-grouping",
        "short-group",
        "dot-misgrouped",
        "dot-in-comma-style",
        "empty",
        "zero",
        "text",
        "arabic-digits",
    ],
)
def test_amount_with_fraction_or_misplaced_separator_is_a_bad_amount(
    amount: str, thousands: str
) -> None:
    mapping = ColumnMapping(date="Ngày", amount="Số tiền", text="Nội dung", thousands=thousands)
    parsed = parse_bank_csv(
        f"Ngày,Số tiền,Nội dung\n15/05/2024,{amount},x\n".encode(), mapping=mapping
    )
    assert parsed.lines == ()
    assert row_errors(parsed) == [(2, "bad_amount")]


@pytest.mark.parametrize(
    ("debit", "credit"),
    [('"22,000"', '"150,000"'), ("", ""), ("0", "0"), ("-5", "")],
    ids=["both", "neither", "both-zero", "negative"],
)
def test_debit_credit_pair_needs_exactly_one_positive_amount(debit: str, credit: str) -> None:
    csv = f"Ngày giao dịch,Ngày hiệu lực,Số bút toán,Ghi nợ,Ghi có,Mô tả\n15/05/2024,,FT1,{debit},{credit},x\n"
    parsed = parse_bank_csv(csv.encode(), mapping=SPLIT)
    assert row_errors(parsed) == [(2, "bad_amount")]


def test_zero_in_the_unused_column_is_accepted() -> None:
    csv = 'Ngày giao dịch,Ngày hiệu lực,Số bút toán,Ghi nợ,Ghi có,Mô tả\n15/05/2024,,FT1,0,"150,000",x\n'
    [line] = parse_bank_csv(csv.encode(), mapping=SPLIT).lines
    assert (line.amount, line.direction, line.value_date) == (150000, Direction.CREDIT, None)


def test_other_currency_is_reported_per_row() -> None:
    parsed = parse_bank_csv(
        _signed_csv("15/05/2024,150000,VND,1,a", "15/05/2024,10,USD,1,b"), mapping=SIGNED
    )
    assert row_errors(parsed) == [(3, "unknown_currency")]
    assert len(parsed.lines) == 1


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2024-05-15", "bad_date"),
        ("31/04/2024", "bad_date"),
        ("", "bad_date"),
        ("31/12/1999", "date_out_of_range"),
        ("16/05/2025", "date_out_of_range"),
    ],
)
def test_bad_or_implausible_date_is_reported(value: str, code: str) -> None:
    parsed = parse_bank_csv(_signed_csv(f"{value},150000,VND,1,a"), mapping=SIGNED, as_of=D)
    assert row_errors(parsed) == [(2, code)]


def test_without_a_reference_date_only_dates_before_2000_are_out_of_range() -> None:
    parsed = parse_bank_csv(_signed_csv("16/05/2030,150000,VND,1,a"), mapping=SIGNED)
    assert [line.booking_date for line in parsed.lines] == [date(2030, 5, 16)]


def test_line_numbers_count_physical_lines_of_quoted_multiline_text() -> None:
    parsed = parse_bank_csv(
        _signed_csv('15/05/2024,150000,VND,1,"two\nlines"', "15/05/2024,bad,VND,1,x"),
        mapping=SIGNED,
    )
    assert parsed.lines[0].text == "two\nlines"
    assert row_errors(parsed) == [(4, "bad_amount")]


def test_custom_delimiter_and_encoding() -> None:
    mapping = ColumnMapping(
        date="Ngày", amount="Số tiền", text="Nội dung", delimiter=";", encoding="utf-16"
    )
    csv = "Ngày;Số tiền;Nội dung\n15/05/2024;150000;Lệ phí\n".encode("utf-16")
    assert [line.text for line in parse_bank_csv(csv, mapping=mapping).lines] == ["Lệ phí"]


def test_bytes_not_in_the_declared_encoding_are_refused() -> None:
    error = refused(
        lambda: parse_bank_csv(
            "Ngày,Số tiền\n".encode("cp1252", "replace") + b"\xff\xfe\x00", mapping=SIGNED
        )
    )
    assert error.code == "bad_encoding"


def test_broken_csv_quoting_is_refused() -> None:
    error = refused(
        lambda: parse_bank_csv(
            b'Ng\xc3\xa0y,S\xe1\xbb\x91 ti\xe1\xbb\x81n\n"15/05/2024"x,1\n', mapping=SIGNED
        )
    )
    assert error.code == "malformed_csv"


def test_a_row_with_more_values_than_headings_is_refused_not_read_shifted() -> None:
    """``150,000`` unquoted is two cells: read as it sits it would be a credit of 150 VND."""
    data = (
        "Ngày giao dịch,Ngày hiệu lực,Số bút toán,Ghi nợ,Ghi có,Mô tả\n"
        "15/05/2024,,FT1,,150,000,DVCAH0YN0WQ1NM\n"
        '15/05/2024,,FT2,,"150,000",DVCAH0YN0WQ1NM,\n'
    ).encode()
    parsed = parse_bank_csv(data, mapping=BANK_MAPPING)
    assert row_errors(parsed) == [(2, "bad_record")]
    assert [(line.line_no, line.amount) for line in parsed.lines] == [(3, 150000)]


def test_mapping_needs_amount_or_both_sides() -> None:
    with pytest.raises(ValueError, match="credit and debit"):
        ColumnMapping(date="d", text="t", credit="c")
    with pytest.raises(ValueError, match="credit and debit"):
        ColumnMapping(date="d", text="t", amount="a", credit="c", debit="x")


def _workbook(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_with_real_and_text_dates_and_numeric_amounts() -> None:
    workbook = _workbook(
        [
            ["SAO KÊ TÀI KHOẢN"],
            ["Ngày", "Số tiền", "Loại tiền", "Tài khoản", "Nội dung"],
            [datetime(2024, 5, 15, 8, 31), 150000, "VND", ACCOUNT, "DVCAH0YN0WQ1NM"],
            ["15/05/2024", -22000.0, "VND", ACCOUNT, "PHI"],
            [date(2024, 5, 15), 1500.5, "VND", ACCOUNT, "fraction"],
            [45427, 1000, "VND", ACCOUNT, "serial number, not a date cell"],
        ]
    )

    parsed = parse_bank_xlsx(workbook, mapping=SIGNED)

    assert [
        (line.line_no, line.booking_date, line.amount, line.direction) for line in parsed.lines
    ] == [
        (3, D, 150000, Direction.CREDIT),
        (4, D, 22000, Direction.DEBIT),
    ]
    assert row_errors(parsed) == [(5, "bad_amount"), (6, "bad_date")]
    assert parsed.format == "bank_xlsx"


def test_xlsx_that_would_expand_beyond_the_limit_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sheets, "MAX_XLSX_EXPANDED_BYTES", 10_000)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * 20_000)

    assert refused(lambda: parse_bank_xlsx(buffer.getvalue(), mapping=SIGNED)).code == "too_large"


def test_a_zip_bomb_under_the_size_limit_is_refused_by_its_compression_ratio() -> None:
    """40 MB of one repeated byte packs into ~40 KB: under the 256 MiB limit, but no
    workbook a bank writes is compressed a thousand times over, so it is never opened."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (40 * 1024 * 1024))
    assert len(buffer.getvalue()) < 100_000
    error = refused(lambda: parse_bank_xlsx(buffer.getvalue(), mapping=SIGNED))
    assert error.code == "too_large" and "×" in error.message
