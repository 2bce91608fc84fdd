"""``/openapi.json``: request schemas come from the pydantic models that validate requests,
so they cannot drift; responses are described here and checked against real responses by
the test suite, and a test checks that every route is documented and every path exists."""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web

from gateway.api.schemas import CreatePayment
from gateway.http.responses import json_response

_REF = "#/components/schemas/{model}"
_STATUSES = [
    "pending",
    "paid",
    "expired",
    "cancelled",
    "needs_review",
    "partially_refunded",
    "refunded",
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_PAYMENT_ID = {
    "name": "payment_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}
_AUTH_ERRORS = {
    "401": _problem("Missing or invalid API key (`unauthenticated`)"),
    "403": _problem("Role not allowed (`forbidden`)"),
}

_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "code", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "code": {"type": "string", "description": "Stable machine-readable error code"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "code", "message"],
                    "properties": {
                        "field": {"type": "string"},
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    },
    "PaymentItem": {
        "type": "object",
        "required": ["kind", "description", "amount"],
        "properties": {
            "kind": {"type": "string", "enum": ["fee", "charge", "postal"]},
            "code": {"type": ["string", "null"]},
            "description": {"type": "string"},
            "amount": {"type": "integer", "minimum": 1},
            "budget_subitem": {"type": ["string", "null"]},
        },
    },
    "Payment": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id",
            "status",
            "amount",
            "currency",
            "reference",
            "agency_code",
            "dossier_code",
            "items",
            "expires_at",
            "created_at",
            "checkout_url",
            "vietqr",
        ],
        "properties": {
            "id": {"type": "string", "pattern": "^pay_[a-z2-7]{26}$"},
            "status": {"type": "string", "enum": _STATUSES},
            "review_reason": {"type": ["string", "null"]},
            "amount": {"type": "integer", "description": "Total in VND (sum of items)"},
            "currency": {"type": "string", "enum": ["VND"]},
            "reference": {
                "type": "string",
                "maxLength": 25,
                "description": "Travels in the QR and the transfer text; ends in a check symbol",
            },
            "agency_code": {"type": "string"},
            "agency_name": {"type": "string"},
            "dossier_code": {"type": "string"},
            "procedure_code": {"type": ["string", "null"]},
            "procedure_name": {"type": ["string", "null"]},
            "payer": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "description": "Only the name is echoed back; contact data stays in the gateway",
            },
            "items": {"type": "array", "items": _ref("PaymentItem")},
            "expires_at": {"type": "string", "format": "date-time"},
            "created_at": {"type": "string", "format": "date-time"},
            "paid_at": {"type": ["string", "null"], "format": "date-time"},
            "return_url": {"type": ["string", "null"]},
            "metadata": {"type": "object"},
            "checkout_url": {"type": "string"},
            "vietqr": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "payload",
                    "bank_bin",
                    "account_number",
                    "account_name",
                    "png_url",
                    "svg_url",
                ],
                "properties": {
                    "payload": {"type": "string", "description": "NAPAS VietQR (EMVCo) text"},
                    "bank_bin": {"type": "string"},
                    "account_number": {"type": "string"},
                    "account_name": {"type": "string"},
                    "png_url": {"type": "string"},
                    "svg_url": {"type": "string"},
                },
            },
        },
    },
    "PaymentList": {
        "type": "object",
        "required": ["data", "next_cursor"],
        "properties": {
            "data": {"type": "array", "items": _ref("Payment")},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
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
            "status": {"type": "string", "enum": _STATUSES},
            "status_label": {"type": "string"},
            "expires_at": {"type": "string", "format": "date-time"},
            "paid_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
}


@cache
def document() -> dict[str, Any]:
    request_schema = CreatePayment.model_json_schema(ref_template=_REF)
    schemas = dict(_SCHEMAS)
    schemas.update(request_schema.pop("$defs", {}))
    schemas["CreatePayment"] = request_schema
    query = [
        {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
        for name, schema, text in (
            ("dossier_code", {"type": "string"}, "exact dossier code"),
            ("status", {"type": "string", "enum": _STATUSES}, "payment status"),
            ("created_from", {"type": "string", "format": "date-time"}, "inclusive"),
            ("created_to", {"type": "string", "format": "date-time"}, "exclusive"),
            (
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                "page size",
            ),
            ("cursor", {"type": "string"}, "next_cursor of the previous page"),
        )
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cổng thanh toán & bưu chính công ích",
            "version": "0.1.0",
            "description": "Fee payments (VietQR) for online public services. "
            "Amounts are integer VND. Errors are application/problem+json with a stable code.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/v1/payments": {
                "post": {
                    "summary": "Create a fee payment for a dossier",
                    "security": [{"apiKey": []}],
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string", "maxLength": 255},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("CreatePayment")}},
                    },
                    "responses": {
                        "201": _json(
                            "Created (or the stored response of a retried key)", _ref("Payment")
                        ),
                        "400": _problem("`malformed_json`"),
                        **_AUTH_ERRORS,
                        "403": _problem("`forbidden` or `agency_not_in_scope`"),
                        "409": _problem("`idempotency_key_reused`"),
                        "413": _problem("`payload_too_large`"),
                        "415": _problem("`unsupported_media_type`"),
                        "422": _problem("`validation_failed` with field-level `errors`"),
                    },
                },
                "get": {
                    "summary": "List payments of the caller's agencies, newest first",
                    "security": [{"apiKey": []}],
                    "parameters": query,
                    "responses": {
                        "200": _json("A page of payments", _ref("PaymentList")),
                        "400": _problem("`invalid_cursor`"),
                        **_AUTH_ERRORS,
                        "422": _problem("`validation_failed`"),
                    },
                },
            },
            "/v1/payments/{payment_id}": {
                "get": {
                    "summary": "Get a payment",
                    "security": [{"apiKey": []}],
                    "parameters": [_PAYMENT_ID],
                    "responses": {
                        "200": _json("The payment", _ref("Payment")),
                        **_AUTH_ERRORS,
                        "404": _problem("`not_found` (also for other agencies' payments)"),
                    },
                },
            },
            "/v1/payments/{payment_id}/cancel": {
                "post": {
                    "summary": "Cancel a pending payment",
                    "security": [{"apiKey": []}],
                    "parameters": [_PAYMENT_ID],
                    "responses": {
                        "200": _json("The cancelled payment", _ref("Payment")),
                        **_AUTH_ERRORS,
                        "404": _problem("`not_found`"),
                        "409": _problem("`invalid_transition`: not pending"),
                    },
                },
            },
            "/callbacks/bank/{bank}": {
                "post": {
                    "summary": "Signed credit notice from a collection bank",
                    "description": "HMAC-SHA256 over '<X-Bank-Timestamp>.<raw body>' in "
                    "X-Bank-Signature as 'v1=<hex>'. De-duplicated by transaction_id.",
                    "parameters": [
                        {
                            "name": "bank",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "X-Bank-Timestamp",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "X-Bank-Signature",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {
                        "200": _json("Stored (and applied if it fits)", _ref("NoticeAck")),
                        "400": _problem("`malformed_notice`"),
                        "401": _problem(
                            "`signature_missing`, `signature_invalid`, `timestamp_invalid`, "
                            "`timestamp_stale`"
                        ),
                        "404": _problem("`not_found`: no such bank configured"),
                    },
                },
            },
            "/pay/{payment_id}": {
                "get": {
                    "summary": "Checkout page for the citizen (HTML, Vietnamese)",
                    "parameters": [_PAYMENT_ID],
                    "responses": {
                        "200": {"description": "HTML page", "content": {"text/html": {}}},
                        "404": {"description": "HTML page", "content": {"text/html": {}}},
                    },
                },
            },
            "/pay/{payment_id}/status": {
                "get": {
                    "summary": "Status polled by the checkout page",
                    "parameters": [_PAYMENT_ID],
                    "responses": {
                        "200": _json("Current status", _ref("CheckoutStatus")),
                        "404": _problem("`not_found`"),
                    },
                },
            },
            "/pay/{payment_id}/qr.png": {
                "get": {
                    "summary": "VietQR image (PNG)",
                    "parameters": [_PAYMENT_ID],
                    "responses": {
                        "200": {"description": "PNG", "content": {"image/png": {}}},
                        "404": _problem("`not_found`"),
                    },
                },
            },
            "/pay/{payment_id}/qr.svg": {
                "get": {
                    "summary": "VietQR image (SVG)",
                    "parameters": [_PAYMENT_ID],
                    "responses": {
                        "200": {"description": "SVG", "content": {"image/svg+xml": {}}},
                        "404": _problem("`not_found`"),
                    },
                },
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "responses": {"200": _json("Alive", {"type": "object"})},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness (checks the database)",
                    "responses": {
                        "200": _json("Ready", {"type": "object"}),
                        "503": _problem("`service_unavailable`"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {}},
                        },
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})},
                }
            },
        },
    }


async def openapi_json(_request: web.Request) -> web.Response:
    return json_response(document())
