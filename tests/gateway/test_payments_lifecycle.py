"""Reading, listing, cancelling and expiring payments."""

from __future__ import annotations

from conftest import Gateway

from gateway.keys import PAYMENTS


async def test_another_agencys_client_cannot_see_the_payment(gateway: Gateway) -> None:
    payment = await gateway.create_payment()
    response = await gateway.client.get(
        f"/v1/payments/{payment['id']}", headers=gateway.auth("other")
    )
    assert response.status == 404
    assert (await response.json())["code"] == "not_found"
    listing = await (await gateway.client.get("/v1/payments", headers=gateway.auth("other"))).json()
    assert listing["data"] == []


async def test_unknown_payment_is_not_found(gateway: Gateway) -> None:
    response = await gateway.client.get("/v1/payments/pay_nope", headers=gateway.auth())
    assert response.status == 404


async def test_list_pages_through_every_payment_newest_first_without_repeats(
    gateway: Gateway,
) -> None:
    created = []
    for _ in range(7):
        created.append((await gateway.create_payment())["id"])
        gateway.clock.advance(seconds=1)
    # Two payments at the same instant must still page deterministically.
    created.append((await gateway.create_payment())["id"])
    created.append((await gateway.create_payment())["id"])

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "4", **({"cursor": cursor} if cursor else {})}
        page = await (
            await gateway.client.get("/v1/payments", params=query, headers=gateway.auth())
        ).json()
        seen += [payment["id"] for payment in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(created) and len(seen) == len(set(seen))
    assert seen[-1] in created[:1]  # the oldest comes last


async def test_list_filters_by_dossier_status_and_time(gateway: Gateway) -> None:
    first = await gateway.create_payment(dossier_code="HS-A")
    gateway.clock.advance(minutes=5)
    second = await gateway.create_payment(dossier_code="HS-B")
    await gateway.client.post(f"/v1/payments/{second['id']}/cancel", headers=gateway.auth())

    async def ids(**params: str) -> list[str]:
        page = await (
            await gateway.client.get("/v1/payments", params=params, headers=gateway.auth())
        ).json()
        return [payment["id"] for payment in page["data"]]

    assert await ids(dossier_code="HS-A") == [first["id"]]
    assert await ids(status="cancelled") == [second["id"]]
    assert await ids(created_from="2026-11-22T02:03:00Z") == [second["id"]]
    assert await ids(created_to="2026-11-22T02:03:00+00:00") == [first["id"]]


async def test_list_refuses_bad_filters(gateway: Gateway) -> None:
    for params, field in (
        ({"status": "lost"}, "status"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"created_to": "2026-11-22T00:00:00"}, "created_to"),  # no offset
        ({"limit": "0"}, "limit"),
        ({"limit": "1000"}, "limit"),
    ):
        response = await gateway.client.get("/v1/payments", params=params, headers=gateway.auth())
        problem = await response.json()
        assert response.status == 422, params
        assert problem["errors"][0]["field"] == field
    response = await gateway.client.get(
        "/v1/payments", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=gateway.auth()
    )
    assert (response.status, (await response.json())["code"]) == (400, "invalid_cursor")


async def test_pending_payment_can_be_cancelled_once(gateway: Gateway) -> None:
    payment = await gateway.create_payment()
    url = f"/v1/payments/{payment['id']}/cancel"
    response = await gateway.client.post(url, headers=gateway.auth())
    assert response.status == 200
    assert (await response.json())["status"] == "cancelled"
    again = await gateway.client.post(url, headers=gateway.auth())
    assert again.status == 200
    assert (await again.json())["status"] == "cancelled"


async def test_expired_payment_cannot_be_cancelled(gateway: Gateway) -> None:
    payment = await gateway.create_payment()
    gateway.clock.advance(minutes=16)
    response = await gateway.client.post(
        f"/v1/payments/{payment['id']}/cancel", headers=gateway.auth()
    )
    problem = await response.json()
    assert response.status == 409
    assert (problem["code"], problem["current"], problem["requested"]) == (
        "invalid_transition",
        "expired",
        "cancelled",
    )


async def test_other_agency_cannot_cancel(gateway: Gateway) -> None:
    payment = await gateway.create_payment()
    response = await gateway.client.post(
        f"/v1/payments/{payment['id']}/cancel", headers=gateway.auth("other")
    )
    assert response.status == 404
    mine = await gateway.client.get(f"/v1/payments/{payment['id']}", headers=gateway.auth())
    assert (await mine.json())["status"] == "pending"


async def test_pending_payment_is_expired_on_read_after_its_deadline(gateway: Gateway) -> None:
    payment = await gateway.create_payment()
    gateway.clock.advance(minutes=14, seconds=59)
    before = await gateway.client.get(f"/v1/payments/{payment['id']}", headers=gateway.auth())
    assert (await before.json())["status"] == "pending"
    gateway.clock.advance(seconds=1)
    after = await gateway.client.get(f"/v1/payments/{payment['id']}", headers=gateway.auth())
    assert (await after.json())["status"] == "expired"


async def test_expiry_sweep_expires_only_overdue_pending_payments(gateway: Gateway) -> None:
    short = await gateway.create_payment(expires_in_seconds=60)
    long = await gateway.create_payment(expires_in_seconds=3600)
    cancelled = await gateway.create_payment(expires_in_seconds=60)
    await gateway.client.post(f"/v1/payments/{cancelled['id']}/cancel", headers=gateway.auth())
    gateway.clock.advance(minutes=2)

    expired = await gateway.client.app[PAYMENTS].expire_due()

    assert expired == 1
    statuses = {}
    for payment in (short, long, cancelled):
        response = await gateway.client.get(f"/v1/payments/{payment['id']}", headers=gateway.auth())
        statuses[payment["id"]] = (await response.json())["status"]
    assert statuses == {short["id"]: "expired", long["id"]: "pending", cancelled["id"]: "cancelled"}
    assert await gateway.client.app[PAYMENTS].expire_due() == 0


async def test_bad_list_filters_have_stable_field_codes(gateway: Gateway) -> None:
    for params, code in (
        ({"status": "lost"}, "invalid_choice"),
        ({"created_from": "yesterday"}, "invalid_format"),
        ({"created_to": "2026-11-22T00:00:00"}, "invalid_format"),
        ({"limit": "0"}, "out_of_range"),
        ({"limit": "abc"}, "out_of_range"),
    ):
        response = await gateway.client.get("/v1/payments", params=params, headers=gateway.auth())
        problem = await response.json()
        assert (response.status, problem["code"]) == (422, "validation_failed"), params
        assert [error["code"] for error in problem["errors"]] == [code], params
    # Unknown and empty parameters are ignored, as links from portals carry their own.
    response = await gateway.client.get(
        "/v1/payments", params={"utm_source": "x", "status": ""}, headers=gateway.auth()
    )
    assert response.status == 200
