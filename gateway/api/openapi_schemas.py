"""Component schemas of ``/openapi.json``.

Request schemas are generated from the pydantic models in :mod:`gateway.api.schemas` (the ones
that validate requests). Response schemas are written here, one per view function (the postal
ones in :mod:`gateway.api.openapi_postal`); a view that is a fixed dict has
``additionalProperties: false`` so that a field added to the view without documenting it fails
the response tests. The webhook payloads (the document's top-level ``webhooks``) are built from
the event schemas here too.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

REF_TEMPLATE = "#/components/schemas/{model}"
PAYMENT_STATUSES = [
    "pending",
    "paid",
    "expired",
    "cancelled",
    "needs_review",
    "partially_refunded",
    "refunded",
]
ATTEMPT_STATUSES = ["created", "pending", "succeeded", "failed", "expired", "cancelled", "unknown"]

#: Every event type, with what it announces (a test checks these against the outbox's list).
EVENT_TYPES: dict[str, str] = {
    "payment.paid": "The payment is paid.",
    "payment.expired": "The payment expired unpaid.",
    "payment.cancelled": "The payment was cancelled.",
    "payment.needs_review": "Money arrived that does not fit the bill (see `review_reason`).",
    "payment.partially_refunded": "A refund succeeded; part of the amount is refunded.",
    "payment.refunded": "Refunds now cover the whole amount.",
    "attempt.failed": "An attempt failed (declined, refused by the provider, timed out).",
    "attempt.needs_review": "An attempt took money for a bill already paid through another "
    "attempt (`review_reason: duplicate_payment`); finance staff refund it.",
    "refund.succeeded": "A refund succeeded.",
    "refund.failed": "A refund failed.",
    "postal.order.created": "VNPost accepted the postal order: it has a `tracking_number`.",
    "postal.order.updated": "The postal order moved to a status without an event of its own "
    "(pickup assigned, in transit, out for delivery, return pending, …), its cancellation "
    "was requested or refused (`cancel_state`), the post office accepted it (`accepted_at`), "
    "or COD was recorded without a move.",
    "postal.order.picked_up": "The postman picked the parcel up.",
    "postal.order.delivered": "The parcel was delivered (pickup leg: the dossier reached the "
    "agency, `handed_over_at`).",
    "postal.order.failed": "A pickup or delivery attempt failed, the parcel was lost, or VNPost "
    "refused the order (`submit_failed`, see `last_error`).",
    "postal.order.returned": "The parcel came back to the sender.",
    "postal.order.cancelled": "The postal order was cancelled.",
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=name)}


def _id(prefix: str) -> dict[str, str]:
    return {"type": "string", "pattern": f"^{prefix}_[a-z2-7]{{26}}$"}


def _fixed(properties: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    """An object with exactly these properties, all present (values may be null)."""
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": list(properties),
        "properties": properties,
    }
    if description:
        schema["description"] = description
    return schema


def _list_of(name: str) -> dict[str, Any]:
    return _fixed({"data": {"type": "array", "items": ref(name)}})


def _page_of(name: str) -> dict[str, Any]:
    return _fixed(
        {
            "data": {"type": "array", "items": ref(name)},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last page",
            },
        }
    )


_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_DATE = {"type": "string", "format": "date"}
_DATE_OR_NULL = {"type": ["string", "null"], "format": "date"}


# -- reconciliation -------------------------------------------------------------------------


def _event(
    types: list[str], data: dict[str, Any], description: str, subject: str = "payment"
) -> dict[str, Any]:
    return _fixed(
        {
            "id": {**_id("evt"), "description": "Also the `webhook-id` of every delivery"},
            "type": {"type": "string", "enum": types},
            "created_at": _TIME,
            "data": _fixed(
                {
                    **data,
                    "sequence": {
                        "type": "integer",
                        "minimum": 1,
                        "description": f"Grows per {subject}: drop an event older than one "
                        "already applied",
                    },
                }
            ),
        },
        description,
    )


def _of_kind(kind: str) -> list[str]:
    return [name for name in EVENT_TYPES if name.startswith(f"{kind}.")]


_IPN_ANSWERS = [
    ("00", "Confirm Success", "Recorded (a failed payment too; also a duplicate still open)"),
    ("01", "Order not found", "No attempt has this `vnp_TxnRef`"),
    ("02", "Order already confirmed", "The attempt is already final (also for a replay)"),
    ("04", "invalid amount", "`vnp_Amount` differs from the attempt's amount"),
    ("97", "Invalid signature", "Bad `vnp_SecureHash`, or a `vnp_TmnCode` without a secret"),
    ("99", "Unknow error", "Malformed: a parameter missing, repeated or badly formatted"),
]

SCHEMAS: dict[str, Any] = {
    "NoticeAck": {
        "type": "object",
        "required": ["status", "outcome"],
        "properties": {
            "status": {"type": "string", "enum": ["accepted", "duplicate"]},
            "outcome": {
                "type": "string",
                "enum": ["applied", "needs_review", "duplicate_payment", "unmatched"],
            },
        },
    },
    "CheckoutStatus": {
        "type": "object",
        "required": ["status", "status_label", "expires_at", "paid_at"],
        "properties": {
            "status": {"type": "string", "enum": PAYMENT_STATUSES},
            "status_label": {"type": "string"},
            "expires_at": _TIME,
            "paid_at": _TIME_OR_NULL,
        },
    },
    "IpnAnswer": {
        "description": "VNPAY reads `RspCode`; it stops retrying on `00` and `02`",
        "oneOf": [
            _fixed({"RspCode": {"const": code}, "Message": {"const": message}}, meaning)
            for code, message, meaning in _IPN_ANSWERS
        ],
    },
    "PosSaleResult": {
        "type": "object",
        "required": ["sale_id", "status", "amount"],
        "description": "The POS cloud's sale result. Unknown fields are ignored.",
        "properties": {
            "sale_id": {"type": "string", "description": "The attempt id"},
            "status": {
                "type": "string",
                "enum": ["sent_to_terminal", "approved", "declined", "cancelled", "timed_out"],
            },
            "amount": {"type": "integer", "minimum": 1},
            "approval_code": _TEXT_OR_NULL,
            "masked_pan": _TEXT_OR_NULL,
            "card_brand": {
                "type": ["string", "null"],
                "enum": ["NAPAS", "VISA", "MASTERCARD", "JCB", None],
            },
            "rrn": _TEXT_OR_NULL,
            "decline_reason": _TEXT_OR_NULL,
            "completed_at": {**_TIME_OR_NULL, "description": "Required once the sale is final"},
        },
    },
    "PosAck": _fixed(
        {
            "status": {"const": "accepted"},
            "outcome": {
                "type": "string",
                "enum": ["applied", "already_final", "ignored", "duplicate"],
                "description": "`duplicate`: this very result was received before",
            },
        }
    ),
}


def request_schemas(*models: type[BaseModel]) -> dict[str, Any]:
    """The JSON schemas of pydantic request models, with the models they nest."""
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF_TEMPLATE)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def component_schemas() -> dict[str, Any]:
    """Response schemas plus the request schemas of the pydantic models."""
    return {
        **SCHEMAS,
    }


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


_WEBHOOK_HEADERS = [
    _header("webhook-id", "The event id; the same on every retry: use it to drop duplicates"),
    _header("webhook-timestamp", "Unix seconds of this attempt"),
    _header(
        "webhook-signature",
        "Space-separated `v1,<base64 HMAC-SHA256>` over '<webhook-id>.<webhook-timestamp>."
        "<raw body>' with the key after `whsec_` in the secret; during a rotation one "
        "signature per live secret",
    ),
]


def webhook_payloads() -> dict[str, Any]:
    """One entry per event type: what a subscribed endpoint receives (Standard Webhooks)."""
    family = {
        "payment": "PaymentEvent",
        "attempt": "AttemptEvent",
        "refund": "RefundEvent",
        "postal": "PostalOrderEvent",
    }
    entries = {}
    for event_type, meaning in EVENT_TYPES.items():
        schema = {
            "allOf": [
                ref(family[event_type.partition(".")[0]]),
                {"properties": {"type": {"const": event_type}}},
            ]
        }
        entries[event_type] = {
            "post": {
                "summary": meaning,
                "description": "Sent to every enabled endpoint subscribed to this type or to "
                '`"*"`. Verify with any Standard Webhooks library.',
                "parameters": _WEBHOOK_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": schema}},
                },
                "responses": {
                    "2XX": {"description": "Delivered"},
                    "410": {"description": "Disables the endpoint; its pending deliveries fail"},
                    "default": {
                        "description": "Retried with back-off for more than 72 hours, then "
                        "the delivery fails; redirects are not followed"
                    },
                },
            }
        }
    return entries
