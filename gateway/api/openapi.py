"""``/openapi.json``: request schemas come from the pydantic models that validate requests,
so they cannot drift; responses are described in :mod:`gateway.api.openapi_schemas` and
checked against real responses by the test suite, and a test checks that every route is
documented and every path exists."""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web

from gateway.api import attempts, payments, postal, postal_operators, reconciliation, webhooks
from gateway.api.openapi_schemas import (
    component_schemas,
    ref,
    webhook_payloads,
)
from gateway.api.spec import Route, paths_and_schemas
from gateway.http.responses import json_response
from webhooks.models import Event

#: The routes declared with their documentation (the others are still described by hand
#: below, until they are declared too).
ROUTES: tuple[Route, ...] = (
    *payments.ROUTES,
    *attempts.ROUTES,
    *postal.ROUTES,
    *postal_operators.ROUTES,
    *reconciliation.ROUTES,
    *webhooks.ROUTES,
)

_SECURED: list[dict[str, list[str]]] = [{"apiKey": []}]


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": ref("Problem")}},
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {}}}


def _see_other(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"Location": {"required": True, "schema": {"type": "string"}}},
    }


def _param(
    name: str, where: str, schema: dict[str, Any], description: str = "", required: bool = True
) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": where, "required": required, "schema": schema}
    if description:
        param["description"] = description
    return param


def _path(name: str) -> dict[str, Any]:
    return _param(name, "path", {"type": "string"})


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    description: str | None = None,
    secured: bool = True,
) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary}
    if description:
        operation["description"] = description
    if secured:
        operation["security"] = _SECURED
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = body
    operation["responses"] = responses
    return operation


