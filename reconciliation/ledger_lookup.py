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


def _item_id(payment_id: str, position: object) -> str:
    return f"{payment_id}:{position}"


def _row_id(kind: str, rest: str) -> str:
    """The id a key's row is filed under: ``rest`` itself, but ``item:<payment>:01`` finds the
    item at position 1."""
    if kind != "item":
        return rest
    payment_id, _, position = rest.partition(":")
    return _item_id(payment_id, int(position)) if position.isdigit() else ""


_PAYMENT_REFERENCE = payments.c.reference.label("payment_reference")

#: Per kind: the rows behind its keys, and the column its key's id (or an item's payment id) names.
_QUERIES: dict[str, tuple[Any, Any]] = {
    "payment": (select(payments), payments.c.id),
    "attempt": (
        select(attempts, _PAYMENT_REFERENCE).join(payments, payments.c.id == attempts.c.payment_id),
        attempts.c.id,
    ),
    "refund": (
        select(refunds, _PAYMENT_REFERENCE).join(payments, payments.c.id == refunds.c.payment_id),
        refunds.c.id,
    ),
    "postal": (select(postal_orders), postal_orders.c.id),
    "item": (
        select(
            payment_items,
            _PAYMENT_REFERENCE,
            payments.c.status.label("payment_status"),
            payments.c.paid_at,
        ).join(payments, payments.c.id == payment_items.c.payment_id),
        payment_items.c.payment_id,
    ),
}

#: Per kind: which column of its row fills each field of its :class:`LedgerRecord`.
_FIELDS: dict[str, dict[str, str]] = {
    "payment": {
        "reference": "reference",
        "amount": "amount",
        "status": "status",
        "at": "paid_at",
        "dossier_code": "dossier_code",
    },
    "attempt": {
        "reference": "payment_reference",
        "amount": "amount",
        "status": "status",
        "at": "updated_at",
        "channel": "channel",
        "provider_reference": "provider_reference",
        "provider_transaction_id": "provider_transaction_id",
    },
    "refund": {
        "reference": "payment_reference",
        "amount": "amount",
        "status": "status",
        "at": "updated_at",
        "reason": "reason",
    },
    "postal": {
        "reference": "client_reference",
        "amount": "cod_collected",
        "status": "status",
        "at": "cod_collected_at",
        "dossier_code": "dossier_code",
        "tracking_number": "tracking_number",
    },
    "item": {
        "reference": "payment_reference",
        "amount": "amount",
        "status": "payment_status",
        "at": "paid_at",
        "fee_kind": "kind",
        "description": "description",
    },
}


class LedgerLookup:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def records(self, keys: Iterable[str]) -> list[LedgerRecord]:
        """One record per key, in order; a key whose row is gone comes back not found."""
        parsed = [(key, *_split(key)) for key in keys]
        ids: dict[str, set[str]] = {kind: set() for kind in KINDS}
        for _, kind, rest in parsed:
            if kind in ids:
                ids[kind].add(rest.split(":", 1)[0])
        rows: dict[str, dict[str, Any]] = {}
        async with self.db.read() as conn:
            for kind, (query, column) in _QUERIES.items():
                found = await conn.execute(query.where(column.in_(ids[kind])))
                rows[kind] = {
                    _item_id(row.payment_id, row.position) if kind == "item" else row.id: row
                    for row in found
                }
        return [
            _record(key, kind, rows.get(kind, {}).get(_row_id(kind, rest)))
            for key, kind, rest in parsed
        ]

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


def _record(key: str, kind: str, row: Any) -> LedgerRecord:
    if row is None:
        return LedgerRecord(key, kind)
    fields = {field: getattr(row, column) for field, column in _FIELDS[kind].items()}
    return LedgerRecord(key, kind, found=True, **fields)
