"""Postal orders: the two legs, the statuses an order goes through, and what each means to
the portal.

An order is one leg of a dossier's postal request: ``pickup`` (the citizen's dossier to the
agency) or ``delivery`` (the agency's result to the citizen). Before the carrier has it the
order is ``submitting`` (the row is written before the carrier call, so a lost answer is
looked up, never resubmitted blindly) and ends ``submit_failed`` if the carrier refuses it.
From then on the carrier's normalised statuses apply, moved by rank and event time; the
transition table is :data:`gateway.core.statuses.POSTAL_ORDERS`.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from providers.common.postal import FINAL_STATUSES, PostalStatus


class Leg(StrEnum):
    PICKUP = "pickup"
    DELIVERY = "delivery"


#: Before the carrier has accepted the order (not a carrier status).
SUBMITTING: Final = "submitting"
SUBMIT_FAILED: Final = "submit_failed"

#: Every status an order can show: the two of submission, then the carrier's normalised ones.
ORDER_STATUSES: Final = frozenset(
    {SUBMITTING, SUBMIT_FAILED} | {s.value for s in PostalStatus if s is not PostalStatus.UNKNOWN}
)

#: Where a cancellation may still be asked for: nothing has been picked up yet.
CANCELLABLE: Final = frozenset(
    {
        SUBMITTING,
        PostalStatus.CREATED.value,
        PostalStatus.PICKUP_ASSIGNED.value,
        PostalStatus.PICKING_UP.value,
        PostalStatus.PICKUP_FAILED.value,
    }
)


def is_final(status: str) -> bool:
    return status == SUBMIT_FAILED or status in {s.value for s in FINAL_STATUSES}


#: The webhook event type announcing that an order reached a status.
_EVENT_TYPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        PostalStatus.CREATED.value: "postal.order.created",
        PostalStatus.PICKED_UP.value: "postal.order.picked_up",
        PostalStatus.DELIVERED.value: "postal.order.delivered",
        PostalStatus.PICKUP_FAILED.value: "postal.order.failed",
        PostalStatus.DELIVERY_FAILED.value: "postal.order.failed",
        PostalStatus.LOST.value: "postal.order.failed",
        SUBMIT_FAILED: "postal.order.failed",
        PostalStatus.RETURNED.value: "postal.order.returned",
        PostalStatus.CANCELLED.value: "postal.order.cancelled",
    }
)


def event_type(status: str) -> str:
    """``postal.order.<what>`` for an order that has just reached ``status``."""
    return _EVENT_TYPES.get(status, "postal.order.updated")


def new_client_reference(leg: Leg, attempt: int) -> str:
    """Our reference at the carrier (VNPost ``sale_order_code``), e.g. ``BCD1-K7Q2M9XW4PJ3RT5A``:
    leg (P/D) and attempt for the people who read it on a label, then 80 random bits.

    It is drawn once and stored with the order before the carrier is called, so every retry
    and look-up uses the same one."""
    token = base64.b32encode(secrets.token_bytes(10)).decode()[:16]
    return f"BC{'P' if leg is Leg.PICKUP else 'D'}{attempt}-{token}"


def mask_phone(e164: str) -> str:
    """``+84912345678`` → ``091****678`` (enough to recognise, not to call)."""
    national = "0" + e164[3:] if e164.startswith("+84") else e164
    return national[:3] + "*" * max(len(national) - 6, 0) + national[-3:]


def mask_id_number(number: str) -> str:
    """An identity document number with all but the last four characters hidden."""
    visible = number[-4:] if len(number) > 4 else ""
    return "*" * (len(number) - len(visible)) + visible
