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

from gateway.api.schemas import (
    CreateWebhookEndpoint,
)
from reconciliation.imports import FORMAT_SOURCES
from reconciliation.results import ExceptionType
from reconciliation.workflow import RESOLUTIONS

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


_ENDPOINT_PROPERTIES: dict[str, Any] = {
    "id": _id("we"),
    "url": {"type": "string"},
    "events": {"type": "array", "items": {"type": "string"}},
    "status": {"type": "string", "enum": ["enabled", "disabled"]},
    "disabled_reason": {
        "type": ["string", "null"],
        "enum": ["gone", None],
        "description": "`gone`: the endpoint answered 410 and was disabled",
    },
    "created_at": _TIME,
    "previous_secret_expires_at": {
        **_TIME_OR_NULL,
        "description": "After a rotation the previous secret signs too, until this time",
    },
}
_SECRET = {
    "type": "string",
    "pattern": "^whsec_[A-Za-z0-9+/]{43}=$",
    "description": "Standard Webhooks signing secret; shown only in this answer",
}

_DELIVERY = _fixed(
    {
        "id": {"type": "integer"},
        "event_id": _id("evt"),
        "event_type": {"type": "string", "enum": list(EVENT_TYPES)},
        "endpoint_id": _id("we"),
        "status": {"type": "string", "enum": ["pending", "delivering", "succeeded", "failed"]},
        "attempt_count": {"type": "integer", "minimum": 0},
        "next_attempt_at": _TIME_OR_NULL,
        "delivered_at": _TIME_OR_NULL,
        "last_status_code": {"type": ["integer", "null"]},
        "attempts": {
            "type": "array",
            "items": _fixed(
                {
                    "attempted_at": _TIME,
                    "status_code": {"type": ["integer", "null"]},
                    "error": {
                        "type": ["string", "null"],
                        "description": "`timeout` or `connection_error: …` when no status came",
                    },
                    "duration_ms": {"type": "integer", "minimum": 0},
                }
            ),
        },
    }
)


# -- reconciliation -------------------------------------------------------------------------

#: The ``source`` of an upload names the file's format (a test checks the parsers know each).
STATEMENT_FORMATS = list(FORMAT_SOURCES)
#: The counterparts: where statement files (and so exceptions) come from.
RECON_SOURCES = list(dict.fromkeys(source.value for source in FORMAT_SOURCES.values()))
EXCEPTION_TYPES = [kind.value for kind in ExceptionType]
#: ``superseded`` exceptions (of a run replaced by a re-run) are left out of the queue.
EXCEPTION_STATUSES = ["open", "resolved", "approved", "superseded"]
_VND = {"type": "integer", "description": "VND"}
_COUNT = {"type": "integer", "minimum": 0}


def _by(keys: list[str], values: dict[str, Any]) -> dict[str, Any]:
    """An object keyed by some of ``keys``."""
    return {"type": "object", "propertyNames": {"enum": keys}, "additionalProperties": values}


_CONTROL_TOTALS = {
    "type": "object",
    "additionalProperties": False,
    "description": "What the file says about itself, where its format says it (null "
    "otherwise); empty when the file could not be read",
    "properties": {
        name: {"type": ["integer", "null"], "description": text}
        for name, text in (
            ("opening_balance", "VND"),
            ("closing_balance", "VND"),
            ("total_credits", "VND"),
            ("total_debits", "VND"),
            ("entry_count", "lines the file declares"),
        )
    },
}

