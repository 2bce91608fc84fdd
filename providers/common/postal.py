"""The normalised postal status every carrier connector maps onto, its rank along an order's
life, and the rule that decides whether an event moves an order.

Ranks order the normalised statuses along an order's life. A new event moves an order only
if it is not older than the current one and does not rank lower; equal ranks (a failed pickup
then a new pickup attempt) move by time alone. ``delivered``, ``returned``, ``cancelled`` and
``lost`` are final: nothing moves them, although later events are still stored. ``unknown``
(a carrier code no source explains) is stored and never moves an order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class PostalStatus(StrEnum):
    CREATED = "created"
    PICKUP_ASSIGNED = "pickup_assigned"
    PICKING_UP = "picking_up"
    PICKUP_FAILED = "pickup_failed"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERY_FAILED = "delivery_failed"
    DELIVERED = "delivered"
    RETURN_PENDING = "return_pending"
    RETURNING = "returning"
    RETURNED = "returned"
    CANCELLED = "cancelled"
    LOST = "lost"
    UNKNOWN = "unknown"


_S = PostalStatus

#: Position along an order's life; higher never gives way to lower.
RANK: Final[Mapping[PostalStatus, int]] = MappingProxyType(
    {
        _S.UNKNOWN: -1,
        _S.CREATED: 0,
        _S.PICKUP_ASSIGNED: 10,
        _S.PICKING_UP: 20,
        _S.PICKUP_FAILED: 20,  # a failed pickup and the next attempt alternate by time
        _S.PICKED_UP: 30,
        _S.IN_TRANSIT: 40,
        _S.OUT_FOR_DELIVERY: 50,
        _S.DELIVERY_FAILED: 50,  # likewise a failed delivery and the next attempt
        _S.RETURN_PENDING: 60,
        _S.RETURNING: 70,
        _S.DELIVERED: 100,
        _S.RETURNED: 100,
        _S.CANCELLED: 100,
        _S.LOST: 100,
    }
)

FINAL_STATUSES: Final[frozenset[PostalStatus]] = frozenset(
    {_S.DELIVERED, _S.RETURNED, _S.CANCELLED, _S.LOST}
)


def should_advance(
    current: PostalStatus, new: PostalStatus, current_at: datetime, new_at: datetime
) -> bool:
    """Whether an event with status ``new`` at ``new_at`` moves an order that is ``current``
    since ``current_at``. Both times must be timezone-aware. The event is stored either way."""
    if current in FINAL_STATUSES or new is PostalStatus.UNKNOWN or new == current:
        return False
    if new_at < current_at:
        return False
    if RANK[new] > RANK[current]:
        return True
    return RANK[new] == RANK[current] and new_at > current_at
