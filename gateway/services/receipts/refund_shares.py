"""Which receipt(s) a refund concerns (docs/receipts.md, "Refunds").

A refunded payment keeps its receipts, and each refund is recorded against the receipts whose
money it gives back: ``refunds.receipt_shares``, by receipt kind (``all`` in single mode,
``fee``/``charge`` in split mode) and :data:`NO_RECEIPT` for postal lines, which are on no
receipt. The receipt kind is kept by a replacement, so a replacement lists the same refunds.

- A refund that names its lines (``items``, by line kind) is recorded as named; each line kind
  goes to its receipt by the payment's receipt mode (:data:`RECEIPT_OF`), a kind the payment
  has no lines of is refused, and each receipt can give back at most what it still holds (its
  lines, less the refunds already recorded against it that are pending or succeeded).
- A refund without lines is recorded without guessing: a refund of everything still
  refundable gives back what each receipt still holds (when every earlier refund is
  attributed); one where only one receipt (or only the postal lines) still holds money
  concerns that one.
- Anything else — a part of a payment whose money is on two receipts, without lines — is
  accepted as the API always accepted it, and recorded **unattributed** (NULL): splitting it
  pro rata would write on a receipt a refund of a fee that was not given back. Portals send
  ``items`` to have it attributed.
- Unattributed refunds (those, refunds made before shares were recorded, and any refund of a
  payment without receipts) are listed on every receipt of the payment, as before, and count
  against no receipt in what each receipt still holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db.schema import payment_items, receipts, refunds
from gateway.core.errors import FieldError, ValidationFailed
from gateway.core.statuses import RefundStatus
from gateway.services.receipts.issuance import RECEIPTS_BY_MODE

#: The share of lines that are on no receipt (cước bưu chính: the carrier invoices it).
NO_RECEIPT = "postal"

#: The receipt kind carrying each line kind, by the payment's receipt mode (as issued:
#: ``issuance.RECEIPTS_BY_MODE``); postal lines are on no receipt.
RECEIPT_OF: Mapping[str, Mapping[str, str]] = {
    mode: {
        **{line: kind for kind, lines in by_kind for line in lines},
        "postal": NO_RECEIPT,
    }
    for mode, by_kind in RECEIPTS_BY_MODE.items()
}


def _mode(receipt_kinds: set[str]) -> str:
    """The receipt mode of a payment, from the kinds of its receipts."""
    return "single" if "all" in receipt_kinds else "split"


async def _lines(conn: AsyncConnection, payment_id: str) -> dict[str, int]:
    """The payment's lines: VND by line kind."""
    amounts: dict[str, int] = {}
    found = await conn.execute(
        select(payment_items.c.kind, payment_items.c.amount).where(
            payment_items.c.payment_id == payment_id
        )
    )
    for line in found:
        amounts[line.kind] = amounts.get(line.kind, 0) + int(line.amount)
    return amounts


async def _held(
    conn: AsyncConnection, payment_id: str, lines: Mapping[str, int]
) -> tuple[dict[str, int] | None, str, bool]:
    """What each receipt of the payment (and its postal lines) still holds — its lines, less
    the refunds recorded against it that are pending or succeeded; unattributed refunds count
    against none — (``None`` without receipts), the receipt mode, and whether a pending or
    succeeded refund of the payment is unattributed."""
    kinds = set(
        (
            await conn.execute(
                select(receipts.c.kind).where(
                    receipts.c.payment_id == payment_id, receipts.c.replaces.is_(None)
                )
            )
        ).scalars()
    )
    mode = _mode(kinds)
    if not kinds:
        return None, mode, False
    held: dict[str, int] = {}
    for line_kind, amount in lines.items():
        group = RECEIPT_OF[mode].get(line_kind, NO_RECEIPT)
        held[group] = held.get(group, 0) + amount
    recorded = await conn.execute(
        select(refunds.c.receipt_shares).where(
            refunds.c.payment_id == payment_id,
            refunds.c.status.in_([RefundStatus.PENDING.value, RefundStatus.SUCCEEDED.value]),
        )
    )
    unattributed = False
    for (shares,) in recorded:
        if shares is None:
            unattributed = True  # made before shares were recorded, or ambiguous
            continue
        for group, amount in shares.items():
            held[group] = held.get(group, 0) - int(amount)
    return held, mode, unattributed


async def shares_for(
    conn: AsyncConnection,
    payment_id: str,
    amount: int,
    items: Sequence[Mapping[str, Any]] | None,
    refundable: int,
) -> dict[str, int] | None:
    """The receipt shares of a new refund of ``amount`` (in the refund's transaction, the
    payment locked, ``refundable`` what the payment can still give back), ``None`` when it
    is unattributed, or a refusal that changes nothing."""
    lines = await _lines(conn, payment_id)
    if items is not None:
        _check_items(items, amount, lines)
    held, mode, unattributed = await _held(conn, payment_id, lines)
    if held is None:
        return None
    if items is not None:
        wanted: dict[str, int] = {}
        for item in items:
            group = RECEIPT_OF[mode][str(item["kind"])]
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
    if amount == refundable and not unattributed and sum(holding.values()) == refundable:
        return holding
    if len(holding) == 1:
        [group] = holding
        if amount <= holding[group]:
            return {group: amount}
    # Ambiguous: accepted as before, recorded against no receipt (docs/receipts.md).
    return None


def _check_items(items: Sequence[Mapping[str, Any]], amount: int, lines: Mapping[str, int]) -> None:
    """Items add up to the refund and name only kinds of line the payment has."""
    errors = []
    if sum(int(item["amount"]) for item in items) != amount:
        errors.append(
            FieldError("items", "does_not_add_up", f"the items must add up to {amount} VND")
        )
    for kind in sorted({str(item["kind"]) for item in items} - set(lines)):
        errors.append(
            FieldError("items", "no_such_lines", f"the payment has no {kind} lines to refund")
        )
    if errors:
        raise ValidationFailed(errors)


def share_on(receipt_kind: str, shares: Mapping[str, int] | None) -> int | None:
    """How much of a refund concerns a receipt of ``receipt_kind``: its recorded share, or
    ``None`` when the refund is unattributed (listed on every receipt of the payment)."""
    if shares is None:
        return None
    return int(shares.get(receipt_kind, 0))