_STATEMENT_IMPORT = _fixed(
    {
        "id": _id("imp"),
        "source": {
            "type": "string",
            "enum": RECON_SOURCES,
            "description": "The counterpart the format belongs to",
        },
        "format": {"type": "string", "enum": STATEMENT_FORMATS},
        "account": {
            "type": ["string", "null"],
            "description": "The upload's `account`, else the account the file names",
        },
        "filename": _TEXT_OR_NULL,
        "file_hash": {
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "SHA-256 of the bytes: the same bytes are one import",
        },
        "status": {
            "type": "string",
            "enum": ["accepted", "quarantined"],
            "description": "Accepted whole or quarantined whole: a quarantined file "
            "contributes no line; fix it and upload it again",
        },
        "reason": {
            "type": ["string", "null"],
            "description": "Why quarantined, as `<code>: <message>`: `malformed_xml`, "
            "`external_entity`, `unsupported_namespace`, `missing_column`, "
            "`balances_do_not_tie`, `count_mismatch`, `too_large`, … or `row_errors` "
            "(see `row_errors`); null when accepted",
        },
        "line_count": {
            **_COUNT,
            "description": "Lines read from the file; they are used only when it is accepted",
        },
        "error_count": _COUNT,
        "row_errors": {"type": "array", "items": ref("RowError")},
        "control": _CONTROL_TOTALS,
        "period_start": _DATE_OR_NULL,
        "period_end": _DATE_OR_NULL,
        "created_at": _TIME,
        "duplicate": {
            "type": "boolean",
            "description": "True when this answers an earlier upload of the same bytes",
        },
    }
)

_STATEMENT_LINE = _fixed(
    {
        "id": {"type": "integer"},
        "source": {"type": "string", "enum": RECON_SOURCES},
        "amount": {"type": "integer", "minimum": 1, "description": "VND, with `direction`"},
        "direction": {"type": "string", "enum": ["credit", "debit"]},
        "booking_date": _DATE,
        "reference": {
            "type": ["string", "null"],
            "description": "Our payment reference when the line carries it",
        },
        "provider_txn_id": _TEXT_OR_NULL,
        "text": {"type": "string", "description": "Transfer text exactly as the file gave it"},
        "account": _TEXT_OR_NULL,
        "document_no": _TEXT_OR_NULL,
    },
    "A line of an accepted statement file",
)

_EXCEPTION_PROPERTIES: dict[str, Any] = {
    "id": _id("exc"),
    "run_id": _id("run"),
    "business_date": _DATE,
    "source": {"type": "string", "enum": RECON_SOURCES, "description": "The counterpart"},
    "type": {"type": "string", "enum": EXCEPTION_TYPES},
    "status": {
        "type": "string",
        "enum": EXCEPTION_STATUSES,
        "description": "`open` → `resolved` (maker) → `approved` (checker, not the maker); "
        "`superseded` when a re-run replaced its run",
    },
    "amount": _VND,
    "internal_keys": {
        "type": "array",
        "items": {"type": "string"},
        "description": "The gateway's side: `payment:<id>`, `refund:<id>`, `item:<payment>:<n>`",
    },
    "line_ids": {
        "type": "array",
        "items": {"type": "integer"},
        "description": "The counterpart's statement lines",
    },
    "candidates": {
        "type": "array",
        "items": {"type": "integer"},
        "description": "`ambiguous`: statement lines of an equal amount in the window",
    },
    "resolution": {"type": ["string", "null"], "enum": [*RESOLUTIONS, None]},
    "resolution_reason": _TEXT_OR_NULL,
    "resolved_by": _TEXT_OR_NULL,
    "resolved_at": _TIME_OR_NULL,
    "approved_by": _TEXT_OR_NULL,
    "approved_at": _TIME_OR_NULL,
    "age_days": {"type": "integer", "description": "Days since the business date"},
}

