"""The VNPost status table and the rule that decides whether an event moves an order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from providers.postal.vnpost.statuses import (
    FINAL_STATUSES,
    MYVNPOST,
    PARTNER_ORDER,
    PROFILES,
    RANK,
    VNPOST_STATUS,
    Money,
    PostalStatus,
    normalise,
    should_advance,
)

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)
EARLIER = T0 - timedelta(minutes=5)
NORMALISED = set(PostalStatus) - {PostalStatus.UNKNOWN}

#: The codes of spec vnpost-status-codes.md §2.5 (surface A) and §3 (surface B).
SPEC_PARTNER_CODES = [*range(25), 28, 29]
SPEC_MYVNPOST_CODES = [-1, 10, 20, 60, 61, 62, 70, 91, 100, 110, 120, 161, 170]


def test_each_profile_lists_exactly_the_codes_its_source_lists() -> None:
    assert sorted(PARTNER_ORDER.codes) == SPEC_PARTNER_CODES
    assert sorted(MYVNPOST.codes) == SPEC_MYVNPOST_CODES
    assert set(PROFILES) == {"partner_order", "myvnpost"}
    assert VNPOST_STATUS == {c: m.status for c, m in PARTNER_ORDER.codes.items()}


@pytest.mark.parametrize(
    ("code", "status"),
    [
        # spec §2.5, "Suggested normalised mapping"
        (0, "created"),
        (1, "created"),
        (2, "pickup_assigned"),
        (3, "pickup_assigned"),
        (4, "picking_up"),
        (5, "pickup_failed"),
        (8, "pickup_failed"),
        (6, "picked_up"),
        (10, "in_transit"),
        (11, "in_transit"),
        (13, "in_transit"),
        (12, "out_for_delivery"),
        (14, "delivered"),
        (15, "delivery_failed"),
        (16, "return_pending"),
        (17, "return_pending"),
        (18, "returning"),
        (24, "returning"),
        (19, "returned"),
        (9, "cancelled"),
        (22, "cancelled"),
    ],
)
def test_partner_order_codes_mean_what_the_spec_maps_them_to(code: int, status: str) -> None:
    assert normalise(code) == status
    assert PARTNER_ORDER.normalise(code) == status


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (20, "created"),
        (10, "cancelled"),
        (60, "cancelled"),
        (62, "cancelled"),
        (70, "picked_up"),
        (91, "delivery_failed"),
        (100, "delivered"),
        (161, "returning"),
        (170, "returned"),
    ],
)
def test_myvnpost_codes_mean_what_the_spec_maps_them_to(code: int, status: str) -> None:
    assert MYVNPOST.normalise(code) == status


def test_money_codes_are_marked_in_each_profile() -> None:
    partner = {c: m.money for c, m in PARTNER_ORDER.codes.items() if m.money}
    assert partner == {
        21: Money.COD_PAID_OUT,
        28: Money.SHIPPING_FEE_PAID,
        29: Money.CANCELLATION_FEE_PAID,
    }
    myvnpost = {c: m.money for c, m in MYVNPOST.codes.items() if m.money}
    assert myvnpost == {110: Money.COD_COLLECTED, 120: Money.COD_PAID_OUT}


def test_fee_events_and_a_cancellation_request_change_no_physical_state() -> None:
    for profile, code in ((PARTNER_ORDER, 28), (PARTNER_ORDER, 29), (MYVNPOST, 61)):
        assert profile.normalise(code) is PostalStatus.UNKNOWN
        assert profile.label(code)  # known, with its source's label


@pytest.mark.parametrize("code", [-1, 25, 26, 27, 30, 31, 99, 1000])
def test_a_partner_order_code_no_source_explains_is_unknown_never_guessed(code: int) -> None:
    assert normalise(code) is PostalStatus.UNKNOWN
    assert PARTNER_ORDER.meaning(code) is None


def test_a_code_of_the_other_profile_is_unknown_never_translated() -> None:
    for code in (70, 91, 100, 110, 120, 161, 170):  # MyVNPost only
        assert PARTNER_ORDER.normalise(code) is PostalStatus.UNKNOWN
    for code in (0, 1, 2, 5, 7, 12, 14, 15, 19, 21):  # partner order API only
        assert MYVNPOST.normalise(code) is PostalStatus.UNKNOWN


def test_created_and_cancelled_codes_mean_created_and_cancelled() -> None:
    for profile in PROFILES.values():
        assert profile.normalise(profile.created_code) is PostalStatus.CREATED
        assert profile.normalise(profile.cancelled_code) is PostalStatus.CANCELLED


def test_every_status_has_a_rank_and_unknown_ranks_lowest() -> None:
    assert set(RANK) == set(PostalStatus)
    assert min(RANK, key=RANK.__getitem__) is PostalStatus.UNKNOWN


def test_ranks_follow_the_life_of_an_order() -> None:
    life = ["created", "pickup_assigned", "picking_up", "picked_up", "in_transit"]
    life += ["out_for_delivery", "delivered"]
    ranks = [RANK[PostalStatus(s)] for s in life]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)


S = PostalStatus


@pytest.mark.parametrize(
    ("current", "new", "new_at", "moves"),
    [
        (S.CREATED, S.PICKUP_ASSIGNED, LATER, True),
        (S.IN_TRANSIT, S.OUT_FOR_DELIVERY, T0, True),  # same instant, higher rank
        (S.IN_TRANSIT, S.OUT_FOR_DELIVERY, EARLIER, False),  # older event: stored only
        (S.OUT_FOR_DELIVERY, S.IN_TRANSIT, LATER, False),  # lower rank: stored only
        (S.PICKUP_FAILED, S.PICKING_UP, LATER, True),  # a new attempt after a failure
        (S.PICKING_UP, S.PICKUP_FAILED, LATER, True),
        (S.PICKING_UP, S.PICKUP_FAILED, T0, False),  # equal rank needs a newer time
        (S.IN_TRANSIT, S.IN_TRANSIT, LATER, False),
        (S.IN_TRANSIT, S.UNKNOWN, LATER, False),
        (S.DELIVERY_FAILED, S.RETURN_PENDING, LATER, True),
        (S.DELIVERED, S.RETURNING, LATER, False),  # final
        (S.CANCELLED, S.PICKED_UP, LATER, False),  # final
        (S.RETURNED, S.LOST, LATER, False),  # final, even to an equal rank
        (S.LOST, S.DELIVERED, LATER, False),  # final
        (S.UNKNOWN, S.IN_TRANSIT, LATER, True),
    ],
)
def test_should_advance(current: S, new: S, new_at: datetime, moves: bool) -> None:
    assert should_advance(current, new, T0, new_at) is moves


def test_final_statuses_never_move_for_any_later_status() -> None:
    for current in FINAL_STATUSES:
        for new in PostalStatus:
            assert not should_advance(current, new, T0, LATER)
