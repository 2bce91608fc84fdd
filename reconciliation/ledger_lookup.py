"""The gateway's own books behind an exception, read back by its ledger keys.

An exception names its ledger side by keys (``payment:<id>``, ``attempt:<id>``,
``item:<payment>:<position>``, ``refund:<id>``, ``postal:<order id>`` for COD, see
:mod:`reconciliation.ledger`); :class:`LedgerLookup` reads those rows back as plain facts,
and the staff console words them. Read-only, and nothing personal beyond the dossier code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from gateway.core.db import Database
from gateway.core.db.schema import (
    attempts,
    payment_items,
    payments,
    postal_orders,
    refunds,
    staff_users,
)

#: The kinds of ledger key, as :mod:`reconciliation.ledger` writes them.
KINDS = ("payment", "attempt", "item", "refund", "postal")


@dataclass(frozen=True)
class LedgerRecord:
    """What the books hold for one key. ``found`` is false when the key names no row (the
    other fields are then empty). ``channel``/``provider_*`` describe an attempt; ``fee_kind``
    and ``description`` an item; ``reason`` a refund; ``tracking_number`` a COD order;
    ``dossier_code`` a payment or COD order."""

    key: str
    kind: str
    found: bool = False
    reference: str | None = None
    amount: int | None = None
    status: str | None = None
    at: datetime | None = None
    dossier_code: str | None = None
    channel: str | None = None
    provider_reference: str | None = None
    provider_transaction_id: str | None = None
    fee_kind: str | None = None
    description: str | None = None
    reason: str | None = None
    tracking_number: str | None = None


def _split(key: str) -> tuple[str, str]:
    kind, colon, rest = key.partition(":")
    return (kind, rest) if colon else ("", "")


class LedgerLookup:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def records(self, keys: Iterable[str]) -> list[LedgerRecord]:
        """One record per key, in order; a key whose row is gone comes back not found."""
        parsed = [(key, *_split(key)) for key in keys]
        ids: dict[str, set[str]] = {kind: set() for kind in KINDS}
        for _, kind, rest in parsed:
            if kind:
                ids.setdefault(kind, set()).add(rest.split(":", 1)[0])
        ids["payment"] |= ids.pop("item")
        async with self.db.read() as conn:
            pay = await self._by_id(conn, select(payments), payments.c.id, ids["payment"])
            att = await self._by_id(
                conn,
                select(attempts, payments.c.reference.label("payment_reference")).join(
                    payments, payments.c.id == attempts.c.payment_id
                ),
                attempts.c.id,
                ids["attempt"],
            )
            ref = await self._by_id(
                conn,
                select(refunds, payments.c.reference.label("payment_reference")).join(
                    payments, payments.c.id == refunds.c.payment_id
                ),
                refunds.c.id,
                ids["refund"],
            )
            cod = await self._by_id(conn, select(postal_orders), postal_orders.c.id, ids["postal"])
            items = {
                (row.payment_id, row.position): row
                for row in await conn.execute(
                    select(payment_items).where(payment_items.c.payment_id.in_(ids["payment"]))
                )
            }
        return [
            self._record(key, kind, rest, pay, att, ref, cod, items) for key, kind, rest in parsed
        ]

    @staticmethod
    async def _by_id(conn: Any, query: Any, column: Any, wanted: set[str]) -> dict[str, Any]:
        return {row.id: row for row in await conn.execute(query.where(column.in_(wanted)))}

    @staticmethod
    def _record(
        key: str,
        kind: str,
        rest: str,
        pay: dict[str, Any],
        att: dict[str, Any],
        ref: dict[str, Any],
        cod: dict[str, Any],
        items: dict[tuple[str, int], Any],
    ) -> LedgerRecord:
        if kind == "payment" and rest in pay:
            row = pay[rest]
            return LedgerRecord(
                key,
                kind,
                found=True,
                reference=row.reference,
                amount=row.amount,
                status=row.status,
                at=row.paid_at,
                dossier_code=row.dossier_code,
            )
        if kind == "attempt" and rest in att:
            row = att[rest]
            return LedgerRecord(
                key,
                kind,
                found=True,
                reference=row.payment_reference,
                amount=row.amount,
                status=row.status,
                at=row.updated_at,
                channel=row.channel,
                provider_reference=row.provider_reference,
                provider_transaction_id=row.provider_transaction_id,
            )
        if kind == "refund" and rest in ref:
            row = ref[rest]
            return LedgerRecord(
                key,
                kind,
                found=True,
                reference=row.payment_reference,
                amount=row.amount,
                status=row.status,
                at=row.updated_at,
                reason=row.reason,
            )
        if kind == "postal" and rest in cod:
            row = cod[rest]
            return LedgerRecord(
                key,
                kind,
                found=True,
                reference=row.client_reference,
                amount=row.cod_collected,
                status=row.status,
                at=row.cod_collected_at,
                dossier_code=row.dossier_code,
                tracking_number=row.tracking_number,
            )
        if kind == "item":
            payment_id, _, position = rest.partition(":")
            item = items.get((payment_id, int(position))) if position.isdigit() else None
            if item is not None and payment_id in pay:
                owner = pay[payment_id]
                return LedgerRecord(
                    key,
                    kind,
                    found=True,
                    reference=owner.reference,
                    amount=item.amount,
                    status=owner.status,
                    at=owner.paid_at,
                    fee_kind=item.kind,
                    description=item.description,
                )
        return LedgerRecord(key, kind)

    async def staff_names(self, ids: Iterable[str | None]) -> dict[str, str]:
        """Display names of the staff users who acted on an exception, by id (API clients and
        unknown ids are left out)."""
        wanted = {i for i in ids if i}
        if not wanted:
            return {}
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(staff_users.c.id, staff_users.c.display_name).where(
                    staff_users.c.id.in_(wanted)
                )
            )
            return {row.id: row.display_name for row in rows}
