"""Receipts as the API, the pages and the CLI see them: the API view, lists with a cursor,
the signed XML, the citizen's page (by its unguessable token), the signing certificate, number
ranges, delegation agreements, and issuing the receipts left pending once they can be."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncConnection

from config import ReceiptSettings
from config.settings import ReceiptAgencySettings
from gateway.core.db import Database
from gateway.core.db.schema import agencies, payments, receipts, refunds
from gateway.core.errors import FieldError, NotFound, ValidationFailed
from gateway.core.fields import iso
from gateway.core.ids import Clock
from gateway.core.statuses import ReceiptStatus
from gateway.services import payment_state as state
from gateway.services.clients import Principal
from gateway.services.payments import after_cursor, encode_cursor
from gateway.services.receipts import delegations, numbering
from gateway.services.receipts.issuance import ReceiptIssuance, ToPublish
from gateway.services.receipts.numbering import NewRange, Point
from gateway.services.receipts.refund_shares import share_on
from gateway.services.receipts.render import RECEIPT_COLUMNS, render, view_url
from gateway.services.sealing import Sealer
from providers.receipts.issuer import IssuedReceipt


class ReceiptService:
    def __init__(
        self,
        db: Database,
        sealer: Sealer,
        base_url: str,
        certificate: Callable[[str], bytes | None],
        settings: ReceiptSettings,
        issuer: ReceiptIssuance,
        clock: Clock,
    ) -> None:
        self.db = db
        self.settings = settings
        self.issuer = issuer
        self.clock = clock
        self.sealer = sealer
        self.base_url = base_url
        #: The signing certificate (PEM) of an agency code, if the gateway signs for it.
        self.certificate = certificate
        self.configured = frozenset(settings.agencies)

    # -- number ranges and pending receipts -----------------------------------------------

    async def add_range(
        self, agency_code: str, symbol: str, point: str, first: int, last: int
    ) -> dict[str, Any]:
        """Register a number range for the agency's configured template, then issue the
        receipts that waited for one (oldest first)."""
        if point not in {p.value for p in Point}:
            raise ValidationFailed(
                [FieldError("point", "invalid_choice", "online, counter or postal")]
            )
        config = self._config_with_symbol(agency_code, symbol)
        new = NewRange(
            agency_code, config.tax_code, config.template_code, symbol, Point(point), first, last
        )
        async with self.db.write() as conn:
            added = await numbering.add_range(conn, new, self.clock())
        await self.issue_pending()
        return added

    # -- delegation agreements (docs/receipts.md, "Issuing as the agency's delegate") ------

    async def add_delegation(
        self,
        agency_code: str,
        *,
        agreement_number: str,
        signed_on: date,
        valid_from: date,
        valid_until: date | None,
        symbol: str,
        first: int,
        last: int,
        notified_on: date,
        actor: str,
    ) -> dict[str, Any]:
        """Record a delegation agreement for the agency's configured template, then issue
        the receipts that waited for one (oldest first)."""
        config = self._config_with_symbol(agency_code, symbol)
        new = delegations.NewDelegation(
            agency_code,
            config.tax_code,
            config.template_code,
            agreement_number,
            signed_on,
            valid_from,
            valid_until,
            symbol,
            first,
            last,
            notified_on,
        )
        async with self.db.write() as conn:
            added = await delegations.add_delegation(conn, new, actor, self.clock())
        await self.issue_pending()
        return added

    async def end_delegation(
        self, agency_code: str, agreement_number: str, ended_on: date, reason: str, actor: str
    ) -> dict[str, Any]:
        async with self.db.write() as conn:
            return await delegations.end_delegation(
                conn, agency_code, agreement_number, ended_on, reason, actor, self.clock()
            )

    async def delegations(
        self, agency_code: str | None = None, principal: Principal | None = None
    ) -> list[dict[str, Any]]:
        """Agreements (of the principal's agencies when one is given)."""
        today = delegations.business_day(self.clock())
        async with self.db.read() as conn:
            return await delegations.list_delegations(
                conn,
                today,
                agency_code=agency_code,
                agency_ids=principal.agency_ids if principal is not None else None,
            )

    def _config_with_symbol(self, agency_code: str, symbol: str) -> ReceiptAgencySettings:
        """The agency's receipt settings, if it has them and ``symbol`` is one of its yearly
        symbols; else ``validation_failed``."""
        config = self.settings.agencies.get(agency_code)
        errors = []
        if config is None:
            errors.append(
                FieldError("agency", "receipts_not_configured", "no [receipts.agencies] entry")
            )
        if symbol not in (config.symbols.values() if config else ()):
            errors.append(
                FieldError("symbol", "unknown_symbol", "not one of the agency's yearly symbols")
            )
        if errors or config is None:
            raise ValidationFailed(errors)
        return config

    async def next_numbers(self, agency_code: str, symbol: str) -> dict[str, int]:
        """The number each point of the agency would take next under the symbol (points
        with numbers left only)."""
        config = self._config_with_symbol(agency_code, symbol)
        async with self.db.read() as conn:
            return await numbering.next_numbers(conn, agency_code, config.template_code, symbol)

    async def ranges(self, agency_code: str | None = None) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            return await numbering.list_ranges(conn, agency_code)

    async def issue_pending(self, batch: int = 200) -> int:
        """Issue the receipts left pending that can be issued now, oldest first, each in a
        transaction of its own; return how many were issued."""
        async with self.db.read() as conn:
            waiting = (
                (
                    await conn.execute(
                        select(receipts.c.id)
                        .where(receipts.c.status == ReceiptStatus.PENDING.value)
                        .order_by(receipts.c.created_at, receipts.c.number, receipts.c.id)
                        .limit(batch)
                    )
                )
                .scalars()
                .all()
            )
        issued = 0
        for receipt_id in waiting:
            async with self.db.read() as conn:
                external = await self.issuer.external_document(conn, receipt_id)
            if external is None:  # the gateway numbers and signs it in one transaction
                async with self.db.write() as conn:
                    issued += await self.issuer.issue_pending(conn, receipt_id)
                continue
            # An external provider (VNPT) is called outside any transaction; what it answers
            # is recorded in a short one (the payment locked, the receipt re-checked).
            prepared: ToPublish | None = None
            outcome: IssuedReceipt | str
            if isinstance(external, ToPublish):
                prepared, outcome = external, await self.issuer.publish(external)
            else:
                outcome = external  # a reason to wait (no symbol for the year)
            async with self.db.write() as conn:
                issued += await self.issuer.record_published(conn, receipt_id, prepared, outcome)
        return issued

    async def issuing_agencies(self, principal: Principal) -> list[str]:
        """The codes of the caller's agencies that issue receipts through the gateway."""
        async with self.db.read() as conn:
            codes = (
                await conn.execute(
                    select(agencies.c.code).where(agencies.c.id.in_(sorted(principal.agency_ids)))
                )
            ).scalars()
            return sorted(code for code in codes if code in self.configured)

    async def get(self, principal: Principal, receipt_id: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            row = await self._row(conn, receipt_id)
            if row is None or row.agency_id not in principal.agency_ids:
                raise NotFound("receipt not found")
            [view] = await self._rendered(conn, [row])
        return view

    async def of_payment(self, principal: Principal, payment_id: str) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            await state.require_owned(conn, principal.agency_ids, payment_id)
            rows = (
                await conn.execute(
                    select(*RECEIPT_COLUMNS)
                    .join(agencies, agencies.c.id == receipts.c.agency_id)
                    .where(receipts.c.payment_id == payment_id)
                    .order_by(receipts.c.created_at, receipts.c.number, receipts.c.id)
                )
            ).all()
            return await self._rendered(conn, rows)

    async def xml(self, principal: Principal, receipt_id: str) -> bytes:
        async with self.db.read() as conn:
            row = await self._row(conn, receipt_id)
        if row is None or row.agency_id not in principal.agency_ids:
            raise NotFound("receipt not found")
        if row.xml_sealed is None:
            raise NotFound("the receipt is not issued yet (pending)")
        return self.sealer.open(row.xml_sealed, "receipt.xml").encode("utf-8")

    async def list_page(
        self,
        principal: Principal,
        *,
        agency_code: str | None,
        issued_from: datetime | None,
        issued_to: datetime | None,
        symbol: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> dict[str, Any]:
        conditions: list[ColumnElement[bool]] = [
            receipts.c.agency_id.in_(sorted(principal.agency_ids))
        ]
        if agency_code:
            conditions.append(agencies.c.code == agency_code)
        if issued_from:
            conditions.append(receipts.c.issued_at >= issued_from)
        if issued_to:
            conditions.append(receipts.c.issued_at < issued_to)
        if symbol:
            conditions.append(receipts.c.symbol == symbol)
        if status:
            conditions.append(receipts.c.status == status)
        if cursor:
            conditions.append(after_cursor(receipts.c.created_at, receipts.c.id, cursor, "rct_"))
        statement = (
            select(*RECEIPT_COLUMNS)
            .join(agencies, agencies.c.id == receipts.c.agency_id)
            .where(*conditions)
            .order_by(receipts.c.created_at.desc(), receipts.c.id.desc())
            .limit(limit + 1)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(statement)).all()
            page = rows[:limit]
            data = await self._rendered(conn, page)
        next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None
        return {"data": data, "next_cursor": next_cursor}

    async def public(self, receipt_id: str, token: str) -> dict[str, Any]:
        """The receipt for the citizen's page, if ``token`` is its view token (else 404),
        with what the page prints besides the API view."""
        async with self.db.read() as conn:
            row = await self._row(conn, receipt_id)
            if row is None or not hmac.compare_digest(
                row.view_token_hash, hashlib.sha256(token.encode()).hexdigest()
            ):
                raise NotFound("receipt not found")
            payment = (
                await conn.execute(
                    select(payments.c.dossier_code, payments.c.procedure_name).where(
                        payments.c.id == row.payment_id
                    )
                )
            ).one()
            [view] = await self._rendered(conn, [row])
            original = replacement = None
            if row.replaces is not None:
                original = (
                    await conn.execute(
                        select(receipts.c.symbol, receipts.c.number, receipts.c.issued_at).where(
                            receipts.c.id == row.replaces
                        )
                    )
                ).one()
            if row.status == ReceiptStatus.REPLACED.value:
                replacement = (
                    await conn.execute(
                        select(receipts.c.id, receipts.c.view_token_sealed).where(
                            receipts.c.replaces == row.id
                        )
                    )
                ).first()
        view.update(
            replaced_receipt=None
            if original is None
            else {
                "symbol": original.symbol,
                "number": original.number,
                "issued_at": iso(original.issued_at),
            },
            replacement_url=None
            if replacement is None
            else view_url(replacement, self.base_url, self.sealer),
        )
        view.update(
            dossier_code=payment.dossier_code,
            procedure_name=payment.procedure_name,
            agency_name=row.agency_name,
            agency_address=row.agency_address,
            view_path=f"/receipts/{row.id}?t={token}",
        )
        return view

    async def of_payment_public(self, payment_id: str) -> list[dict[str, Any]]:
        """A payment's receipts for its checkout page (whose URL is the capability)."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(*RECEIPT_COLUMNS)
                    .join(agencies, agencies.c.id == receipts.c.agency_id)
                    .where(receipts.c.payment_id == payment_id)
                    .order_by(receipts.c.created_at, receipts.c.number, receipts.c.id)
                )
            ).all()
            return await self._rendered(conn, rows)

    async def _rendered(self, conn: AsyncConnection, rows: Sequence[Any]) -> list[dict[str, Any]]:
        return await rendered(conn, rows, self.base_url, self.sealer)

    async def _row(self, conn: AsyncConnection, receipt_id: str) -> Any:
        return (
            await conn.execute(
                select(*RECEIPT_COLUMNS)
                .join(agencies, agencies.c.id == receipts.c.agency_id)
                .where(receipts.c.id == receipt_id)
            )
        ).first()


async def rendered(
    conn: AsyncConnection, rows: Sequence[Any], base_url: str, sealer: Sealer
) -> list[dict[str, Any]]:
    """The API views of receipt rows, each with the refunds recorded against it: a refunded
    payment keeps its receipts (docs/receipts.md, "Refunds"). The API, the citizen's page and
    the finance console (:meth:`.corrections.CorrectionService.receipt`) read receipts so."""
    by_payment: dict[str, list[Any]] = {row.payment_id: [] for row in rows}
    if by_payment:
        found = await conn.execute(
            select(refunds.c.id, refunds.c.payment_id, refunds.c.amount)
            .add_columns(refunds.c.status, refunds.c.created_at, refunds.c.receipt_shares)
            .where(refunds.c.payment_id.in_(sorted(by_payment)))
            .order_by(refunds.c.created_at, refunds.c.id)
        )
        for refund in found:
            by_payment[refund.payment_id].append(refund)
    return [
        {
            **render(row, base_url, sealer),
            "refunds": _refunds_on(row.kind, by_payment[row.payment_id]),
        }
        for row in rows
    ]


def _refunds_on(receipt_kind: str, found: Sequence[Any]) -> list[dict[str, Any]]:
    """The refunds recorded against a receipt of ``receipt_kind``: each whole refund
    (``amount``) with the part that concerns this receipt (``share``); an unattributed
    refund (``share`` null) is listed on every receipt of its payment (docs/receipts.md)."""
    listed = []
    for refund in found:
        share = share_on(receipt_kind, refund.receipt_shares)
        if share is None or share > 0:
            listed.append(
                {
                    "id": refund.id,
                    "amount": refund.amount,
                    "share": share,
                    "status": refund.status,
                    "created_at": iso(refund.created_at),
                }
            )
    return listed
