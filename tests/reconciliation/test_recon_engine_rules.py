"""One small hand-made day per pass and per exception type: each test states every match and
every exception that must come out (lines are named by their position, from 0, per side)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest

from gateway.core.references import is_valid_reference, make_reference
from reconciliation.engine import Result, reconcile
from reconciliation.frame import to_frame
from reconciliation.model import Direction, Source, StatementLine

D = date(2026, 5, 15)
CREDIT, DEBIT = Direction.CREDIT, Direction.DEBIT


def ref(n: int) -> str:
    return make_reference("DVC", n.to_bytes(7, "big"))


R1, R2, R3, R4, R9 = ref(1), ref(2), ref(3), ref(4), ref(9)


def days(n: int) -> date:
    return D + timedelta(days=n)


def gw(amount: int, day: date = D, direction: Direction = CREDIT, **fields: Any) -> StatementLine:
    return StatementLine(Source.GATEWAY, 1, amount, direction, day, **fields)


def ext(
    amount: int,
    day: date = D,
    direction: Direction = CREDIT,
    source: Source = Source.BANK,
    **fields: Any,
) -> StatementLine:
    return StatementLine(source, 1, amount, direction, day, **fields)


def run(internal: list[StatementLine], external: list[StatementLine], **options: Any) -> Result:
    options.setdefault("counterpart", Source.BANK)
    options.setdefault("reference_prefix", "DVC")
    return reconcile(to_frame(internal), to_frame(external), business_date=D, **options)


def matched(result: Result) -> set[tuple[int, int, str]]:
    return {(i, e, str(rule)) for i, e, rule in result.matches.iter_rows()}


def raised(result: Result) -> set[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    return {
        (item.type.value, item.internal_ids, item.external_ids) for item in result.exception_items()
    }


# -- pass 1: equal keys --------------------------------------------------------------------


def test_equal_reference_amount_and_dates_within_the_window_match() -> None:
    result = run([gw(100_000, days(-2), reference=R1)], [ext(100_000, reference=R1)])
    assert matched(result) == {(0, 0, "reference")}
    assert raised(result) == set()


def test_provider_transaction_id_and_end_to_end_id_are_keys_too() -> None:
    result = run(
        [gw(50_000, provider_txn_id="FT1"), gw(60_000, end_to_end_id="E2E-9")],
        [ext(60_000, end_to_end_id="E2E-9"), ext(50_000, provider_txn_id="FT1")],
    )
    assert matched(result) == {(0, 1, "provider_txn_id"), (1, 0, "end_to_end_id")}
    assert raised(result) == set()


def test_a_pair_equal_on_two_keys_is_one_match_named_by_the_first_key() -> None:
    result = run(
        [gw(50_000, reference=R1, provider_txn_id="FT1")],
        [ext(50_000, reference=R1, provider_txn_id="FT1")],
    )
    assert matched(result) == {(0, 0, "reference")}


def test_a_refund_pairs_with_the_debit_and_the_payment_with_the_credit() -> None:
    result = run(
        [gw(100_000, reference=R1), gw(100_000, direction=DEBIT, reference=R1)],
        [
            ext(100_000, direction=DEBIT, source=Source.VNPAY, reference=R1),
            ext(100_000, source=Source.VNPAY, reference=R1),
        ],
        counterpart=Source.VNPAY,
    )
    assert matched(result) == {(0, 1, "reference"), (1, 0, "reference")}
    assert raised(result) == set()


# -- pass 2: the same key, not exact -------------------------------------------------------


def test_same_key_different_amount_is_an_amount_mismatch_that_consumes_both_lines() -> None:
    result = run(
        [gw(100_000, reference=R1)],
        [ext(90_000, reference=R1), ext(100_000, text="chuyen tien")],
    )
    assert matched(result) == set()  # the unreferenced 100 000 is not offered the line
    assert raised(result) == {
        ("amount_mismatch", (0,), (0,)),
        ("missing_in_gateway", (), (1,)),
    }
    item = result.exception_items()[0]
    assert (item.key, item.internal_amount, item.external_amount, item.amount) == (
        R1,
        100_000,
        90_000,
        100_000,
    )


def test_same_key_and_amount_beyond_the_window_is_a_date_mismatch() -> None:
    result = run([gw(70_000, days(-3), reference=R1)], [ext(70_000, reference=R1)])
    assert matched(result) == set()
    assert raised(result) == {("date_mismatch", (0,), (0,))}


def test_provider_failed_and_gateway_paid_or_the_reverse_is_a_status_mismatch() -> None:
    vnpay = Source.VNPAY
    result = run(
        [
            gw(100_000, reference=R1, status="succeeded"),
            gw(50_000, reference=R2, status="failed"),
            gw(30_000, reference=R3, status="failed"),
            gw(20_000, reference=R4, status="succeeded"),
        ],
        [
            ext(100_000, source=vnpay, reference=R1, status="failed"),
            ext(50_000, source=vnpay, reference=R2, status="succeeded"),
            ext(30_000, source=vnpay, reference=R3, status="failed"),  # agree: both failed
            ext(20_000, source=vnpay, reference=R4),  # no status: nothing to contradict
        ],
        counterpart=vnpay,
    )
    assert matched(result) == {(2, 2, "reference"), (3, 3, "reference")}
    assert raised(result) == {
        ("status_mismatch", (0,), (0,)),
        ("status_mismatch", (1,), (1,)),
    }


def test_lines_whose_statuses_disagree_are_not_paired_by_amount_either() -> None:
    vnpay = Source.VNPAY
    result = run(
        [gw(100_000, days(-3), reference=R1, status="failed")],
        [ext(100_000, source=vnpay, status="succeeded")],
        counterpart=vnpay,
    )
    assert matched(result) == set()
    assert raised(result) == {("missing_in_vnpay", (0,), ()), ("missing_in_gateway", (), (0,))}


def test_an_empty_key_is_no_key() -> None:
    result = run(
        [gw(10_000, days(-3), reference="", provider_txn_id="")],
        [ext(20_000, reference="", provider_txn_id="")],
    )
    assert raised(result) == {("missing_in_bank", (0,), ()), ("missing_in_gateway", (), (0,))}


@pytest.mark.parametrize(
    ("amount", "day"),
    [
        (100_000, D),
        (100_000, date(1969, 12, 30)),  # before 1970: a negative day number
        (2**45, D),  # 35 trillion VND
    ],
)
def test_text_pairs_are_told_apart_the_same_for_any_amount_and_date(amount: int, day: date) -> None:
    result = run(
        [
            gw(amount, day, reference=R1),
            gw(amount, day, reference=R2, status="failed"),
            gw(amount, day, reference=R3),
            gw(amount, day - timedelta(days=1), reference=R4, status="succeeded"),
        ],
        [
            ext(amount, day, text=f"TT {R1}"),
            ext(amount, day, text=f"IBFT {R2}", status="succeeded"),
            ext(amount - 1_000, day, text=R3.lower()),
            ext(amount, day, text=f"{R4[:7]} {R4[7:]}", status="succeeded"),
        ],
    )
    assert matched(result) == {(0, 0, "text_reference"), (3, 3, "text_reference")}
    assert raised(result) == {("status_mismatch", (1,), (1,)), ("amount_mismatch", (2,), (2,))}


# -- pass 3: our reference in the transfer text --------------------------------------------


def test_reference_found_in_bank_text_despite_prefixes_spaces_dashes_and_case() -> None:
    result = run(
        [
            gw(10_000, reference=R1),
            gw(20_000, reference=R2),
            gw(30_000, reference=R3),
            gw(40_000, reference=R4),
        ],
        [
            ext(40_000, text=f"{R4[:3]}-{R4[3:]} FT26135"),
            ext(30_000, text=f"nộp lệ phí {R3.lower()}"),
            ext(20_000, text=f"IBFT {R2[:7]} {R2[7:]} Nguyễn Văn Đức"),
            ext(10_000, text=f"MBVCB.8812345.{R1}.Thanh toán lệ phí"),
        ],
    )
    assert matched(result) == {
        (0, 3, "text_reference"),
        (1, 2, "text_reference"),
        (2, 1, "text_reference"),
        (3, 0, "text_reference"),
    }
    assert raised(result) == set()


def test_reference_in_text_with_a_different_amount_is_an_amount_mismatch() -> None:
    result = run([gw(10_000, reference=R1)], [ext(11_000, text=f"TT {R1}")])
    assert raised(result) == {("amount_mismatch", (0,), (0,))}
    assert result.exception_items()[0].key == R1


def test_every_reference_in_a_text_is_offered_and_the_exact_one_wins() -> None:
    result = run(
        [gw(10_000, days(-3), reference=R1), gw(20_000, reference=R2)],
        [ext(20_000, text=f"TT {R1} va {R2} va {R1}")],
    )
    assert matched(result) == {(1, 0, "text_reference")}
    # R1 named a line that R2's payment took: reported beside it, not lost.
    assert raised(result) == {("duplicate", (0,), ())}
    item = result.exception_items()[0]
    assert (item.key, item.candidates, item.internal_candidates) == (R1, (0,), (1,))


def test_a_reference_behind_a_stray_prefix_is_found_by_the_overlapping_scan() -> None:
    result = run([gw(10_000, reference=R1)], [ext(10_000, text=f"DVC {R1} le phi")])
    assert matched(result) == {(0, 0, "text_reference")}


def test_candidates_are_checked_against_the_prefix_the_references_are_issued_with() -> None:
    # Another agency's prefix: its own references pass the check, a typo of one does not.
    own, unknown = make_reference("HCM", bytes(6) + b"\x01"), make_reference("HCM", bytes(7))
    typo = own[:5] + ("0" if own[5] != "0" else "1") + own[6:]
    assert not is_valid_reference(typo, "HCM") and is_valid_reference(unknown, "HCM")
    result = run(
        [
            gw(80_000, reference=own),
            gw(90_000, days(-1), reference=make_reference("HCM", b"x" * 7)),
        ],
        [ext(80_000, text=f"TT {typo}"), ext(90_000, text=f"TT {unknown}")],
        reference_pattern=r"HCM[0-9A-Z]{11}",
        reference_prefix="HCM",
    )
    # The typo is one symbol from the payment of its amount; the valid reference we never
    # issued is somebody's: not paired with the only payment of its amount.
    assert matched(result) == {(0, 0, "near_reference")}
    assert raised(result) == {
        ("expected_in_transit", (1,), ()),
        ("missing_in_gateway", (), (1,)),
    }


def test_a_valid_reference_we_never_issued_keeps_its_line_from_amount_matching() -> None:
    typo = R1[:5] + ("0" if R1[5] != "0" else "1") + R1[6:]
    assert not is_valid_reference(typo, "DVC")
    result = run(
        [gw(80_000, days(-1), reference=R1), gw(90_000, reference=R2)],
        [ext(80_000, text=f"TT {typo}"), ext(90_000, text=f"TT {R9}")],
    )
    # The typo is no reference, but it is one symbol from R1, whose line has its amount;
    # R9 is somebody's reference.
    assert matched(result) == {(0, 0, "near_reference")}
    assert raised(result) == {
        ("expected_in_transit", (1,), ()),
        ("missing_in_gateway", (), (1,)),
    }
    assert {item.key for item in result.exception_items()} == {R2, R9}


# -- duplicates ----------------------------------------------------------------------------


def test_the_same_reference_paid_twice_at_the_bank_is_a_duplicate() -> None:
    result = run(
        [gw(100_000, reference=R1)],
        [ext(100_000, text=f"{R1}"), ext(100_000, days(-1), text=f"{R1} lan 2")],
    )
    assert matched(result) == {(0, 0, "text_reference")}  # the nearer date wins
    assert raised(result) == {("duplicate", (), (1,))}
    item = result.exception_items()[0]
    assert (item.key, item.candidates, item.internal_candidates) == (R1, (0,), (0,))


def test_a_payment_recorded_twice_by_the_gateway_is_a_duplicate() -> None:
    result = run(
        [gw(100_000, reference=R1), gw(100_000, reference=R1)], [ext(100_000, reference=R1)]
    )
    assert matched(result) == {(0, 0, "reference")}
    assert raised(result) == {("duplicate", (1,), ())}
    item = result.exception_items()[0]
    assert (item.candidates, item.internal_candidates) == ((0,), (0,))


def test_a_reference_two_payments_carry_named_once_in_a_text_is_one_match_and_a_duplicate() -> None:
    # The text's one candidate joins two payments: it must not settle with both of them.
    result = run(
        [gw(100_000, reference=R1), gw(100_000, reference=R1), gw(70_000, reference=R2)],
        [ext(100_000, text=f"TT {R1}"), ext(70_000, text=f"TT {R2}")],
    )
    assert matched(result) == {(0, 0, "text_reference"), (2, 1, "text_reference")}
    assert raised(result) == {("duplicate", (1,), ())}


def test_a_payment_three_texts_name_among_others_is_one_match_and_two_duplicates() -> None:
    # Every text settles alone but the three naming R1: none of those may settle in the query
    # (the first, the middle and the last to name it are each told it is shared), and a text
    # with a candidate that is not ours sits between them.
    unknown = make_reference("DVC", (10**9).to_bytes(7, "big"))
    result = run(
        [gw(100_000, reference=R1), gw(70_000, reference=R2), gw(80_000, reference=R3)],
        [
            ext(100_000, days(-1), text=f"TT {R1}"),
            ext(70_000, text=f"TT {R2}"),
            ext(100_000, text=f"lan 2 {R1}"),
            ext(90_000, text=f"TT {unknown}"),
            ext(100_000, days(-2), text=f"{R1} lan 3"),
            ext(80_000, text=f"TT {R3}"),
        ],
    )
    assert matched(result) == {
        (0, 2, "text_reference"),  # the nearest date wins
        (1, 1, "text_reference"),
        (2, 5, "text_reference"),
    }
    assert raised(result) == {
        ("duplicate", (), (0,)),
        ("duplicate", (), (4,)),
        ("missing_in_gateway", (), (3,)),
    }


def test_a_credit_the_overlapping_scan_finds_competes_with_the_plain_one() -> None:
    # The plain text names R1 alone, but the stray-prefix text names it too (found only by
    # the rescan): the payment is contested, not matched twice.
    result = run(
        [gw(100_000, reference=R1)],
        [ext(100_000, text=f"TT {R1}"), ext(100_000, days(-1), text=f"DVC {R1} lan 2")],
    )
    assert matched(result) == {(0, 0, "text_reference")}  # the nearer date wins
    assert raised(result) == {("duplicate", (), (1,))}


def test_a_text_naming_a_payment_matched_by_its_transaction_id_is_a_duplicate() -> None:
    result = run(
        [gw(50_000, reference=R1, provider_txn_id="FT1"), gw(60_000, reference=R2)],
        [ext(50_000, provider_txn_id="FT1"), ext(50_000, text=f"{R1}"), ext(60_000, text=R2)],
    )
    assert matched(result) == {(0, 0, "provider_txn_id"), (1, 2, "text_reference")}
    assert raised(result) == {("duplicate", (), (1,))}


# -- pass 4: equal amount in the window ----------------------------------------------------


def test_the_only_equal_amount_within_the_window_both_ways_is_matched() -> None:
    result = run(
        [gw(123_000, days(-2), reference=R1), gw(77_000, days(-3), reference=R2)],
        [ext(123_000, text="hoc phi"), ext(77_000, text="le phi")],
    )
    assert matched(result) == {(0, 0, "amount_date")}
    assert raised(result) == {
        ("missing_in_bank", (1,), ()),  # three days apart: beyond the window
        ("missing_in_gateway", (), (1,)),
    }


def test_equal_amounts_without_keys_that_are_not_one_to_one_are_ambiguous() -> None:
    result = run(
        [gw(50_000), gw(50_000, days(-1))],
        [ext(50_000, text="nop tien"), ext(70_000, text="nop tien")],
    )
    assert matched(result) == set()
    items = {(i.type.value, i.internal_ids, i.external_ids): i for i in result.exception_items()}
    assert set(items) == {
        ("ambiguous", (0,), ()),
        ("ambiguous", (1,), ()),
        ("ambiguous", (), (0,)),
        ("missing_in_gateway", (), (1,)),
    }
    assert items["ambiguous", (0,), ()].candidates == (0,)
    assert items["ambiguous", (), (0,)].internal_candidates == (0, 1)
    assert items["ambiguous", (), (0,)].candidate_count == 2


def test_payments_with_references_are_not_ambiguous_for_a_credit_without_one() -> None:
    # Two payments of a common fee, neither found by its reference, and one credit of that
    # fee naming none: the amount cannot say which payment it is. Each line keeps its own
    # type (in transit, missing, not found in the gateway), listing the others as candidates.
    result = run(
        [gw(50_000, reference=R1), gw(50_000, days(-2), reference=R2)],
        [ext(50_000, days(-1), text="nop tien")],
    )
    assert matched(result) == set()
    items = {(i.type.value, i.internal_ids, i.external_ids): i for i in result.exception_items()}
    assert set(items) == {
        ("expected_in_transit", (0,), ()),
        ("missing_in_bank", (1,), ()),
        ("missing_in_gateway", (), (0,)),
    }
    in_transit = items["expected_in_transit", (0,), ()]
    assert (in_transit.candidates, in_transit.candidate_count) == ((0,), 1)
    assert items["missing_in_bank", (1,), ()].candidates == (0,)
    assert items["missing_in_gateway", (), (0,)].internal_candidates == (0, 1)
    assert items["missing_in_gateway", (), (0,)].candidate_count == 2
    assert {i.key for i in result.exception_items()} == {R1, R2, None}


def mistyped(reference: str, *positions: int) -> str:
    """``reference`` with the symbol at each of ``positions`` replaced by another."""
    symbols = list(reference)
    for position in positions:
        symbols[position] = "0" if symbols[position] != "0" else "1"
    return "".join(symbols)


def test_a_mistyped_reference_matches_the_one_payment_a_symbol_away_with_its_amount() -> None:
    typo, far = mistyped(R1, 6), mistyped(R2, 4, 8)
    assert not is_valid_reference(typo, "DVC")
    result = run(
        [
            gw(50_000, reference=R1),
            gw(50_000, reference=R3),  # the same common fee: the amount alone cannot choose
            gw(50_000, days(-1), reference=R2),
            gw(60_000, reference=R4),
        ],
        [
            ext(50_000, text=f"nop le phi {typo.lower()}"),
            ext(50_000, text=f"TT {far}"),  # two symbols off: not R2's
            ext(60_000, text=f"TT {R4[:-1]}"),  # too short to be a reference: by amount
        ],
    )
    assert matched(result) == {(0, 0, "near_reference"), (3, 2, "amount_date")}
    assert raised(result) == {
        ("expected_in_transit", (1,), ()),
        ("expected_in_transit", (2,), ()),
        ("missing_in_gateway", (), (1,)),
    }


def test_a_mistyped_reference_with_another_amount_or_two_near_payments_is_not_paired() -> None:
    typo = mistyped(R1, 6)
    twin = mistyped(typo, 10)  # a payment whose reference is one symbol from the typo too
    result = run(
        [gw(50_000, reference=R1), gw(50_000, reference=twin), gw(70_000, days(-3), reference=R2)],
        [ext(50_000, text=f"TT {typo}"), ext(71_000, text=f"TT {mistyped(R2, 5)}")],
    )
    assert matched(result) == set()
    items = {(i.type.value, i.internal_ids, i.external_ids): i for i in result.exception_items()}
    assert set(items) == {
        ("expected_in_transit", (0,), ()),
        ("expected_in_transit", (1,), ()),
        ("missing_in_bank", (2,), ()),
        ("missing_in_gateway", (), (0,)),
        ("missing_in_gateway", (), (1,)),  # one symbol from R2, but not R2's amount
    }
    assert items["missing_in_gateway", (), (0,)].internal_candidates == (0, 1)


def test_a_line_matched_by_reference_is_not_offered_to_the_amount_pass() -> None:
    result = run(
        [gw(100_000, reference=R1)],
        [ext(100_000, text=f"TT {R1}"), ext(100_000, text="khong ghi ma")],
    )
    assert matched(result) == {(0, 0, "text_reference")}
    assert raised(result) == {("missing_in_gateway", (), (1,))}


# -- pass 5: group sums --------------------------------------------------------------------


def test_a_settlement_batch_matches_the_one_credit_equal_to_its_sum() -> None:
    batch = "VNPAY-20260515"
    result = run(
        [
            gw(100_000, reference=R1, document_no=batch),
            gw(50_000, days(-1), reference=R2, document_no=batch),
            gw(70_000, reference=R3, document_no=batch),
            gw(40_000, reference=R4),
        ],
        [
            ext(50_000, text="khong ghi ma"),  # would take line 1 alone if batches were offered
            ext(220_000, text=f"VNPAY TT {batch}"),
            ext(40_000, text=R4),
        ],
    )
    assert matched(result) == {
        (0, 1, "group_document"),
        (1, 1, "group_document"),
        (2, 1, "group_document"),
        (3, 2, "text_reference"),
    }
    assert raised(result) == {("missing_in_gateway", (), (0,))}


def test_a_credit_equal_to_a_batch_sum_waits_for_the_batch_not_a_single_payment() -> None:
    batch = "VNPAY-20260515-4"
    result = run(
        [
            gw(100_000, reference=R1, document_no=batch),
            gw(50_000, reference=R2, document_no=batch),
            gw(150_000, reference=R3),  # not at the bank yet; as large as the batch
        ],
        [ext(150_000, text=f"VNPAY TT {batch}")],
    )
    assert matched(result) == {(0, 0, "group_document"), (1, 0, "group_document")}
    assert raised(result) == {("expected_in_transit", (2,), ())}


def test_a_treasury_document_matches_the_days_receipts_per_agency_and_fee_kind() -> None:
    kb = Source.TREASURY
    result = run(
        [
            gw(30_000, reference=R1, agency_code="H29.01", fee_kind="fee"),
            gw(20_000, reference=R1, agency_code="H29.01", fee_kind="fee"),
            gw(50_000, reference=R2, agency_code="H29.01", fee_kind="charge"),
            gw(40_000, reference=R3, agency_code="H29.02", fee_kind="fee"),
            gw(10_000, days(-2), reference=R4, agency_code="H30.01", fee_kind="fee"),
        ],
        [
            ext(50_000, days(1), source=kb, agency_code="H29.01", fee_kind="charge"),
            ext(50_000, days(1), source=kb, agency_code="H29.01", fee_kind="fee"),
            ext(40_000, days(1), source=kb, agency_code="H29.02", fee_kind="fee"),
        ],
        counterpart=kb,
    )
    assert matched(result) == {
        (0, 1, "group_agency_day"),
        (1, 1, "group_agency_day"),
        (2, 0, "group_agency_day"),
        (3, 2, "group_agency_day"),
    }
    # Two items of one payment share its reference: that is no duplicate.
    assert raised(result) == {("missing_in_treasury", (4,), ())}


# -- leftovers -----------------------------------------------------------------------------


def test_lines_inside_the_settlement_lag_are_in_transit_and_older_ones_missing() -> None:
    result = run(
        [
            gw(10_000, reference=R1),
            gw(20_000, days(-1), reference=R2),
            gw(30_000, days(-2), reference=R3),
        ],
        [],
        settlement_lag_days=1,
    )
    assert raised(result) == {
        ("expected_in_transit", (0,), ()),
        ("expected_in_transit", (1,), ()),
        ("missing_in_bank", (2,), ()),
    }


def test_the_counterpart_is_read_from_the_source_column_and_names_the_missing_type() -> None:
    result = reconcile(
        to_frame([gw(10_000, days(-3), reference=R1)]),
        to_frame([ext(99_000, source=Source.VNPAY, reference=R9)]),
        business_date=D,
    )
    assert result.counterpart is Source.VNPAY
    assert raised(result) == {("missing_in_vnpay", (0,), ()), ("missing_in_gateway", (), (0,))}
    with pytest.raises(ValueError, match="counterpart"):
        reconcile(to_frame([]), to_frame([]), business_date=D)


def test_the_summary_has_every_status_with_counts_and_signed_sums() -> None:
    result = run(
        [
            gw(100_000, reference=R1),
            gw(30_000, days(-5), reference=R2),
            gw(5_000, direction=DEBIT, reference=R3),
        ],
        [ext(100_000, text=R1), ext(60_000, text="?")],
    )
    rows = {row["status"]: row for row in result.summary().iter_rows(named=True)}
    assert rows["matched"] == {
        "status": "matched",
        "items": 1,
        "internal_lines": 1,
        "external_lines": 1,
        "internal_amount": 100_000,
        "external_amount": 100_000,
        "difference": 0,
    }
    assert (rows["missing_in_bank"]["internal_amount"], rows["missing_in_bank"]["items"]) == (
        30_000,
        1,
    )
    assert rows["expected_in_transit"]["internal_amount"] == -5_000  # a debit
    assert rows["missing_in_gateway"]["difference"] == 60_000
    assert rows["duplicate"]["items"] == 0
    assert sum(row["difference"] for row in rows.values()) == 160_000 - 125_000


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([gw(1_000), gw(2_000)], "line_id"),
        ([gw(0)], "positive"),
    ],
)
def test_lines_that_break_the_invariants_are_refused(
    lines: list[StatementLine], message: str
) -> None:
    frame = to_frame(lines)
    if message == "line_id":
        frame = frame.with_columns(line_id=0)
    with pytest.raises(ValueError, match=message):
        reconcile(frame, to_frame([]), business_date=D, counterpart=Source.BANK)


@pytest.mark.parametrize("ids", [[3, 1, 3], [1, 2, 2], [2, 1, 1]])
def test_a_line_id_given_twice_is_refused_in_any_order(ids: list[int]) -> None:
    frame = to_frame([gw(1_000), gw(2_000), gw(3_000)]).with_columns(line_id=pl.Series(ids))
    with pytest.raises(ValueError, match="line_id must be present and unique"):
        reconcile(frame, to_frame([]), business_date=D, counterpart=Source.BANK)


def test_line_ids_out_of_order_are_accepted() -> None:
    frame = to_frame([gw(1_000), gw(2_000)]).with_columns(line_id=pl.Series([7, 3]))
    result = reconcile(frame, to_frame([]), business_date=D, counterpart=Source.BANK)
    assert sorted(
        ids for row in result.exceptions.iter_rows(named=True) for ids in row["internal_ids"]
    ) == [3, 7]