_PAYMENT_ID = _path("payment_id")
_IDEMPOTENCY_KEY = _param(
    "Idempotency-Key",
    "header",
    {"type": "string", "maxLength": 255},
    "1–255 printable characters, scoped to the API client; missing → 422",
)
_AUTH_ERRORS = {
    "401": _problem("Missing or invalid API key (`unauthenticated`)"),
    "403": _problem("Role not allowed (`forbidden`)"),
}
#: What reading a JSON body can answer (before the fields are validated).
_BODY_ERRORS = {
    "400": _problem("`malformed_json`"),
    "413": _problem("`payload_too_large`"),
    "415": _problem("`unsupported_media_type`"),
}
_NOT_FOUND = _problem("`not_found`")
_PAGING = [
    _param(name, "query", schema, text, required=False)
    for name, schema, text in (
        ("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "page size"),
        ("cursor", {"type": "string"}, "next_cursor of the previous page"),
    )
]


def _roles(*roles: str) -> str:
    return "Roles: " + ", ".join(f"`{role}`" for role in (*roles, "admin")) + "."


_PORTAL_ROLES = _roles("portal", "counter")
_REFUND_ROLES = _roles("portal", "counter", "finance", "finance_approver")
_FINANCE_ROLES = _roles("finance", "finance_approver")
_WEBHOOK_ROLES = _roles("portal", "postal_operator") + " Endpoints and events are per API client."
_APPROVER_ROLES = _roles("finance_approver")


_SIGNED_QUERY = "All `vnp_*` parameters are covered by `vnp_SecureHash`."
_VNPAY_PARAMS = [
    _param(name, "query", {"type": "string"}, text, required=required)
    for name, text, required in (
        ("vnp_TmnCode", "the VNPAY terminal", True),
        ("vnp_TxnRef", "the attempt's `provider_reference`", True),
        ("vnp_Amount", "VND × 100", True),
        ("vnp_ResponseCode", "two digits", True),
        ("vnp_TransactionStatus", "two digits; paid only when both codes are `00`", True),
        ("vnp_SecureHash", "HMAC-SHA512 of the sorted parameters", True),
        ("vnp_TransactionNo", "VNPAY's transaction number", False),
        ("vnp_BankCode", "", False),
        ("vnp_PayDate", "yyyyMMddHHmmss, GMT+7", False),
    )
]


def _callback_paths() -> dict[str, Any]:
    return {
        "/callbacks/bank/{bank}": {
            "post": _op(
                "Signed credit notice from a collection bank",
                {
                    "200": _json("Stored (and applied if it fits)", ref("NoticeAck")),
                    "400": _problem("`malformed_notice`"),
                    "401": _problem(
                        "`signature_missing`, `signature_invalid`, `timestamp_invalid`, "
                        "`timestamp_stale`"
                    ),
                    "404": _problem("`not_found`: no such bank configured"),
                },
                params=[
                    _path("bank"),
                    _param("X-Bank-Timestamp", "header", {"type": "string"}),
                    _param("X-Bank-Signature", "header", {"type": "string"}),
                ],
                body=_body({"type": "object"}),
                description="HMAC-SHA256 over '<X-Bank-Timestamp>.<raw body>' in "
                "X-Bank-Signature as 'v1=<hex>'. De-duplicated by transaction_id.",
                secured=False,
            ),
        },
        "/callbacks/vnpay/ipn": {
            "get": _op(
                "VNPAY's IPN (server to server): records the attempt's outcome",
                {
                    "200": _json("Always HTTP 200; the outcome is in `RspCode`", ref("IpnAnswer")),
                },
                params=_VNPAY_PARAMS,
                description=f"{_SIGNED_QUERY} De-duplicated by the exact query string.",
                secured=False,
            ),
        },
        "/callbacks/vnpay/return": {
            "get": _op(
                "Where VNPAY sends the citizen back (display only, never a state change)",
                {
                    "303": _see_other("To the checkout page `/pay/{payment_id}`"),
                    "400": _html("The parameters are not signed by VNPAY or name no attempt"),
                },
                params=_VNPAY_PARAMS,
                description=_SIGNED_QUERY,
                secured=False,
            ),
        },
        "/callbacks/pos": {
            "post": _op(
                "Signed sale result from the POS cloud",
                {
                    "200": _json("Recorded (or received before)", ref("PosAck")),
                    "400": _problem("`malformed`: signed, but not the documented shape"),
                    "401": _problem(
                        "`signature_missing`, `signature_invalid`, `timestamp_invalid`, "
                        "`timestamp_stale`"
                    ),
                    "404": _problem("`not_found`: no such sale (or no POS cloud configured)"),
                    "409": _problem(
                        "`terminal_not_busy` (the sale is no longer running), "
                        "`amount_mismatch`; the result is kept for review"
                    ),
                },
                params=[
                    _param("X-Pos-Timestamp", "header", {"type": "string"}, "Unix seconds"),
                    _param("X-Pos-Signature", "header", {"type": "string"}, "v1=<hex>"),
                ],
                body=_body(ref("PosSaleResult")),
                description="HMAC-SHA256 with the merchant secret over "
                "'<X-Pos-Timestamp>.<raw body>' as 'v1=<hex>'. De-duplicated by sale and status.",
                secured=False,
            ),
        },
    }


def _page_paths() -> dict[str, Any]:
    payment = [_PAYMENT_ID]
    return {
        "/pay/{payment_id}": {
            "get": _op(
                "Checkout page for the citizen (HTML, Vietnamese)",
                {"200": _html("HTML page"), "404": _html("HTML page")},
                params=payment,
                secured=False,
            ),
        },
        "/pay/{payment_id}/status": {
            "get": _op(
                "Status polled by the checkout page",
                {"200": _json("Current status", ref("CheckoutStatus")), "404": _NOT_FOUND},
                params=payment,
                secured=False,
            ),
        },
        "/pay/{payment_id}/vnpay": {
            "post": _op(
                "The checkout page's VNPAY button: start (or reuse) a VNPAY attempt",
                {
                    "303": _see_other(
                        "To VNPAY's payment page; back to `/pay/{payment_id}` when the "
                        "payment cannot be paid through VNPAY (unknown, not pending, VNPAY "
                        "not configured, provider refused)"
                    ),
                },
                params=payment,
                secured=False,
            ),
        },
        "/pay/{payment_id}/qr.png": {
            "get": _op(
                "VietQR image (PNG)",
                {"200": {"description": "PNG", "content": {"image/png": {}}}, "404": _NOT_FOUND},
                params=payment,
                secured=False,
            ),
        },
        "/pay/{payment_id}/qr.svg": {
            "get": _op(
                "VietQR image (SVG)",
                {
                    "200": {"description": "SVG", "content": {"image/svg+xml": {}}},
                    "404": _NOT_FOUND,
                },
                params=payment,
                secured=False,
            ),
        },
    }


def _service_paths() -> dict[str, Any]:
    return {
        "/healthz": {
            "get": _op("Liveness", {"200": _json("Alive", {"type": "object"})}, secured=False)
        },
        "/readyz": {
            "get": _op(
                "Readiness (checks the database)",
                {
                    "200": _json("Ready", {"type": "object"}),
                    "503": _problem("`service_unavailable`"),
                },
                secured=False,
            )
        },
        "/metrics": {
            "get": _op(
                "Prometheus metrics",
                {"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}},
                secured=False,
            )
        },
        "/openapi.json": {
            "get": _op(
                "This document", {"200": _json("OpenAPI 3.1", {"type": "object"})}, secured=False
            )
        },
    }


def _merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """One mapping of several; a name defined twice (differently) is a mistake."""
    merged: dict[str, Any] = {}
    for part in parts:
        for name, value in part.items():
            if merged.setdefault(name, value) != value:
                raise ValueError(f"{name!r} is defined twice in /openapi.json")
    return merged


@cache
def document() -> dict[str, Any]:
    # Late imports: the postal modules build their operations with this module's helpers.
    from gateway.api.openapi_postal import postal_schemas

    generated_paths, generated_schemas = paths_and_schemas(ROUTES, extra=(Event,))

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cổng thanh toán & bưu chính công ích",
            "version": "0.1.0",
            "description": "Fee payments (VietQR, VNPAY, card terminals) for online public "
            "services, and the postal pickup of dossiers and delivery of results (VNPost). "
            "Amounts are integer VND. Errors are application/problem+json with a stable code. "
            "Events reach the portal as signed webhooks (see `webhooks`).",
        },
        "components": {
            "schemas": _merged(component_schemas(), postal_schemas(), generated_schemas),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "paths": _merged(
            generated_paths,
            _callback_paths(),
            _page_paths(),
            _service_paths(),
        ),
        "webhooks": webhook_payloads(),
    }


async def openapi_json(_request: web.Request) -> web.Response:
    return json_response(document())
