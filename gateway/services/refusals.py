"""Refusals of inbound provider messages that answer with problems (the POS cloud, MoMo),
in one place: a refusal is decided inside the inbox's transaction without raising (the
message must stay stored for triage), kept as the inbox row's ``reason``, raised to the
caller after the transaction, and raised again with the same code for a replay."""

from __future__ import annotations

from collections.abc import Callable

from gateway.core import inbox
from gateway.core.errors import Conflict, GatewayError, NotFound, NoticeRejected
from gateway.core.inbox import EventOutcome


class SaleNotRunning(Conflict):
    code = "terminal_not_busy"
    title = "The terminal is not running this sale"


class PartnerMismatch(Conflict):
    code = "partner_mismatch"
    title = "The message is from another merchant than the attempt's"


def amount_mismatch(detail: str) -> GatewayError:
    return NoticeRejected("amount_mismatch", detail, http_status=409)


#: A replayed message that was refused is refused again, with the same code.
REFUSALS: dict[str, Callable[[str], GatewayError]] = {
    "not_found": NotFound,
    "terminal_not_busy": SaleNotRunning,
    "partner_mismatch": PartnerMismatch,
    "amount_mismatch": amount_mismatch,
}


def refused(
    outcome: EventOutcome, payment_id: str | None, refusal: GatewayError
) -> inbox.Settled[GatewayError | None]:
    """The inbox record of a refused message: stored, and ``refusal`` for the caller."""
    return inbox.Settled(outcome, refusal, refusal.code, payment_id)


def outcome_or_raise(received: inbox.Received[GatewayError | None], what: str) -> str:
    """The outcome to acknowledge, or the refusal raised: this message's, or — for a replay
    of a refused message — the first copy's code again."""
    if received.duplicate:
        if received.reason in REFUSALS:
            raise REFUSALS[received.reason](f"this {what} was refused before")
        return "duplicate"
    if received.value is not None:  # stored for triage; the provider is told why not applied
        raise received.value
    return received.outcome
