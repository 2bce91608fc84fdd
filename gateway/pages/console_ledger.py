"""What the gateway's own books say about an exception, for the side-by-side review.

An exception names its ledger side by keys (``payment:<id>``, ``attempt:<id>``,
``item:<payment>:<position>``, ``refund:<id>``, ``postal:<order id>`` for COD, see
:mod:`reconciliation.ledger`); :class:`~reconciliation.ledger_lookup.LedgerLookup` reads
those rows back and this module words them for display.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from gateway.core.money import CHANNEL_LABELS
from reconciliation.ledger_lookup import LedgerLookup, LedgerRecord

KIND_LABELS = {
    "payment": "Khoản thanh toán",
    "attempt": "Giao dịch kênh",
    "item": "Khoản thu",
    "refund": "Hoàn tiền",
    "postal": "Thu hộ COD",
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


async def ledger_entries(lookup: LedgerLookup, keys: Iterable[str]) -> list[LedgerEntry]:
    """One entry per key, in order; a key whose row is gone is shown as not found."""
    return [_entry(record) for record in await lookup.records(keys)]


def _entry(record: LedgerRecord) -> LedgerEntry:
    label = KIND_LABELS.get(record.kind, record.kind)
    if not record.found:
        return LedgerEntry(record.key, label, found=False)
    detail = ""
    if record.kind == "payment":
        detail = f"Hồ sơ {record.dossier_code}"
    elif record.kind == "attempt":
        channel = record.channel or ""
        detail = f"{CHANNEL_LABELS.get(channel, channel)} · mã {record.provider_reference}"
        if record.provider_transaction_id:
            detail += f" · GD {record.provider_transaction_id}"
    elif record.kind == "refund":
        detail = record.reason or ""
    elif record.kind == "postal":
        detail = f"Bưu gửi {record.tracking_number} · hồ sơ {record.dossier_code}"
    elif record.kind == "item":
        fee_kind = record.fee_kind or ""
        detail = f"{FEE_KIND_LABELS.get(fee_kind, fee_kind)}: {record.description}"
    return LedgerEntry(
        record.key,
        label,
        reference=record.reference,
        amount=record.amount,
        status=record.status,
        at=record.at,
        detail=detail,
    )
