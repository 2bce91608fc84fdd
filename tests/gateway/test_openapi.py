"""``/openapi.json``: a valid OpenAPI 3.1 document that lists exactly the routes the service
serves, and whose response schemas describe what the service really sends."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime
from typing import Any

import aiohttp
import phonenumbers
import pytest
from aiohttp import web
from conftest import (
    AGENCY_ACCOUNT,
    AGENCY_BIN,
    BANK_SECRET,
    CITIZEN_PARTY,
    POS_SECRET,
    VNPOST_WEBHOOK_KEY,
    Channels,
    Gateway,
    Portal,
    Postal,
    make_settings,
    order_body,
    payment_body,
    seed,
)
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select
from tests_support import ID_NUMBER, handover_body, vnpay_ipn

from gateway.app import create_app
from gateway.core import outbox
from gateway.core.db.schema import outbox_events
from gateway.core.postal.orders import ORDER_STATUSES
from gateway.core.roles import Role
from gateway.keys import CLOCK, DATABASE, DELIVERY
from gateway.services.clients import create_client
from providers.payment import pos
from providers.payment.vietqr import notice as wire
from providers.postal.vnpost import codec as vnpost_wire
from providers.sandbox.pos import BACKGROUND
from providers.sandbox.statements import Discrepancies, PaidPayment, camt053, treasury_csv

DOCUMENT_URI = "urn:gateway:openapi"
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


async def served_document(gateway: Gateway) -> dict[str, Any]:
    response = await gateway.client.get("/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    document: dict[str, Any] = await response.json()
    return document


def is_console(path: str) -> bool:
    """The staff consoles: server-rendered HTML pages for finance staff and postal operators
    behind a login session (cookie + CSRF), not part of the API contract, so /openapi.json does
    not describe them. The citizen's checkout pages under /pay/ are documented: the portal
    links to them."""
    return any(path == root or path.startswith(f"{root}/") for root in ("/console", "/operator"))


def is_front_page(path: str) -> bool:
    """The front door for people (``/``, the rendered API reference, their static files):
    about the API, not part of it."""
    return path in ("/", "/docs/api") or path.startswith("/static/")


def registered_operations(app: web.Application) -> set[tuple[str, str]]:
    """``(method, path)`` of every route, the path as OpenAPI writes it: aiohttp's canonical
    form drops a parameter's regex (``report.{format:xlsx|csv}`` → ``report.{format}``), which
    :func:`constrained_parameters` checks against the documented enum."""
    operations = set()
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        path = resource.canonical
        if (
            route.method == "HEAD"
            or path.startswith("/sandbox/")
            or is_console(path)
            or is_front_page(path)
        ):
            continue
        operations.add((route.method.lower(), path))
    return operations


#: A path parameter limited to literal choices: ``{format:xlsx|csv}`` → ``(?P<format>xlsx|csv)``.
CHOICES = re.compile(r"\(\?P<(\w+)>([\w-]+(?:\|[\w-]+)*)\)")


def constrained_parameters(app: web.Application) -> dict[tuple[str, str], dict[str, set[str]]]:
    """The operations (of :func:`registered_operations`) whose route limits a path parameter
    to literal choices, with each such parameter's choices."""
    documented = registered_operations(app)
    found: dict[tuple[str, str], dict[str, set[str]]] = {}
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        pattern = resource.get_info().get("pattern")
        operation = (route.method.lower(), resource.canonical)
        if pattern is None or operation not in documented:
            continue
        for name, choices in CHOICES.findall(pattern.pattern):
            found.setdefault(operation, {})[name] = set(choices.split("|"))
    return found


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def schema_errors(document: dict[str, Any], parts: tuple[str, ...], instance: Any) -> list[str]:
    """Validate ``instance`` against the schema at ``parts`` inside ``document``."""
    # Point into the document (rather than copy the schema out) so that relative
    # "#/components/schemas/..." references keep resolving against the whole document.
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    validator = Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#/{_pointer(*parts)}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    return [
        f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(instance)
    ]


async def assert_documented(document: dict[str, Any], method: str, path: str, response: Any) -> Any:
    """Check ``response`` against what is documented for ``method path`` and its status: the
    required headers, the media type and the schema (``$ref``s resolve against the document
    itself). Return the parsed body (``None`` when nothing is documented; when the media type
    has no schema, the text of a ``text/*`` body, else its bytes)."""
    responses = document["paths"][path][method]["responses"]
    status = str(response.status)
    assert status in responses, f"{method.upper()} {path} → {status} is not documented"
    documented = responses[status]
    for name, header in documented.get("headers", {}).items():
        if header.get("required"):
            assert name in response.headers, f"{method.upper()} {path} → {status} lacks {name}"
    if "content" not in documented:
        return None
    content = documented["content"]
    assert response.content_type in content, (
        f"{method.upper()} {path} → {status} sent {response.content_type}, "
        f"documented {sorted(content)}"
    )
    if "schema" not in content[response.content_type]:
        text = response.content_type.startswith("text/")
        return await response.text() if text else await response.read()
    body = await response.json(content_type=None)
    parts = ("paths", path, method, "responses", status, "content", response.content_type, "schema")
    errors = schema_errors(document, parts, body)
    assert not errors, f"{method.upper()} {path} → {status} does not match its schema: {errors}"
    return body


def signed_notice(payment: dict[str, Any], timestamp: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "transaction_id": f"FT{uuid.uuid4().hex[:12].upper()}",
            "bin": AGENCY_BIN,
            "account_number": AGENCY_ACCOUNT,
            "amount": payment["amount"],
            "description": f"MBVCB.123.{payment['reference']}.CT tu NGUYEN VAN AN",
            "booked_at": "2026-11-22T09:01:00+07:00",
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        wire.TIMESTAMP_HEADER: str(timestamp),
        wire.SIGNATURE_HEADER: wire.sign(BANK_SECRET.encode(), timestamp, body),
    }
    return body, headers


async def test_document_is_valid_openapi_3_1(gateway: Gateway) -> None:
    document = await served_document(gateway)
    assert document["openapi"].startswith("3.1")
    validate_openapi(document)


async def test_every_route_is_documented_and_every_documented_path_exists(
    gateway: Gateway,
) -> None:
    document = await served_document(gateway)
    registered = registered_operations(gateway.client.app)
    documented = documented_operations(document)

    assert registered - documented == set(), "routes missing from /openapi.json"
    assert documented - registered == set(), "documented operations that are not served"

    constrained = constrained_parameters(gateway.client.app)
    assert ("get", "/v1/reconciliation/days/{day}/report.{format}") in constrained
    for (method, path), parameters in constrained.items():
        operation = document["paths"][path][method]
        declared = {
            p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "path"
        }
        for name, choices in parameters.items():
            assert set(declared[name].get("enum", ())) == choices, (
                f"{method.upper()} {path}: `{name}` is one of {sorted(choices)}"
            )


def test_sandbox_routes_are_the_only_undocumented_ones(tmp_path: Any) -> None:
    # Sandbox mode mounts the sandbox bank under /sandbox/; everything else is still the API
    # (the staff console aside, see is_console).
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        sandbox=True,
        banks={"sandbox": {"secret": BANK_SECRET}},
    )
    app = create_app(settings, background=False)
    from gateway.api.openapi import document

    assert any(
        route.resource is not None and route.resource.canonical.startswith("/sandbox/")
        for route in app.router.routes()
    )
    assert registered_operations(app) == documented_operations(document())


async def test_request_body_of_the_examples_matches_the_documented_request_schema(
    gateway: Gateway,
) -> None:
    document = await served_document(gateway)
    parts = ("paths", "/v1/payments", "post", "requestBody", "content", "application/json")
    assert schema_errors(document, (*parts, "schema"), payment_body()) == []
    assert schema_errors(document, (*parts, "schema"), payment_body(surprise=1)) != []


