"""The sandbox's statement files parse back to exactly the intended lines, and every
injected discrepancy shows in the parsed output (round trip through the real parsers)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from recon_parse_helpers import ACCOUNT, D, bank_line

from providers.sandbox.statements import (
    ICT,
    Channel,
    Discrepancies,
    FeeKind,
    PaidPayment,
    camt053,
    treasury_csv,
    vietqr_transfer_text,
    vnpay_batch_text,
    vnpay_day_file,
)
from providers.sandbox.statements_pos import CardSale, pos_settlement_csv
from reconciliation.model import ControlTotals, Direction, Source, StatementLine
from reconciliation.parsers import (
    parse_camt053,
    parse_pos_settlement,
    parse_treasury_csv,
    parse_vnpay_day,
)

DAY = D  # the sample day, on which bank_line books
OTHER_ACCOUNT = "0021009999999"


def _paid(
    reference: str,
    amount: int,
    at: tuple[int, int],
    channel: Channel,
    provider_txn_id: str,
    agency_code: str,
    kind: FeeKind = "fee",
    *,
    day: date = DAY,
    account: str = ACCOUNT,
    fee_lines: tuple[tuple[FeeKind, int], ...] = (),
) -> PaidPayment:
    """A payment paid at ``at`` (hour, minute) Vietnam time on ``day``, into ``account``, its
    whole amount one ``kind`` of fee unless ``fee_lines`` split it."""
    hour, minute = at
    return PaidPayment(
        reference,
        amount,
        datetime(day.year, day.month, day.day, hour, minute, tzinfo=ICT),
        channel,
        provider_txn_id,
        agency_code,
        fee_lines or ((kind, amount),),
        account,
    )


YESTERDAY, TOMORROW = DAY - timedelta(days=1), DAY + timedelta(days=1)
PAYMENTS = [
    _paid(
        "DVCQR0000000001",
        185000,
        (8, 5),
        "vietqr",
        "FT24136000101",
        "H26.01",
        fee_lines=(("charge", 135000), ("fee", 50000)),
    ),
    _paid("DVCQR0000000002", 200000, (9, 30), "vietqr", "FT24136000102", "H26.02", "charge"),
    _paid("DVCVN0000000001", 150000, (10, 15), "vnpay", "14412345", "H26.01"),
    _paid("DVCVN0000000002", 300000, (23, 59), "vnpay", "14412346", "H26.01", "charge"),
    _paid("DVCPS0000000001", 90000, (11, 0), "pos", "413612345601", "H26.02"),
    # yesterday's VNPAY payments: settled to the bank today
    _paid(
        "DVCVN0000000000", 400000, (14, 0), "vnpay", "14400001", "H26.01", "charge", day=YESTERDAY
    ),
    _paid(
        "DVCVN000000000B", 100000, (15, 0), "vnpay", "14400002", "H26.02", "charge", day=YESTERDAY
    ),
    # another account's transfer, and a payment just after midnight (tomorrow)
    _paid(
        "DVCQR0000000009",
        70000,
        (12, 0),
        "vietqr",
        "FT24136000109",
        "H26.03",
        account=OTHER_ACCOUNT,
    ),
    _paid("DVCQR0000000010", 80000, (0, 1), "vietqr", "FT24137000001", "H26.01", day=TOMORROW),
]
BY_REF = {payment.reference: payment for payment in PAYMENTS}
#: The card sales of the day as the acquirer saw them: the POS payment, and one on another
#: terminal.
SALES = [
    CardSale(
        p.reference, p.provider_txn_id, "T-01", p.amount, p.paid_at, "A1B2C3", "970436******1234"
    )
    for p in PAYMENTS
    if p.channel == "pos"
] + [
    CardSale(
        "DVCPS0000000002",
        "413612345701",
        "T-02",
        1200000,
        datetime(DAY.year, DAY.month, DAY.day, 13, 5, tzinfo=ICT),
        "P4Q5R6",
        "512345******0008",
    )
]
RRN_TO_REF = {sale.rrn: sale.reference for sale in SALES}


# --- round trips -------------------------------------------------------------------------


def test_vnpay_day_file_parses_to_exactly_the_days_vnpay_payments() -> None:
    parsed = parse_vnpay_day(vnpay_day_file(PAYMENTS, DAY, tmn_code="DVCHN001", fee_per_txn=1650))

    assert parsed.lines == tuple(
        StatementLine(
            source=Source.VNPAY,
            line_no=line_no,
            amount=p.amount,
            direction=Direction.CREDIT,
            booking_date=DAY,
            reference=p.reference,
            provider_txn_id=p.provider_txn_id,
            text=f"Thanh toan ho so {p.reference}",
            account="DVCHN001",
            status="succeeded",
            extra={"paid_at": p.paid_at.isoformat(), "fee": "1650", "bank": bank},
        )
        for line_no, p, bank in [
            (4, BY_REF["DVCVN0000000001"], "VCB"),
            (5, BY_REF["DVCVN0000000002"], "BIDV"),
        ]
    )
    assert parsed.errors == ()
    assert parsed.control == ControlTotals(total_credits=450000, total_debits=0, entry_count=2)
    assert parsed.period_start == DAY


def test_camt053_parses_to_the_days_transfers_and_yesterdays_vnpay_batch() -> None:
    parsed = parse_camt053(
        camt053(ACCOUNT, PAYMENTS, DAY, 5_000_000, tmn_code="DVCHN001", vnpay_fee_per_txn=1650)
    )

    def credit(line_no: int, amount: int, ref: str, text: str) -> StatementLine:
        return bank_line(
            line_no, amount, provider_txn_id=ref, text=text, extra={"entry_ref": str(line_no)}
        )

    first, second = BY_REF["DVCQR0000000001"], BY_REF["DVCQR0000000002"]
    assert parsed.lines == (
        credit(1, 185000, "FT24136000101", vietqr_transfer_text(first)),
        credit(2, 200000, "FT24136000102", vietqr_transfer_text(second)),
        credit(
            3,
            500000 - 2 * 1650,
            "VNPAY20240514",
            vnpay_batch_text(DAY - timedelta(days=1), "DVCHN001"),
        ),
    )
    assert "DVCQR0000000001" in parsed.lines[0].text
    assert parsed.control == ControlTotals(
        opening_balance=5_000_000,
        closing_balance=5_000_000 + 185000 + 200000 + 496700,
        total_credits=881700,
        entry_count=3,
    )
    assert (parsed.account, parsed.period_start, parsed.period_end) == (ACCOUNT, DAY, DAY)


def test_treasury_csv_parses_to_one_document_per_agency_and_fee_kind() -> None:
    parsed = parse_treasury_csv(treasury_csv(PAYMENTS, DAY, office="0011", chapter="018"))

    assert [
        (
            line.document_no,
            line.agency_code,
            line.fee_kind,
            line.account,
            line.amount,
            line.booking_date,
        )
        for line in parsed.lines
    ] == [
        ("0000001", "H26.01", "charge", "7111", 135000 + 300000, DAY),
        ("0000002", "H26.01", "fee", "3511", 50000 + 150000, DAY),
        ("0000003", "H26.02", "charge", "7111", 200000, DAY),
        ("0000004", "H26.02", "fee", "3511", 90000, DAY),
        ("0000005", "H26.03", "fee", "3511", 70000, DAY),
    ]
    assert {line.extra["kbnn_office"] for line in parsed.lines} == {"0011"}
    assert parsed.control == ControlTotals(total_credits=995000, entry_count=5)
    assert parsed.errors == ()


# --- discrepancies -----------------------------------------------------------------------


def _vnpay(problems: Discrepancies) -> dict[str, list[StatementLine]]:
    parsed = parse_vnpay_day(vnpay_day_file(PAYMENTS, DAY, problems=problems))
    assert parsed.errors == ()
    found: dict[str, list[StatementLine]] = {}
    for line in parsed.lines:
        found.setdefault(line.reference or "", []).append(line)
    return found


def _bank(problems: Discrepancies) -> dict[str, list[StatementLine]]:
    parsed = parse_camt053(camt053(ACCOUNT, PAYMENTS, DAY, 0, problems=problems))
    assert parsed.errors == ()
    found: dict[str, list[StatementLine]] = {}
    for line in parsed.lines:
        key = next(
            (ref for ref in BY_REF if ref in line.text),
            "VNPAY" if "VNPAY" in line.text else line.text,
        )
        found.setdefault(key, []).append(line)
    return found


def _treasury(problems: Discrepancies) -> dict[str, list[StatementLine]]:
    parsed = parse_treasury_csv(treasury_csv(PAYMENTS, DAY, problems=problems))
    assert parsed.errors == ()
    found: dict[str, list[StatementLine]] = {}
    for line in parsed.lines:
        found.setdefault(f"{line.agency_code}/{line.fee_kind}", []).append(line)
    return found


def _pos(problems: Discrepancies) -> dict[str, list[StatementLine]]:
    parsed = parse_pos_settlement(pos_settlement_csv(SALES, DAY, problems=problems))
    assert parsed.errors == ()
    found: dict[str, list[StatementLine]] = {}
    for line in parsed.lines:
        rrn = line.provider_txn_id or ""
        found.setdefault(RRN_TO_REF.get(rrn, rrn), []).append(line)
    return found


CASES = [
    # (reader, reference to disturb, key under which its line is found)
    pytest.param(_vnpay, "DVCVN0000000001", "DVCVN0000000001", id="vnpay"),
    pytest.param(_bank, "DVCQR0000000002", "DVCQR0000000002", id="bank-transfer"),
    pytest.param(_bank, "DVCVN0000000000", "VNPAY", id="bank-vnpay-batch"),
    pytest.param(_treasury, "DVCQR0000000002", "H26.02/charge", id="treasury-document"),
    pytest.param(_pos, "DVCPS0000000001", "DVCPS0000000001", id="pos-by-reference"),
    pytest.param(_pos, "413612345701", "DVCPS0000000002", id="pos-by-rrn"),
]


@pytest.mark.parametrize(("read", "ref", "key"), CASES)
def test_dropped_line_is_missing_and_nothing_else_changes(read: object, ref: str, key: str) -> None:
    assert callable(read)
    clean, dropped = read(Discrepancies()), read(Discrepancies(drop=frozenset({ref})))

    assert key in clean and key not in dropped
    assert {k: [line.amount for line in v] for k, v in dropped.items()} == {
        k: [line.amount for line in v] for k, v in clean.items() if k != key
    }


@pytest.mark.parametrize(("read", "ref", "key"), CASES)
def test_changed_amount_shows_on_its_line(read: object, ref: str, key: str) -> None:
    assert callable(read)
    clean, changed = read(Discrepancies()), read(Discrepancies(amount_delta={ref: -5000}))

    assert [line.amount for line in changed[key]] == [line.amount - 5000 for line in clean[key]]


@pytest.mark.parametrize(("read", "ref", "key"), CASES)
def test_duplicated_line_appears_twice(read: object, ref: str, key: str) -> None:
    assert callable(read)
    doubled = read(Discrepancies(duplicate=frozenset({ref})))

    first, second = doubled[key]
    assert (first.amount, first.provider_txn_id) == (second.amount, second.provider_txn_id)
    assert first.line_no != second.line_no


@pytest.mark.parametrize(("read", "ref", "key"), CASES)
def test_shifted_date_shows_on_its_line(read: object, ref: str, key: str) -> None:
    assert callable(read)
    [line] = read(Discrepancies(shift_days={ref: 2}))[key]
    assert line.booking_date == DAY + timedelta(days=2)


@pytest.mark.parametrize(
    "read", [_vnpay, _bank, _treasury, _pos], ids=["vnpay", "bank", "treasury", "pos"]
)
def test_unknown_credits_are_added_without_touching_known_lines(read: object) -> None:
    assert callable(read)
    clean, extra = read(Discrepancies()), read(Discrepancies(unknown_credits=(99000, 12000)))

    added = [line.amount for k, v in extra.items() if k not in clean for line in v]
    assert sorted(added) == [12000, 99000]
    assert {k: [line.amount for line in v] for k, v in extra.items() if k in clean} == {
        k: [line.amount for line in v] for k, v in clean.items()
    }


def test_failed_vnpay_payment_is_marked_failed_and_left_out_of_settlement_and_treasury() -> None:
    ref = "DVCVN0000000001"
    problems = Discrepancies(failed=frozenset({ref}))

    [line] = _vnpay(problems)[ref]
    assert line.status == "failed"
    day_file = parse_vnpay_day(vnpay_day_file(PAYMENTS, DAY, problems=problems))
    assert day_file.control.total_credits == 300000  # the trailer counts only what settles

    [fees] = _treasury(problems)["H26.01/fee"]
    assert fees.amount == 50000  # without the failed payment's 150,000
    tomorrow = parse_camt053(
        camt053(ACCOUNT, PAYMENTS, DAY + timedelta(days=1), 0, problems=problems)
    )
    [batch] = [line for line in tomorrow.lines if "VNPAY" in line.text]
    assert batch.amount == 300000


def test_pos_settlement_parses_to_the_days_card_sales_one_batch_per_terminal() -> None:
    later = CardSale("DVCPS9", "413612349999", "T-01", 5000, SALES[0].completed_at + timedelta(1))
    parsed = parse_pos_settlement(pos_settlement_csv([*SALES, later], DAY, merchant_id="MID1"))

    assert parsed.errors == () and parsed.account == "MID1"
    assert [(line.provider_txn_id, line.account, line.amount) for line in parsed.lines] == [
        ("413612345601", "T-01", 90000),
        ("413612345701", "T-02", 1200000),
    ]
    assert {line.document_no for line in parsed.lines} == {f"{DAY.timetuple().tm_yday:06d}"}
    assert parsed.control.total_credits == 1290000


def test_failed_card_sale_is_written_void_and_left_out_of_the_net() -> None:
    problems = Discrepancies(failed=frozenset({"DVCPS0000000001"}))
    [line] = _pos(problems)["DVCPS0000000001"]

    assert (line.status, line.extra["pos_type"]) == ("failed", "VOID")
    parsed = parse_pos_settlement(pos_settlement_csv(SALES, DAY, problems=problems))
    assert parsed.control.total_credits == 1200000


def test_payment_time_needs_a_timezone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        PaidPayment("R", 1, datetime(2024, 5, 15, 9, 0), "vietqr", "T", "A")
