"""Which receipt(s) a refund concerns (docs/receipts.md, "Refunds").

A refunded payment keeps its receipts, and each refund is recorded against the receipts whose
money it gives back: ``refunds.receipt_shares``, by receipt kind (``all`` in single mode,
``fee``/``charge`` in split mode) and :data:`NO_RECEIPT` for postal lines, which are on no
receipt. The receipt kind is kept by a replacement, so a replacement lists the same refunds.

- A refund that names its lines (``items``, by line kind) is recorded as named; each receipt
  can give back at most what it still holds (its lines, less the refunds already recorded
  against it that are pending or succeeded).
- A refund without lines is recorded without guessing: a refund of everything still
  refundable gives back what each receipt still holds; one where only one receipt (or only
  the postal lines) still holds money concerns that one. Anything else — a part of a payment
  whose money is on two receipts — is refused (``refund_items_required``): splitting it pro
  rata would write on a receipt a refund of a fee that was not given back.
- A payment without receipts (its agency issues them elsewhere, or it awaits review) records
  nothing (NULL), as do refunds made before this was recorded; those are listed on every
  receipt of the payment, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db.schema import payment_items, receipts, refunds
from gateway.core.errors import FieldError, RefundItemsRequired, ValidationFailed
from gateway.core.statuses import RefundStatus
from gateway.services.receipts.issuance import LINE_KINDS

#: The share of lines that are on no receipt (cước bưu chính: the carrier invoices it).
NO_RECEIPT = "postal"


def _group_of(line_kind: str, kinds: Sequence[str]) -> str:
    """The receipt kind whose receipt carries lines of ``line_kind`` (or :data:`NO_RECEIPT`)."""
    for kind in kinds:
        if line_kind in LINE_KINDS[kind]:
            return kind
    return NO_RECEIPT


async def remaining(conn: AsyncConnection, payment_id: str) -> dict[str, int] | None:
    """What each receipt of the payment (and its postal lines) still holds: its lines, less
    the refunds recorded against it that are pending or succeeded. ``None`` when the payment
    has no receipts."""
    kinds = sorted(
        set(
            (
                await conn.execute(
                    select(receipts.c.kind).where(
                        receipts.c.payment_id == payment_id, receipts.c.replaces.is_(None)
                    )
                )
            ).scalars()
        )
    )
    if not kinds:
        return None
    held: dict[str, int] = {}
    lines = await conn.execute(
        select(payment_items.c.kind, payment_items.c.amount).where(
            payment_items.c.payment_id == payment_id
        )
    )
    for line in lines:
        group = _group_of(line.kind, kinds)
        held[group] = held.get(group, 0) + int(line.amount)
    recorded = await conn.execute(
        select(refunds.c.receipt_shares).where(
            refunds.c.payment_id == payment_id,
            refunds.c.status.in_([RefundStatus.PENDING.value, RefundStatus.SUCCEEDED.value]),
            refunds.c.receipt_shares.is_not(None),
        )
    )
    for (shares,) in recorded:
        for group, amount in (shares or {}).items():
            held[group] = held.get(group, 0) - int(amount)
    return held


async def shares_for(
    conn: AsyncConnection,
    payment_id: str,
    amount: int,
    items: Sequence[Mapping[str, Any]] | None,
) -> dict[str, int] | None:
    """The receipt shares of a new refund of ``amount`` (in the refund's transaction, the
    payment locked), or a refusal that changes nothing."""
    held = await remaining(conn, payment_id)
    if items is not None and sum(int(item["amount"]) for item in items) != amount:
        raise ValidationFailed(
            [FieldError("items", "does_not_add_up", f"the items must add up to {amount} VND")]
        )
    if held is None:
        return None
    kinds = [kind for kind in held if kind != NO_RECEIPT]
    if items is not None:
        wanted: dict[str, int] = {}
        for item in items:
            group = _group_of(str(item["kind"]), kinds)
            wanted[group] = wanted.get(group, 0) + int(item["amount"])
        over = [
            FieldError(
                "items",
                "exceeds_refundable",
                f"at most {max(held.get(group, 0), 0)} VND of the {group} lines can be refunded",
            )
            for group, asked in sorted(wanted.items())
            if asked > held.get(group, 0)
        ]
        if over:
            raise ValidationFailed(over)
        return wanted
    holding = {group: left for group, left in held.items() if left > 0}
    if amount == sum(holding.values()):
        return holding
    if len(holding) == 1:
        [group] = holding
        if amount <= holding[group]:
            return {group: amount}
    raise RefundItemsRequired(
        "the payment's money is on more than one receipt: say which lines this refund "
        "gives back (items)",
        remaining=dict(sorted(holding.items())),
    )


def share_on(receipt_kind: str, refund_amount: int, shares: Mapping[str, int] | None) -> int:
    """How much of a refund concerns a receipt of ``receipt_kind``: its recorded share, or
    the whole refund when nothing was recorded (a refund made before shares were)."""
    if shares is None:
        return refund_amount
    return int(shares.get(receipt_kind, 0))
