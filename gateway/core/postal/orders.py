"""Postal orders: the two legs, the statuses an order goes through, and what each means to
the portal.

An order is one leg of a dossier's postal request: ``pickup`` (the citizen's dossier to the
agency) or ``delivery`` (the agency's result to the citizen). Before the carrier has it the
order is ``submitting`` (the row is written before the carrier call, so a lost answer is
looked up, never resubmitted blindly) and ends ``submit_failed`` if the carrier refuses it,
or ``needs_review`` with a ``review_reason`` when the carrier's answer cannot be taken as it
is (:data:`SUBMISSION_REVIEW_REASONS`) — it never stays ``submitting``. From then on the
carrier's normalised statuses apply, moved by rank and event time; the transition table is
:data:`gateway.core.statuses.POSTAL_ORDERS`.
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
#: The carrier's answer to a submission cannot be taken as it is: a person decides
#: (``review_reason`` says why). Not final: nothing automatic moves it on.
NEEDS_REVIEW: Final = "needs_review"

#: Why an order needs a person (``postal_orders.review_reason``).
#: The carrier answered with an item code another order of ours already holds.
CARRIER_CONFLICT: Final = "carrier_conflict"
#: The carrier's answer was not usable (no or an invalid item code, another client
#: reference, not the documented shape) — it may have created the order.
CARRIER_INVALID_ANSWER: Final = "carrier_invalid_answer"
#: Every try ended without a trustworthy answer (timeouts, 5xx): the carrier may hold it.
CARRIER_OUTCOME_UNKNOWN: Final = "carrier_outcome_unknown"
#: The carrier or an operator reported the result delivered after it was returned to the
#: agency (the order stays ``returned``; only the flag is set).
DELIVERED_AFTER_RETURN: Final = "delivered_after_return"
SUBMISSION_REVIEW_REASONS: Final = (
    CARRIER_CONFLICT,
    CARRIER_INVALID_ANSWER,
    CARRIER_OUTCOME_UNKNOWN,
)
#: A carrier report broke the delivery-attempt rule of Circular 17/2017 (two attempts two
#: working days apart before a return; :mod:`gateway.core.postal.attempts`): kept and applied,
#: flagged for a person.
DELIVERY_ATTEMPTS_RULE: Final = "delivery_attempts_rule"
REVIEW_REASONS: Final = (*SUBMISSION_REVIEW_REASONS, DELIVERED_AFTER_RETURN, DELIVERY_ATTEMPTS_RULE)

#: Every status an order can show: those of submission, then the carrier's normalised ones.
ORDER_STATUSES: Final = frozenset(
    {SUBMITTING, SUBMIT_FAILED, NEEDS_REVIEW}
    | {s.value for s in PostalStatus if s is not PostalStatus.UNKNOWN}
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
        NEEDS_REVIEW: "postal.order.needs_review",
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
