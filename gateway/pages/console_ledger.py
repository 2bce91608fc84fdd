"""What the gateway's own books say about an exception, for the side-by-side review.

An exception names its ledger side by keys (``payment:<id>``, ``attempt:<id>``,
``item:<payment>:<position>``, ``refund:<id>``, ``postal:<order id>`` for COD, see
:mod:`reconciliation.ledger`); this reads those rows back for display. Read-only, and
nothing personal beyond the dossier code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

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

KIND_LABELS = {
    "payment": "Khoản thanh toán",
    "attempt": "Giao dịch kênh",
    "item": "Khoản thu",
    "refund": "Hoàn tiền",
    "postal": "Thu hộ COD",
}
CHANNEL_LABELS = {
    "vietqr": "Chuyển khoản VietQR",
    "vnpay": "VNPAY",
    "pos": "POS",
    "cod": "Thu hộ COD",
}
FEE_KIND_LABELS = {"fee": "Phí", "charge": "Lệ phí", "postal": "Cước bưu chính"}


@dataclass(frozen=True)
class LedgerEntry:
    key: str
    kind: str  # a Vietnamese label
    reference: str | None = None
    amount: int | None = None
    status: str | None = None
    at: datetime | None = None
    detail: str = ""
    found: bool = True

    @property
    def signed_amount(self) -> int | None:
        """Money in is positive; a refund is money out (a debit on the statement)."""
        if self.amount is None:
            return None
        return -self.amount if self.key.startswith("refund:") else self.amount


async def ledger_entries(db: Database, keys: Iterable[str]) -> list[LedgerEntry]:
    """One entry per key, in order; a key whose row is gone is shown as not found."""
    parsed = [(key, *key.split(":", 1)) for key in keys]
    ids: dict[str, set[str]] = {
        "payment": set(),
        "attempt": set(),
        "refund": set(),
        "postal": set(),
    }
    for _, kind, rest in (p for p in parsed if len(p) == 3):
        ids.setdefault(kind, set()).add(rest.split(":", 1)[0])
    ids["payment"] |= ids.pop("item", set())
    async with db.read() as conn:
        pay = {
            row.id: row
            for row in await conn.execute(select(payments).where(payments.c.id.in_(ids["payment"])))
        }
        att = {
            row.id: row
            for row in await conn.execute(
                select(attempts, payments.c.reference.label("payment_reference"))
                .join(payments, payments.c.id == attempts.c.payment_id)
                .where(attempts.c.id.in_(ids["attempt"]))
            )
        }
        ref = {
            row.id: row
            for row in await conn.execute(
                select(refunds, payments.c.reference.label("payment_reference"))
                .join(payments, payments.c.id == refunds.c.payment_id)
                .where(refunds.c.id.in_(ids["refund"]))
            )
        }
        items = {
            (row.payment_id, row.position): row
            for row in await conn.execute(
                select(payment_items).where(payment_items.c.payment_id.in_(ids["payment"]))
            )
        }
        cod = {
            row.id: row
            for row in await conn.execute(
                select(postal_orders).where(postal_orders.c.id.in_(ids["postal"]))
            )
        }
    entries = []
    for parts in parsed:
        key = parts[0]
        kind = parts[1] if len(parts) == 3 else ""
        rest = parts[2] if len(parts) == 3 else ""
        label = KIND_LABELS.get(kind, kind)
        entry = LedgerEntry(key, label, found=False)
        if kind == "payment" and rest in pay:
            row = pay[rest]
            entry = LedgerEntry(
                key,
                label,
                reference=row.reference,
                amount=row.amount,
                status=row.status,
                at=row.paid_at,
                detail=f"Hồ sơ {row.dossier_code}",
            )
        elif kind == "attempt" and rest in att:
            row = att[rest]
            detail = f"{CHANNEL_LABELS.get(row.channel, row.channel)} · mã {row.provider_reference}"
            if row.provider_transaction_id:
                detail += f" · GD {row.provider_transaction_id}"
            entry = LedgerEntry(
                key,
                label,
                reference=row.payment_reference,
                amount=row.amount,
                status=row.status,
                at=row.updated_at,
                detail=detail,
            )
        elif kind == "refund" and rest in ref:
            row = ref[rest]
            entry = LedgerEntry(
                key,
                label,
                reference=row.payment_reference,
                amount=row.amount,
                status=row.status,
                at=row.updated_at,
                detail=row.reason,
            )
        elif kind == "postal" and rest in cod:
            row = cod[rest]
            entry = LedgerEntry(
                key,
                label,
                reference=row.client_reference,
                amount=row.cod_collected,
                status=row.status,
                at=row.cod_collected_at,
                detail=f"Bưu gửi {row.tracking_number} · hồ sơ {row.dossier_code}",
            )
        elif kind == "item":
            payment_id, _, position = rest.partition(":")
            item = items.get((payment_id, int(position))) if position.isdigit() else None
            if item is not None and payment_id in pay:
                owner = pay[payment_id]
                entry = LedgerEntry(
                    key,
                    label,
                    reference=owner.reference,
                    amount=item.amount,
                    status=owner.status,
                    at=owner.paid_at,
                    detail=f"{FEE_KIND_LABELS.get(item.kind, item.kind)}: {item.description}",
                )
        entries.append(entry)
    return entries


async def staff_names(db: Database, ids: Iterable[str | None]) -> dict[str, str]:
    """Display names of staff users by id (API clients and unknown ids are left out)."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    async with db.read() as conn:
        rows = await conn.execute(
            select(staff_users.c.id, staff_users.c.display_name).where(staff_users.c.id.in_(wanted))
        )
        return {row.id: row.display_name for row in rows}
