"""The VNPost status table and the rule that decides whether an event moves an order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from providers.postal.vnpost.statuses import (
    FINAL_STATUSES,
    RANK,
    VNPOST_STATUS,
    PostalStatus,
    normalise,
    should_advance,
)

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)
EARLIER = T0 - timedelta(minutes=5)
NORMALISED = set(PostalStatus) - {PostalStatus.UNKNOWN}


def test_every_documented_code_0_to_29_maps_to_exactly_one_normalised_status() -> None:
    assert sorted(VNPOST_STATUS) == list(range(30))
    for code in range(30):
        assert normalise(code) in NORMALISED


def test_every_normalised_status_is_reachable_from_some_code() -> None:
    assert set(VNPOST_STATUS.values()) == NORMALISED


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (0, "created"),
        (2, "pickup_assigned"),
        (3, "picking_up"),
        (4, "pickup_failed"),
        (5, "picked_up"),
        (6, "picked_up"),
        (7, "in_transit"),
        (9, "out_for_delivery"),
        (10, "delivered"),
        (11, "delivery_failed"),
        (12, "return_pending"),
        (13, "cancelled"),
        (14, "returning"),
        (15, "returned"),
        (16, "delivered"),
        (20, "lost"),
    ],
)
def test_headline_codes_mean_what_the_table_documents(code: int, status: str) -> None:
    assert normalise(code) == status


@pytest.mark.parametrize("code", [-1, 30, 31, 99, 1000])
def test_undocumented_code_is_unknown_never_guessed(code: int) -> None:
    assert normalise(code) is PostalStatus.UNKNOWN


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
