"""Finance's decision on an attempt the janitor handed over (``flagged_at``: still open when
its channel's horizon passed), with maker-checker.

The janitor never guesses: past the horizon a person asks the provider. One finance officer
then **proposes** what the provider says — ``failed``, or ``succeeded`` with the amount it
took and its transaction id as evidence — with a reason; a **second** person
(``finance_approver`` or ``admin``, never the proposer) **approves** it, and only then is it
applied to the attempt, through :func:`gateway.services.attempts.apply_outcome` exactly as a
provider's word would be (a success pays the bill, or puts it up for review when the money
does not fit). Or the approver **rejects** it and another proposal can be made. Every step is
in the audit log. The provider's own message, should it still come, applies as ever: an
attempt it has closed can no longer be resolved (``409 invalid_transition``). The
maker-checker itself is :class:`gateway.services.resolutions.Proposals`, shared with refunds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.channels.base import Outcome
from gateway.core.db import Database
from gateway.core.errors import (
    FieldError,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from gateway.core.fields import iso
from gateway.core.statuses import OPEN_ATTEMPTS, RESOLUTIONS, AttemptStatus, DecisionStatus
from gateway.services import payment_state as state
from gateway.services.attempts import apply_outcome, attempt_view, joined
from gateway.services.resolutions import (
    REASON_MAX,
    Proposals,
    evidence_problem,
    reason_problem,
)
from reconciliation.workflow import same_person

__all__ = ["REASON_MAX", "AttemptResolutions"]

PROPOSALS = Proposals("attempt", RESOLUTIONS, DecisionStatus, "ares")
#: Fits the ``BigInteger`` column on every database.
AMOUNT_MAX = 10**12
OUTCOMES = {"failed": AttemptStatus.FAILED, "succeeded": AttemptStatus.SUCCEEDED}
#: The ``failure_code`` of an attempt finance confirmed failed with the provider.
CONFIRMED_FAILED = "confirmed_failed_by_finance"


def _view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "attempt_id": row.attempt_id,
        "outcome": row.outcome,
        "amount": row.amount,
        "evidence": row.evidence,
        "reason": row.reason,
        "status": row.status,
        "proposed_by": row.proposed_by,
        "proposed_at": iso(row.proposed_at),
        "decided_by": row.decided_by,
        "decided_at": iso(row.decided_at),
        "decision_reason": row.decision_reason,
    }


def _checked(outcome: str, reason: str, evidence: str, amount: str) -> tuple[str, int | None]:
    """The reason (stripped) and amount of a proposal, or ``validation_failed``."""
    problems = []
    if outcome not in OUTCOMES:
        problems.append(FieldError("outcome", "invalid_choice", "failed or succeeded"))
    text = reason.strip()
    if (problem := reason_problem(text, required=True)) is not None:
        problems.append(problem)
    received: int | None = None
    proof, digits = evidence.strip(), amount.strip()
    if (problem := evidence_problem("evidence", outcome, proof, required=True)) is not None:
        problems.append(problem)
    if outcome == "succeeded":
        # ASCII digits only: "²" or "٣" pass str.isdigit() but int() refuses or reads them.
        if not (digits.isascii() and digits.isdigit()) or not 0 < int(digits) <= AMOUNT_MAX:
            problems.append(FieldError("amount", "out_of_range", "whole VND above 0"))
        else:
            received = int(digits)
    if problems:
        raise ValidationFailed(problems)
    return text, received


class AttemptResolutions:
    def __init__(self, db: Database, context: state.Context) -> None:
        self.db = db
        self.context = context

    async def of_attempt(
        self, agency_ids: frozenset[int], attempt_id: str, viewer: str | None = None
    ) -> dict[str, Any]:
        """The attempt (with ``dossier_code``, ``agency_code``, ``payment_amount``) and its
        proposals, newest first; 404 outside ``agency_ids``. ``viewer_proposed``: whether
        the proposal waiting is ``viewer``'s — the same person's — who cannot decide it."""
        async with self.db.read() as conn:
            row = await self._attempt(conn, agency_ids, attempt_id)
            proposals = await PROPOSALS.of(conn, attempt_id)
            waiting = [p for p in proposals if p.status == "proposed"]
            mine = bool(waiting) and await same_person(conn, waiting[0].proposed_by, viewer)
        return {
            "attempt": {
                **attempt_view(row),
                "dossier_code": row.dossier_code,
                "agency_code": row.agency_code,
                "payment_amount": row.payment_amount,
            },
            "resolutions": [_view(p) for p in proposals],
            "viewer_proposed": mine,
        }

    async def propose(
        self,
        actor: str,
        agency_ids: frozenset[int],
        attempt_id: str,
        *,
        outcome: str,
        reason: str,
        evidence: str = "",
        amount: str = "",
    ) -> str:
        """Propose the outcome of a flagged, still open attempt (the maker)."""
        text, received = _checked(outcome, reason, evidence, amount)
        now = self.context.clock()
        async with self.db.write() as conn:
            row = await self._attempt(conn, agency_ids, attempt_id, lock=True)
            if row.flagged_at is None or AttemptStatus(row.status) not in OPEN_ATTEMPTS:
                raise InvalidTransition(row.status, outcome)
            return await PROPOSALS.propose(
                conn,
                now,
                actor,
                attempt_id,
                {"outcome": outcome, "amount": received},
                outcome=outcome,
                amount=received,
                evidence=evidence.strip() or None,
                reason=text,
            )

    async def decide(
        self,
        actor: str,
        agency_ids: frozenset[int],
        attempt_id: str,
        *,
        approver: bool,
        approve: bool,
        reason: str = "",
        resolution_id: str | None = None,
    ) -> None:
        """Approve (apply it to the attempt) or reject the proposal waiting — ``resolution_id``'s
        when named, so a page showing an older proposal never decides a newer one (the
        checker)."""
        if not approver:
            raise Forbidden("only an approver decides on a proposed resolution")
        now = self.context.clock()
        async with self.db.write() as conn:
            row = await self._attempt(conn, agency_ids, attempt_id, lock=True)

            async def apply(proposal: Any) -> dict[str, Any]:
                if AttemptStatus(row.status) not in OPEN_ATTEMPTS:  # the provider spoke since
                    raise InvalidTransition(row.status, proposal.outcome)
                succeeded = proposal.outcome == "succeeded"
                await apply_outcome(
                    conn,
                    self.context,
                    attempt_id,
                    Outcome(
                        OUTCOMES[proposal.outcome],
                        amount=proposal.amount,
                        provider_transaction_id=proposal.evidence if succeeded else None,
                        failure_code=None if succeeded else CONFIRMED_FAILED,
                        details={"resolution_id": proposal.id},
                        # The provider's time is not in the proposal; the money moved during
                        # the attempt, so not after the bill's time when the attempt began.
                        paid_at=row.created_at if succeeded else None,
                    ),
                )
                return {"amount": proposal.amount, "provider_transaction_id": proposal.evidence}

            await PROPOSALS.decide(
                conn,
                now,
                actor,
                attempt_id,
                approve=approve,
                reason=reason,
                apply=apply,
                resolution_id=resolution_id,
            )

    async def _attempt(
        self,
        conn: AsyncConnection,
        agency_ids: frozenset[int],
        attempt_id: str,
        *,
        lock: bool = False,
    ) -> Any:
        try:
            row = await joined(conn, attempt_id, lock=lock)
        except NotFound:
            raise NotFound("attempt not found") from None
        if row.agency_id not in agency_ids:
            raise NotFound("attempt not found")
        return row
