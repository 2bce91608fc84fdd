"""The registry, the size guard, the published samples, and one input for every error code."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
from recon_parse_helpers import BANK_MAPPING, DATA, SAMPLES, D, data, edited, refused

from reconciliation.parsers import DEFAULT_MAX_BYTES, PARSERS, codes, parse

SAMPLE_FORMATS = {
    "camt053_2024-05-15.xml": ("camt053", {}),
    "camt054_2024-05-15.xml": ("camt054", {}),
    "mt940_2024-05-15.sta": ("mt940", {}),
    "vnpay_day_2024-05-15.csv": ("vnpay_day", {}),
    "pos_settlement_2024-05-15.csv": ("pos_settlement", {}),
    "treasury_kbnn_2024-05-15.csv": ("treasury_csv", {}),
    "bank_statement_2024-05-15.csv": ("bank_csv", {"mapping": BANK_MAPPING}),
    "vnpost_cod_2024-05-16.csv": ("vnpost_cod", {}),
}


def test_registry_has_every_source_format() -> None:
    assert set(PARSERS) == {
        "camt053",
        "camt054",
        "mt940",
        "bank_csv",
        "bank_xlsx",
        "vnpay_day",
        "pos_settlement",
        "treasury_csv",
        "treasury_xlsx",
        "vnpost_cod",
    }


def test_every_published_sample_is_pinned_as_test_data_and_parses_cleanly() -> None:
    published = sorted(path.name for path in SAMPLES.iterdir())

    assert published == sorted(SAMPLE_FORMATS)
    for name in published:
        assert (SAMPLES / name).read_bytes() == (DATA / name).read_bytes(), name
        format, options = SAMPLE_FORMATS[name]
        parsed = parse(format, data(name), **options)
        assert parsed.lines and parsed.errors == (), name


def test_file_above_the_limit_is_refused_before_parsing() -> None:
    sample = data("vnpay_day_2024-05-15.csv")

    assert parse("vnpay_day", sample, max_bytes=len(sample)).lines
    assert (
        refused(lambda: parse("vnpay_day", sample, max_bytes=len(sample) - 1)).code == "too_large"
    )
    big = b"x" * (DEFAULT_MAX_BYTES + 1)
    assert refused(lambda: parse("camt053", big)).code == "too_large"


def test_unknown_format_is_refused() -> None:
    assert refused(lambda: parse("mt942", b"")).code == "unknown_format"


# --- one input per error code ------------------------------------------------------------


Call = tuple[str, bytes, dict[str, Any]]
SAMPLE_OF: dict[str, str] = {format: name for name, (format, _) in SAMPLE_FORMATS.items()}


def _edited(format: str, *edits: tuple[str, str]) -> Call:
    """``format``'s published sample, edited."""
    return (format, edited(SAMPLE_OF[format], *edits), {})


def _workbook(*rows: list[object], sheets: int = 1) -> bytes:
    book = openpyxl.Workbook()
    assert book.active is not None
    for row in rows:
        book.active.append(row)
    for number in range(1, sheets):
        book.create_sheet(f"Sheet{number + 1}")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


