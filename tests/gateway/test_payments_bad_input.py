"""Bad input to POST /v1/payments: a clear problem with a stable code, and nothing created."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from conftest import Gateway, make_settings, payment_body, seed

from gateway.app import create_app


async def _post(
    gateway: Gateway,
    *,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    who: str = "portal",
) -> tuple[int, str, dict[str, Any]]:
    all_headers = {**gateway.auth(who), "Idempotency-Key": uuid.uuid4().hex}
    if raw is None:
        all_headers["Content-Type"] = "application/json"
        raw = json.dumps(body).encode()
    all_headers.update(headers or {})
    response = await gateway.client.post("/v1/payments", data=raw, headers=all_headers)
    return response.status, response.content_type, await response.json()


async def _nothing_created(gateway: Gateway) -> None:
    for who in ("portal", "other"):
        listing = await (await gateway.client.get("/v1/payments", headers=gateway.auth(who))).json()
        assert listing["data"] == []


def _item(**overrides: Any) -> dict[str, Any]:
    return {"kind": "fee", "description": "Phí thẩm định", "amount": 50000, **overrides}


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"items": [_item(amount=0)]}, "items.0.amount", "must_be_positive"),
        ({"items": [_item(amount=-5000)]}, "items.0.amount", "must_be_positive"),
        ({"items": [_item(amount=1500.5)]}, "items.0.amount", "not_integer"),
        ({"items": [_item(amount=1500.0)]}, "items.0.amount", "not_integer"),
        ({"items": [_item(amount="50000")]}, "items.0.amount", "not_integer"),
        ({"items": [_item(amount=True)]}, "items.0.amount", "not_integer"),
        ({"items": [_item(kind="tax")]}, "items.0.kind", "invalid_choice"),
        ({"items": []}, "items", "too_short"),
        ({"items": [_item()] * 51}, "items", "too_long"),
        ({"items": [_item(colour="red")]}, "items.0.colour", "unknown_field"),
        ({"surprise": 1}, "surprise", "unknown_field"),
        ({"payer": {}}, "payer.name", "required"),
        ({"dossier_code": ""}, "dossier_code", "too_short"),
        ({"payer": {"name": "An", "email": "not-an-email"}}, "payer.email", "invalid"),
        ({"return_url": "javascript:alert(1)"}, "return_url", "invalid_format"),
        ({"expires_in_seconds": 10}, "expires_in_seconds", "out_of_range"),
        ({"expires_in_seconds": 10**9}, "expires_in_seconds", "out_of_range"),
        ({"agency_code": "NOPE"}, "agency_code", "unknown_agency"),
        ({"dossier_code": "HS-2024-\u4e2d\u6587"}, "dossier_code", "unsupported_character"),
        (
            {"items": [_item(amount=600_000_000), _item(amount=600_000_000)]},
            "items",
            "amount_too_large",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_invalid_field_is_named_with_a_stable_code_and_nothing_is_created(
    gateway: Gateway, overrides: dict[str, Any], field: str, code: str
) -> None:
    body = payment_body(**overrides)
    body = {key: value for key, value in body.items() if value is not None}
    status, content_type, problem = await _post(gateway, body=body)

    assert status == 422
    assert content_type == "application/problem+json"
    assert problem["code"] == "validation_failed"
    assert {"field": field, "code": code} in [
        {"field": error["field"], "code": error["code"]} for error in problem["errors"]
    ]
    await _nothing_created(gateway)


async def test_missing_fields_are_all_listed(gateway: Gateway) -> None:
    status, _, problem = await _post(gateway, body={})
    assert status == 422
    missing = {error["field"] for error in problem["errors"] if error["code"] == "required"}
    assert missing == {"agency_code", "dossier_code", "payer", "items"}


@pytest.mark.parametrize(
    ("raw", "code", "status"),
    [
        (b'{"agency_code": "HCM",', "malformed_json", 400),
        (b"\xff\xfe not utf-8", "malformed_json", 400),
        (b"", "malformed_json", 400),
        (b"[1, 2, 3]", "validation_failed", 422),
    ],
)
async def test_body_that_is_not_a_json_object_is_refused(
    gateway: Gateway, raw: bytes, code: str, status: int
) -> None:
    got, content_type, problem = await _post(
        gateway, raw=raw, headers={"Content-Type": "application/json"}
    )
    assert (got, problem["code"]) == (status, code)
    assert content_type == "application/problem+json"
    await _nothing_created(gateway)


@pytest.mark.parametrize(
    "raw",
    [
        # PostgreSQL stores a NUL character neither in text nor in jsonb
        json.dumps(payment_body(procedure_name="Cấp đổi\u0000GPLX")).encode(),
        json.dumps(payment_body(items=[_item(description="Phí\u0000")])).encode(),
        json.dumps(payment_body(metadata={"note\u0000": "x"})).encode(),
        # nesting that would exhaust the parser's recursion
        b'{"metadata": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"metadata": {"a": ' + b'{"a": ' * 40 + b"1" + b"}" * 41 + b"}",
        # numbers Python reads but JSON has not, which PostgreSQL's json refuses written back
        json.dumps(payment_body(metadata={"rate": float("nan")})).encode(),
        json.dumps(payment_body(metadata={"rate": float("-inf")})).encode(),
        json.dumps(payment_body(metadata={"rate": 1}))[:-1].encode() + b', "big": 1e999}',
    ],
    ids=["nul-procedure", "nul-item", "nul-key", "deep-5000", "deep-42", "nan", "-inf", "1e999"],
)
async def test_a_nul_character_or_deep_nesting_is_malformed_json_on_every_database(
    gateway: Gateway, raw: bytes
) -> None:
    status, content_type, problem = await _post(
        gateway, raw=raw, headers={"Content-Type": "application/json"}
    )
    assert (status, problem["code"], content_type) == (
        400,
        "malformed_json",
        "application/problem+json",
    )
    await _nothing_created(gateway)


async def test_wrong_content_type_is_refused(gateway: Gateway) -> None:
    status, _, problem = await _post(
        gateway, raw=json.dumps(payment_body()).encode(), headers={"Content-Type": "text/plain"}
    )
    assert (status, problem["code"]) == (415, "unsupported_media_type")
    await _nothing_created(gateway)


async def test_oversized_body_is_refused(gateway: Gateway) -> None:
    body = payment_body(metadata={"blob": "x" * 70_000})
    status, _, problem = await _post(gateway, body=body)
    assert (status, problem["code"]) == (413, "payload_too_large")
    await _nothing_created(gateway)


async def test_metadata_over_4_kib_is_refused(gateway: Gateway) -> None:
    status, _, problem = await _post(gateway, body=payment_body(metadata={"x": "y" * 5000}))
    assert (status, problem["errors"][0]["field"]) == (422, "metadata")


async def test_missing_idempotency_key_is_refused(gateway: Gateway) -> None:
    response = await gateway.client.post(
        "/v1/payments", json=payment_body(), headers=gateway.auth()
    )
    problem = await response.json()
    assert response.status == 422
    assert problem["errors"][0] == {
        "field": "Idempotency-Key",
        "code": "required",
        "message": "this POST needs an Idempotency-Key header",
    }
    await _nothing_created(gateway)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-key",
        "Bearer gw_aaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    ],
)
async def test_missing_or_bad_api_key_is_unauthenticated(
    gateway: Gateway, authorization: str | None
) -> None:
    headers = {"Idempotency-Key": "k"}
    if authorization:
        headers["Authorization"] = authorization
    response = await gateway.client.post("/v1/payments", json=payment_body(), headers=headers)
    assert response.status == 401
    assert (await response.json())["code"] == "unauthenticated"
    await _nothing_created(gateway)


async def test_key_with_a_wrong_secret_part_is_unauthenticated(gateway: Gateway) -> None:
    real = gateway.keys["portal"]
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    response = await gateway.client.get(
        "/v1/payments", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status == 401


async def test_agency_outside_the_keys_scope_is_forbidden(gateway: Gateway) -> None:
    status, _, problem = await _post(gateway, body=payment_body(agency_code="HN"))
    assert (status, problem["code"]) == (403, "agency_not_in_scope")
    await _nothing_created(gateway)


async def test_finance_role_cannot_create_payments(gateway: Gateway) -> None:
    status, _, problem = await _post(gateway, body=payment_body(), who="finance")
    assert (status, problem["code"]) == (403, "forbidden")
    await _nothing_created(gateway)


async def test_lowered_maximum_amount_is_enforced(
    aiohttp_client: Any, database_url: str, clock: Any
) -> None:
    app = create_app(
        make_settings(database_url, payments={"max_amount": 100_000}), clock=clock, background=False
    )
    client = await aiohttp_client(app)
    gateway = Gateway(client=client, clock=clock, keys=await seed(client))
    status, _, problem = await _post(gateway, body=payment_body())
    assert (status, problem["errors"][0]["code"]) == (422, "amount_too_large")
    await _nothing_created(gateway)
