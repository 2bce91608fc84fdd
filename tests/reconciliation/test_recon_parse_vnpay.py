"""The VNPAY day file: columns by folded header name, refunds, statuses, the total row."""

from __future__ import annotations

from datetime import date

import pytest
from recon_parse_helpers import data, edited, refused, row_errors, text

from reconciliation.model import ControlTotals, Direction, Source, StatementLine
from reconciliation.parsers import parse_vnpay_day

D = date(2024, 5, 15)


def _vnpay(
    line_no: int, txn_no: str, ref: str, amount: int, at: str, bank: str, fee: int, **fields: object
) -> StatementLine:
    kind = "Hoan tien" if fields.get("direction") is Direction.DEBIT else "Thanh toan"
    return StatementLine(
        source=Source.VNPAY,
        line_no=line_no,
        amount=amount,
        direction=fields.pop("direction", Direction.CREDIT),  # type: ignore[arg-type]
        booking_date=D,
        reference=ref,
        provider_txn_id=txn_no,
        text=f"{kind} ho so {ref}",
        account="DVCHN001",
        status=fields.pop("status", "succeeded"),  # type: ignore[arg-type]
        extra={"paid_at": f"2024-05-15T{at}+07:00", "fee": str(fee), "bank": bank},
    )


def _sample(old: str, new: str) -> bytes:
    return edited("vnpay_day_2024-05-15.csv", (old, new))


def test_sample_day_file_gives_exact_lines_and_ties_to_its_total_row() -> None:
    parsed = parse_vnpay_day(data("vnpay_day_2024-05-15.csv"))

    assert parsed.lines == (
        _vnpay(5, "14412345", "DVCVH429VJ972R", 150000, "08:15:02", "NCB", 1650),
        _vnpay(6, "14412377", "DVCVECYHW16H20", 200000, "09:40:51", "VCB", 2200),
        _vnpay(7, "14412402", "DVCBZ1W4W9JKMZ", 50000, "10:02:13", "TCB", 0, status="failed"),
        _vnpay(8, "14412533", "DVCHT0EJKRHXM5", 1200000, "14:27:45", "BIDV", 13200),
        _vnpay(
            9, "14412601", "DVCVH429VJ972R", 150000, "16:05:00", "NCB", 0, direction=Direction.DEBIT
        ),
    )
    assert parsed.errors == ()
    # successful payments 1,550,000 − successful refunds 150,000 = the 1,400,000 declared
    assert parsed.control == ControlTotals(
        total_credits=1550000, total_debits=150000, entry_count=5
    )
    assert (parsed.account, parsed.period_start, parsed.format) == ("DVCHN001", D, "vnpay_day_csv")


def test_headers_match_without_diacritics_in_any_case_and_order_or_as_vnpay_field_names() -> None:
    parsed = parse_vnpay_day(data("vnpay_day_plain_headers.csv"), as_of=D)

    assert [
        (line.provider_txn_id, line.direction, line.amount, line.status) for line in parsed.lines
    ] == [
        ("14412345", Direction.CREDIT, 150000, "succeeded"),
        ("14412390", Direction.DEBIT, 50000, "succeeded"),
    ]
    assert parsed.period_start is None
    assert parsed.errors == ()


def test_wrong_transaction_count_in_total_row_is_a_count_mismatch() -> None:
    broken = _sample('Tổng cộng,5,,"1,400,000"', 'Tổng cộng,4,,"1,400,000"')
    assert refused(lambda: parse_vnpay_day(broken)).code == "count_mismatch"


def test_total_that_counts_a_failed_payment_does_not_tie() -> None:
    broken = _sample('Tổng cộng,5,,"1,400,000"', 'Tổng cộng,5,,"1,450,000"')

    error = refused(lambda: parse_vnpay_day(broken))

    assert error.code == "totals_do_not_tie"
    assert "1450000" in error.message and "1400000" in error.message


def test_fee_total_that_differs_from_the_rows_does_not_tie() -> None:
    broken = _sample('"17,050",', '"17,000",')
    assert refused(lambda: parse_vnpay_day(broken)).code == "totals_do_not_tie"


def test_file_without_total_row_is_refused() -> None:
    csv = text("vnpay_day_2024-05-15.csv")
    without = "\n".join(line for line in csv.splitlines() if not line.startswith("Tổng cộng"))
    assert refused(lambda: parse_vnpay_day(without.encode())).code == "missing_total"


def test_missing_column_is_refused_and_named() -> None:
    csv = text("vnpay_day_2024-05-15.csv").replace("Trạng thái", "Ghi chú")

    error = refused(lambda: parse_vnpay_day(csv.encode()))

    assert error.code == "missing_column"
    assert "Trạng thái" in error.message


def test_two_columns_for_one_field_are_refused() -> None:
    csv = text("vnpay_day_2024-05-15.csv").replace("Ngân hàng", "Số tiền")
    assert refused(lambda: parse_vnpay_day(csv.encode())).code == "duplicate_column"


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ('"200,000",15/05', '"200,000.50",15/05', "bad_amount"),
        ('"200,000",15/05', '"20,00,00",15/05', "bad_amount"),
        ('"200,000",15/05', '"-200,000",15/05', "bad_amount"),
        ('"200,000",15/05', ",15/05", "bad_amount"),
        ("15/05/2024 09:40:51", "2024-05-15 09:40:51", "bad_date"),
        ("15/05/2024 09:40:51", "16/05/2025 09:40:51", "date_out_of_range"),
        (
            'Thanh toán,Thành công,DVCHN001,"2,200"',
            'Chuyển khoản,Thành công,DVCHN001,"2,200"',
            "bad_field",
        ),
        (
            'Thanh toán,Thành công,DVCHN001,"2,200"',
            'Thanh toán,Đang xử lý,DVCHN001,"2,200"',
            "bad_field",
        ),
        (",14412377,DVCVECYHW16H20,", ",,DVCVECYHW16H20,", "missing_field"),
    ],
    ids=[
        "fraction",
        "misgrouped",
        "negative",
        "empty",
        "iso-date",
        "next-year",
        "type",
        "status",
        "no-txn-no",
    ],
)
def test_bad_row_is_reported_with_its_line_and_the_rest_is_kept(
    old: str, new: str, code: str
) -> None:
    parsed = parse_vnpay_day(_sample(old, new))

    assert row_errors(parsed) == [(6, code)]
    assert [line.line_no for line in parsed.lines] == [5, 7, 8, 9]
    assert parsed.control.entry_count == 5
    # Without row 6 the net cannot be checked, and is not claimed.
    assert parsed.control.total_credits is None


def test_unknown_currency_column_value_is_reported() -> None:
    csv = text("vnpay_day_plain_headers.csv").replace("Ngay GD", "Ngay GD,Loai tien")
    csv = csv.replace("08:15:02", "08:15:02,USD").replace("09:00:00", "09:00:00,VND")
    parsed = parse_vnpay_day(csv.encode(), as_of=D)
    assert row_errors(parsed) == [(2, "unknown_currency")]


def test_settlement_day_that_cannot_be_read_refuses_the_file() -> None:
    broken = _sample("Ngày đối soát,15/05/2024", "Ngày đối soát,15-05-2024")
    assert refused(lambda: parse_vnpay_day(broken)).code == "bad_date"
