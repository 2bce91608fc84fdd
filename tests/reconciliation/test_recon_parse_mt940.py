"""MT940: the sample statement, balances that must tie, and strict VND amounts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from recon_parse_helpers import ACCOUNT, D, bank_line, data, refused, row_errors, text

from reconciliation.model import ControlTotals, Direction
from reconciliation.parsers import parse_mt940


def _statement(
    *lines: str, opening: str = "C240514VND10000000,", closing: str = "C240515VND12628000,"
) -> bytes:
    return "\r\n".join(
        [
            ":20:STMT240515001",
            f":25:{ACCOUNT}",
            ":28C:136/1",
            f":60F:{opening}",
            *lines,
            f":62F:{closing}",
            "-",
        ]
    ).encode()


def _one_entry(line_61: str, closing: str) -> bytes:
    return _statement(f":61:{line_61}", ":86:THANH TOAN", closing=closing)


def test_sample_statement_gives_exact_lines_and_balances() -> None:
    parsed = parse_mt940(data("mt940_2024-05-15.sta"))

    assert parsed.lines == (
        bank_line(
            line_no=1,
            amount=150000,
            direction=Direction.CREDIT,
            provider_txn_id="FT24136000001",
            text="MBVCB.5678901234.DVCAH0YN0WQ1NM Thanh toan le phi",
            extra={"type_code": "NTRF", "customer_reference": "NONREF"},
        ),
        bank_line(
            line_no=2,
            amount=2500000,
            direction=Direction.CREDIT,
            provider_txn_id="FT24136000002",
            text="VNPAY TT GD NGAY 14/05/2024 TMN DVCHN001",
            extra={"type_code": "NTRF", "customer_reference": "VNPAY140524"},
        ),
        bank_line(
            line_no=3,
            amount=22000,
            direction=Direction.DEBIT,
            provider_txn_id="FT24136000003",
            text="PHI QUAN LY TAI KHOAN THANG 05/2024",
            extra={"type_code": "NCHG", "customer_reference": "NONREF"},
        ),
    )
    assert parsed.errors == ()
    assert parsed.control == ControlTotals(opening_balance=10000000, closing_balance=12628000)
    assert (parsed.account, parsed.period_end, parsed.format) == (ACCOUNT, D, "mt940")


def test_balances_that_do_not_tie_refuse_the_statement() -> None:
    broken = text("mt940_2024-05-15.sta").replace(
        ":62F:C240515VND12628000,", ":62F:C240515VND12638000,"
    )

    error = refused(lambda: parse_mt940(broken.encode()))

    assert error.code == "balances_do_not_tie"
    assert "12638000" in error.message


def test_multi_line_details_and_customer_reference_without_bank_reference() -> None:
    parsed = parse_mt940(
        _statement(
            ":61:240515C150000,00NTRFDVCAH0YN0WQ1NM",
            ":86:CHUYEN TIEN DVCAH0YN0WQ1NM",
            "THANH TOAN LE PHI",
            closing="C240515VND10150000,",
        )
    )

    [line] = parsed.lines
    assert line.provider_txn_id == "DVCAH0YN0WQ1NM"
    assert line.text == "CHUYEN TIEN DVCAH0YN0WQ1NM\nTHANH TOAN LE PHI"
    assert line.booking_date == line.value_date == D


def test_entry_date_across_new_year_takes_the_nearest_year() -> None:
    parsed = parse_mt940(
        _one_entry("2401021231C150000,NTRFNONREF", "C240102VND10150000,").replace(
            b"C240514", b"C231231"
        )
    )
    [line] = parsed.lines
    assert (line.value_date, line.booking_date) == (date(2024, 1, 2), date(2023, 12, 31))


def test_reversal_of_a_credit_is_a_debit() -> None:
    parsed = parse_mt940(_one_entry("240515RC150000,NTRFNONREF//FT1", "C240515VND9850000,"))
    [line] = parsed.lines
    assert (line.direction, line.extra["reversal"]) == (Direction.DEBIT, "true")


@pytest.mark.parametrize(
    "amount",
    ["150000,50", "150000.50", "1,50,000", "150.000", ""],
    ids=["decimal-comma-fraction", "decimal-point", "grouped", "dot-grouped", "empty"],
)
def test_amount_that_is_not_whole_swift_vnd_is_a_bad_amount_row(amount: str) -> None:
    parsed = parse_mt940(
        _statement(
            ":61:240515C150000,NTRFNONREF//FT1",
            ":86:FIRST",
            f":61:240515C{amount}NTRFNONREF//FT2",
            ":86:SECOND",
            closing="C240515VND10150000,",
        )
    )

    assert [line.provider_txn_id for line in parsed.lines] == ["FT1"]
    assert row_errors(parsed) == [(2, "bad_amount")]


def test_february_30_is_a_bad_date_not_the_28th() -> None:
    parsed = parse_mt940(_one_entry("240230C150000,NTRFNONREF//FT1", "C240515VND10150000,"))
    assert parsed.lines == ()
    assert row_errors(parsed) == [(1, "bad_date")]


def test_value_date_more_than_a_year_after_the_statement_is_out_of_range() -> None:
    parsed = parse_mt940(_one_entry("250516C150000,NTRFNONREF//FT1", "C240515VND10150000,"))
    assert row_errors(parsed) == [(1, "date_out_of_range")]


def test_unreadable_statement_line_is_a_bad_record_and_never_merges_with_the_next() -> None:
    parsed = parse_mt940(
        _statement(
            ":61:garbage",
            ":61:240515C150000,NTRFNONREF//FT1",
            ":86:OK",
            closing="C240515VND10150000,",
        )
    )
    assert row_errors(parsed) == [(1, "bad_record")]
    assert [(line.line_no, line.provider_txn_id) for line in parsed.lines] == [(2, "FT1")]


def test_statement_in_another_currency_is_refused() -> None:
    usd = _statement(opening="C240514USD100,", closing="C240515USD100,")
    assert refused(lambda: parse_mt940(usd)).code == "unknown_currency"


def test_balance_with_a_fraction_is_refused() -> None:
    odd = _statement(opening="C240514VND100,5", closing="C240515VND100,5")
    assert refused(lambda: parse_mt940(odd)).code == "bad_amount"


def test_two_statements_in_one_file_are_refused() -> None:
    one = text("mt940_2024-05-15.sta")
    assert refused(lambda: parse_mt940((one + one).encode())).code == "multiple_statements"


def test_statement_without_closing_balance_is_refused() -> None:
    missing = text("mt940_2024-05-15.sta").replace(":62F:", ":65:")
    assert refused(lambda: parse_mt940(missing.encode())).code == "missing_balance"


def test_bytes_naming_a_file_are_parsed_as_data_and_the_file_is_not_read(tmp_path: Path) -> None:
    # mt940.parse() would open a path given as data; the parser must not.
    statement = tmp_path / "statement.sta"
    statement.write_bytes(data("mt940_2024-05-15.sta"))

    assert refused(lambda: parse_mt940(str(statement).encode())).code == "not_a_statement"


def test_non_utf8_bytes_are_a_bad_encoding() -> None:
    assert refused(lambda: parse_mt940(b":20:X\r\n:86:\xff\xfe")).code == "bad_encoding"
