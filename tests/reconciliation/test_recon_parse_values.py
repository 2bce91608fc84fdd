"""The shared value readers: amounts, dates, currency and header text."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from reconciliation.parsers.values import (
    BadValue,
    check_currency,
    check_date,
    date_of,
    header_key,
    header_keys,
    latest_date,
    parse_amount,
    whole_vnd,
)


def _code(call: object) -> str:
    assert callable(call)
    with pytest.raises(BadValue) as caught:
        call()
    return caught.value.code


@pytest.mark.parametrize(
    ("text", "thousands", "expected"),
    [
        ("150000", ",", 150000),
        (" 150,000 ", ",", 150000),
        ("1,500,000", ",", 1500000),
        ("150,000.00", ",", 150000),
        ("150000.0", ",", 150000),
        ("150.000", ".", 150000),
        ("1.500.000,00", ".", 1500000),
        ("150000", "", 150000),
        ("+150000", "", 150000),
        ("\u00a0150000\u00a0", "", 150000),
    ],
)
def test_whole_amounts_in_the_declared_style_are_read(
    text: str, thousands: str, expected: int
) -> None:
    assert parse_amount(text, thousands=thousands) == expected


@pytest.mark.parametrize(
    ("text", "thousands"),
    [
        ("150000.50", ","),
        ("150.000,5", ","),
        ("150.000,5", "."),
        ("1,50,000", ","),
        ("15,0000", ","),
        ("150.000", ","),  # a dot group in the comma style is not 150
        ("150,000", "."),
        ("150,000", ""),
        ("150.", ","),
        ("1.2.3", ""),
        ("", ","),
        ("  ", ","),
        ("-150000", ","),
        ("0", ","),
        ("1e5", ","),
        ("150\u00a0000", ","),
        ("١٥٠", ","),
    ],
)
def test_anything_else_is_a_bad_amount(text: str, thousands: str) -> None:
    assert _code(lambda: parse_amount(text, thousands=thousands)) == "bad_amount"


def test_negative_and_zero_only_where_allowed() -> None:
    assert parse_amount("-22,000", allow_negative=True) == -22000
    assert parse_amount("0", allow_zero=True) == 0


@pytest.mark.parametrize(
    ("cell", "expected"),
    [(150000, 150000), (150000.0, 150000), (Decimal("150000.00"), 150000), ("150,000", 150000)],
)
def test_spreadsheet_cells_that_hold_whole_amounts(cell: object, expected: int) -> None:
    assert whole_vnd(cell) == expected


@pytest.mark.parametrize(
    "cell", [150000.5, Decimal("1.5"), None, True, float("nan"), date(2024, 5, 15)]
)
def test_spreadsheet_cells_that_do_not(cell: object) -> None:
    assert _code(lambda: whole_vnd(cell)) == "bad_amount"


def test_dates_from_cells_and_text() -> None:
    ict = timezone(timedelta(hours=7))
    assert date_of("15/05/2024", "%d/%m/%Y") == date(2024, 5, 15)
    assert date_of(datetime(2024, 5, 15, 23, 0), "%d/%m/%Y") == date(2024, 5, 15)
    # 18:30 UTC on the 14th is already the 15th in Hà Nội
    assert date_of(datetime(2024, 5, 14, 18, 30, tzinfo=UTC), "%d/%m/%Y") == date(2024, 5, 15)
    assert date_of(datetime(2024, 5, 15, 0, 30, tzinfo=ict), "%d/%m/%Y") == date(2024, 5, 15)
    assert _code(lambda: date_of("30/02/2024", "%d/%m/%Y")) == "bad_date"
    assert _code(lambda: date_of(45427, "%d/%m/%Y")) == "bad_date"
    assert _code(lambda: date_of(None, "%d/%m/%Y")) == "bad_date"


def test_sane_date_range_is_2000_to_one_year_after_the_reference() -> None:
    reference = date(2024, 5, 15)
    assert check_date(date(2000, 1, 1), reference) == date(2000, 1, 1)
    assert check_date(date(2025, 5, 15), reference) == date(2025, 5, 15)
    assert _code(lambda: check_date(date(1999, 12, 31), reference)) == "date_out_of_range"
    assert _code(lambda: check_date(date(2025, 5, 16), reference)) == "date_out_of_range"
    assert latest_date(date(2024, 2, 29)) == date(2025, 2, 28)


@pytest.mark.parametrize("text", ["VND", "vnd", " VNĐ ", "704"])
def test_vnd_spellings_are_accepted(text: str) -> None:
    assert check_currency(text) == "VND"


@pytest.mark.parametrize("text", ["USD", "", None, "VN"])
def test_other_currencies_are_unknown(text: str | None) -> None:
    assert _code(lambda: check_currency(text)) == "unknown_currency"


def test_headers_compare_without_diacritics_case_or_spacing() -> None:
    assert header_key("  Mã GD   VNPAY ") == "ma gd vnpay"
    assert header_key("ĐƠN VỊ") == "don vi"
    assert header_keys("Mã GD VNPAY (vnp_TransactionNo)") == {
        "ma gd vnpay (vnp_transactionno)",
        "ma gd vnpay",
        "vnp_transactionno",
    }
