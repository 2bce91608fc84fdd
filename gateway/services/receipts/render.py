"""The API view of a receipt row: one function for the API, the events and the pages."""

from __future__ import annotations

from typing import Any

from gateway.core.db.schema import agencies, receipts
from gateway.core.fields import iso
from gateway.core.pii import mask_id_number
from gateway.services.sealing import Sealer

RECEIPT_COLUMNS = (receipts, agencies.c.code.label("agency_code"))


def view_url(row: Any, base_url: str, sealer: Sealer) -> str:
    """The citizen's link to the receipt page (its token opened from the row)."""
    token = sealer.open(row.view_token_sealed, "receipt.view_token")
    return f"{base_url}/receipts/{row.id}?t={token}"


def render(row: Any, base_url: str, sealer: Sealer) -> dict[str, Any]:
    """The API view of a receipt row (joined with its agency's code)."""
    payer: dict[str, Any] = {"name": row.payer.get("name")}
    id_number = row.payer.get("id_number")
    payer["id_number"] = (
        mask_id_number(sealer.open(id_number, "payer.id_number")) if id_number else None
    )
    issued = row.number is not None
    return {
        "id": row.id,
        "payment_id": row.payment_id,
        "agency_code": row.agency_code,
        "tax_code": row.tax_code,
        "template_code": row.template_code,
        "symbol": row.symbol,
        "number": row.number,
        "kind": row.kind,
        "point": row.point,
        "issued_at": iso(row.issued_at),
        "paid_at": iso(row.paid_at),
        "items": row.items,
        "amount": row.amount,
        "amount_in_words": row.amount_in_words,
        "payer": payer,
        "channel": row.channel,
        "transaction_reference": row.transaction_reference,
        "status": row.status,
        "pending_reason": row.pending_reason,
        "replaces": row.replaces,
        "provider": row.provider,
        "delegate": {"name": row.delegate_name, "address": row.delegate_address}
        if row.delegate_name
        else None,
        "xml_url": f"{base_url}/v1/receipts/{row.id}.xml" if issued else None,
        "view_url": view_url(row, base_url, sealer),
    }
