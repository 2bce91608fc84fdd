"""``/openapi.json``: a valid OpenAPI 3.1 document that lists exactly the routes the service
serves, and whose response schemas describe what the service really sends."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from aiohttp import web
from conftest import AGENCY_ACCOUNT, AGENCY_BIN, BANK_SECRET, Gateway, make_settings, payment_body
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.app import create_app
from providers.payment.vietqr import notice as wire

DOCUMENT_URI = "urn:gateway:openapi"
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


async def served_document(gateway: Gateway) -> dict[str, Any]:
    response = await gateway.client.get("/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    document: dict[str, Any] = await response.json()
    return document


def registered_operations(app: web.Application) -> set[tuple[str, str]]:
    operations = set()
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        path = resource.canonical
        if route.method == "HEAD" or path.startswith("/sandbox/"):
            continue
        operations.add((route.method.lower(), path))
    return operations


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


async def assert_documented(document: dict[str, Any], method: str, path: str, response: Any) -> Any:
    """Check ``response`` against the schema documented for ``method path`` and its status;
    ``$ref``s resolve against the document itself. Return the parsed body."""
    responses = document["paths"][path][method]["responses"]
    status = str(response.status)
    assert status in responses, f"{method.upper()} {path} → {status} is not documented"
    content = responses[status]["content"]
    assert response.content_type in content, (
        f"{method.upper()} {path} → {status} sent {response.content_type}, "
        f"documented {sorted(content)}"
    )
    body = await response.json(content_type=None)
    # Point into the document (rather than copy the schema out) so that relative
    # "#/components/schemas/..." references keep resolving against the whole document.
    pointer = _pointer(
        "paths", path, method, "responses", status, "content", response.content_type, "schema"
    )
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    validator = Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#/{pointer}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    errors = [
        f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(body)
    ]
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


def test_sandbox_routes_are_the_only_undocumented_ones(tmp_path: Any) -> None:
    # Sandbox mode mounts the sandbox bank under /sandbox/; everything else is still the API.
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
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    pointer = _pointer(
        "paths", "/v1/payments", "post", "requestBody", "content", "application/json", "schema"
    )
    validator = Draft202012Validator({"$ref": f"{DOCUMENT_URI}#/{pointer}"}, registry=registry)
    assert list(validator.iter_errors(payment_body())) == []
    assert list(validator.iter_errors(payment_body(surprise=1))) != []


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
    url = path.replace("{payment_id}", UNKNOWN_PAYMENT).replace("{bank}", "nosuchbank")
    headers = {"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"}
    if who is not None:
        headers.update(gateway.auth(who))
    if "json" in request_kwargs:
        del headers["Content-Type"]
    kwargs = dict(request_kwargs)  # shared by both database runs: do not consume it
    headers.update(kwargs.pop("headers", {}))
    response = await gateway.client.request(method, url, headers=headers, **kwargs)

    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = await assert_documented(document, method, path, response)
    assert body["code"] == code
    assert body["status"] == status
    if code == "validation_failed":
        assert body["errors"], "a validation problem names the fields"


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
