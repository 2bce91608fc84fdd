"""Bad bookings and cancellations: each gets a clear error with a stable code, and nothing is
created or changed."""

from __future__ import annotations

import uuid
from typing import Any

import phonenumbers
import pytest
from conftest import CITIZEN_PARTY, order_body
from sqlalchemy import func, select

from gateway.core.db.schema import postal_orders
from gateway.keys import DATABASE


async def post(postal: Any, body: Any, who: str = "portal") -> tuple[int, Any]:
    response = await postal.client.post(
        "/v1/postal/orders",
        json=body,
        headers={**postal.auth(who), "Idempotency-Key": uuid.uuid4().hex},
    )
    return response.status, await response.json()


async def order_count(postal: Any) -> int:
    async with postal.client.app[DATABASE].read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(postal_orders))).scalar_one()
        )


def with_recipient_address(**address: str) -> dict[str, Any]:
    recipient = {**CITIZEN_PARTY, "address": {**CITIZEN_PARTY["address"], **address}}
    return order_body(recipient=recipient)


def codes(problem: Any) -> set[tuple[str, str]]:
    return {(error["field"], error["code"]) for error in problem["errors"]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            with_recipient_address(province_code="99"),
            ("recipient.address.province_code", "unknown_province"),
        ),
        (
            with_recipient_address(ward_code="99999"),
            ("recipient.address.ward_code", "unknown_ward"),
        ),
        (
            # Phường Hoàn Kiếm lies in Hà Nội, not in Hồ Chí Minh City.
            with_recipient_address(ward_code="00070"),
            ("recipient.address.ward_code", "ward_not_in_province"),
        ),
        (
            order_body(recipient={**CITIZEN_PARTY, "phone": "12345"}),
            ("recipient.phone", "invalid_phone"),
        ),
        (
            order_body(recipient={**CITIZEN_PARTY, "phone": "+1 202 555 0143"}),
            ("recipient.phone", "invalid_phone"),
        ),
        (order_body(leg="pickup", cod_amount=50_000), ("cod_amount", "cod_on_pickup")),
        (order_body(cod_amount=-1), ("cod_amount", "out_of_range")),
        (order_body(cod_amount=5_000_001), ("cod_amount", "cod_too_large")),
        (order_body(cod_amount=135000.5), ("cod_amount", "not_integer")),
        (order_body(payment_id="pay_doesnotexist"), ("payment_id", "unknown_payment")),
        (
            order_body(
                pickup_window={
                    "start": "2026-11-23T08:00:00+07:00",
                    "end": "2026-11-23T11:00:00+07:00",
                }
            ),
            ("pickup_window", "not_allowed"),
        ),
        (
            order_body(
                leg="pickup",
                pickup_window={
                    "start": "2026-11-23T11:00:00+07:00",
                    "end": "2026-11-23T08:00:00+07:00",
                },
            ),
            ("pickup_window.end", "invalid"),
        ),
    ],
)
async def test_a_bad_booking_is_refused_with_its_code_and_creates_nothing(
    postal: Any, body: Any, expected: tuple[str, str]
) -> None:
    status, problem = await post(postal, body)
    assert status == 422, problem
    assert expected in codes(problem)
    assert await order_count(postal) == 0


async def test_malformed_json_is_refused(postal: Any) -> None:
    response = await postal.client.post(
        "/v1/postal/orders",
        data=b'{"leg": "delivery",',
        headers={
            **postal.auth(),
            "Idempotency-Key": uuid.uuid4().hex,
            "Content-Type": "application/json",
        },
    )
    assert response.status == 400
    assert (await response.json())["code"] == "malformed_json"
    assert await order_count(postal) == 0


async def test_an_agency_outside_the_keys_scope_is_forbidden(postal: Any) -> None:
    status, problem = await post(postal, order_body(), who="other")
    assert (status, problem["code"]) == (403, "agency_not_in_scope")
    assert await order_count(postal) == 0


async def test_another_portal_cannot_read_the_order(postal: Any) -> None:
    order = await postal.book()
    response = await postal.client.get(
        f"/v1/postal/orders/{order['id']}", headers=postal.auth("other")
    )
    assert response.status == 404


async def test_a_mobile_number_in_an_unknown_range_is_booked_with_a_warning(
    postal: Any,
) -> None:
    for national in ["0502345678", "0552345678", "0742345678", "0802345678", "0992345678"]:
        if not phonenumbers.is_valid_number(phonenumbers.parse(national, "VN")):
            break
    else:
        pytest.fail("every candidate range is now known to phonenumbers; add new candidates")
    order = await postal.book(recipient={**CITIZEN_PARTY, "phone": national})
    assert order["warnings"] == [{"field": "recipient.phone", "code": "unknown_range"}]


async def test_a_second_live_order_for_the_same_dossier_and_leg_is_refused(postal: Any) -> None:
    await postal.book()
    status, problem = await post(postal, order_body())
    assert (status, problem["code"]) == (409, "postal_order_active")
    assert await order_count(postal) == 1


async def test_the_same_idempotency_key_answers_the_same_order(postal: Any) -> None:
    headers = {**postal.auth(), "Idempotency-Key": "book-1"}
    first = await postal.client.post("/v1/postal/orders", json=order_body(), headers=headers)
    again = await postal.client.post("/v1/postal/orders", json=order_body(), headers=headers)
    assert (first.status, again.status) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert (await first.json())["id"] == (await again.json())["id"]
    assert await order_count(postal) == 1


async def test_cancel_after_pickup_is_refused_and_changes_nothing(postal: Any) -> None:
    order = await postal.book()
    postal.clock.advance(minutes=5)
    await postal.advance(order["tracking_number"], 6)
    response = await postal.client.post(
        f"/v1/postal/orders/{order['id']}/cancel", headers=postal.auth()
    )
    assert response.status == 409
    assert (await response.json())["code"] == "not_cancellable"
    view = await postal.order(order["id"])
    assert (view["status"], view["cancel_state"]) == ("picked_up", None)


async def test_an_unknown_status_filter_is_refused(postal: Any) -> None:
    response = await postal.client.get("/v1/postal/orders?status=teleported", headers=postal.auth())
    assert response.status == 422


async def test_an_oversized_booking_is_refused_and_creates_nothing(postal: Any) -> None:
    status, problem = await post(postal, order_body(note="x" * 70_000))
    assert (status, problem["code"]) == (413, "payload_too_large")
    assert await order_count(postal) == 0