_RECON_RUN = _fixed(
    {
        "id": _id("run"),
        "business_date": _DATE,
        "rule_version": {"type": "string", "description": "The matching rules that ran"},
        "status": {"const": "current", "description": "Re-running the day supersedes it"},
        "inputs": {
            "type": "object",
            "additionalProperties": False,
            "required": ["imports", "window_days"],
            "properties": {
                "imports": {
                    "type": "array",
                    "items": _id("imp"),
                    "description": "The imports whose lines were compared",
                },
                "window_days": {"type": "integer", "minimum": 0},
                "reported_through": {
                    **_by(RECON_SOURCES, _DATE),
                    "description": "Per counterpart that sent lines: the last day it reported",
                },
            },
        },
        "summary": _fixed(
            {
                "matched": _fixed({"count": _COUNT, "amount": _VND}),
                "exceptions": _fixed(
                    {
                        "count": _COUNT,
                        "by_type": _by(EXCEPTION_TYPES, _COUNT),
                        "amount_by_type": _by(EXCEPTION_TYPES, _VND),
                    }
                ),
                "sources": _by(
                    RECON_SOURCES,
                    _fixed({"matched": _COUNT, "matched_amount": _VND, "exceptions": _COUNT}),
                ),
            }
        ),
        "day_closed": {"type": "boolean"},
        "created_by": {"type": "string", "description": "Who ran it"},
        "created_at": _TIME,
    },
    "The current run of a business day",
)


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
    "WebhookEndpoint": _fixed(_ENDPOINT_PROPERTIES),
    "WebhookEndpointWithSecret": _fixed({**_ENDPOINT_PROPERTIES, "secret": _SECRET}),
    "WebhookEndpointList": _list_of("WebhookEndpoint"),
    "PaymentEvent": _event(
        _of_kind("payment"), {"payment": ref("Payment")}, "The payment as it is after the change"
    ),
    "AttemptEvent": _event(
        _of_kind("attempt"),
        {"attempt": ref("Attempt"), "payment_id": _id("pay")},
        "The attempt as it is after the change",
    ),
    "RefundEvent": _event(
        _of_kind("refund"),
        {"refund": ref("Refund"), "payment_id": _id("pay")},
        "The refund as it is after the change",
    ),
    "Event": {
        "oneOf": [
            ref("PaymentEvent"),
            ref("AttemptEvent"),
            ref("RefundEvent"),
            ref("PostalOrderEvent"),  # in gateway.api.openapi_postal
        ],
        "description": "The exact body every delivery of the event sends",
    },
    "Delivery": _DELIVERY,
    "DeliveryPage": _page_of("Delivery"),
    "EventWithDeliveries": _fixed(
        {"event": ref("Event"), "deliveries": {"type": "array", "items": ref("Delivery")}}
    ),
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
    "StatementUpload": {
        "type": "object",
        "required": ["source", "file"],
        "properties": {
            "source": {
                "type": "string",
                "enum": STATEMENT_FORMATS,
                "description": "The file's format (docs/reconciliation-formats.md)",
            },
            "account": {
                "type": "string",
                "maxLength": 34,
                "description": "The collection account; defaults to the one the file names",
            },
            "file": {
                "type": "string",
                "format": "binary",
                "contentMediaType": "application/octet-stream",
                "description": "The statement file as the counterpart sent it",
            },
        },
        "description": "Other fields are ignored.",
    },
    "RowError": _fixed(
        {
            "line_no": {
                "type": "integer",
                "description": "Line (CSV), row (XLSX) or entry (XML, MT940) in the file",
            },
            "code": {
                "type": "string",
                "description": "`bad_amount`, `bad_date`, `date_out_of_range`, "
                "`unknown_currency`, `missing_field`, …",
            },
            "message": {"type": "string"},
        }
    ),
    "StatementImport": _STATEMENT_IMPORT,
    "CreateReconRun": {
        "type": "object",
        "required": ["business_date"],
        "properties": {"business_date": _DATE},
        "description": "Other fields are ignored.",
    },
    "ReconRun": _RECON_RUN,
    "StatementLine": _STATEMENT_LINE,
    "ReconException": _fixed(_EXCEPTION_PROPERTIES),
    "ReconExceptionDetail": _fixed(
        {
            **_EXCEPTION_PROPERTIES,
            "lines": {
                "type": "array",
                "items": ref("StatementLine"),
                "description": "The statement lines of `line_ids` and `candidates`",
            },
        }
    ),
    "ReconExceptionList": _list_of("ReconException"),
    "ResolveException": {
        "type": "object",
        "required": ["resolution", "reason"],
        "properties": {
            "resolution": {"type": "string", "enum": list(RESOLUTIONS)},
            "reason": {"type": "string", "minLength": 1, "pattern": "\\S"},
        },
        "description": "Other fields are ignored.",
    },
    "DayClosed": _fixed(
        {
            "business_date": _DATE,
            "status": {"const": "closed"},
            "run_id": {**_id("run"), "description": "The run the day was closed on"},
            "closed_by": {"type": "string"},
            "closed_at": _TIME,
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
        **request_schemas(CreateWebhookEndpoint),
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
