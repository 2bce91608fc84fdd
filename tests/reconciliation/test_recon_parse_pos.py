"""POS end-of-day settlement: records, batch trailers that must tie, card data never echoed."""

from __future__ import annotations

from datetime import date

import pytest
from recon_parse_helpers import data, edited, refused, row_errors

from reconciliation.model import ControlTotals, Direction, Source, StatementLine
from reconciliation.parsers import parse_pos_settlement

D = date(2024, 5, 15)


def _sample(old: str, new: str) -> bytes:
    return edited("pos_settlement_2024-05-15.csv", (old, new))


def test_sample_settlement_gives_exact_lines_per_batch() -> None:
    parsed = parse_pos_settlement(data("pos_settlement_2024-05-15.csv"))

    def pos(
        line_no: int, rrn: str, amount: int, kind: str, pan: str, at: str, code: str, **f: object
    ) -> StatementLine:
        return StatementLine(
            source=Source.POS,
            line_no=line_no,
            amount=amount,
            direction=Direction.DEBIT if kind == "REFUND" else Direction.CREDIT,
            booking_date=D,
            provider_txn_id=rrn,
            account=str(f.get("tid", "T0000001")),
            status="failed" if kind == "VOID" else "succeeded",
            document_no=str(f.get("batch", "000012")),
            extra={
                "pos_type": kind,
                "masked_pan": pan,
                "time": f"2024-05-15T{at}+07:00",
                "approval_code": code,
            },
        )

    assert parsed.lines == (
        pos(2, "413612345601", 150000, "SALE", "970436******1234", "09:12:33", "A1B2C3"),
        pos(3, "413612345602", 200000, "SALE", "411111******1111", "10:30:00", "D4E5F6"),
        pos(4, "413612345603", 90000, "VOID", "970436******5678", "11:00:10", "G7H8J9"),
        pos(5, "413612345604", 50000, "REFUND", "970436******1234", "15:45:00", "K1M2N3"),
        pos(
            7,
            "413612345701",
            1200000,
            "SALE",
            "512345******0008",
            "13:05:59",
            "P4Q5R6",
            tid="T0000002",
            batch="000007",
        ),
    )
    assert parsed.errors == ()
    assert parsed.control == ControlTotals(total_credits=1550000, total_debits=50000, entry_count=5)
    assert (parsed.account, parsed.period_start) == ("MID000123456", D)


def test_batch_trailer_with_wrong_count_is_a_count_mismatch() -> None:
    broken = _sample("TRL,T0000001,000012,4,300000", "TRL,T0000001,000012,3,300000")
    assert refused(lambda: parse_pos_settlement(broken)).code == "count_mismatch"


def test_batch_trailer_that_counts_a_void_does_not_tie() -> None:
    broken = _sample("TRL,T0000001,000012,4,300000", "TRL,T0000001,000012,4,390000")
    error = refused(lambda: parse_pos_settlement(broken))
    assert error.code == "totals_do_not_tie"
    assert "T0000001" in error.message


def test_batch_without_trailer_is_refused() -> None:
    broken = _sample("TRL,T0000002,000007,1,1200000\n", "")
    assert refused(lambda: parse_pos_settlement(broken)).code == "missing_total"


def test_file_without_header_record_is_not_a_statement() -> None:
    broken = _sample("HDR,MID000123456,15/05/2024,VND\n", "")
    assert refused(lambda: parse_pos_settlement(broken)).code == "not_a_statement"


def test_settlement_in_another_currency_is_refused() -> None:
    broken = _sample("15/05/2024,VND", "15/05/2024,USD")
    assert refused(lambda: parse_pos_settlement(broken)).code == "unknown_currency"


def test_unmasked_card_number_is_refused_and_never_repeated() -> None:
    parsed = parse_pos_settlement(_sample("411111******1111", "4111111111111111"))

    assert row_errors(parsed) == [(3, "bad_field")]
    assert "4111111111111111" not in repr(parsed)


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        (",200000,15/05/2024 10:30:00", ",200000.5,15/05/2024 10:30:00", "bad_amount"),
        (",200000,15/05/2024 10:30:00", ",200000,2024-05-15 10:30:00", "bad_date"),
        (",200000,15/05/2024 10:30:00,SALE", ",200000,15/05/2024 10:30:00,AUTH", "bad_field"),
        ("413612345602", "4136123", "bad_field"),
        ("D4E5F6,411111******1111,200000", "D4E5F6,411111******1111,200000,EXTRA", "bad_record"),
    ],
    ids=["fraction", "date", "type", "rrn", "field-count"],
)
def test_bad_record_is_reported_and_leaves_the_batch_total_unchecked(
    old: str, new: str, code: str
) -> None:
    parsed = parse_pos_settlement(_sample(old, new))

    assert row_errors(parsed) == [(3, code)]
    assert [line.line_no for line in parsed.lines] == [2, 4, 5, 7]
    assert parsed.control.total_credits is None
    assert parsed.control.entry_count == 5


def test_unknown_record_type_is_reported() -> None:
    parsed = parse_pos_settlement(_sample("TRL,T0000002", "XYZ,note\nTRL,T0000002"))
    assert row_errors(parsed) == [(8, "bad_record")]
