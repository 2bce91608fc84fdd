"""``/openapi.json``: request schemas come from the pydantic models that validate requests,
so they cannot drift; responses are described in :mod:`gateway.api.openapi_schemas` and
checked against real responses by the test suite, and a test checks that every route is
documented and every path exists."""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web

from gateway.api import attempts, payments, postal, postal_operators
from gateway.api.openapi_schemas import (
    EXCEPTION_STATUSES,
    EXCEPTION_TYPES,
    RECON_SOURCES,
    component_schemas,
    ref,
    webhook_payloads,
)
from gateway.api.spec import Route, paths_and_schemas
from gateway.http.responses import json_response

#: The routes declared with their documentation (the others are still described by hand
#: below, until they are declared too).
ROUTES: tuple[Route, ...] = (
    *payments.ROUTES,
    *attempts.ROUTES,
    *postal.ROUTES,
    *postal_operators.ROUTES,
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


def _webhook_paths() -> dict[str, Any]:
    endpoint = [_path("endpoint_id")]
    event = [_path("event_id")]
    return {
        "/v1/webhook-endpoints": {
            "post": _op(
                "Register a webhook endpoint",
                {
                    "201": _json(
                        "The endpoint with its signing secret (a retried key answers the "
                        "stored response)",
                        ref("WebhookEndpointWithSecret"),
                    ),
                    **_BODY_ERRORS,
                    **_AUTH_ERRORS,
                    "409": _problem("`idempotency_key_reused`"),
                    "422": _problem(
                        "`validation_failed`; `url` → `invalid_url`, `scheme_not_allowed`, "
                        "`address_not_allowed`, `too_many_endpoints` (20); `events` → "
                        "`unknown_event_type`"
                    ),
                },
                params=[_IDEMPOTENCY_KEY],
                body=_body(ref("CreateWebhookEndpoint")),
                description=_WEBHOOK_ROLES,
            ),
            "get": _op(
                "List webhook endpoints (disabled ones too; deleted ones are gone)",
                {"200": _json("The endpoints", ref("WebhookEndpointList")), **_AUTH_ERRORS},
                description=_WEBHOOK_ROLES,
            ),
        },
        "/v1/webhook-endpoints/{endpoint_id}": {
            "delete": _op(
                "Delete a webhook endpoint; its pending deliveries fail",
                {"204": {"description": "Deleted"}, **_AUTH_ERRORS, "404": _NOT_FOUND},
                params=endpoint,
                description=_WEBHOOK_ROLES,
            ),
        },
        "/v1/webhook-endpoints/{endpoint_id}/rotate-secret": {
            "post": _op(
                "Issue a new signing secret; the previous one keeps signing for an overlap",
                {
                    "200": _json(
                        "The endpoint with its new secret", ref("WebhookEndpointWithSecret")
                    ),
                    **_AUTH_ERRORS,
                    "404": _problem("`not_found` (also for a disabled endpoint)"),
                },
                params=endpoint,
                description=_WEBHOOK_ROLES,
            ),
        },
        "/v1/webhook-endpoints/{endpoint_id}/deliveries": {
            "get": _op(
                "Deliveries to an endpoint, newest first",
                {
                    "200": _json("A page of deliveries", ref("DeliveryPage")),
                    "400": _problem("`invalid_cursor`"),
                    **_AUTH_ERRORS,
                    "404": _NOT_FOUND,
                    "422": _problem("`validation_failed`: `limit` → `out_of_range`"),
                },
                params=endpoint + _PAGING,
                description=_WEBHOOK_ROLES,
            ),
        },
        "/v1/events/{event_id}": {
            "get": _op(
                "An event with its deliveries and their attempts",
                {
                    "200": _json("The event", ref("EventWithDeliveries")),
                    **_AUTH_ERRORS,
                    "404": _NOT_FOUND,
                },
                params=event,
                description=_WEBHOOK_ROLES,
            ),
        },
        "/v1/events/{event_id}/redeliver": {
            "post": _op(
                "Send an event again now to every enabled endpoint subscribed to it",
                {
                    "202": _json(
                        "Queued (the retry schedule starts afresh); the event as it is now",
                        ref("EventWithDeliveries"),
                    ),
                    **_AUTH_ERRORS,
                    "404": _NOT_FOUND,
                },
                params=event,
                description=_WEBHOOK_ROLES,
            ),
        },
    }


_DAY_FORMAT = "YYYY-MM-DD, a business day in Asia/Ho_Chi_Minh"
_REPORT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
}


