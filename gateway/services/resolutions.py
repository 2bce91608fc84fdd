"""Maker-checker on finance's word about money whose outcome the provider did not give: an
attempt the janitor handed over (:mod:`gateway.services.attempt_resolutions`), a refund made
by hand or handed over at its horizon (:class:`gateway.services.refunds.RefundService`).

One person **proposes** the outcome (a row ``proposed`` in the subject's table, one at a time:
``409 resolution_pending``); a **second person** approves it — only then is it applied, by the
caller's ``apply`` in the same transaction — or rejects it. "Second person" compares people,
not credentials: an API key and a console login of the same person (``person``) are one maker
(``409 self_approval``, the rule of reconciliation's maker-checker). Where the machine allows
it, the subject's own outcome arriving first **supersedes** a proposal. Every step is in the
audit log: ``<subject>_resolution_proposed``, ``_approved``, ``_rejected``, ``_superseded``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, Row, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.errors import Conflict, FieldError, InvalidTransition, NotFound, SelfApproval
from gateway.core.ids import new_id
from gateway.core.machines import Machine
from reconciliation.audit import record
from reconciliation.workflow import same_person

#: The longest reason a maker or checker gives (here, for receipts' corrections, for
#: reconciliation's exceptions).
REASON_MAX = 2000
#: The longest evidence of a proposal (the provider's or bank's transaction id).
EVIDENCE_MAX = 64
S = TypeVar("S", bound=StrEnum)


class ResolutionPending(Conflict):
    code = "resolution_pending"
    title = "A proposed resolution waits for approval"


def reason_problem(text: str, *, required: bool) -> FieldError | None:
    """What is wrong with a proposal's (stripped) reason, if anything."""
    if not text:
        return (
            FieldError("reason", "required", "say how the outcome was confirmed")
            if required
            else None
        )
    if len(text) > REASON_MAX or "\x00" in text:
        return FieldError("reason", "too_long", f"at most {REASON_MAX} characters")
    return None


def evidence_problem(
    field: str, outcome: str, evidence: str, *, required: bool
) -> FieldError | None:
    """What is wrong with a proposal's (stripped) evidence for ``outcome``, if anything: a
    transaction id proves a success (``required``: it must), and a failure moved no money, so
    there is no transaction to prove and nothing would keep one (``not_allowed``)."""
    if len(evidence) > EVIDENCE_MAX or not evidence.isprintable():
        return FieldError(field, "invalid", f"at most {EVIDENCE_MAX} printable characters")
    if outcome == "succeeded" and required and not evidence:
        return FieldError(field, "required", "the provider's transaction id")
    if outcome == "failed" and evidence:
        return FieldError(field, "not_allowed", "only for succeeded")
    return None


@dataclass(frozen=True)
class Proposals(Generic[S]):
    """The proposals about one kind of subject: its table (``<subject>_id`` names the subject)
    through its machine, whose statuses (``statuses``) are ``proposed``, ``approved``,
    ``rejected`` and, where the subject's outcome can overtake a proposal, ``superseded``."""

    subject: str
    machine: Machine[S]
    statuses: type[S]
    prefix: str

    def _status(self, value: str) -> S:
        return self.statuses(value)

    @property
    def table(self) -> Table:
        return self.machine.table

    @property
    def _of(self) -> Column[Any]:
        return self.table.c[f"{self.subject}_id"]

    async def of(self, conn: AsyncConnection, subject_id: str) -> list[Row[Any]]:
        """The subject's proposals, newest first."""
        return list(
            (
                await conn.execute(
                    select(self.table)
                    .where(self._of == subject_id)
                    .order_by(self.table.c.proposed_at.desc(), self.table.c.id)
                )
            ).all()
        )

    async def open(self, conn: AsyncConnection, subject_id: str) -> Row[Any] | None:
        """The proposal waiting for a decision, if any."""
        return (
            await conn.execute(
                select(self.table).where(
                    self._of == subject_id,
                    self.table.c.status == "proposed",
                )
            )
        ).first()

    async def propose(
        self,
        conn: AsyncConnection,
        now: datetime,
        actor: str,
        subject_id: str,
        details: Mapping[str, Any],
        **values: Any,
    ) -> str:
        """Insert a proposal (the maker), the subject locked by the caller; its id."""
        if await self.open(conn, subject_id) is not None:
            raise ResolutionPending("approve or reject the proposal waiting first")
        resolution_id = new_id(self.prefix)
        await self.machine.insert(
            conn,
            self._status("proposed"),
            id=resolution_id,
            **{self._of.name: subject_id},
            proposed_by=actor,
            proposed_at=now,
            **values,
        )
        await record(
            conn,
            now,
            actor,
            f"{self.subject}_resolution_proposed",
            self.subject,
            subject_id,
            {"resolution_id": resolution_id, **details},
        )
        return resolution_id

    async def decide(
        self,
        conn: AsyncConnection,
        now: datetime,
        actor: str,
        subject_id: str,
        *,
        approve: bool,
        reason: str,
        apply: Callable[[Row[Any]], Awaitable[Mapping[str, Any]]],
        resolution_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Row[Any]:
        """Approve (``apply`` it, after the proposal's move) or reject the proposal waiting —
        ``resolution_id``'s, when named (the checker), the subject locked by the caller. What
        ``apply`` answers it applied goes into the audit log with the approval. The proposal
        as it was."""
        proposal = await self.open(conn, subject_id)
        wanted = "approved" if approve else "rejected"
        if proposal is None or (resolution_id is not None and proposal.id != resolution_id):
            decided = (
                None if resolution_id is None else await self.get(conn, subject_id, resolution_id)
            )
            if resolution_id is not None and decided is None:
                raise NotFound("proposal not found")
            raise InvalidTransition("none" if decided is None else decided.status, wanted)
        if await same_person(conn, proposal.proposed_by, actor):
            raise SelfApproval("the proposal must be decided by someone else")
        new = self._status(wanted)
        await self.machine.move(
            conn,
            proposal.id,
            self._status("proposed"),
            new,
            decided_by=actor,
            decided_at=now,
            decision_reason=reason.strip()[:REASON_MAX] or None,
        )
        applied = await apply(proposal) if approve else {}
        await record(
            conn,
            now,
            actor,
            f"{self.subject}_resolution_{new.value}",
            self.subject,
            subject_id,
            {
                "resolution_id": proposal.id,
                "outcome": proposal.outcome,
                **(details or {}),
                **applied,
            },
        )
        return proposal

    async def supersede(
        self,
        conn: AsyncConnection,
        now: datetime,
        actor: str,
        subject_id: str,
        details: Mapping[str, Any],
    ) -> bool:
        """The subject's outcome came from elsewhere first: the proposal waiting, if any, is
        moot (``superseded``, in the audit log with ``details``); whether there was one."""
        proposal = await self.open(conn, subject_id)
        if proposal is None:
            return False
        await self.machine.move(
            conn,
            proposal.id,
            self._status("proposed"),
            self._status("superseded"),
            decided_at=now,
        )
        await record(
            conn,
            now,
            actor,
            f"{self.subject}_resolution_superseded",
            self.subject,
            subject_id,
            {"resolution_id": proposal.id, "outcome": proposal.outcome, **details},
        )
        return True

    async def get(
        self, conn: AsyncConnection, subject_id: str, resolution_id: str
    ) -> Row[Any] | None:
        """One of the subject's proposals."""
        return (
            await conn.execute(
                select(self.table).where(self.table.c.id == resolution_id, self._of == subject_id)
            )
        ).first()
