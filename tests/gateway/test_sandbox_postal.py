"""Sandbox mode's postal walk-through: the demo agency books a delivery with the mounted
sandbox VNPost, the postman's steps come back as signed pushes, and delivery is confirmed."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FixedClock
from tests_support import (
    AGENCY_PARTY,
    CITIZEN_PARTY,
    DEMO_PORTAL,
    book_demo_delivery,
    sandbox_settings,
    start_sandbox,
)

from gateway.keys import CARRIER_SYNC, NOTIFICATIONS
from gateway.sandbox import VNPOST_STATE_FILE


async def test_a_sandbox_delivery_from_booking_to_the_citizens_door(
    tmp_path: Any, unused_tcp_port: int, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    client = await start_sandbox(sandbox_settings(tmp_path, unused_tcp_port), clock)
    banner = capsys.readouterr().err
    operator_key = banner.split("Demo post office API key: ")[1].split()[0]
    assert "buucuc / " in banner
    try:
        portal = {"Authorization": f"Bearer {DEMO_PORTAL}"}
        order = await book_demo_delivery(client, "demo-delivery-1")
        assert order["status"] == "created"
        item = order["tracking_number"]
        statuses = []
        for _ in range(8):
            clock.advance(minutes=20)
            step = await client.post(f"/sandbox/vnpost/orders/{item}/step")
            assert step.status == 200
            view = await (
                await client.get(f"/v1/postal/orders/{order['id']}", headers=portal)
            ).json()
            statuses.append(view["status"])
        assert statuses == [
            "pickup_assigned",
            "picking_up",
            "picked_up",
            "picked_up",  # 7: accepted at the post office
            "in_transit",
            "in_transit",  # 11: at the delivery office
            "out_for_delivery",
            "out_for_delivery",  # 14 delivered: pushed, not yet confirmed
        ]
        done = await client.post(f"/sandbox/vnpost/orders/{item}/step")
        assert (done.status, (await done.json())["code"]) == (409, "PATH_DONE")
        assert await client.app[CARRIER_SYNC].sync_due() == 1
        view = await (await client.get(f"/v1/postal/orders/{order['id']}", headers=portal)).json()
        assert view["status"] == "delivered"
        # The citizen was told each step the demo agency tells, in order, in the messages
        # sandbox.
        await client.app[NOTIFICATIONS].run_until_idle()
        told = await (await client.get("/sandbox/messages/list")).json()
        assert [m["template_id"] for m in told if m["template_id"].startswith("DEMO_POST")] == [
            "DEMO_POST_PICKED_UP",
            "DEMO_POST_OUT",
            "DEMO_POST_DELIVERED",
        ]
        # The demo post office serves the demo agency: its operator sees the order.
        feed = await client.get(
            "/v1/operator/orders", headers={"Authorization": f"Bearer {operator_key}"}
        )
        assert [o["id"] for o in (await feed.json())["data"]] == [order["id"]]
    finally:
        await client.close()


async def _book_after_a_restart(
    tmp_path: Any, port: int, clock: FixedClock, *, forget_carrier: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sandbox mode books a delivery, stops, starts again on the same data directory (the
    carrier's state file deleted meanwhile if ``forget_carrier``) and books another."""
    settings = sandbox_settings(tmp_path, port)
    client = await start_sandbox(settings, clock)
    try:
        first = await book_demo_delivery(client, "restart-1")
    finally:
        await client.close()
    if forget_carrier:
        (tmp_path / VNPOST_STATE_FILE).unlink()
    clock.advance(minutes=5)
    client = await start_sandbox(settings, clock)
    try:
        second = await book_demo_delivery_of(client, "restart-2", "H29-2")
        portal = {"Authorization": f"Bearer {DEMO_PORTAL}"}
        second = await (
            await client.get(f"/v1/postal/orders/{second['id']}", headers=portal)
        ).json()
    finally:
        await client.close()
    return first, second


async def book_demo_delivery_of(client: Any, key: str, dossier_code: str) -> dict[str, Any]:
    booked = await client.post(
        "/v1/postal/orders",
        headers={"Authorization": f"Bearer {DEMO_PORTAL}", "Idempotency-Key": key},
        json={
            "leg": "delivery",
            "agency_code": "DEMO",
            "dossier_code": dossier_code,
            "sender": AGENCY_PARTY,
            "recipient": CITIZEN_PARTY,
        },
    )
    assert booked.status == 201, await booked.text()
    order: dict[str, Any] = await booked.json()
    return order


async def test_after_a_restart_the_sandbox_carrier_issues_new_item_codes(
    tmp_path: Any, unused_tcp_port: int, clock: FixedClock
) -> None:
    first, second = await _book_after_a_restart(
        tmp_path, unused_tcp_port, clock, forget_carrier=False
    )
    assert (first["status"], second["status"]) == ("created", "created")
    assert second["tracking_number"] != first["tracking_number"]


async def test_a_carrier_that_reissues_an_item_code_leaves_the_order_for_review_not_stuck(
    tmp_path: Any, unused_tcp_port: int, clock: FixedClock
) -> None:
    """The reported failure: a carrier that forgot its orders (the sandbox before it kept
    them) answers the next booking with an item code an order already holds. The unique key
    refused it at every try and the order stayed ``submitting`` forever; now it goes to
    ``needs_review`` (``carrier_conflict``) at once, and the first order is untouched."""
    first, second = await _book_after_a_restart(
        tmp_path, unused_tcp_port, clock, forget_carrier=True
    )
    assert first["status"] == "created"
    assert (second["status"], second["review_reason"]) == ("needs_review", "carrier_conflict")
    assert second["tracking_number"] is None
    assert first["tracking_number"] in second["last_error"]
    assert [e["status"] for e in second["events"]] == []
