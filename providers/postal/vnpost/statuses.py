"""VNPost status codes and the normalised postal status each one means, as a table.

The carrier reports an order's life as integer codes 0–29 (in order-status answers, in the
history and in pushed webhooks). Each documented code maps onto exactly one
:class:`PostalStatus`; a code outside the table maps to ``unknown`` and is never guessed
(it is stored, and it never moves an order: rank -1). The meanings, as this connector
documents them:

====  ==========================================================  ==================
code  meaning at VNPost                                          normalised
====  ==========================================================  ==================
0     order created by the partner                               created
1     order received by VNPost, waiting for a pickup plan        created
2     postman assigned to the pickup                             pickup_assigned
3     postman on the way / picking up                            picking_up
4     pickup failed (sender absent, dossier not ready)           pickup_failed
5     picked up by the postman                                   picked_up
6     accepted at the origin post office                         picked_up
7     in transit between post offices                            in_transit
8     arrived at the destination post office                     in_transit
9     out for delivery with a postman                            out_for_delivery
10    delivered to the receiver                                  delivered
11    delivery failed (receiver absent, wrong address)           delivery_failed
12    waiting to return to the sender                            return_pending
13    cancelled (by the partner, before pickup)                  cancelled
14    returning to the sender                                    returning
15    returned to the sender                                     returned
16    COD paid out to the partner (after delivery)               delivered
17    waiting for a new delivery attempt                         delivery_failed
18    pickup rescheduled at the sender's request                 pickup_failed
19    order details updated by the partner (before pickup)       created
20    lost in the network                                        lost
21    damaged beyond delivery, handed to claims                  lost
22    handed over to a partner carrier for the last mile         in_transit
23    pickup cancelled by the sender                             cancelled
24    return delivery failed, a new return attempt follows       returning
25    refused by the receiver                                    delivery_failed
26    COD collected from the receiver                            delivered
27    held at the post office for the receiver to collect        out_for_delivery
28    return approved by the partner                             return_pending
29    rerouted after an address correction                       in_transit
====  ==========================================================  ==================

The normalised statuses, their ranks and the rule that decides whether an event moves an
order are the carrier-independent :mod:`providers.common.postal`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from providers.common.postal import FINAL_STATUSES, RANK, PostalStatus, should_advance

_S = PostalStatus

#: Every documented VNPost status code, 0–29, and what it means for our order.
VNPOST_STATUS: Final[Mapping[int, PostalStatus]] = MappingProxyType(
    {
        0: _S.CREATED,
        1: _S.CREATED,
        2: _S.PICKUP_ASSIGNED,
        3: _S.PICKING_UP,
        4: _S.PICKUP_FAILED,
        5: _S.PICKED_UP,
        6: _S.PICKED_UP,
        7: _S.IN_TRANSIT,
        8: _S.IN_TRANSIT,
        9: _S.OUT_FOR_DELIVERY,
        10: _S.DELIVERED,
        11: _S.DELIVERY_FAILED,
        12: _S.RETURN_PENDING,
        13: _S.CANCELLED,
        14: _S.RETURNING,
        15: _S.RETURNED,
        16: _S.DELIVERED,
        17: _S.DELIVERY_FAILED,
        18: _S.PICKUP_FAILED,
        19: _S.CREATED,
        20: _S.LOST,
        21: _S.LOST,
        22: _S.IN_TRANSIT,
        23: _S.CANCELLED,
        24: _S.RETURNING,
        25: _S.DELIVERY_FAILED,
        26: _S.DELIVERED,
        27: _S.OUT_FOR_DELIVERY,
        28: _S.RETURN_PENDING,
        29: _S.IN_TRANSIT,
    }
)


def normalise(code: int) -> PostalStatus:
    """The normalised status of a VNPost code; ``unknown`` for an undocumented one."""
    return VNPOST_STATUS.get(code, PostalStatus.UNKNOWN)


__all__ = ["FINAL_STATUSES", "RANK", "VNPOST_STATUS", "PostalStatus", "normalise", "should_advance"]