def _reconciliation_paths() -> dict[str, Any]:
    recon = "/v1/reconciliation"
    day = _param("day", "path", {"type": "string", "format": "date"}, _DAY_FORMAT)
    exception = [_path("exception_id")]
    run_day = _param("business_date", "query", {"type": "string", "format": "date"}, _DAY_FORMAT)
    filters = [
        _param(name, "query", schema, text, required=False)
        for name, schema, text in (
            ("business_date", {"type": "string", "format": "date"}, _DAY_FORMAT),
            ("type", {"type": "string", "enum": EXCEPTION_TYPES}, ""),
            ("status", {"type": "string", "enum": EXCEPTION_STATUSES[:-1]}, ""),
            ("source", {"type": "string", "enum": RECON_SOURCES}, "the counterpart"),
        )
    ]
    bad_day = _problem("`validation_failed`: `day` → `invalid_format`")
    closed = "`day_closed`: the day is closed and immutable"
    return {
        f"{recon}/statements": {
            "post": _op(
                "Import a statement file (bank, VNPAY, POS, State Treasury)",
                {
                    "201": _json(
                        "Accepted: every line is stored for reconciliation", ref("StatementImport")
                    ),
                    "200": _json(
                        "The same bytes were uploaded before: the earlier import, accepted or "
                        "quarantined, with `duplicate: true`; nothing changes",
                        ref("StatementImport"),
                    ),
                    "400": _problem("`bad_request`: not multipart/form-data"),
                    **_AUTH_ERRORS,
                    "409": _problem(f"{closed}: the file has a line on it; nothing is stored"),
                    "413": _problem("`payload_too_large`: the file is over the upload limit"),
                    "422": {
                        "description": "Quarantined (`application/json`): the file is stored "
                        "with its `reason` and every row error, and none of its lines is used; "
                        "or `validation_failed` (`application/problem+json`): `source` → "
                        "`required`, `invalid_choice`; `file` → `required`",
                        "content": {
                            "application/json": {"schema": ref("StatementImport")},
                            "application/problem+json": {"schema": ref("Problem")},
                        },
                    },
                },
                body={
                    "required": True,
                    "content": {"multipart/form-data": {"schema": ref("StatementUpload")}},
                },
                description=f"A file is accepted whole or quarantined whole, and identified by "
                f"the SHA-256 of its bytes. {_FINANCE_ROLES}",
            ),
        },
        f"{recon}/runs": {
            "post": _op(
                "Reconcile a business day: its ledger against every counterpart's lines",
                {
                    "201": _json(
                        "The new current run. A previous run of the day is superseded (never "
                        "edited) and decisions taken on the same exceptions carry over",
                        ref("ReconRun"),
                    ),
                    **_BODY_ERRORS,
                    **_AUTH_ERRORS,
                    "409": _problem(closed),
                    "422": _problem("`validation_failed`: `business_date` → `invalid_format`"),
                },
                body=_body(ref("CreateReconRun")),
                description=_FINANCE_ROLES,
            ),
            "get": _op(
                "The current run of a business day",
                {
                    "200": _json("The run", ref("ReconRun")),
                    **_AUTH_ERRORS,
                    "404": _problem("`not_found`: the day has not been reconciled"),
                    "422": _problem("`validation_failed`: `business_date` → `invalid_format`"),
                },
                params=[run_day],
                description=_FINANCE_ROLES,
            ),
        },
        f"{recon}/exceptions": {
            "get": _op(
                "The exception queue (superseded exceptions left out)",
                {
                    "200": _json(
                        "At most 200 exceptions, by business date, type and id",
                        ref("ReconExceptionList"),
                    ),
                    **_AUTH_ERRORS,
                    "422": _problem("`validation_failed`: `business_date` → `invalid_format`"),
                },
                params=filters,
                description=_FINANCE_ROLES,
            ),
        },
        f"{recon}/exceptions/{{exception_id}}": {
            "get": _op(
                "An exception with its statement lines, for side-by-side review",
                {
                    "200": _json("The exception", ref("ReconExceptionDetail")),
                    **_AUTH_ERRORS,
                    "404": _NOT_FOUND,
                },
                params=exception,
                description=_FINANCE_ROLES,
            ),
        },
        f"{recon}/exceptions/{{exception_id}}/resolve": {
            "post": _op(
                "Resolve an open exception (maker); it then awaits approval",
                {
                    "200": _json("The resolved exception", ref("ReconException")),
                    **_BODY_ERRORS,
                    **_AUTH_ERRORS,
                    "404": _NOT_FOUND,
                    "409": _problem(f"`invalid_transition`: not `open`; {closed}"),
                    "422": _problem(
                        "`validation_failed`: `resolution` → `invalid_choice`, `reason` → "
                        "`required`, `body` → `not_object`"
                    ),
                },
                params=exception,
                body=_body(ref("ResolveException")),
                description=_FINANCE_ROLES,
            ),
        },
        f"{recon}/exceptions/{{exception_id}}/approve": {
            "post": _op(
                "Approve a resolution (checker: someone other than who resolved it)",
                {
                    "200": _json("The approved exception", ref("ReconException")),
                    **_AUTH_ERRORS,
                    "403": _problem("`forbidden`: approving needs `finance_approver`"),
                    "404": _NOT_FOUND,
                    "409": _problem(
                        "`invalid_transition`: not `resolved`; `cannot_approve_own_resolution`; "
                        f"{closed}"
                    ),
                },
                params=exception,
                description=_APPROVER_ROLES,
            ),
        },
        f"{recon}/days/{{day}}/close": {
            "post": _op(
                "Close a business day: no file, run, resolution or approval touches it again",
                {
                    "200": _json("Closed", ref("DayClosed")),
                    **_AUTH_ERRORS,
                    "403": _problem("`forbidden`: closing needs `finance_approver`"),
                    "409": _problem(
                        "`open_exceptions`: exceptions of the current run are open or await "
                        f"approval; `invalid_transition` (`current`: `not_reconciled`): the day "
                        f"has no run; {closed} already"
                    ),
                    "422": bad_day,
                },
                params=[day],
                description=_APPROVER_ROLES,
            ),
        },
        # aiohttp serves `report.{format:xlsx|csv}`; its canonical path is this template.
        f"{recon}/days/{{day}}/report.{{format}}": {
            "get": _op(
                "The day report: per collection account opening balance, credits, debits and "
                "closing balance; matched count and VND; exceptions still open; what reached "
                "the State Treasury by fee kind",
                {
                    "200": {
                        "description": "`xlsx`: a workbook; `csv`: UTF-8 with a BOM",
                        "headers": {
                            "Content-Disposition": {
                                "required": True,
                                "schema": {"type": "string"},
                                "description": 'attachment; filename="doi-soat-<day>.<format>"',
                            }
                        },
                        "content": {media: {} for media in _REPORT_TYPES.values()},
                    },
                    **_AUTH_ERRORS,
                    "404": _problem(
                        "`not_found`: the day has not been reconciled (or another format)"
                    ),
                    "422": bad_day,
                },
                params=[
                    day,
                    _param(
                        "format",
                        "path",
                        {"type": "string", "enum": list(_REPORT_TYPES)},
                        ", ".join(f"`{name}` → {media}" for name, media in _REPORT_TYPES.items()),
                    ),
                ],
                description=_FINANCE_ROLES,
            ),
        },
    }


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

    generated_paths, generated_schemas = paths_and_schemas(ROUTES)

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
            _webhook_paths(),
            _reconciliation_paths(),
            _callback_paths(),
            _page_paths(),
            _service_paths(),
        ),
        "webhooks": webhook_payloads(),
    }


async def openapi_json(_request: web.Request) -> web.Response:
    return json_response(document())
