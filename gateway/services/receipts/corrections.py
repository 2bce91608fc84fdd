"""Correcting an issued receipt (TT 91/2026 Điều 20; ``/work/shared/specs/e-receipts.md`` §7),
with maker-checker.

The circular decides the kind of a correction from what was wrong, so the caller names the
corrected fields and the kind follows:

=====================================================  ==========  ==============================
what is corrected                                      kind        what approval does
=====================================================  ==========  ==============================
only the payer's name or address, the amount in words  ``notify``  records the notice (form
                                                                   04/SS-CTĐT data, and the
                                                                   message to the tax authority,
                                                                   :mod:`.tax_notices`), no new
                                                                   receipt; the receipt becomes
                                                                   ``error_notified``
the lines (a fee's amount, a line that does not        ``replace`` issues a replacement receipt
belong), with or without the above                                 (new number, same range
                                                                   rules, ``replaces`` the
                                                                   original, named in its XML);
                                                                   the original ``replaced``
=====================================================  ==========  ==============================

One person proposes (``finance`` or ``finance_approver``: a reason and the corrected fields),
another approves or rejects (``finance_approver``; the same person behind another key or a
console login is refused with ``self_approval``, the rule of reconciliation's maker-checker).
Approval is one transaction, locks in the one order (the payment, then the receipt, then the
number ranges): the receipt's move through its machine, the replacement, the correction's
move and the event — ``receipt.replaced`` (the new receipt and the replaced one) or
``receipt.error_notified`` (the receipt and the notice) — through the outbox. A second
approval finds the correction ``approved`` (``invalid_transition``): nothing is issued twice.
Every step is written to the audit log. A provider's replacement (VNPT) is born pending and
the original stays as it is: it becomes ``replaced``, with ``receipt.replaced``, only when the
provider has published the replacement (``ReceiptIssuance.record_published``), so a
replacement the provider refuses never leaves it stuck (docs/receipts.md, "Issuer").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core import outbox
from gateway.core.db import Database
from gateway.core.db.schema import agencies, payments, receipt_corrections, receipts
from gateway.core.errors import (
    FieldError,
    Forbidden,
    NotFound,
    ReceiptNotIssuable,
    ReceiptReplaced,
    SelfApproval,
    ValidationFailed,
)
from gateway.core.fields import iso
from gateway.core.ids import Clock, new_id
from gateway.core.statuses import CORRECTIONS, RECEIPTS, DecisionStatus, ReceiptStatus
from gateway.services.receipts.correction_rules import (
    ADDRESS_FIELD,
    REPLACE,
    check_correctable,
    check_total,
    corrected_payer,
    notice_of,
    open_notice,
    validated,
)
from gateway.services.receipts.issuance import ReceiptIssuance, receipt_share
from gateway.services.receipts.render import RECEIPT_COLUMNS, render
from gateway.services.receipts.tax_notices import notice_state, record_notice
from gateway.services.receipts.views import rendered
from gateway.services.resolutions import REASON_MAX
from gateway.services.sealing import Sealer
from reconciliation.audit import record
from reconciliation.workflow import CHECKERS, MAKERS, Actor, same_person


@dataclass(frozen=True)
class Decided:
    """What approving a correction did to the receipt: the event to emit, and what the
    correction row records (``replacement_id`` or ``notice``)."""

    event: str | None  # None: nothing to tell yet (a replacement VNPT has still to publish)
    data: dict[str, Any]
    values: dict[str, Any]


class CorrectionService:
    def __init__(
        self,
        db: Database,
        issuance: ReceiptIssuance,
        sealer: Sealer,
        clock: Clock,
        base_url: str,
    ) -> None:
        self.db = db
        self.issuance = issuance
        self.sealer = sealer
        self.clock = clock
        self.base_url = base_url

    # -- maker ------------------------------------------------------------------------------

    async def propose(
        self, actor: Actor, receipt_id: str, reason: str, fields: Any
    ) -> dict[str, Any]:
        """Propose a correction of an issued (or notified) receipt; it awaits a checker."""
        async with self.db.write() as conn:
            return await self.propose_in(conn, actor, receipt_id, reason, fields)

    async def propose_in(
        self, conn: AsyncConnection, actor: Actor, receipt_id: str, reason: str, fields: Any
    ) -> dict[str, Any]:
        """:meth:`propose` in the caller's transaction (the API's, with its Idempotency-Key)."""
        if actor.role not in MAKERS:
            raise Forbidden("proposing a receipt correction needs the finance role")
        receipt = await self._receipt(conn, actor, receipt_id)
        if isinstance(fields, dict):  # a field given as null is a field not corrected
            fields = {name: value for name, value in fields.items() if value is not None}
        kind = check_correctable(receipt, fields)
        if kind == REPLACE:
            agency_code = (
                await conn.execute(
                    select(agencies.c.code).where(agencies.c.id == receipt.agency_id)
                )
            ).scalar_one()
            self.issuance.check_replaceable(agency_code)
        corrected = validated(receipt, reason, fields, self.sealer)
        if "items" in corrected:
            share = await receipt_share(conn, receipt.payment_id, receipt.kind)
            check_total(corrected["items"], share)
        now = self.clock()
        correction_id = new_id("rcc")
        await CORRECTIONS.insert(
            conn,
            DecisionStatus.PROPOSED,
            id=correction_id,
            receipt_id=receipt.id,
            agency_id=receipt.agency_id,
            kind=kind,
            reason=reason.strip(),
            fields=corrected,
            proposed_by=actor.id,
            proposed_at=now,
            created_at=now,
            updated_at=now,
        )
        await record(
            conn,
            now,
            actor.id,
            "receipt_correction_proposed",
            "receipt",
            receipt.id,
            {"correction_id": correction_id, "kind": kind, "fields": sorted(corrected)},
        )
        return await self._view(conn, correction_id)

    # -- checker ----------------------------------------------------------------------------

    async def approve(self, actor: Actor, correction_id: str) -> dict[str, Any]:
        """Approve (someone other than who proposed it): the notice is recorded or the
        replacement issued, in one transaction with the receipt's move and the event."""
        if actor.role not in CHECKERS:
            raise Forbidden("approving a receipt correction needs the finance_approver role")
        async with self.db.write() as conn:
            correction = await self._correction(conn, actor, correction_id)
            CORRECTIONS.check(DecisionStatus(correction.status), DecisionStatus.APPROVED)
            if await same_person(conn, correction.proposed_by, actor.id):
                raise SelfApproval(f"{actor.id} proposed this correction and cannot approve it")
            now = self.clock()
            # The one lock order: the payment, then its receipt (then the number ranges).
            await conn.execute(
                select(payments.c.id)
                .join(receipts, receipts.c.payment_id == payments.c.id)
                .where(receipts.c.id == correction.receipt_id)
                .with_for_update(of=payments)
            )
            original = (
                await conn.execute(
                    select(receipts).where(receipts.c.id == correction.receipt_id).with_for_update()
                )
            ).one()
            # Read again under the locks: an approval that waited on them sees the other's
            # decision (``invalid_transition``) rather than acting on what it read before.
            correction = (
                await conn.execute(
                    select(receipt_corrections)
                    .where(receipt_corrections.c.id == correction_id)
                    .with_for_update()
                )
            ).one()
            CORRECTIONS.check(DecisionStatus(correction.status), DecisionStatus.APPROVED)
            kind = self._replace if correction.kind == REPLACE else self._notify
            decided = await kind(conn, correction, original, now)
            await CORRECTIONS.move(
                conn,
                correction.id,
                DecisionStatus.PROPOSED,
                DecisionStatus.APPROVED,
                decided_by=actor.id,
                decided_at=now,
                updated_at=now,
                **decided.values,
            )
            if decided.event is not None:
                await outbox.emit(
                    conn,
                    now=now,
                    type=decided.event,
                    payment_id=original.payment_id,
                    data=decided.data,
                )
            await record(
                conn,
                now,
                actor.id,
                "receipt_correction_approved",
                "receipt",
                original.id,
                {
                    "correction_id": correction.id,
                    "kind": correction.kind,
                    "proposed_by": correction.proposed_by,
                    "replacement_id": decided.values.get("replacement_id"),
                },
            )
            return await self._view(conn, correction_id)

    async def reject(self, actor: Actor, correction_id: str, reason: str) -> dict[str, Any]:
        """Turn a proposal down (a checker, with a reason): nothing changes on the receipt."""
        if actor.role not in CHECKERS:
            raise Forbidden("rejecting a receipt correction needs the finance_approver role")
        if not reason.strip():
            raise ValidationFailed([FieldError("reason", "required", "say why")])
        if len(reason) > REASON_MAX:
            raise ValidationFailed([FieldError("reason", "too_long", f"≤ {REASON_MAX}")])
        async with self.db.write() as conn:
            correction = await self._correction(conn, actor, correction_id)
            now = self.clock()
            await CORRECTIONS.move(
                conn,
                correction.id,
                DecisionStatus(correction.status),
                DecisionStatus.REJECTED,
                decided_by=actor.id,
                decided_at=now,
                decision_reason=reason.strip(),
                updated_at=now,
            )
            await record(
                conn,
                now,
                actor.id,
                "receipt_correction_rejected",
                "receipt",
                correction.receipt_id,
                {"correction_id": correction.id, "reason": reason.strip()},
            )
            return await self._view(conn, correction_id)

    # -- reading ----------------------------------------------------------------------------

    async def get(self, actor: Actor, correction_id: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            await self._correction(conn, actor, correction_id)
            return await self._view(conn, correction_id)

    async def of_receipt(self, actor: Actor, receipt_id: str) -> list[dict[str, Any]]:
        """A receipt's corrections, oldest first (404 for a receipt out of scope)."""
        async with self.db.read() as conn:
            await self._receipt(conn, actor, receipt_id)
            ids = (
                await conn.execute(
                    select(receipt_corrections.c.id)
                    .where(receipt_corrections.c.receipt_id == receipt_id)
                    .order_by(receipt_corrections.c.created_at, receipt_corrections.c.id)
                )
            ).scalars()
            return [await self._view(conn, found) for found in list(ids)]

    async def receipt(self, actor: Actor, receipt_id: str) -> dict[str, Any]:
        """A receipt as finance staff see it (their agencies only, else 404)."""
        async with self.db.read() as conn:
            await self._receipt(conn, actor, receipt_id)
            row = await self._receipt_row(conn, receipt_id)
            [view] = await rendered(conn, [row], self.base_url, self.sealer)  # with its refunds
            return view

    async def find(
        self, actor: Actor, *, symbol: str = "", number: int | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The newest receipts of the staff member's agencies, or those of a symbol and
        number (the finance console's receipt search)."""
        statement = (
            select(*RECEIPT_COLUMNS)
            .join(agencies, agencies.c.id == receipts.c.agency_id)
            .where(actor.scope.clause(receipts.c.agency_id))
        )
        if symbol:
            statement = statement.where(receipts.c.symbol == symbol)
        if number is not None:
            statement = statement.where(receipts.c.number == number)
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    statement.order_by(receipts.c.created_at.desc(), receipts.c.id.desc()).limit(
                        limit
                    )
                )
            ).all()
        return [render(row, self.base_url, self.sealer) for row in rows]

    # -- the two kinds ----------------------------------------------------------------------

    async def _replace(
        self, conn: AsyncConnection, correction: Any, original: Any, now: datetime
    ) -> Decided:
        current = ReceiptStatus(original.status)
        if current is ReceiptStatus.REPLACED:
            raise ReceiptReplaced(current.value, ReceiptStatus.REPLACED.value)
        RECEIPTS.check(current, ReceiptStatus.REPLACED)
        if await self.issuance.pending_replacement(conn, original.id) is not None:
            # Its provider has yet to publish the replacement approved before: never two.
            raise ReceiptNotIssuable(
                "a replacement of this receipt is waiting for its provider",
                reason="replacement_pending",
            )
        changes: dict[str, Any] = {}
        if "items" in correction.fields:
            # Checked again under the locks: a proposal made before the rule is held to it.
            share = await receipt_share(conn, original.payment_id, original.kind)
            check_total(correction.fields["items"], share)
            changes["items"] = correction.fields["items"]
        payer = corrected_payer(original.payer, correction.fields)
        if payer != original.payer:
            changes["payer"] = payer
        replacement = await self.issuance.issue_replacement(conn, original, changes, now)
        if replacement["status"] == ReceiptStatus.PENDING.value:
            # A provider's replacement (VNPT) is born pending: the original stays as it is
            # until the provider has published the replacement, and becomes ``replaced`` (with
            # ``receipt.replaced``) in that same transaction (ReceiptIssuance.record_published).
            return Decided(None, {}, {"replacement_id": replacement["id"]})
        await RECEIPTS.move(conn, original.id, current, ReceiptStatus.REPLACED, updated_at=now)
        return Decided(
            "receipt.replaced",
            {"receipt": replacement, "replaced": await self._receipt_view(conn, original.id)},
            {"replacement_id": replacement["id"]},
        )

    async def _notify(
        self, conn: AsyncConnection, correction: Any, original: Any, now: datetime
    ) -> Decided:
        current = ReceiptStatus(original.status)
        if current is ReceiptStatus.REPLACED:
            raise ReceiptReplaced(current.value, ReceiptStatus.ERROR_NOTIFIED.value)
        if current is not ReceiptStatus.ERROR_NOTIFIED:  # a second notice keeps the status
            await RECEIPTS.move(
                conn, original.id, current, ReceiptStatus.ERROR_NOTIFIED, updated_at=now
            )
        notice = notice_of(original, correction, now)
        # The notice goes to the tax authority as its own message (04/SS-CTĐT), recorded in
        # this transaction and sent by the loop (tax_notices.py).
        await record_notice(conn, correction.id, original, now)
        return Decided(
            "receipt.error_notified",
            {
                "receipt": await self._receipt_view(conn, original.id),
                "notice": open_notice(notice, self.sealer),
            },
            {"notice": notice},
        )

    async def _receipt(self, conn: AsyncConnection, actor: Actor, receipt_id: str) -> Any:
        row = (await conn.execute(select(receipts).where(receipts.c.id == receipt_id))).first()
        if row is None or not actor.scope.covers(row.agency_id):
            raise NotFound("receipt not found")
        return row

    async def _correction(self, conn: AsyncConnection, actor: Actor, correction_id: str) -> Any:
        row = (
            await conn.execute(
                select(receipt_corrections).where(receipt_corrections.c.id == correction_id)
            )
        ).first()
        if row is None or not actor.scope.covers(row.agency_id):
            raise NotFound("correction not found")
        return row

    async def _receipt_view(self, conn: AsyncConnection, receipt_id: str) -> dict[str, Any]:
        return render(await self._receipt_row(conn, receipt_id), self.base_url, self.sealer)

    @staticmethod
    async def _receipt_row(conn: AsyncConnection, receipt_id: str) -> Any:
        return (
            await conn.execute(
                select(*RECEIPT_COLUMNS)
                .join(agencies, agencies.c.id == receipts.c.agency_id)
                .where(receipts.c.id == receipt_id)
            )
        ).one()

    async def _view(self, conn: AsyncConnection, correction_id: str) -> dict[str, Any]:
        row = (
            await conn.execute(
                select(receipt_corrections).where(receipt_corrections.c.id == correction_id)
            )
        ).one()
        fields = dict(row.fields)
        if fields.get("payer_address"):
            fields["payer_address"] = self.sealer.open(fields["payer_address"], ADDRESS_FIELD)
        return {
            "id": row.id,
            "receipt_id": row.receipt_id,
            "kind": row.kind,
            "status": row.status,
            "reason": row.reason,
            "fields": fields,
            "proposed_by": row.proposed_by,
            "proposed_at": iso(row.proposed_at),
            "decided_by": row.decided_by,
            "decided_at": iso(row.decided_at),
            "decision_reason": row.decision_reason,
            "replacement_id": row.replacement_id,
            "notice": open_notice(row.notice, self.sealer) if row.notice else None,
            "tax_notice": await notice_state(conn, row.id),
        }
