"""The cloud's sale statuses and what each means for our payment attempt, as a table.

``timed_out`` maps to ``failed``, not to ``unknown`` or ``expired``: it is the cloud's *final*
word that the terminal waited for a card and none was presented (or the cardholder walked
away from the PIN pad). No money moved and the sale cannot come back to life, so the attempt
has failed and counter staff may push a new one. It is a different thing from *our* call
timing out (``PosError("outcome_unknown")``), where we do not know what happened and the
attempt becomes ``unknown`` until a query answers. ``expired`` stays reserved for the bill's
own deadline, ``cancelled`` for a cancel that somebody asked for.

The values are the gateway's ``AttemptStatus`` values, spelt as strings because providers do
not import the gateway (a test checks that they exist there).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal


class SaleStatus(StrEnum):
    SENT_TO_TERMINAL = "sent_to_terminal"
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


AttemptStatusValue = Literal["pending", "succeeded", "failed", "cancelled"]

ATTEMPT_STATUS: Final[Mapping[SaleStatus, AttemptStatusValue]] = MappingProxyType(
    {
        SaleStatus.SENT_TO_TERMINAL: "pending",
        SaleStatus.APPROVED: "succeeded",
        SaleStatus.DECLINED: "failed",
        SaleStatus.CANCELLED: "cancelled",
        SaleStatus.TIMED_OUT: "failed",  # final: no card was presented (see above)
    }
)

#: Why an attempt failed, for the statuses that fail one; a decline adds the issuer's reason.
FAILURE_REASON: Final[Mapping[SaleStatus, str]] = MappingProxyType(
    {SaleStatus.DECLINED: "card_declined", SaleStatus.TIMED_OUT: "no_card_presented"}
)

#: Statuses the cloud will never change again.
FINAL_STATUSES: Final[frozenset[SaleStatus]] = frozenset(SaleStatus) - {SaleStatus.SENT_TO_TERMINAL}


def attempt_status(status: SaleStatus) -> AttemptStatusValue:
    return ATTEMPT_STATUS[status]
