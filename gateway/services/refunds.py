"""Refunds: through the channel that took the money.

A refund is inserted ``pending`` in the caller's idempotent transaction (after checking the
refundable amount under a row lock, so two refunds cannot together exceed it), then sent to
the provider outside any transaction. Channels with a refund API (VNPAY) settle it at once;
a refund whose outcome is unknown stays ``pending`` — and where the channel can be asked
(ZaloPay's refund query), the janitor asks with the attempts' back-off until it is final
(:meth:`RefundService.requery`, gateway/services/polling.py). Money taken by bank transfer
(VietQR) or card terminal is refunded by finance staff, who then record the result
(``POST /v1/refunds/{id}/complete``) — with maker-checker: one person proposes the outcome,
another approves it and only then does it apply (:meth:`RefundService.propose`,
:meth:`RefundService.decide`, :class:`gateway.services.resolutions.Proposals`).

A refund its channel sent that is still pending past the channel's refund horizon is handed
to finance by the janitor (:meth:`RefundService.flag`: ``flagged_at``, event
``refund.needs_review``; listed by :meth:`RefundService.flagged`, ``GET /v1/refunds/flagged``
and the finance console). Finance finds out from the provider and records the result the same
way; the provider's own later word settles it too, whichever comes first — a proposal still
waiting is then ``superseded`` (audit log ``refund_resolution_superseded``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.channels.base import (
    AttemptRef,
    Channel,
    OtherRefund,
    Refundable,
    RefundOutcome,
    RefundQueryable,
    RefundRequest,
)
from gateway.core import outbox
from gateway.core.db import Database
from gateway.core.db.schema import agencies, attempts, payments, refunds
from gateway.core.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from gateway.core.fields import iso
from gateway.core.ids import new_id
from gateway.core.money import lock_bill, paying_attempt
from gateway.core.statuses import (
    REFUND_RESOLUTIONS,
    REFUNDS,
    PaymentStatus,
    RefundStatus,
    SupersedableStatus,
)
from gateway.models.requests import CreateRefund
from gateway.services import payment_state as state
from gateway.services.clients import Principal
from gateway.services.receipts.refund_shares import shares_for
from gateway.services.resolutions import (
    Proposals,
    evidence_problem,
    reason_problem,
)
from reconciliation.workflow import same_person

_REFUNDABLE = (
    PaymentStatus.PAID.value,
    PaymentStatus.PARTIALLY_REFUNDED.value,
    PaymentStatus.NEEDS_REVIEW.value,
)


def _request(
    row: Row[Any],
    requested_by: str,
    requested_at: datetime,
    others: tuple[OtherRefund, ...] = (),
) -> RefundRequest:
    """The refund as its channel is (or was) sent it (``others``: the payment's other
    refunds, for a query that answers about the payment)."""
    return RefundRequest(
        refund_id=row.id,
        provider_reference=row.provider_reference,
        attempt=AttemptRef(
            attempt_id=row.attempt_id,
            provider_reference=row.attempt_reference,
            agency_code=row.agency_code,
            amount=row.attempt_amount,
            terminal_id=row.terminal_id,
            created_at=row.attempt_created_at,
        ),
        provider_transaction_id=row.attempt_transaction_id,
        amount=row.amount,
        full=row.amount == row.payment_amount,
        reason=row.reason,
        requested_by=requested_by,
        requested_at=requested_at,
        others=others,
    )


#: Finance's word on a refund, maker-checker.
PROPOSALS = Proposals("refund", REFUND_RESOLUTIONS, SupersedableStatus, "rres")
OUTCOMES = ("succeeded", "failed")


class RefundStillQueried(Conflict):
    """A refund its channel can still be asked about, not yet handed to finance: the
    janitor's query settles it (or hands it over at the channel's refund horizon)."""

    code = "refund_still_queried"
    title = "The refund's provider is still being asked about it"


def resolution_view(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "refund_id": row.refund_id,
        "outcome": row.outcome,
        "provider_transaction_id": row.evidence,
        "reason": row.reason,
        "status": row.status,
        "proposed_by": row.proposed_by,
        "proposed_at": iso(row.proposed_at),
        "decided_by": row.decided_by,
        "decided_at": iso(row.decided_at),
        "decision_reason": row.decision_reason,
    }


def _checked(outcome: str, provider_transaction_id: str, reason: str) -> tuple[str, str]:
    """The evidence and reason (stripped) of a proposal, or ``validation_failed``."""
    problems = []
    if outcome not in OUTCOMES:
        problems.append(FieldError("status", "invalid_choice", "succeeded or failed"))
    evidence, text = provider_transaction_id.strip(), reason.strip()
    field = "provider_transaction_id"
    if (problem := evidence_problem(field, outcome, evidence, required=False)) is not None:
        problems.append(problem)
    if (problem := reason_problem(text, required=False)) is not None:
        problems.append(problem)
    if problems:
        raise ValidationFailed(problems)
    return evidence, text


def refund_view(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "payment_id": row.payment_id,
        "attempt_id": row.attempt_id,
        "amount": row.amount,
        "reason": row.reason,
        "status": row.status,
        "failure_code": row.failure_code,
        "provider_reference": row.provider_reference,
        "provider_transaction_id": row.provider_transaction_id,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "query_count": row.query_count,
        "flagged_at": iso(row.flagged_at),
    }


class RefundService:
    def __init__(
        self, db: Database, context: state.Context, channels: Mapping[str, Channel]
    ) -> None:
        self.db = db
        self.context = context
        self.clock = context.clock
        self.channels = channels

    async def begin(
        self, conn: AsyncConnection, principal: Principal, payment_id: str, body: CreateRefund
    ) -> str:
        payment = (
            await conn.execute(
                select(payments).where(payments.c.id == payment_id).with_for_update()
            )
        ).first()
        if payment is None or payment.agency_id not in principal.agency_ids:
            raise NotFound("payment not found")
        if payment.status not in _REFUNDABLE:
            raise InvalidTransition(payment.status, "refunded")
        taken = (
            await conn.execute(
                select(func.coalesce(func.sum(refunds.c.amount), 0)).where(
                    refunds.c.payment_id == payment_id,
                    refunds.c.status.in_([RefundStatus.PENDING, RefundStatus.SUCCEEDED]),
                )
            )
        ).scalar_one()
        refundable = payment.amount - int(taken)
        if body.amount > refundable:
            raise ValidationFailed(
                [
                    FieldError(
                        "amount",
                        "exceeds_refundable",
                        f"at most {refundable} VND can still be refunded",
                    )
                ]
            )
        attempt = await paying_attempt(conn, payment_id)
        if attempt is None:
            raise InvalidTransition(payment.status, "refunded")
        # Recorded against the receipt(s) whose money it gives back (docs/receipts.md).
        items = None if body.items is None else [item.model_dump() for item in body.items]
        shares = await shares_for(conn, payment_id, body.amount, items, refundable)
        now = self.clock()
        refund_id = new_id("ref")
        await REFUNDS.insert(
            conn,
            RefundStatus.PENDING,
            id=refund_id,
            payment_id=payment_id,
            attempt_id=attempt.id,
            client_id=principal.client_id,
            amount=body.amount,
            reason=body.reason,
            provider_reference=refund_id.removeprefix("ref_").upper()[:20],
            receipt_shares=shares,
            created_at=now,
            updated_at=now,
        )
        return refund_id

    async def execute(self, refund_id: str, requested_by: str) -> dict[str, Any]:
        """Send a pending refund to its channel, if the channel can refund. One still pending
        afterwards keeps when it was sent as ``updated_at``: the janitor asks about it from
        then on (:meth:`requery`)."""
        async with self.db.read() as conn:
            row = await self._joined(conn, refund_id)
        channel = self.channels.get(row.channel)
        if row.status == RefundStatus.PENDING and isinstance(channel, Refundable):
            requested_at = self.clock()
            outcome = await channel.refund(_request(row, requested_by, requested_at))
            async with self.db.write() as conn:
                if RefundStatus(outcome.status) is RefundStatus.PENDING:
                    # Why it is pending (``outcome_unknown``, the provider's code) is kept,
                    # as for a failed one (docs/errors.md, "Refund failure codes").
                    await conn.execute(
                        update(refunds)
                        .where(refunds.c.id == refund_id)
                        .values(updated_at=requested_at, failure_code=outcome.failure_code)
                    )
                await self.settle(conn, refund_id, outcome)
        async with self.db.read() as conn:
            return refund_view(await self._joined(conn, refund_id))

    async def requery(self, refund_id: str) -> str:
        """Ask the channel about a refund still pending (sent at its ``updated_at``) and
        settle its word; the refund's status after. Raises the channel's
        ``ProviderUnavailable`` when it cannot be asked now."""
        async with self.db.read() as conn:
            row = await self._joined(conn, refund_id)
            # The payment's other refunds: the channel's answer may be about one of them.
            others = (
                await conn.execute(
                    select(
                        refunds.c.amount, refunds.c.status, refunds.c.provider_transaction_id
                    ).where(refunds.c.payment_id == row.payment_id, refunds.c.id != refund_id)
                )
            ).all()
        channel = self.channels.get(row.channel)
        if row.status != RefundStatus.PENDING or not isinstance(channel, RefundQueryable):
            return str(row.status)
        siblings = tuple(OtherRefund(o.amount, o.status, o.provider_transaction_id) for o in others)
        outcome = await channel.query_refund(_request(row, "janitor", row.updated_at, siblings))
        async with self.db.write() as conn:
            await self.settle(conn, refund_id, outcome)
        return outcome.status

    async def propose(
        self,
        actor: str,
        agency_ids: frozenset[int],
        refund_id: str,
        *,
        outcome: str,
        provider_transaction_id: str = "",
        reason: str = "",
    ) -> dict[str, Any]:
        """Finance staff propose the result of a refund they made by hand, or of one handed to
        them at its horizon once they asked its provider (the maker): ``succeeded`` with the
        bank's or terminal's reference, or ``failed``. Nothing moves until another person
        approves it (:meth:`decide`). Checked under the locks (the bill, then the refund): a
        refund no longer pending is refused (``409 invalid_transition``), as is a second
        proposal while one waits (``409 resolution_pending``), and one its channel can still
        be asked about until the janitor hands it over (``409 refund_still_queried``: the
        provider may yet say it refunded). The proposal."""
        evidence, text = _checked(outcome, provider_transaction_id, reason)
        async with self.db.write() as conn:
            row = await self._locked(conn, agency_ids, refund_id)
            REFUNDS.check(RefundStatus(row.status), RefundStatus(outcome))
            if self._still_queried(row):
                raise RefundStillQueried(
                    "the janitor still asks the provider about this refund; it is handed to "
                    "finance (flagged_at) if still pending at the channel's refund horizon"
                )
            resolution_id = await PROPOSALS.propose(
                conn,
                self.clock(),
                actor,
                refund_id,
                {
                    "outcome": outcome,
                    "provider_transaction_id": evidence or None,
                    "flagged_at": iso(row.flagged_at),
                },
                outcome=outcome,
                evidence=evidence or None,
                reason=text or None,
            )
            proposal = await PROPOSALS.get(conn, refund_id, resolution_id)
            assert proposal is not None  # inserted just now, in this transaction
            return resolution_view(proposal)

    async def decide(
        self,
        actor: str,
        agency_ids: frozenset[int],
        refund_id: str,
        resolution_id: str | None = None,
        *,
        approver: bool,
        approve: bool,
        reason: str = "",
    ) -> dict[str, Any]:
        """Approve or reject the proposal waiting — ``resolution_id``'s, when named (the
        checker: ``finance_approver`` or ``admin``, another person than the maker, else
        ``self_approval``). An approved outcome is applied in the same transaction through
        :meth:`settle`, exactly as the provider's word would be (the refund's move, its
        event, the payment's state). A proposal the provider's word overtook is
        ``superseded``: nothing is left to decide (``409 invalid_transition``). The refund,
        with its proposals."""
        if not approver:
            raise Forbidden("only an approver decides on a proposed refund result")
        async with self.db.write() as conn:
            row = await self._locked(conn, agency_ids, refund_id)

            async def apply(proposal: Any) -> dict[str, Any]:
                REFUNDS.check(RefundStatus(row.status), RefundStatus(proposal.outcome))
                failed = proposal.outcome == RefundStatus.FAILED
                outcome = RefundOutcome(
                    proposal.outcome,
                    provider_transaction_id=proposal.evidence,
                    failure_code="manual" if failed else None,  # made outside the gateway
                )
                await self.settle(conn, refund_id, outcome)
                return {
                    "provider_transaction_id": outcome.provider_transaction_id,
                    "failure_code": outcome.failure_code,
                }

            await PROPOSALS.decide(
                conn,
                self.clock(),
                actor,
                refund_id,
                approve=approve,
                reason=reason,  # stripped and bounded where it is stored
                apply=apply,
                resolution_id=resolution_id,
                details={"flagged_at": iso(row.flagged_at)},
            )
            return await self._with_resolution(conn, refund_id)

    async def _locked(
        self, conn: AsyncConnection, agency_ids: frozenset[int], refund_id: str
    ) -> Row[Any]:
        """The refund of ``agency_ids`` (else 404), locked in the order of
        gateway.core.money: the bill, then the refund."""
        row = await self._joined(conn, refund_id)
        if row.agency_id not in agency_ids:
            raise NotFound("refund not found")
        await lock_bill(conn, row.payment_id)
        return await self._joined(conn, refund_id, lock=True)

    async def _with_resolution(self, conn: AsyncConnection, refund_id: str) -> dict[str, Any]:
        """The refund with its proposals, newest first (``resolutions``)."""
        row = await self._joined(conn, refund_id)
        proposals = await PROPOSALS.of(conn, refund_id)
        return {**refund_view(row), "resolutions": [resolution_view(p) for p in proposals]}

    async def settle(self, conn: AsyncConnection, refund_id: str, outcome: RefundOutcome) -> bool:
        """Apply a final word to a refund still pending, under the locks; whether it moved
        (``False``: the word says pending, or the refund was settled already)."""
        settled = RefundStatus(outcome.status)
        if settled is RefundStatus.PENDING:
            return False
        # The lock order of gateway.core.money: the payment and its attempts, then the refund.
        payment_id = (
            await conn.execute(select(refunds.c.payment_id).where(refunds.c.id == refund_id))
        ).scalar_one()
        await lock_bill(conn, payment_id)
        row = await self._joined(conn, refund_id, lock=True)
        if row.status != RefundStatus.PENDING:
            return False
        now = self.clock()
        await REFUNDS.move(
            conn,
            refund_id,
            RefundStatus.PENDING,
            settled,
            failure_code=outcome.failure_code,
            provider_transaction_id=outcome.provider_transaction_id,
            updated_at=now,
            next_query_at=None,  # final: nothing more to ask
        )
        # The provider's word came before finance's proposal was approved: it is moot.
        await PROPOSALS.supersede(
            conn,
            now,
            f"provider:{row.channel}",
            refund_id,
            {"status": outcome.status, "provider_transaction_id": outcome.provider_transaction_id},
        )
        view = refund_view(await self._joined(conn, refund_id))
        await outbox.emit(
            conn,
            now=now,
            type=f"refund.{outcome.status}",
            payment_id=row.payment_id,
            data={"refund": view, "payment_id": row.payment_id},
        )
        if settled is RefundStatus.SUCCEEDED:
            refunded = (
                await conn.execute(
                    select(func.coalesce(func.sum(refunds.c.amount), 0)).where(
                        refunds.c.payment_id == row.payment_id,
                        refunds.c.status == RefundStatus.SUCCEEDED,
                    )
                )
            ).scalar_one()
            current = PaymentStatus(row.payment_status)
            new = (
                PaymentStatus.REFUNDED
                if int(refunded) >= row.payment_amount
                else PaymentStatus.PARTIALLY_REFUNDED
            )
            await state.move(conn, self.context, row.payment_id, current, new)
        return True

    async def flag(self, refund_id: str, now: datetime) -> bool:
        """Hand a refund still pending past its channel's horizon to finance (the janitor):
        ``flagged_at`` and ``refund.needs_review``, once; whether it was flagged now. In its
        own transaction, in the lock order of gateway.core.money — the bill, then the refund
        (skipped if another transaction holds it) — and re-checked under the lock. It stays
        pending, and is still asked about where it can be."""
        async with self.db.write() as conn:
            payment_id = (
                await conn.execute(select(refunds.c.payment_id).where(refunds.c.id == refund_id))
            ).scalar_one()
            await lock_bill(conn, payment_id)
            held = (
                await conn.execute(
                    select(refunds.c.id)
                    .where(
                        refunds.c.id == refund_id,
                        refunds.c.status == RefundStatus.PENDING.value,
                        refunds.c.flagged_at.is_(None),
                    )
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if held is None:
                return False
            await conn.execute(
                update(refunds).where(refunds.c.id == refund_id).values(flagged_at=now)
            )
            row = await self._joined(conn, refund_id)
            await outbox.emit(
                conn,
                now=now,
                type="refund.needs_review",
                payment_id=row.payment_id,
                data={"refund": refund_view(row), "payment_id": row.payment_id},
            )
            return True

    async def flagged(
        self, agency_ids: frozenset[int], *, all_agencies: bool = False, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Refunds handed to finance and still pending, of ``agency_ids`` (or every agency),
        oldest first, with what finance looks them up by at the provider."""
        scope = true() if all_agencies else payments.c.agency_id.in_(sorted(agency_ids))
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    self._select()
                    .where(
                        refunds.c.flagged_at.is_not(None),
                        refunds.c.status == RefundStatus.PENDING.value,
                        scope,
                    )
                    .order_by(refunds.c.created_at, refunds.c.id)
                    .limit(limit)
                )
            ).all()
        return [
            {
                **refund_view(row),
                "channel": row.channel,
                "agency_code": row.agency_code,
                "dossier_code": row.dossier_code,
                "attempt_reference": row.attempt_reference,
            }
            for row in rows
        ]

    async def flagged_by_channel(self) -> dict[str, int]:
        """How many pending refunds are handed to finance, by channel (the alert gauge)."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(attempts.c.channel, func.count())
                    .select_from(refunds.join(attempts, attempts.c.id == refunds.c.attempt_id))
                    .where(
                        refunds.c.flagged_at.is_not(None),
                        refunds.c.status == RefundStatus.PENDING.value,
                    )
                    .group_by(attempts.c.channel)
                )
            ).all()
        return {str(channel): int(count) for channel, count in rows}

    async def get(self, principal: Principal, refund_id: str) -> dict[str, Any]:
        """The refund with its proposals (finance's word on it, maker-checker)."""
        async with self.db.read() as conn:
            row = await self._joined(conn, refund_id)
            if row.agency_id not in principal.agency_ids:
                raise NotFound("refund not found")
            return await self._with_resolution(conn, refund_id)

    async def detail(
        self, agency_ids: frozenset[int], refund_id: str, viewer: str | None = None
    ) -> dict[str, Any]:
        """The refund with its proposals, newest first, and what the
        console shows of its bill (``channel``, ``agency_code``, ``dossier_code``); 404
        outside ``agency_ids``. ``viewer_proposed``: whether the proposal waiting is
        ``viewer``'s — the same person's — who cannot decide it. ``still_queried``: whether
        its channel is still asked about it (no proposal yet, ``refund_still_queried``)."""
        async with self.db.read() as conn:
            row = await self._joined(conn, refund_id)
            if row.agency_id not in agency_ids:
                raise NotFound("refund not found")
            view = await self._with_resolution(conn, refund_id)
            waiting = [r for r in view["resolutions"] if r["status"] == "proposed"]
            mine = bool(waiting) and await same_person(conn, waiting[0]["proposed_by"], viewer)
        return {
            **view,
            "channel": row.channel,
            "agency_code": row.agency_code,
            "dossier_code": row.dossier_code,
            "viewer_proposed": mine,
            "still_queried": self._still_queried(row),
        }

    def _still_queried(self, row: Row[Any]) -> bool:
        """Whether a refund is pending, its channel can be asked about it (the janitor does)
        and it is not yet handed to finance: only the provider's word may settle it then.
        Refunds made by hand (bank transfer, card terminal) are finance's at once."""
        return (
            row.status == RefundStatus.PENDING
            and row.flagged_at is None
            and isinstance(self.channels.get(row.channel), RefundQueryable)
        )

    async def of_payment(self, principal: Principal, payment_id: str) -> list[dict[str, Any]]:
        """A payment's refunds, oldest first (404 unless the caller's agencies own it)."""
        async with self.db.read() as conn:
            await state.require_owned(conn, principal.agency_ids, payment_id)
            rows = (
                await conn.execute(
                    select(refunds)
                    .where(refunds.c.payment_id == payment_id)
                    .order_by(refunds.c.created_at, refunds.c.id)
                )
            ).all()
        return [refund_view(row) for row in rows]

    async def _joined(
        self, conn: AsyncConnection, refund_id: str, *, lock: bool = False
    ) -> Row[Any]:
        statement = self._select().where(refunds.c.id == refund_id)
        if lock:
            statement = statement.with_for_update(of=[refunds])
        row: Row[Any] | None = (await conn.execute(statement)).first()
        if row is None:
            raise NotFound("refund not found")
        return row

    @staticmethod
    def _select() -> Select[Any]:
        """A refund with what it needs of its attempt, payment and agency."""
        return (
            select(
                refunds,
                attempts.c.channel,
                attempts.c.provider_reference.label("attempt_reference"),
                attempts.c.provider_transaction_id.label("attempt_transaction_id"),
                attempts.c.amount.label("attempt_amount"),
                attempts.c.terminal_id,
                attempts.c.created_at.label("attempt_created_at"),
                payments.c.amount.label("payment_amount"),
                payments.c.status.label("payment_status"),
                payments.c.agency_id,
                payments.c.dossier_code,
                agencies.c.code.label("agency_code"),
            )
            .join(attempts, attempts.c.id == refunds.c.attempt_id)
            .join(payments, payments.c.id == refunds.c.payment_id)
            .join(agencies, agencies.c.id == payments.c.agency_id)
        )