async def test_payment_responses_match_their_documented_schemas(gateway: Gateway) -> None:
    document = await served_document(gateway)

    created = await gateway.client.post(
        "/v1/payments",
        json=payment_body(metadata={"portal_ref": "abc"}, return_url="https://dvc.example.vn/1"),
        headers={**gateway.auth(), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert created.status == 201
    payment = await assert_documented(document, "post", "/v1/payments", created)

    fetched = await gateway.client.get(f"/v1/payments/{payment['id']}", headers=gateway.auth())
    assert fetched.status == 200
    await assert_documented(document, "get", "/v1/payments/{payment_id}", fetched)

    await gateway.create_payment()
    page = await gateway.client.get("/v1/payments?limit=1", headers=gateway.auth())
    assert page.status == 200
    listing = await assert_documented(document, "get", "/v1/payments", page)
    assert len(listing["data"]) == 1 and listing["next_cursor"]

    cancelled = await gateway.client.post(
        f"/v1/payments/{payment['id']}/cancel", headers=gateway.auth()
    )
    assert cancelled.status == 200
    await assert_documented(document, "post", "/v1/payments/{payment_id}/cancel", cancelled)

    status = await gateway.client.get(f"/pay/{payment['id']}/status")
    assert status.status == 200
    await assert_documented(document, "get", "/pay/{payment_id}/status", status)


UNKNOWN_PAYMENT = "pay_" + "a" * 26
#: Path parameters of the problem cases: ids that exist nowhere.
UNKNOWN = {
    "{payment_id}": UNKNOWN_PAYMENT,
    "{attempt_id}": "att_" + "a" * 26,
    "{refund_id}": "ref_" + "a" * 26,
    "{endpoint_id}": "we_" + "a" * 26,
    "{event_id}": "evt_" + "a" * 26,
    "{bank}": "nosuchbank",
    "{exception_id}": "exc_" + "a" * 26,
    "{day}": "2026-11-22",  # never reconciled
    "{format}": "csv",
    "{order_id}": "pso_" + "a" * 26,
    "{resolution_id}": "rres_" + "a" * 26,
    "{secret}": "not-configured-here",
}
TERMINAL = {"agency_code": "HCM", "terminal_id": "T-1", "name": "Quầy 1"}


async def check_problem(
    gateway: Gateway,
    document: dict[str, Any],
    who: str | None,
    method: str,
    path: str,
    request_kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    url = path
    for placeholder, value in UNKNOWN.items():
        url = url.replace(placeholder, value)
    headers = {"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"}
    if who is not None:
        headers.update(gateway.auth(who))
    if "json" in request_kwargs:
        del headers["Content-Type"]
    kwargs = dict(request_kwargs)  # shared by both database runs: do not consume it
    headers.update(kwargs.pop("headers", {}))
    response = await gateway.client.request(method, url, headers=headers, **kwargs)

    case = f"{method.upper()} {path} as {who}"
    assert response.status == status, f"{case}: {await response.text()}"
    assert response.content_type == "application/problem+json", case
    body = await assert_documented(document, method, path, response)
    assert body["code"] == code, case
    assert body["status"] == status, case
    if code == "validation_failed":
        assert body["errors"], f"{case}: a validation problem names the fields"


#: Problems of attempts, refunds, terminals, webhook endpoints, events and the POS callback,
#: checked in one test (one service set-up per database) to keep the file fast.
MORE_PROBLEMS: list[tuple[str | None, str, str, dict[str, Any], int, str]] = [
    # attempts, refunds, terminals
    ("portal", "get", "/v1/payments/{payment_id}/attempts", {}, 404, "not_found"),
    (
        "portal",
        "post",
        "/v1/payments/{payment_id}/attempts",
        {"json": {"method": "vnpay"}},
        404,
        "not_found",
    ),
    (
        "portal",
        "post",
        "/v1/payments/{payment_id}/attempts",
        {"json": {"method": "cash"}},
        422,
        "validation_failed",
    ),
    (
        "portal",
        "post",
        "/v1/payments/{payment_id}/attempts",
        {"json": {"method": "vnpay"}, "headers": {"Idempotency-Key": " "}},
        422,
        "validation_failed",
    ),
    ("portal", "get", "/v1/payments/{payment_id}/attempts/{attempt_id}", {}, 404, "not_found"),
    (
        "portal",
        "post",
        "/v1/payments/{payment_id}/attempts/{attempt_id}/cancel",
        {},
        404,
        "not_found",
    ),
    (
        "portal",
        "post",
        "/v1/payments/{payment_id}/refunds",
        {"json": {"amount": 0, "reason": "x"}},
        422,
        "validation_failed",
    ),
    ("finance", "get", "/v1/refunds/{refund_id}", {}, 404, "not_found"),
    (
        "portal",
        "post",
        "/v1/refunds/{refund_id}/complete",
        {"json": {"status": "succeeded"}},
        403,
        "forbidden",
    ),
    (
        "finance",
        "post",
        "/v1/refunds/{refund_id}/complete",
        {"json": {"status": "done"}},
        422,
        "validation_failed",
    ),
    (
        "finance",
        "post",
        "/v1/refunds/{refund_id}/resolutions/{resolution_id}/approve",
        {},
        403,
        "forbidden",
    ),
    (
        "approver",
        "post",
        "/v1/refunds/{refund_id}/resolutions/{resolution_id}/reject",
        {"json": {"reason": "x" * 2001}},
        422,
        "validation_failed",
    ),
    (
        "approver",
        "post",
        "/v1/refunds/{refund_id}/resolutions/{resolution_id}/approve",
        {},
        404,
        "not_found",
    ),
    ("portal", "post", "/v1/terminals", {"json": TERMINAL}, 403, "forbidden"),
    ("finance", "get", "/v1/terminals", {}, 403, "forbidden"),
    # webhook endpoints and events
    (
        "portal",
        "post",
        "/v1/webhook-endpoints",
        {"json": {"url": "ftp://portal.example.vn/hooks", "events": ["payment.won"]}},
        422,
        "validation_failed",
    ),
    (
        "portal",
        "post",
        "/v1/webhook-endpoints",
        {"data": b"{}", "headers": {"Content-Type": "text/plain"}},
        415,
        "unsupported_media_type",
    ),
    ("portal", "delete", "/v1/webhook-endpoints/{endpoint_id}", {}, 404, "not_found"),
    (
        "portal",
        "post",
        "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
        {},
        404,
        "not_found",
    ),
    (
        "portal",
        "get",
        "/v1/webhook-endpoints/{endpoint_id}/deliveries",
        {"params": {"limit": "0"}},
        422,
        "validation_failed",
    ),
    (
        "portal",
        "get",
        "/v1/webhook-endpoints/{endpoint_id}/deliveries",
        {"params": {"cursor": "bogus"}},
        400,
        "invalid_cursor",
    ),
    ("portal", "get", "/v1/events/{event_id}", {}, 404, "not_found"),
    ("portal", "post", "/v1/events/{event_id}/redeliver", {}, 404, "not_found"),
    # no POS cloud is configured here
    (None, "post", "/callbacks/pos", {"data": b"{}"}, 404, "not_found"),
    # reconciliation
    (None, "get", "/v1/reconciliation/runs", {}, 401, "unauthenticated"),
    ("portal", "post", "/v1/reconciliation/statements", {"data": b"x"}, 403, "forbidden"),
    ("finance", "post", "/v1/reconciliation/statements", {"data": b"{}"}, 400, "bad_request"),
    (
        "finance",
        "post",
        "/v1/reconciliation/runs",
        {"json": {"business_date": "22/11/2026"}},
        422,
        "validation_failed",
    ),
    ("finance", "get", "/v1/reconciliation/runs", {}, 422, "validation_failed"),
    # found by fuzzing: a number, or a day so far ahead that adding days to it overflows
    (
        "finance",
        "post",
        "/v1/reconciliation/runs",
        {"json": {"business_date": 20261122}},
        422,
        "validation_failed",
    ),
    (
        "finance",
        "post",
        "/v1/reconciliation/runs",
        {"json": {"business_date": "9999-12-31"}},
        422,
        "validation_failed",
    ),
    (
        "finance",
        "get",
        "/v1/reconciliation/runs",
        {"params": {"business_date": "0001-01-01"}},
        422,
        "validation_failed",
    ),
    (
        "portal",
        "get",
        "/v1/payments",
        {"params": {"created_from": "9999-12-31T23:59:59-14:00"}},
        422,
        "validation_failed",
    ),
    (
        "portal",
        "get",
        "/v1/payments",
        {"params": {"created_to": "0001-01-01T00:00:00+14:00"}},
        422,
        "validation_failed",
    ),
    (
        "finance",
        "post",
        "/v1/reconciliation/statements",
        {
            "data": b"--x\r\nContent-Disposition: form-data; name=file\r\n\r\nabc",
            "headers": {"Content-Type": "multipart/form-data; boundary=x"},
        },
        400,
        "bad_request",
    ),
    (
        "finance",
        "post",
        "/v1/reconciliation/statements",
        {"data": b"garbage", "headers": {"Content-Type": "multipart/form-data"}},
        400,
        "bad_request",
    ),
    (
        "finance",
        "post",
        "/v1/reconciliation/statements",
        {
            "data": b"--x\r\nContent-Disposition: form-data; name=source\r\n\r\n\xff\xfe\r\n--x--\r\n",
            "headers": {"Content-Type": "multipart/form-data; boundary=x"},
        },
        400,
        "bad_request",
    ),
    (  # schemathesis: a control character in a part's header (aiohttp's InvalidHeader)
        "finance",
        "post",
        "/v1/reconciliation/statements",
        {
            "data": b'--x\r\nContent-Disposition: form-data; name="a\x19b"\r\n\r\nv\r\n--x--\r\n',
            "headers": {"Content-Type": "multipart/form-data; boundary=x"},
        },
        400,
        "bad_request",
    ),
    (
        "finance",
        "get",
        "/v1/reconciliation/runs",
        {"params": {"business_date": "2026-11-22"}},
        404,
        "not_found",
    ),
    ("portal", "get", "/v1/reconciliation/exceptions", {}, 403, "forbidden"),
    (
        "finance",
        "get",
        "/v1/reconciliation/exceptions",
        {"params": {"business_date": "yesterday"}},
        422,
        "validation_failed",
    ),
    ("finance", "get", "/v1/reconciliation/exceptions/{exception_id}", {}, 404, "not_found"),
    (
        "finance",
        "post",
        "/v1/reconciliation/exceptions/{exception_id}/resolve",
        {"json": {"resolution": "write_off", "reason": "Đã đối chiếu"}},
        404,
        "not_found",
    ),
    (
        "finance",
        "post",
        "/v1/reconciliation/exceptions/{exception_id}/resolve",
        {"json": ["write_off"]},
        422,
        "validation_failed",
    ),
    (
        "finance",
        "post",
        "/v1/reconciliation/exceptions/{exception_id}/approve",
        {},
        403,
        "forbidden",
    ),
    (
        "approver",
        "post",
        "/v1/reconciliation/exceptions/{exception_id}/approve",
        {},
        404,
        "not_found",
    ),
    ("finance", "post", "/v1/reconciliation/days/{day}/close", {}, 403, "forbidden"),
    ("approver", "post", "/v1/reconciliation/days/{day}/close", {}, 409, "invalid_transition"),
    ("finance", "get", "/v1/reconciliation/days/{day}/report.{format}", {}, 404, "not_found"),
    # postal orders (no carrier listens here: only answers that come before calling it)
    ("finance", "post", "/v1/postal/orders", {"json": order_body()}, 403, "forbidden"),
    (
        "portal",
        "post",
        "/v1/postal/orders",
        {"json": order_body(agency_code="HN")},
        403,
        "agency_not_in_scope",
    ),
    ("portal", "post", "/v1/postal/orders", {"data": b"{not json"}, 400, "malformed_json"),
    ("portal", "get", "/v1/postal/orders", {"params": {"limit": "0"}}, 422, "validation_failed"),
    (
        "portal",
        "get",
        "/v1/postal/orders",
        {"params": {"status": "shipped"}},
        422,
        "validation_failed",
    ),
    ("portal", "get", "/v1/postal/orders", {"params": {"cursor": "bogus"}}, 400, "invalid_cursor"),
    ("portal", "get", "/v1/postal/orders/{order_id}", {}, 404, "not_found"),
    ("portal", "post", "/v1/postal/orders/{order_id}/cancel", {}, 404, "not_found"),
    (None, "post", "/callbacks/vnpost", {"data": b"{}"}, 401, "callback_rejected"),
    # the postal operators' API (its answers for an operator: see the operator tests below)
    (None, "get", "/v1/operator/orders", {}, 401, "unauthenticated"),
    ("portal", "post", "/v1/operator/orders/{order_id}/accept", {}, 403, "forbidden"),
    (
        None,
        "post",
        "/callbacks/vnpost/{secret}",
        {"data": b"[", "headers": {"X-Vnpost-Signature": "0" * 64}},
        400,
        "callback_malformed",
    ),
    (
        None,
        "post",
        "/callbacks/vnpost/{secret}",
        {"data": b"[" * 5000 + b"]" * 5000, "headers": {"X-Vnpost-Signature": "0" * 64}},
        400,
        "callback_malformed",
    ),
]


@pytest.mark.parametrize(
    ("who", "method", "path", "request_kwargs", "status", "code"),
    [
        (
            "portal",
            "post",
            "/v1/payments",
            {"json": payment_body(items=[])},
            422,
            "validation_failed",
        ),
        ("portal", "post", "/v1/payments", {"data": b"{not json"}, 400, "malformed_json"),
        (
            "portal",
            "post",
            "/v1/payments",
            {"data": b"{}", "headers": {"Content-Type": "text/plain"}},
            415,
            "unsupported_media_type",
        ),
        ("portal", "post", "/v1/payments", {"data": b" " * 70_000}, 413, "payload_too_large"),
        (
            "portal",
            "post",
            "/v1/payments",
            {"json": payment_body(agency_code="HN")},
            403,
            "agency_not_in_scope",
        ),
        ("finance", "post", "/v1/payments", {"json": payment_body()}, 403, "forbidden"),
        ("portal", "get", "/v1/payments", {"params": {"limit": "0"}}, 422, "validation_failed"),
        ("portal", "get", "/v1/payments", {"params": {"cursor": "bogus"}}, 400, "invalid_cursor"),
        ("portal", "get", "/v1/payments/{payment_id}", {}, 404, "not_found"),
        ("portal", "post", "/v1/payments/{payment_id}/cancel", {}, 404, "not_found"),
        (None, "get", "/pay/{payment_id}/status", {}, 404, "not_found"),
        (None, "get", "/pay/{payment_id}/qr.png", {}, 404, "not_found"),
        (None, "post", "/callbacks/bank/{bank}", {"data": b"{}"}, 404, "not_found"),
    ],
)
async def test_problem_responses_match_the_documented_problem_schema(
    gateway: Gateway,
    who: str | None,
    method: str,
    path: str,
    request_kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    document = await served_document(gateway)
    await check_problem(gateway, document, who, method, path, request_kwargs, status, code)


async def test_problem_responses_of_the_newer_endpoints_match_the_problem_schema(
    gateway: Gateway,
) -> None:
    document = await served_document(gateway)
    for case in MORE_PROBLEMS:
        await check_problem(gateway, document, *case)


async def test_unauthenticated_problem_matches_the_documented_schema(gateway: Gateway) -> None:
    document = await served_document(gateway)
    response = await gateway.client.get(
        "/v1/payments", headers={"Authorization": "Bearer gw_nosuchkey0_" + "x" * 32}
    )
    assert response.status == 401
    body = await assert_documented(document, "get", "/v1/payments", response)
    assert body["code"] == "unauthenticated"


async def test_bank_notice_ack_and_the_paid_payment_match_their_schemas(
    gateway: Gateway,
) -> None:
    document = await served_document(gateway)
    payment = await gateway.create_payment()
    body, headers = signed_notice(payment, int(gateway.clock.now.timestamp()))

    ack = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert ack.status == 200
    assert await assert_documented(document, "post", "/callbacks/bank/{bank}", ack) == {
        "status": "accepted",
        "outcome": "applied",
    }

    again = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert (await assert_documented(document, "post", "/callbacks/bank/{bank}", again))[
        "status"
    ] == "duplicate"

    forged = await gateway.client.post(
        "/callbacks/bank/testbank",
        data=body,
        headers={**headers, wire.SIGNATURE_HEADER: "v1=" + "0" * 64},
    )
    assert forged.status == 401
    await assert_documented(document, "post", "/callbacks/bank/{bank}", forged)

    paid = await gateway.client.get(f"/v1/payments/{payment['id']}", headers=gateway.auth())
    paid_body = await assert_documented(document, "get", "/v1/payments/{payment_id}", paid)
    assert paid_body["status"] == "paid" and paid_body["paid_at"]


# -- reconciliation: paid payments, statements from the sandbox generator, the finance workflow --

RECON = "/v1/reconciliation"
RECON_DAY = date(2026, 11, 22)  # the fixed clock's business day (Asia/Ho_Chi_Minh)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def paid_by_transfer(gateway: Gateway, count: int) -> list[PaidPayment]:
    """``count`` payments paid by bank transfer, as the sandbox statement generator wants them."""
    paid = []
    for number in range(count):
        payment = await gateway.create_payment(dossier_code=f"HS-{number}")
        body, headers = signed_notice(payment, int(gateway.clock.now.timestamp()))
        ack = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
        assert (await ack.json())["outcome"] == "applied"
        fetched = await gateway.client.get(f"/v1/payments/{payment['id']}", headers=gateway.auth())
        paid.append(
            PaidPayment(
                reference=payment["reference"],
                amount=payment["amount"],
                paid_at=datetime.fromisoformat((await fetched.json())["paid_at"]),
                channel="vietqr",
                provider_txn_id=json.loads(body)["transaction_id"],
                agency_code="HCM",
                fee_lines=(("charge", 135000), ("fee", 50000)),
                account_number=AGENCY_ACCOUNT,
            )
        )
    return paid


async def upload(
    gateway: Gateway, source: str | None, data: bytes | None, who: str = "finance"
) -> Any:
    form = aiohttp.FormData(default_to_multipart=True)
    if source is not None:
        form.add_field("source", source)
    form.add_field("account", AGENCY_ACCOUNT)
    if data is not None:
        form.add_field("file", data, filename="sao-ke", content_type="application/octet-stream")
    return await gateway.client.post(f"{RECON}/statements", data=form, headers=gateway.auth(who))


async def recon(
    gateway: Gateway, document: dict[str, Any], method: str, path: str, who: str, **kwargs: Any
) -> tuple[int, Any]:
    """Call ``path`` (a documented template) with ``{exception_id}``/``{day}``/``{format}``
    from ``kwargs``; check the answer against the document; return status and body."""
    values = {
        name: kwargs.pop(name) for name in ("exception_id", "day", "format") if name in kwargs
    }
    url = path.format(**values) if values else path
    response = await gateway.client.request(method, url, headers=gateway.auth(who), **kwargs)
    return response.status, await assert_documented(document, method, path, response)


async def test_statement_import_responses_match_their_schemas(gateway: Gateway) -> None:
    document = await served_document(gateway)
    path = f"{RECON}/statements"
    paid = await paid_by_transfer(gateway, 1)
    statement = camt053(AGENCY_ACCOUNT, paid, RECON_DAY, opening_balance=1_000_000)

    accepted = await upload(gateway, "camt053", statement)
    imported = await assert_documented(document, "post", path, accepted)
    assert (accepted.status, imported["status"], imported["duplicate"]) == (201, "accepted", False)
    assert imported["line_count"] == 1 and imported["control"]["opening_balance"] == 1_000_000
    again = await upload(gateway, "camt053", statement)
    duplicate = await assert_documented(document, "post", path, again)
    assert (again.status, duplicate["id"], duplicate["duplicate"]) == (200, imported["id"], True)

    # A row that cannot be read quarantines the whole file: the body is the import, not a problem.
    bad_row = treasury_csv(paid, RECON_DAY).replace(b'"135,000"', b'"135,000.5"', 1)
    unreadable = b"<Document><Stmt>"
    for source, data, reason in (
        ("treasury_csv", bad_row, "row_errors"),
        ("camt053", unreadable, "malformed_xml"),
    ):
        response = await upload(gateway, source, data)
        assert (response.status, response.content_type) == (422, "application/json")
        quarantined = await assert_documented(document, "post", path, response)
        assert quarantined["status"] == "quarantined"
        assert quarantined["reason"].startswith(reason)
        assert len(quarantined["row_errors"]) == quarantined["error_count"]
    # A file that cannot be read at all has one row-0 error: the file as a whole.
    [whole] = quarantined["row_errors"]
    assert (whole["line_no"], whole["code"], quarantined["control"]) == (0, "malformed_xml", {})
    response = await upload(gateway, "treasury_csv", bad_row)
    assert (response.status, (await response.json())["duplicate"]) == (200, True)

    for source, data, field in (("swift_mt999", b"x", "source"), ("camt053", None, "file")):
        response = await upload(gateway, source, data)
        assert (response.status, response.content_type) == (422, "application/problem+json")
        problem = await assert_documented(document, "post", path, response)
        assert (problem["code"], problem["errors"][0]["field"]) == ("validation_failed", field)


async def test_a_statement_over_the_upload_limit_matches_the_problem_schema(
    aiohttp_client: Any, database_url: str, clock: Any
) -> None:
    app = create_app(
        make_settings(database_url, max_upload_bytes=1024), clock=clock, background=False
    )
    gateway = Gateway(client=await aiohttp_client(app), clock=clock)
    gateway.keys = await seed(gateway.client)
    document = await served_document(gateway)
    response = await upload(gateway, "camt053", b"<x/>" * 1000)
    assert response.status == 413
    problem = await assert_documented(document, "post", f"{RECON}/statements", response)
    assert problem["code"] == "payload_too_large"


async def test_reconciliation_workflow_responses_match_their_schemas(gateway: Gateway) -> None:
    document = await served_document(gateway)
    day = RECON_DAY.isoformat()
    paid = await paid_by_transfer(gateway, 2)
    # The bank credited the second payment 5,000 short and sent 42,000 nobody explains.
    problems = Discrepancies(amount_delta={paid[1].reference: -5000}, unknown_credits=(42000,))
    statement = camt053(AGENCY_ACCOUNT, paid, RECON_DAY, opening_balance=0, problems=problems)
    assert (await upload(gateway, "camt053", statement)).status == 201

    runs = f"{RECON}/runs"
    status, run = await recon(
        gateway, document, "post", runs, "finance", json={"business_date": day}
    )
    assert status == 201 and run["summary"]["matched"]["count"] == 1
    status, current = await recon(
        gateway, document, "get", runs, "approver", params={"business_date": day}
    )
    assert (status, current["id"], current["day_closed"]) == (200, run["id"], False)

    status, listing = await recon(gateway, document, "get", f"{RECON}/exceptions", "finance")
    mismatch, unknown = listing["data"]
    assert (mismatch["type"], unknown["type"]) == ("amount_mismatch", "missing_in_gateway")
    one = f"{RECON}/exceptions/{{exception_id}}"
    for item in listing["data"]:
        status, detail = await recon(
            gateway, document, "get", one, "finance", exception_id=item["id"]
        )
        assert status == 200 and [line["id"] for line in detail["lines"]] == item["line_ids"]
    status, filtered = await recon(
        gateway,
        document,
        "get",
        f"{RECON}/exceptions",
        "finance",
        params={
            "business_date": day,
            "type": "missing_in_gateway",
            "status": "open",
            "source": "bank",
        },
    )
    assert [item["id"] for item in filtered["data"]] == [unknown["id"]]

    close = f"{RECON}/days/{{day}}/close"
    status, problem = await recon(gateway, document, "post", close, "approver", day=day)
    assert (status, problem["code"]) == (409, "open_exceptions")

    resolve, approve = f"{one}/resolve", f"{one}/approve"
    decision = {"resolution": "write_off", "reason": "Ngân hàng thu phí chuyển tiền"}
    status, resolved = await recon(
        gateway, document, "post", resolve, "finance", exception_id=mismatch["id"], json=decision
    )
    assert (status, resolved["status"], resolved["resolution"]) == (200, "resolved", "write_off")
    status, problem = await recon(
        gateway, document, "post", resolve, "finance", exception_id=mismatch["id"], json=decision
    )
    assert (status, problem["code"]) == (409, "invalid_transition")
    status, problem = await recon(
        gateway,
        document,
        "post",
        resolve,
        "finance",
        exception_id=unknown["id"],
        json={"resolution": "ignore", "reason": " "},
    )
    assert (status, [e["field"] for e in problem["errors"]]) == (422, ["resolution", "reason"])
    status, approved = await recon(
        gateway, document, "post", approve, "approver", exception_id=mismatch["id"]
    )
    assert (status, approved["status"]) == (200, "approved") and approved["approved_at"]

    refund = {"resolution": "refund_requested", "reason": "Người nộp chuyển nhầm"}
    await recon(
        gateway, document, "post", resolve, "approver", exception_id=unknown["id"], json=refund
    )
    status, problem = await recon(
        gateway, document, "post", approve, "approver", exception_id=unknown["id"]
    )
    assert (status, problem["code"]) == (409, "self_approval")
    status, _ = await recon(
        gateway, document, "post", approve, "approver2", exception_id=unknown["id"]
    )
    assert status == 200

    report = f"{RECON}/days/{{day}}/report.{{format}}"
    for fmt, media in (("xlsx", XLSX), ("csv", "text/csv")):
        response = await gateway.client.get(
            report.format(day=day, format=fmt), headers=gateway.auth("finance")
        )
        assert (response.status, response.content_type) == (200, media)
        body = await assert_documented(document, "get", report, response)
        assert response.headers["Content-Disposition"].endswith(f'doi-soat-{day}.{fmt}"')
        if fmt == "xlsx":
            assert body.startswith(b"PK")  # a zip: the workbook
        else:
            assert body.startswith("\ufeff") and "Số giao dịch khớp,1" in body
    status, problem = await recon(
        gateway, document, "get", report, "finance", day="2026-11-31", format="csv"
    )
    assert (status, problem["code"]) == (422, "validation_failed")

    status, closed = await recon(gateway, document, "post", close, "approver", day=day)
    assert (status, closed["status"], closed["run_id"]) == (200, "closed", run["id"])

    # A closed day is immutable.
    status, problem = await recon(gateway, document, "post", close, "approver", day=day)
    assert (status, problem["code"]) == (409, "day_closed")
    status, problem = await recon(
        gateway, document, "post", approve, "approver2", exception_id=unknown["id"]
    )
    assert (status, problem["code"]) == (409, "day_closed")
    status, problem = await recon(
        gateway, document, "post", runs, "finance", json={"business_date": day}
    )
    assert (status, problem["code"]) == (409, "day_closed")
    late = camt053(AGENCY_ACCOUNT, paid, RECON_DAY, opening_balance=7)
    response = await upload(gateway, "camt053", late)
    problem = await assert_documented(document, "post", f"{RECON}/statements", response)
    assert (response.status, problem["code"]) == (409, "day_closed")
    status, current = await recon(
        gateway, document, "get", runs, "finance", params={"business_date": day}
    )
    assert current["day_closed"] is True
    status, problem = await recon(gateway, document, "post", close, "approver", day="21-11-2026")
    assert (status, problem["code"]) == (422, "validation_failed")


# -- attempts, refunds, terminals, webhooks and provider callbacks: through the sandboxes ------


def test_documented_webhooks_are_the_event_types_the_gateway_emits() -> None:
    from gateway.api.openapi import document

    assert set(document()["webhooks"]) == set(outbox.EVENT_TYPES)


async def post(channels: Channels, path: str, who: str = "portal", **kwargs: Any) -> Any:
    headers = {**channels.auth(who), "Idempotency-Key": uuid.uuid4().hex}
    return await channels.client.post(path, headers=headers, **kwargs)


async def get(channels: Channels, path: str, who: str = "portal", **kwargs: Any) -> Any:
    return await channels.client.get(path, headers=channels.auth(who), **kwargs)


def pos_result(sale_id: str, status: str = "approved", amount: int = 185000) -> bytes:
    card = status == "approved"
    return json.dumps(
        {
            "sale_id": sale_id,
            "status": status,
            "amount": amount,
            "approval_code": "123456" if card else None,
            "masked_pan": "970436******1234",
            "card_brand": "NAPAS",
            "rrn": "123456789012",
            "decline_reason": None if status != "declined" else "insufficient_funds",
            "completed_at": None if status == "sent_to_terminal" else "2026-11-22T02:01:00+00:00",
        }
    ).encode()


async def no_card_comes(channels: Channels, terminal: str = "T-HCM-1") -> None:
    """Script the sandbox terminal: the sale waits on it until it is cancelled."""
    async with aiohttp.ClientSession() as session:
        script = channels.pos.make_url(f"/sandbox/terminals/{terminal}/script")
        assert (await session.post(script, json={"outcome": "no_answer"})).status == 200


async def pos_callback(channels: Channels, body: bytes, secret: str = POS_SECRET) -> Any:
    now = int(channels.clock().timestamp())
    headers = {
        "Content-Type": "application/json",
        "X-Pos-Timestamp": str(now),
        "X-Pos-Signature": pos.sign(secret.encode(), now, body),
    }
    return await channels.client.post("/callbacks/pos", data=body, headers=headers)


async def test_vnpay_attempt_refund_and_webhook_responses_match_their_schemas(
    channels: Channels, portal: tuple[Portal, str]
) -> None:
    document = await served_document(channels)
    hooks, url = portal
    created = await post(channels, "/v1/webhook-endpoints", json={"url": url, "events": ["*"]})
    endpoint = await assert_documented(document, "post", "/v1/webhook-endpoints", created)
    assert created.status == 201 and endpoint["secret"].startswith("whsec_")
    listed = await assert_documented(
        document, "get", "/v1/webhook-endpoints", await get(channels, "/v1/webhook-endpoints")
    )
    assert [e["id"] for e in listed["data"]] == [endpoint["id"]]
    rotate = await post(channels, f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret")
    rotate_path = "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"
    rotated = await assert_documented(document, "post", rotate_path, rotate)
    assert rotated["secret"] != endpoint["secret"] and rotated["previous_secret_expires_at"]

    payment = await channels.create_payment()
    attempts = f"/v1/payments/{payment['id']}/attempts"
    started = await post(channels, attempts, json={"method": "vnpay", "bank_code": "NCB"})
    assert started.status == 201
    attempt = await assert_documented(
        document, "post", "/v1/payments/{payment_id}/attempts", started
    )
    assert attempt["next_action"]["type"] == "redirect"
    listing = await assert_documented(
        document, "get", "/v1/payments/{payment_id}/attempts", await get(channels, attempts)
    )
    assert sorted(a["method"] for a in listing["data"]) == ["vietqr", "vnpay"]
    one = "/v1/payments/{payment_id}/attempts/{attempt_id}"
    cancel = await post(channels, f"{attempts}/{attempt['id']}/cancel")
    assert cancel.status == 409  # VNPAY cannot be cancelled
    await assert_documented(document, "post", f"{one}/cancel", cancel)

    async with aiohttp.ClientSession() as browser:  # the citizen pays at VNPAY
        assert (await browser.get(attempt["next_action"]["url"])).status == 200
        paid = await browser.post(
            channels.vnpay.make_url("/paymentv2/simulate"),
            json={"txn_ref": attempt["provider_reference"], "outcome": "success"},
        )
        assert paid.status == 200
    done = await assert_documented(
        document, "get", one, await get(channels, f"{attempts}/{attempt['id']}")
    )
    assert done["status"] == "succeeded" and done["details"]

    refunds = f"/v1/payments/{payment['id']}/refunds"
    created_refund = await post(channels, refunds, json={"amount": 50000, "reason": "Nộp thừa"})
    assert created_refund.status == 201
    refund = await assert_documented(
        document, "post", "/v1/payments/{payment_id}/refunds", created_refund
    )
    assert refund["status"] == "succeeded"
    fetched = await get(channels, f"/v1/refunds/{refund['id']}")
    await assert_documented(document, "get", "/v1/refunds/{refund_id}", fetched)
    settled = await post(
        channels, f"/v1/refunds/{refund['id']}/complete", "finance", json={"status": "failed"}
    )
    assert settled.status == 409
    await assert_documented(document, "post", "/v1/refunds/{refund_id}/complete", settled)
    too_much = await post(channels, refunds, json={"amount": 200000, "reason": "Nộp thừa"})
    problem = await assert_documented(
        document, "post", "/v1/payments/{payment_id}/refunds", too_much
    )
    assert (too_much.status, problem["errors"][0]["code"]) == (422, "exceeds_refundable")

    # The events went out signed; each body is what `webhooks` documents for its type.
    assert await channels.client.app[DELIVERY].run_until_idle() == 3
    types = []
    for headers, raw in hooks.received:
        body = json.loads(raw)
        types.append(body["type"])
        parts = ("webhooks", body["type"], "post", "requestBody", "content", "application/json")
        assert schema_errors(document, (*parts, "schema"), body) == []
        documented = document["webhooks"][body["type"]]["post"]["parameters"]
        assert {p["name"] for p in documented} <= set(map(str.lower, headers))
        assert headers["webhook-id"] == body["id"]
        assert len(headers["webhook-signature"].split()) == 2  # rotated: both secrets sign
    assert types == ["payment.paid", "refund.succeeded", "payment.partially_refunded"]

    event_id = json.loads(hooks.received[0][1])["id"]
    view = await assert_documented(
        document, "get", "/v1/events/{event_id}", await get(channels, f"/v1/events/{event_id}")
    )
    assert view["deliveries"][0]["attempts"][0]["status_code"] == 200
    deliveries = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"
    page_path = "/v1/webhook-endpoints/{endpoint_id}/deliveries"
    first = await assert_documented(
        document, "get", page_path, await get(channels, deliveries, params={"limit": "2"})
    )
    assert len(first["data"]) == 2 and first["next_cursor"]
    rest = await get(channels, deliveries, params={"cursor": first["next_cursor"]})
    assert (await assert_documented(document, "get", page_path, rest))["next_cursor"] is None
    again = await post(channels, f"/v1/events/{event_id}/redeliver")
    assert again.status == 202
    redelivered = await assert_documented(
        document, "post", "/v1/events/{event_id}/redeliver", again
    )
    assert redelivered["deliveries"][0]["status"] == "pending"

    gone = f"/v1/webhook-endpoints/{endpoint['id']}"
    deleted = await channels.client.delete(gone, headers=channels.auth())
    assert deleted.status == 204
    gone_path = "/v1/webhook-endpoints/{endpoint_id}"
    assert await assert_documented(document, "delete", gone_path, deleted) is None
    twice = await channels.client.delete(gone, headers=channels.auth())
    assert twice.status == 404
    await assert_documented(document, "delete", gone_path, twice)


async def test_card_terminal_responses_and_pos_callbacks_match_their_schemas(
    channels: Channels,
) -> None:
    document = await served_document(channels)
    db, clock = channels.client.app[DATABASE], channels.client.app[CLOCK]
    _, channels.keys["admin"] = await create_client(
        db, clock, name="admin", role=Role.ADMIN, agency_codes=["HCM"]
    )
    terminal = {"agency_code": "HCM", "terminal_id": "T-HCM-2", "name": "Quầy 2"}
    added = await post(channels, "/v1/terminals", "admin", json=terminal)
    assert added.status == 201
    assert (await assert_documented(document, "post", "/v1/terminals", added))["busy"] is False
    twice = await post(channels, "/v1/terminals", "admin", json=terminal)
    assert (await assert_documented(document, "post", "/v1/terminals", twice))["code"] == "conflict"

    await no_card_comes(channels)
    attempt_path = "/v1/payments/{payment_id}/attempts"
    first = await channels.create_payment()
    pushed = await post(
        channels,
        f"/v1/payments/{first['id']}/attempts",
        json={"method": "pos", "terminal_id": "T-HCM-1"},
    )
    assert pushed.status == 201
    attempt = await assert_documented(document, "post", attempt_path, pushed)
    assert attempt["next_action"] == {"type": "terminal", "terminal_id": "T-HCM-1"}
    second = await channels.create_payment()
    busy = await post(
        channels,
        f"/v1/payments/{second['id']}/attempts",
        json={"method": "pos", "terminal_id": "T-HCM-1"},
    )
    problem = await assert_documented(document, "post", attempt_path, busy)
    assert problem["code"] == "terminal_busy"
    terminals = await assert_documented(
        document, "get", "/v1/terminals", await get(channels, "/v1/terminals")
    )
    assert [t["busy"] for t in terminals["data"]] == [True, False]

    ack_cases = [
        (pos_result(attempt["id"]), "guessed", 401, "signature_invalid"),
        # not "approved": a refused result is stored under (sale, status) and would shadow it
        (pos_result(attempt["id"], "sent_to_terminal", 1000), POS_SECRET, 409, "amount_mismatch"),
        (b'{"sale_id": 1}', POS_SECRET, 400, "malformed"),
        (pos_result("att_" + "b" * 26), POS_SECRET, 404, "not_found"),
        (pos_result(attempt["id"]), POS_SECRET, 200, "applied"),
        (pos_result(attempt["id"]), POS_SECRET, 200, "duplicate"),
        (pos_result(attempt["id"], "declined"), POS_SECRET, 409, "terminal_not_busy"),
    ]
    for body, secret, status, code in ack_cases:
        response = await pos_callback(channels, body, secret)
        assert response.status == status, await response.text()
        answer = await assert_documented(document, "post", "/callbacks/pos", response)
        assert answer["outcome" if status == 200 else "code"] == code

    # Card money is refunded by finance staff, who then record the result.
    refunds = f"/v1/payments/{first['id']}/refunds"
    created = await post(channels, refunds, json={"amount": 185000, "reason": "Hồ sơ bị từ chối"})
    assert created.status == 201
    refund = await assert_documented(document, "post", "/v1/payments/{payment_id}/refunds", created)
    assert refund["status"] == "pending"
    completed = await post(
        channels,
        f"/v1/refunds/{refund['id']}/complete",
        "finance",
        json={"status": "succeeded", "provider_transaction_id": "RF-001", "reason": "Sao kê"},
    )
    assert completed.status == 202
    proposal = await assert_documented(
        document, "post", "/v1/refunds/{refund_id}/complete", completed
    )
    assert proposal["status"] == "proposed"
    again = await post(
        channels, f"/v1/refunds/{refund['id']}/complete", "finance", json={"status": "failed"}
    )
    assert again.status == 409
    await assert_documented(document, "post", "/v1/refunds/{refund_id}/complete", again)
    fetched = await get(channels, f"/v1/refunds/{refund['id']}", "finance")
    waiting = await assert_documented(document, "get", "/v1/refunds/{refund_id}", fetched)
    assert [r["status"] for r in waiting["resolutions"]] == ["proposed"]
    decide = f"/v1/refunds/{refund['id']}/resolutions/{proposal['id']}"
    not_a_checker = await post(channels, f"{decide}/approve", "finance")
    assert not_a_checker.status == 403
    await assert_documented(
        document,
        "post",
        "/v1/refunds/{refund_id}/resolutions/{resolution_id}/approve",
        not_a_checker,
    )
    approved = await post(channels, f"{decide}/approve", "approver")
    assert approved.status == 200, await approved.text()
    done = await assert_documented(
        document, "post", "/v1/refunds/{refund_id}/resolutions/{resolution_id}/approve", approved
    )
    assert done["status"] == "succeeded"
    assert [r["status"] for r in done["resolutions"]] == ["approved"]
    rejected = await post(channels, f"{decide}/reject", "approver", json={"reason": "Trễ"})
    assert rejected.status == 409
    await assert_documented(
        document, "post", "/v1/refunds/{refund_id}/resolutions/{resolution_id}/reject", rejected
    )


async def test_card_attempt_cancel_matches_its_schema(channels: Channels) -> None:
    document = await served_document(channels)
    await no_card_comes(channels)
    payment = await channels.create_payment()
    status, attempt = await channels.attempt(payment["id"], method="pos", terminal_id="T-HCM-1")
    assert status == 201
    cancel = await post(channels, f"/v1/payments/{payment['id']}/attempts/{attempt['id']}/cancel")
    assert cancel.status == 202
    path = "/v1/payments/{payment_id}/attempts/{attempt_id}/cancel"
    assert (await assert_documented(document, "post", path, cancel))["id"] == attempt["id"]
    await channels.pos.app[BACKGROUND].wait()  # the cloud reports the cancelled sale
    cancelled = await get(channels, f"/v1/payments/{payment['id']}/attempts/{attempt['id']}")
    assert (await cancelled.json())["status"] == "cancelled"


async def test_vnpay_callbacks_and_the_checkout_button_match_their_schemas(
    channels: Channels,
) -> None:
    document = await served_document(channels)
    payment = await channels.create_payment()
    button = await channels.client.post(f"/pay/{payment['id']}/vnpay", allow_redirects=False)
    assert button.status == 303
    await assert_documented(document, "post", "/pay/{payment_id}/vnpay", button)
    assert button.headers["Location"].startswith(str(channels.vnpay.make_url("/paymentv2/")))
    listing = await (await get(channels, f"/v1/payments/{payment['id']}/attempts")).json()
    [attempt] = [a for a in listing["data"] if a["method"] == "vnpay"]
    unknown = await channels.client.post(f"/pay/{UNKNOWN_PAYMENT}/vnpay", allow_redirects=False)
    assert (unknown.status, unknown.headers["Location"]) == (303, f"/pay/{UNKNOWN_PAYMENT}")

    cases = [
        (vnpay_ipn(attempt, secret="guessed"), "97"),
        (vnpay_ipn(attempt, vnp_Amount="<drop>"), "99"),
        (vnpay_ipn(attempt, vnp_TxnRef="NOSUCHREF"), "01"),
        (vnpay_ipn(attempt), "00"),
        (vnpay_ipn(attempt, vnp_TransactionNo="14422575"), "02"),
        # Last: money of another amount is applied (put up for review), not only refused.
        (vnpay_ipn(attempt, vnp_Amount=str((attempt["amount"] - 1000) * 100)), "04"),
    ]
    for params, rsp_code in cases:
        response = await channels.client.get("/callbacks/vnpay/ipn", params=params)
        answer = await assert_documented(document, "get", "/callbacks/vnpay/ipn", response)
        assert answer["RspCode"] == rsp_code

    back = await channels.client.get(
        "/callbacks/vnpay/return", params=vnpay_ipn(attempt), allow_redirects=False
    )
    assert (back.status, back.headers["Location"]) == (303, f"/pay/{payment['id']}")
    await assert_documented(document, "get", "/callbacks/vnpay/return", back)
    forged = {**vnpay_ipn(attempt), "vnp_Amount": "1"}
    bad = await channels.client.get("/callbacks/vnpay/return", params=forged, allow_redirects=False)
    assert bad.status == 400
    assert "<html" in await assert_documented(document, "get", "/callbacks/vnpay/return", bad)


# -- postal orders and VNPost's pushes: through the sandbox VNPost -----------------------------

POSTAL = "/v1/postal/orders"
ONE_ORDER = f"{POSTAL}/{{order_id}}"


def test_documented_order_statuses_are_the_ones_an_order_can_have() -> None:
    from gateway.api.openapi import document

    schemas = document()["components"]["schemas"]
    assert set(schemas["PostalOrder"]["properties"]["status"]["enum"]) == ORDER_STATUSES


def unknown_range_phone() -> str:
    """A mobile-shaped number the phone metadata does not know (booked with a warning)."""
    for national in ["0502345678", "0552345678", "0742345678", "0802345678", "0992345678"]:
        if not phonenumbers.is_valid_number(phonenumbers.parse(national, "VN")):
            return national
    pytest.fail("every candidate range is now known to phonenumbers; add new candidates")


async def book(postal: Postal, key: str | None = None, **overrides: Any) -> Any:
    headers = {**postal.auth(), "Idempotency-Key": key or uuid.uuid4().hex}
    return await postal.client.post(POSTAL, json=order_body(**overrides), headers=headers)


async def postal_events(postal: Postal) -> list[dict[str, Any]]:
    """The body of every event about a postal order."""
    async with postal.client.app[DATABASE].read() as conn:
        bodies = await conn.execute(
            select(outbox_events.c.body)
            .where(outbox_events.c.postal_order_id.is_not(None))
            .order_by(outbox_events.c.created_at, outbox_events.c.sequence)
        )
        return [json.loads(body) for body in bodies.scalars()]


async def test_postal_order_responses_and_events_match_their_schemas(postal: Postal) -> None:
    document = await served_document(postal)
    payment = await postal.create_payment(expires_in_seconds=7 * 24 * 3600)
    key = uuid.uuid4().hex
    cod = {"payment_id": payment["id"], "cod_amount": payment["amount"]}
    recipient = {**CITIZEN_PARTY, "phone": unknown_range_phone()}
    created = await book(postal, key, recipient=recipient, **cod)
    assert created.status == 201, await created.text()
    order = await assert_documented(document, "post", POSTAL, created)
    assert (order["status"], order["cod_amount"]) == ("created", payment["amount"])
    assert order["warnings"] == [{"field": "recipient.phone", "code": "unknown_range"}]
    replay = await book(postal, key, recipient=recipient, **cod)
    assert (replay.status, replay.headers.get("Idempotent-Replayed")) == (201, "true")
    replayed = await assert_documented(document, "post", POSTAL, replay)
    assert (replayed["id"], replayed["warnings"]) == (order["id"], order["warnings"])

    unknown_ward = {**CITIZEN_PARTY["address"], "ward_code": "99999"}
    refusals: list[tuple[dict[str, Any], int, str, list[tuple[str, str]]]] = [
        ({"key": key}, 409, "idempotency_key_reused", []),
        ({}, 409, "postal_order_active", []),
        (
            {"recipient": {**CITIZEN_PARTY, "address": unknown_ward}},
            422,
            "validation_failed",
            [("recipient.address.ward_code", "unknown_ward")],
        ),
        (
            {"leg": "pickup", "cod_amount": 50_000},
            422,
            "validation_failed",
            [("cod_amount", "cod_on_pickup")],
        ),
    ]
    for overrides, status, code, errors in refusals:
        response = await book(postal, **overrides)
        assert response.status == status, await response.text()
        problem = await assert_documented(document, "post", POSTAL, response)
        assert problem["code"] == code
        assert [(e["field"], e["code"]) for e in problem.get("errors", [])] == errors

    window = {"start": "2026-11-23T01:00:00Z", "end": "2026-11-23T04:00:00Z"}
    pickup = await assert_documented(
        document, "post", POSTAL, await book(postal, leg="pickup", pickup_window=window)
    )
    assert pickup["pickup_window"] is not None and pickup["tracking_number"]
    async with postal.client.session.post(
        postal.carrier.make_url("/sandbox/faults"), json={"create": ["unavailable"]}
    ) as faults:
        assert faults.status == 200
    unreachable = await book(postal, dossier_code="000.00.12.H29-241122-0009")
    waiting = await assert_documented(document, "post", POSTAL, unreachable)
    assert (waiting["status"], waiting["tracking_number"]) == ("submitting", None)
    assert waiting["last_error"]

    # The delivery goes its way; COD collected pays the payment once read back from VNPost.
    for code in (6, 12, 14, 21):  # picked up, out for delivery, delivered, COD paid out
        postal.clock.advance(minutes=30)
        await postal.advance(order["tracking_number"], code)
    assert await postal.sync_due() == 1
    fetched = await postal.client.get(f"{POSTAL}/{order['id']}", headers=postal.auth())
    delivered = await assert_documented(document, "get", ONE_ORDER, fetched)
    assert (delivered["status"], delivered["cod_collected"]) == ("delivered", payment["amount"])
    assert {e["source"] for e in delivered["events"]} == {"gateway", "vnpost"}
    attempts = await postal.client.get(
        f"/v1/payments/{payment['id']}/attempts", headers=postal.auth()
    )
    listing = await assert_documented(
        document, "get", "/v1/payments/{payment_id}/attempts", attempts
    )
    assert "cod" in {attempt["method"] for attempt in listing["data"]}

    first = await postal.client.get(POSTAL, params={"limit": "2"}, headers=postal.auth())
    page = await assert_documented(document, "get", POSTAL, first)
    assert len(page["data"]) == 2 and page["next_cursor"]
    rest = await postal.client.get(
        POSTAL, params={"cursor": page["next_cursor"]}, headers=postal.auth()
    )
    last = await assert_documented(document, "get", POSTAL, rest)
    assert len(last["data"]) == 1 and last["next_cursor"] is None
    listed = {o["id"] for o in page["data"] + last["data"]}
    assert listed == {order["id"], pickup["id"], waiting["id"]}
    by_status = await postal.client.get(
        POSTAL,
        params={"status": "submitting", "dossier_code": waiting["dossier_code"]},
        headers=postal.auth(),
    )
    filtered = await assert_documented(document, "get", POSTAL, by_status)
    assert [o["id"] for o in filtered["data"]] == [waiting["id"]]

    cancel = f"{ONE_ORDER}/cancel"
    cancelled = await postal.client.post(f"{POSTAL}/{pickup['id']}/cancel", headers=postal.auth())
    assert cancelled.status == 200, await cancelled.text()
    view = await assert_documented(document, "post", cancel, cancelled)
    assert (view["status"], view["cancel_state"]) == ("cancelled", "confirmed")
    too_late = await postal.client.post(f"{POSTAL}/{order['id']}/cancel", headers=postal.auth())
    problem = await assert_documented(document, "post", cancel, too_late)
    assert too_late.status == 409
    assert (problem["code"], problem["current"]) == ("not_cancellable", "delivered")

    # Every event went out as `webhooks` documents it for its type.
    events = await postal_events(postal)
    for event in events:
        parts = ("webhooks", event["type"], "post", "requestBody", "content", "application/json")
        assert schema_errors(document, (*parts, "schema"), event) == [], event["type"]
    assert {event["type"] for event in events} == {
        "postal.order.created",
        "postal.order.updated",
        "postal.order.picked_up",
        "postal.order.delivered",
        "postal.order.cancelled",
    }
    [event] = [e for e in events if e["type"] == "postal.order.cancelled"]
    shown = await postal.client.get(f"/v1/events/{event['id']}", headers=postal.auth())
    view = await assert_documented(document, "get", "/v1/events/{event_id}", shown)
    assert view["event"] == event


def vnpost_push(
    item_code: str, code: int, at: datetime, key: str = VNPOST_WEBHOOK_KEY
) -> tuple[bytes, dict[str, str]]:
    """A status push as VNPost sends it, signed with ``key``."""
    time = vnpost_wire.format_time(at)
    body = vnpost_wire.encode_json(
        {
            "item_code": item_code,
            "status": code,
            "time": time,
            "location": "Bưu cục Sài Gòn",
            "note": "",
        }
    )
    signature = vnpost_wire.webhook_signature(key.encode(), item_code, code, time)
    return body, {"Content-Type": "application/json", vnpost_wire.SIGNATURE_HEADER: signature}


async def test_vnpost_push_answers_match_their_schemas(postal: Postal) -> None:
    document = await served_document(postal)
    order = await postal.book()
    item = order["tracking_number"]
    booked_at = postal.clock()
    postal.clock.advance(minutes=10)
    now = postal.clock()
    cases = [
        ("/callbacks/vnpost", vnpost_push(item, 2, now), 200, "applied"),
        ("/callbacks/vnpost/{secret}", vnpost_push(item, 2, now), 200, "duplicate"),
        ("/callbacks/vnpost", vnpost_push(item, 1, booked_at), 200, "stored"),
        ("/callbacks/vnpost", vnpost_push(item, 14, now), 200, "deferred"),
        ("/callbacks/vnpost", vnpost_push(item, 27, now), 200, "unknown_code"),
        ("/callbacks/vnpost", vnpost_push("EE000000000VN", 2, now), 200, "unknown_order"),
        ("/callbacks/vnpost", vnpost_push(item, 3, now, key="guessed"), 401, "callback_rejected"),
    ]
    for path, (body, headers), status, outcome in cases:
        url = path.replace("{secret}", "any-segment")  # no callback secret configured here
        response = await postal.client.post(url, data=body, headers=headers)
        assert response.status == status, await response.text()
        answer = await assert_documented(document, "post", path, response)
        assert answer["outcome" if status == 200 else "code"] == outcome
        if status == 200:
            assert answer["status"] == "accepted"
            parts = ("paths", path, "post", "requestBody", "content", "application/json", "schema")
            assert schema_errors(document, parts, json.loads(body)) == []

    _, headers = vnpost_push(item, 3, now)
    malformed = await postal.client.post("/callbacks/vnpost", data=b"not json", headers=headers)
    assert malformed.status == 400
    problem = await assert_documented(document, "post", "/callbacks/vnpost", malformed)
    assert problem["code"] == "callback_malformed"
    view = await postal.order(order["id"])
    assert view["status"] == "pickup_assigned"
    assert [(e["carrier_code"], e["applied"]) for e in view["events"]] == [
        (None, True),
        (2, True),
        (1, False),
        (27, False),
    ]


# -- the postal operators' API -----------------------------------------------------------------

OPERATOR = "/v1/operator/orders"
OPERATOR_ORDER = f"{OPERATOR}/{{order_id}}"


async def operator_call(
    postal: Postal,
    document: dict[str, Any],
    method: str,
    path: str,
    order_id: str | None = None,
    who: str = "operator",
    **kwargs: Any,
) -> tuple[int, Any, Any]:
    """Call the operator API as ``who`` and check the answer against what is documented for
    ``method path``; return the status, the body and the headers."""
    url = path.replace("{order_id}", order_id or "")
    headers = {**postal.auth(who), **kwargs.pop("headers", {})}
    response = await postal.client.request(method, url, headers=headers, **kwargs)
    body = await assert_documented(document, method, path, response)
    return response.status, body, response.headers


async def test_operator_feed_order_and_accept_match_their_schemas(postal: Postal) -> None:
    document = await served_document(postal)
    pickup = await postal.book(leg="pickup")
    postal.clock.advance(seconds=1)
    delivery = await postal.book()
    await postal.book(who="other", agency_code="HN")  # another office's: never in this feed

    status, first, _ = await operator_call(postal, document, "get", OPERATOR, params={"limit": "1"})
    assert (status, [o["id"] for o in first["data"]], first["has_more"]) == (
        200,
        [pickup["id"]],
        True,
    )
    order = first["data"][0]
    assert order["recipient"]["address"]["street"] and order["recipient"]["phone"].startswith("+84")
    assert (order["post_office"]["code"], order["handovers"], order["accepted_by"]) == (
        "BC-HCM",
        [],
        None,
    )
    _, rest, _ = await operator_call(
        postal, document, "get", OPERATOR, params={"cursor": first["next_cursor"]}
    )
    assert ([o["id"] for o in rest["data"]], rest["has_more"]) == ([delivery["id"]], False)
    _, quiet, _ = await operator_call(
        postal, document, "get", OPERATOR, params={"cursor": rest["next_cursor"]}
    )
    assert (quiet["data"], quiet["next_cursor"]) == ([], rest["next_cursor"])

    postal.clock.advance(minutes=1)
    accept = f"{OPERATOR_ORDER}/accept"
    status, accepted, _ = await operator_call(postal, document, "post", accept, pickup["id"])
    assert (status, accepted["accepted_at"], accepted["accepted_by"]) == (
        200,
        "2026-11-22T02:01:01Z",
        "operator",  # the client's name
    )
    assert accepted["events"] and accepted["handovers"] == []
    status, again, _ = await operator_call(postal, document, "post", accept, pickup["id"])
    assert (status, again["accepted_at"]) == (200, accepted["accepted_at"])
    _, changed, _ = await operator_call(
        postal, document, "get", OPERATOR, params={"cursor": quiet["next_cursor"]}
    )
    assert [(o["id"], o["accepted_by"]) for o in changed["data"]] == [(pickup["id"], "operator")]

    # The portal sees the acceptance too, in its view and in the webhook.
    portal_view = await postal.client.get(f"{POSTAL}/{pickup['id']}", headers=postal.auth())
    shown = await assert_documented(document, "get", ONE_ORDER, portal_view)
    assert shown["accepted_at"] == accepted["accepted_at"]
    events = await postal_events(postal)
    for event in events:
        parts = ("webhooks", event["type"], "post", "requestBody", "content", "application/json")
        assert schema_errors(document, (*parts, "schema"), event) == [], event["type"]
    assert [e["type"] for e in events if e["data"]["postal_order"]["id"] == pickup["id"]] == [
        "postal.order.created",
        "postal.order.updated",
    ]

    problems = [
        ("get", OPERATOR_ORDER, pickup["id"], "operator_hn", {}, 404, "not_found"),
        ("post", accept, pickup["id"], "operator_hn", {}, 404, "not_found"),
        ("get", OPERATOR, None, "operator", {"params": {"cursor": "bogus"}}, 400, "invalid_cursor"),
        ("get", OPERATOR, None, "operator", {"params": {"limit": "101"}}, 422, "validation_failed"),
        ("get", OPERATOR, None, "portal", {}, 403, "forbidden"),
    ]
    for method, path, order_id, who, kwargs, expected, code in problems:
        status, problem, _ = await operator_call(
            postal, document, method, path, order_id, who, **kwargs
        )
        assert (status, problem["code"]) == (expected, code), f"{method} {path} as {who}"


async def test_operator_events_and_handovers_match_their_schemas(postal: Postal) -> None:
    document = await served_document(postal)
    pickup = await postal.book(leg="pickup")
    events_path = f"{OPERATOR_ORDER}/events"
    handovers_path = f"{OPERATOR_ORDER}/handovers"

    # An event: new (201), sent again (200, replayed), older than the status (stored only).
    postal.clock.advance(minutes=10)
    event = {
        "event_id": "ev-1",
        "status": "pickup_assigned",
        "occurred_at": postal.clock().isoformat(),
        "location": "Bưu cục Sài Gòn",
        "note": "Bưu tá Trần Văn Bình",
    }
    parts = ("paths", events_path, "post", "requestBody", "content", "application/json", "schema")
    assert schema_errors(document, parts, event) == []
    status, reported, _ = await operator_call(
        postal, document, "post", events_path, pickup["id"], json=event
    )
    assert (status, reported["event_id"], reported["applied"]) == (201, "ev-1", True)
    assert reported["event"]["source"] == "operator"
    assert reported["order"]["status"] == "pickup_assigned"
    postal.clock.advance(minutes=1)
    status, replayed, headers = await operator_call(
        postal, document, "post", events_path, pickup["id"], json=event
    )
    assert (status, headers.get("Idempotent-Replayed")) == (200, "true")
    assert replayed["event"] == reported["event"]
    # Between the booking (09:00 in Hà Nội) and the status (09:10): kept as history only.
    older = {**event, "event_id": "ev-0", "occurred_at": "2026-11-22T09:05:00+07:00"}
    status, stored, _ = await operator_call(
        postal, document, "post", events_path, pickup["id"], json=older
    )
    assert (status, stored["applied"], stored["order"]["status"]) == (
        201,
        False,
        "pickup_assigned",
    )

    # A handover: the identity number sealed, only its masked copy shown.
    postal.clock.advance(minutes=20)
    collected = handover_body(postal, "collected")
    parts = ("paths", handovers_path, "post", "requestBody", "content", "application/json")
    assert schema_errors(document, (*parts, "schema"), collected) == []
    status, recorded, _ = await operator_call(
        postal, document, "post", handovers_path, pickup["id"], json=collected
    )
    assert status == 201
    assert recorded["handover"]["identity"] == {
        "id_type": "cccd",
        "id_number_masked": "********1234",
    }
    assert recorded["order"]["status"] == "picked_up"
    assert ID_NUMBER not in json.dumps(recorded)

    status, detail, _ = await operator_call(postal, document, "get", OPERATOR_ORDER, pickup["id"])
    assert status == 200
    assert [h["id"] for h in detail["handovers"]] == [recorded["handover"]["id"]]
    assert [(e["source"], e["status"], e["applied"]) for e in detail["events"]][1:] == [
        ("operator", "pickup_assigned", True),
        ("operator", "pickup_assigned", False),
        ("operator", "picked_up", True),
    ]

    # A delivery collecting COD: the wrong amount is refused, the right one pays the bill.
    payment = await postal.create_payment(expires_in_seconds=604800)
    delivery = await postal.book(payment_id=payment["id"], cod_amount=payment["amount"])
    postal.clock.advance(minutes=30)
    taken = handover_body(postal, "collected", counterpart_role="agency_officer", identity=None)
    status, taken_answer, _ = await operator_call(
        postal, document, "post", handovers_path, delivery["id"], json=taken
    )
    assert (status, taken_answer["handover"]["identity"]) == (201, None)
    postal.clock.advance(hours=2)
    wrong = handover_body(postal, "delivered", cod_collected=payment["amount"] + 1000)
    status, problem, _ = await operator_call(
        postal, document, "post", handovers_path, delivery["id"], json=wrong
    )
    assert (status, problem["code"], problem["cod_amount"]) == (
        422,
        "cod_amount_mismatch",
        payment["amount"],
    )
    handed = handover_body(postal, "delivered", cod_collected=payment["amount"])
    status, delivered, _ = await operator_call(
        postal, document, "post", handovers_path, delivery["id"], json=handed
    )
    assert status == 201
    assert delivered["handover"]["cod_collected"] == payment["amount"]
    assert (delivered["order"]["status"], delivered["order"]["cod_collected"]) == (
        "delivered",
        payment["amount"],
    )
    status, again, headers = await operator_call(
        postal, document, "post", handovers_path, delivery["id"], json=handed
    )
    assert (status, headers.get("Idempotent-Replayed")) == (200, "true")
    assert again["handover"] == delivered["handover"]

    # The feed lists the handovers in short.
    _, feed, _ = await operator_call(postal, document, "get", OPERATOR)
    summaries = {o["id"]: o["handovers"] for o in feed["data"]}
    assert [h["kind"] for h in summaries[delivery["id"]]] == ["collected", "delivered"]

    # The portal's view and webhooks still match theirs.
    for order_id in (pickup["id"], delivery["id"]):
        portal_view = await postal.client.get(f"{POSTAL}/{order_id}", headers=postal.auth())
        await assert_documented(document, "get", ONE_ORDER, portal_view)
    for sent in await postal_events(postal):
        parts = ("webhooks", sent["type"], "post", "requestBody", "content", "application/json")
        assert schema_errors(document, (*parts, "schema"), sent) == [], sent["type"]

    accept = f"{OPERATOR_ORDER}/accept"
    status, problem, _ = await operator_call(postal, document, "post", accept, delivery["id"])
    assert (status, problem["code"], problem["current"]) == (
        409,
        "order_not_acceptable",
        "delivered",
    )
    malformed = {"data": b"{not json", "headers": {"Content-Type": "application/json"}}
    cod_on_pickup = handover_body(postal, "delivered", cod_collected=50_000)
    problems: list[tuple[str, dict[str, Any], int, str, str | None]] = [
        (events_path, {"json": {**event, "status": "picked_up"}}, 409, "duplicate_event", None),
        (
            events_path,
            {"json": {**event, "event_id": "handover:1"}},
            422,
            "validation_failed",
            "reserved",
        ),
        (
            events_path,
            {"json": {**event, "event_id": "ev-9", "occurred_at": "2026-11-23T00:00:00Z"}},
            422,
            "validation_failed",
            "in_future",
        ),
        (
            events_path,
            {"json": {**event, "event_id": "ev-10", "occurred_at": "2026-11-21T00:00:00Z"}},
            422,
            "validation_failed",
            "before_order",
        ),
        (events_path, {"json": {"event_id": "ev-8"}}, 422, "validation_failed", "required"),
        (
            handovers_path,
            {"json": {**collected, "seal_number": "NP-9"}},
            409,
            "duplicate_handover",
            None,
        ),
        (handovers_path, {"json": cod_on_pickup}, 422, "cod_not_expected", None),
        (handovers_path, malformed, 400, "malformed_json", None),
    ]
    for path, kwargs, expected, code, field_code in problems:
        status, problem, _ = await operator_call(
            postal, document, "post", path, pickup["id"], **kwargs
        )
        assert (status, problem["code"]) == (expected, code), f"{path}: {problem}"
        if field_code is not None:
            assert field_code in {e["code"] for e in problem["errors"]}, problem