FILE_CASES: dict[str, Call] = {
    "too_large": ("mt940", data("mt940_2024-05-15.sta"), {"max_bytes": 10}),
    "unknown_format": ("camt.053", b"", {}),
    "bad_encoding": ("vnpay_day", "STT;Số tiền".encode("utf-16-le"), {}),
    "malformed_xml": ("camt053", b"<Document><Stmt></Document>", {}),
    "external_entity": (
        "camt053",
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
        {},
    ),
    "unsupported_namespace": ("camt053", data("camt052_intraday.xml"), {}),
    "not_a_statement": ("pos_settlement", b"DTL,T1\n", {}),
    "multiple_statements": ("mt940", data("mt940_2024-05-15.sta") * 2, {}),
    "malformed_csv": ("treasury_csv", b'Tong so tien,"1"5\n', {}),
    "malformed_mt940": ("mt940", b":20:X\n:25:A\n:28C:1\n:60F:C240514VND1,\n:62F:x\n", {}),
    "malformed_xlsx": ("treasury_xlsx", b"not a workbook", {}),
    "formula_cell": ("treasury_xlsx", _workbook(["Tổng số tiền", "=SUM(B2:B9)"]), {}),
    "multiple_sheets": ("bank_xlsx", _workbook(["Ngày"], sheets=2), {"mapping": BANK_MAPPING}),
    "missing_column": ("bank_csv", b"Ngay,So tien\n", {"mapping": BANK_MAPPING}),
    "duplicate_column": _edited("vnpay_day", ("Ngân hàng", "Phí")),
    "missing_balance": _edited("camt053", ("<Cd>OPBD</Cd>", "<Cd>ITBD</Cd>")),
    "missing_total": _edited("treasury_csv", ("Tổng số tiền", "Ghi chú")),
    "unknown_currency": _edited("mt940", ("VND", "USD")),
    "bad_amount": _edited("treasury_csv", ('"2,150,000"', '"2,150,000.5"')),
    "bad_date": _edited(
        "pos_settlement", ("HDR,MID000123456,15/05/2024", "HDR,MID000123456,2024-05-15")
    ),
    "balances_do_not_tie": _edited("camt053", (">12928000<", ">12928001<")),
    "count_mismatch": _edited("vnpay_day", ("Tổng cộng,5,", "Tổng cộng,6,")),
    "totals_do_not_tie": _edited("pos_settlement", ("4,300000", "4,300001")),
}
ROW_CASES: dict[str, Call] = {
    "bad_amount": _edited("mt940", ("C150000,NTRF", "C150000,5NTRF")),
    "bad_date": _edited(
        "camt054",
        ("<Dt>2024-05-15</Dt>", "<Dt>2024-13-15</Dt>"),
        ("<DtTm>2024-05-15T08:31:12+07:00</DtTm>", "<Dt>2024-13-01</Dt>"),
    ),
    "date_out_of_range": _edited("treasury_csv", ("0001236,15/05/2024", "0001236,15/05/1999")),
    "unknown_currency": _edited("camt054", ('Ccy="VND">150000', 'Ccy="EUR">150000')),
    "missing_field": _edited("vnpay_day", (",DVCHN001,0,Hoan", ",,0,Hoan")),
    "bad_field": _edited("treasury_csv", (",7111,422,", ",7112,422,")),
    "bad_record": _edited("pos_settlement", ("TRL,T0000002", "NOTE,x\nTRL,T0000002")),
    "not_booked": _edited("camt054", ("<Sts>BOOK</Sts>", "<Sts>PDNG</Sts>")),
    "details_do_not_tie": _edited(
        "camt053", ('<Amt Ccy="VND">100000</Amt></TxAmt>', '<Amt Ccy="VND">10000</Amt></TxAmt>')
    ),
}


def test_every_error_code_has_an_input_that_produces_it() -> None:
    assert set(FILE_CASES) == codes.FILE_CODES
    assert set(ROW_CASES) == codes.ROW_CODES


@pytest.mark.parametrize(("code", "call"), FILE_CASES.items(), ids=list(FILE_CASES))
def test_file_level_code(code: str, call: Call) -> None:
    format, payload, options = call
    assert refused(lambda: parse(format, payload, **options)).code == code


@pytest.mark.parametrize(("code", "call"), ROW_CASES.items(), ids=list(ROW_CASES))
def test_row_level_code(code: str, call: Call) -> None:
    format, payload, options = call
    parsed = parse(format, payload, **options)
    assert [error.code for error in parsed.errors] == [code]
    assert parsed.errors[0].line_no >= 1 and parsed.errors[0].message


def test_parsers_take_no_clock_every_date_bound_is_an_argument() -> None:
    parser: Callable[..., object] = PARSERS["bank_csv"]
    row = b"Ngay giao dich,Ngay hieu luc,So but toan,Ghi no,Ghi co,Mo ta\n16/05/2025,,FT1,,100,x\n"
    assert parse("bank_csv", row, mapping=BANK_MAPPING).errors == ()
    assert [e.code for e in parser(row, mapping=BANK_MAPPING, as_of=D).errors] == [
        "date_out_of_range"
    ]  # type: ignore[attr-defined]
