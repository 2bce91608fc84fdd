"""The generated /openapi.json keeps the public shape of the hand-written one it replaced:
the same operations, and every parameter, field path and error code it declared
(``data/openapi_shape_before.json`` was taken from the hand-written document)."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_shape import shape

from gateway.api.openapi import document

BEFORE = json.loads((Path(__file__).parent / "data" / "openapi_shape_before.json").read_text())


#: Operations added since the hand-written document (each noted in docs/api.md).
ADDED = [
    "GET /callbacks/dvcqg/return",
    "GET /callbacks/sms/{secret}",
    "GET /receipts/{receipt_id}",
    "GET /receipts/{receipt_id}.pdf",
    "GET /v1/attempts/flagged",
    "GET /v1/dvcqg/payments",
    "GET /v1/notifications",
    "GET /v1/payments/{payment_id}/receipts",
    "GET /v1/receipt-corrections/{correction_id}",
    "GET /v1/receipts",
    "GET /v1/receipts/delegations",
    "GET /v1/receipts/signing-certificate",
    "GET /v1/receipts/summaries",
    "GET /v1/receipts/tax-notices",
    "GET /v1/receipts/{receipt_id}",
    "GET /v1/receipts/{receipt_id}.xml",
    "GET /v1/receipts/{receipt_id}/corrections",
    "GET /v1/reconciliation/bank-mappings/{account}",
    "GET /v1/refunds/flagged",
    "POST /callbacks/dvcqg",
    "POST /callbacks/momo/ipn",
    "POST /callbacks/zalopay",
    "POST /callbacks/zns/{secret}",
    "POST /pay/{payment_id}/dvcqg",
    "POST /pay/{payment_id}/momo",
    "POST /pay/{payment_id}/zalopay",
    "POST /v1/notifications/opt-outs",
    "POST /v1/postal/orders/{order_id}/review",
    "POST /v1/receipt-corrections/{correction_id}/approve",
    "POST /v1/receipt-corrections/{correction_id}/reject",
    "POST /v1/receipts/tax-notices/{notice_id}/dismiss",
    "POST /v1/receipts/{receipt_id}/corrections",
    "POST /v1/reconciliation/exceptions/{exception_id}/reject",
    "POST /v1/refunds/{refund_id}/resolutions/{resolution_id}/approve",
    "POST /v1/refunds/{refund_id}/resolutions/{resolution_id}/reject",
    "POST /v1/webhook-endpoints/{endpoint_id}/recover",
    "POST /v1/webhook-endpoints/{endpoint_id}/test",
    "PUT /v1/reconciliation/bank-mappings/{account}",
]

#: Error codes renamed since (each noted in docs/api.md): the old entry → the new one.
RENAMED = {
    "POST /v1/reconciliation/exceptions/{exception_id}/approve 409: "
    "cannot_approve_own_resolution": "POST /v1/reconciliation/exceptions/{exception_id}/approve "
    "409: self_approval",
}

#: Answers changed since (each noted in docs/api.md): the old answer → the one it became. Its
#: fields are no longer the old answer's; the new answer must be documented.
CHANGED_ANSWERS = {
    # Maker-checker: finance's result of a refund is a proposal another person approves.
    "POST /v1/refunds/{refund_id}/complete 200 application/json": (
        "POST /v1/refunds/{refund_id}/complete 202 application/json"
    ),
}


def test_the_generated_document_serves_the_same_operations_and_the_noted_additions() -> None:
    now = shape(document())["operations"]
    assert sorted(set(BEFORE["operations"]) - set(now)) == []
    assert sorted(set(now) - set(BEFORE["operations"])) == ADDED


def test_no_parameter_field_or_error_code_of_the_hand_written_document_is_lost() -> None:
    now = shape(document())
    for new in CHANGED_ANSWERS.values():
        assert any(field.startswith(f"{new}: ") for field in now["fields"]), new
    for part in ("parameters", "fields", "errors"):
        kept = {
            RENAMED.get(item, item)
            for item in BEFORE[part]
            if not any(item.startswith(f"{old}: ") for old in CHANGED_ANSWERS)
        }
        lost = sorted(kept - set(now[part]))
        assert lost == [], f"{part} no longer documented: {lost}"
