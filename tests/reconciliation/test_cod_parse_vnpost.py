"""VNPost's COD remittance statement (our layout): exact lines, the total row, bad rows by
line number, and the sandbox's remittance read back. (A file accepted once by its hash is
tested through the import API in ``test_cod_reconciliation.py``.)"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from recon_parse_helpers import data, refused, row_errors, text

from providers.sandbox.statements import ICT, Discrepancies
from providers.sandbox.statements_cod import CodCollection, vnpost_cod_csv
from reconciliation.model import ControlTotals, Direction, Source, StatementLine
from reconciliation.parsers import parse, parse_vnpost_cod

SAMPLE = "vnpost_cod_2024-05-16.csv"
REMITTED = date(2024, 5, 16)


def _cod(line_no: int, item: str, ref: str | None, at: str, amount: int, fee: int) -> StatementLine:
    return StatementLine(
        source=Source.COD,
        line_no=line_no,
        amount=amount,
        direction=Direction.CREDIT,
        booking_date=date.fromisoformat(at[:10]),
        value_date=REMITTED,
        reference=ref,
        provider_txn_id=item,
        account="DEMO-KH001",
        status="succeeded",
        document_no="BK-DEMO-KH001-20240516",
        extra={"fee": str(fee), "remitted": str(amount - fee), "collected_at": f"{at}+07:00"},
    )


def _sample(old: str, new: str) -> bytes:
    csv = text(SAMPLE)
    assert old in csv, old
    return csv.replace(old, new).encode()


def test_sample_remittance_gives_exact_lines_and_ties_to_its_total_row() -> None:
    parsed = parse_vnpost_cod(data(SAMPLE))

    assert parsed.lines == (
        _cod(5, "EB240515013VN", "BCD1-K7Q2M5XW4PJ3TRZA", "2024-05-14T17:45:10", 185000, 5000),
        _cod(6, "EB240515027VN", "BCD1-3HF7QZ2W6T5NLMEX", "2024-05-15T09:12:00", 235000, 5000),
        _cod(7, "EB240515035VN", "BCD2-W6PX4M7KA2QEGUYS", "2024-05-15T15:30:45", 50000, 2000),
        _cod(8, "EB240515044VN", None, "2024-05-15T16:02:00", 1200000, 12000),
    )
    assert parsed.errors == ()
    assert parsed.control == ControlTotals(total_credits=1670000, entry_count=4)
    assert (parsed.source, parsed.account, parsed.format) == (
        Source.COD,
        "DEMO-KH001",
        "vnpost_cod_csv",
    )
    assert (parsed.period_start, parsed.period_end) == (REMITTED, REMITTED)


def test_headers_match_without_diacritics_in_any_order_or_as_vnpost_api_names() -> None:
    csv = (
        "ngay chuyen tien,16/05/2024\n"
        "sale_order_code,STT,cod_amount,item_code,customer_code,NGAY PHAT,Phi thu ho,Thuc chuyen\n"
        "BCD1-AAAA,1,185000,eb240515013vn,KH1,15/05/2024,0,185000\n"
        "Tong cong,,,1,,,0,185000\n"
    )
    broken_trailer = refused(lambda: parse_vnpost_cod(csv.encode()))
    assert broken_trailer.code == "missing_total"  # the COD sum is missing under cod_amount

    parsed = parse_vnpost_cod(csv.replace("Tong cong,,,1", "Tong cong,,185000,1").encode())

    [line] = parsed.lines
    assert (line.provider_txn_id, line.reference, line.account, line.amount) == (
        "EB240515013VN",
        "BCD1-AAAA",
        "KH1",
        185000,
    )
    assert (line.booking_date, line.document_no, parsed.errors) == (date(2024, 5, 15), None, ())


def test_wrong_item_count_in_the_total_row_is_a_count_mismatch() -> None:
    broken = _sample("Tổng cộng,4,", "Tổng cộng,5,")
    assert refused(lambda: parse_vnpost_cod(broken)).code == "count_mismatch"


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ('"1,670,000","24,000"', '"1,675,000","24,000"', "Tiền thu hộ"),
        ('"1,670,000","24,000"', '"1,670,000","20,000"', "Cước thu hộ"),
        ('"24,000","1,646,000"', '"24,000","1,650,000"', "Số tiền chuyển trả"),
    ],
    ids=["cod", "fee", "remitted"],
)
def test_total_row_sums_that_differ_from_the_rows_do_not_tie(
    old: str, new: str, named: str
) -> None:
    error = refused(lambda: parse_vnpost_cod(_sample(old, new)))

    assert error.code == "totals_do_not_tie"
    assert named in error.message and "line 9" in error.message


def test_file_without_total_row_or_remittance_day_is_refused() -> None:
    no_total = "\n".join(line for line in text(SAMPLE).splitlines() if "Tổng cộng" not in line)
    assert refused(lambda: parse_vnpost_cod(no_total.encode())).code == "missing_total"
    no_day = _sample("Ngày chuyển tiền,16/05/2024\n", "")
    assert refused(lambda: parse_vnpost_cod(no_day)).code == "bad_date"
    bad_day = _sample("Ngày chuyển tiền,16/05/2024", "Ngày chuyển tiền,2024-05-16")
    assert refused(lambda: parse_vnpost_cod(bad_day)).code == "bad_date"


def test_missing_column_is_refused_and_named() -> None:
    error = refused(lambda: parse_vnpost_cod(_sample("Cước thu hộ", "Ghi chú")))

    assert error.code == "missing_column"
    assert "Cước thu hộ" in error.message


def test_bad_rows_are_all_listed_with_their_line_numbers_and_give_no_line() -> None:
    csv = text(SAMPLE)
    for old, new in (
        ("EB240515013VN", "EB24051501VN"),  # line 5: not S10-shaped
        ('"235,000","5,000","230,000"', '"235,000.50","5,000","230,000"'),  # line 6
        ('"50,000","2,000","48,000"', '"50,000","2,000","50,000"'),  # line 7: 50,000 − 2,000
        ("15/05/2024 16:02:00", "17/05/2024 16:02:00"),  # line 8: after the remittance day
    ):
        assert old in csv, old
        csv = csv.replace(old, new)

    parsed = parse_vnpost_cod(csv.encode())

    assert row_errors(parsed) == [
        (5, "bad_field"),
        (6, "bad_amount"),
        (7, "details_do_not_tie"),
        (8, "date_out_of_range"),
    ]
    assert parsed.lines == ()
    assert parsed.control.total_credits is None  # rows unread: the sums cannot be compared


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        (",DEMO-KH001,15/05/2024 09:12:00", ",,15/05/2024 09:12:00", "missing_field"),
        ("2,EB240515027VN,", "2,,", "missing_field"),
        (",DEMO-KH001,15/05/2024 09:12:00", ",DEMO KH001,15/05/2024 09:12:00", "bad_field"),
        ("BCD1-3HF7QZ2W6T5NLMEX", "BCD1 3HF7QZ2W6T5NLMEX", "bad_field"),
        ("15/05/2024 09:12:00", "2024-05-15 09:12:00", "bad_date"),
        ("15/05/2024 09:12:00", "15/05/1999 09:12:00", "date_out_of_range"),
        ('"235,000","5,000","230,000"', '"0","0","0"', "bad_amount"),
        ('"235,000","5,000","230,000"', '"235.000","5,000","230,000"', "bad_amount"),
    ],
)
def test_one_bad_value_is_one_row_error_on_its_line(old: str, new: str, code: str) -> None:
    parsed = parse_vnpost_cod(_sample(old, new))

    assert row_errors(parsed) == [(6, code)]
    assert [line.line_no for line in parsed.lines] == [5, 7, 8]


def test_a_row_after_the_total_row_is_a_bad_record() -> None:
    csv = text(SAMPLE) + '5,EB240515053VN,,DEMO-KH001,15/05/2024,"1,000",0,"1,000"\n'
    assert row_errors(parse_vnpost_cod(csv.encode())) == [(10, "bad_record")]


def test_a_row_currency_other_than_vnd_is_refused() -> None:
    csv = (
        "Ngày chuyển tiền,16/05/2024\n"
        "STT,Số hiệu bưu gửi,Mã đơn hàng,Mã khách hàng,Ngày phát,Tiền thu hộ,Cước thu hộ,"
        "Số tiền chuyển trả,Loại tiền\n"
        "1,EB240515013VN,,KH1,15/05/2024,100,0,100,VND\n"
        "2,EB240515027VN,,KH1,15/05/2024,100,0,100,USD\n"
        "Tổng cộng,2,,,,200,0,200,\n"
    )
    assert row_errors(parse_vnpost_cod(csv.encode())) == [(4, "unknown_currency")]


def test_registry_reads_the_format_by_name() -> None:
    assert parse("vnpost_cod", data(SAMPLE)).lines == parse_vnpost_cod(data(SAMPLE)).lines


# -- the sandbox's remittance parses back to exactly what it was given ----------------------

COLLECTED_DAY = date(2024, 5, 15)
COLLECTIONS = [
    CodCollection("EB240515027VN", "BCD1-B", 235000, datetime(2024, 5, 15, 9, 12, tzinfo=ICT)),
    CodCollection("EB240515013VN", "BCD1-A", 185000, datetime(2024, 5, 14, 17, 45, tzinfo=UTC)),
    CodCollection("EB240515035VN", "BCD2-C", 1500, datetime(2024, 5, 15, 15, 30, tzinfo=ICT)),
    CodCollection("EB240515044VN", "BCD1-D", 50000, datetime(2024, 5, 16, 8, 0, tzinfo=ICT)),
]


def test_sandbox_remittance_holds_the_days_collections_net_of_fees_and_ties() -> None:
    parsed = parse_vnpost_cod(vnpost_cod_csv(COLLECTIONS, COLLECTED_DAY, fee_per_item=2000))

    # 17:45 UTC on the 14th is 00:45 on the 15th in Vietnam; the 16th's item waits.
    assert [
        (line.reference, line.provider_txn_id, line.amount, line.extra["fee"], line.booking_date)
        for line in parsed.lines
    ] == [
        ("BCD1-A", "EB240515013VN", 185000, "2000", COLLECTED_DAY),
        ("BCD1-B", "EB240515027VN", 235000, "2000", COLLECTED_DAY),
        ("BCD2-C", "EB240515035VN", 1500, "1500", COLLECTED_DAY),  # the fee never exceeds it
    ]
    assert (parsed.period_end, parsed.account, parsed.errors) == (
        date(2024, 5, 16),
        "DEMO-KH001",
        (),
    )


def test_sandbox_discrepancies_show_in_the_parsed_remittance_only() -> None:
    problems = Discrepancies(
        drop=frozenset({"BCD1-A"}),
        amount_delta={"BCD1-B": -5000},
        duplicate=frozenset({"BCD2-C"}),
        unknown_credits=(70000,),
    )

    parsed = parse_vnpost_cod(vnpost_cod_csv(COLLECTIONS, COLLECTED_DAY, problems=problems))

    assert [(line.reference, line.amount) for line in parsed.lines] == [
        ("BCD1-B", 230000),
        ("BCD2-C", 1500),
        ("BCD2-C", 1500),
        (None, 70000),
    ]
    assert parsed.control == ControlTotals(total_credits=303000, entry_count=4)
