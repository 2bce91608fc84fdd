"""Sandbox mode's postal walk-through: the demo agency books a delivery with the mounted
sandbox VNPost, the postman's steps come back as signed pushes, and delivery is confirmed."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FixedClock
from tests_support import DEMO_PORTAL, book_demo_delivery, sandbox_settings, start_sandbox

from gateway.keys import CARRIER_SYNC


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
        for _ in range(7):
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
            "picked_up",
            "in_transit",
            "out_for_delivery",
            "out_for_delivery",  # delivered: pushed, not yet confirmed
        ]
        done = await client.post(f"/sandbox/vnpost/orders/{item}/step")
        assert (done.status, (await done.json())["code"]) == (409, "PATH_DONE")
        assert await client.app[CARRIER_SYNC].sync_due() == 1
        view = await (await client.get(f"/v1/postal/orders/{order['id']}", headers=portal)).json()
        assert view["status"] == "delivered"
        # The demo post office serves the demo agency: its operator sees the order.
        feed = await client.get(
            "/v1/operator/orders", headers={"Authorization": f"Bearer {operator_key}"}
        )
        assert [o["id"] for o in (await feed.json())["data"]] == [order["id"]]
    finally:
        await client.close()
