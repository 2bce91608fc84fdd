"""The citizen is told about their postal order: picked up, out for delivery, delivered,
delivery failed — on the number of the citizen's side of the order; the operator's order page
lists the messages. The gateway, the sandbox VNPost and the messages sandbox are real
servers; the post office reports through the operator API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import FixedClock, Postal, open_postal
from tests_support import messages_sandbox, sandbox_messages, staff_login

from gateway.core.roles import Role
from gateway.keys import DATABASE, NOTIFICATIONS, STAFF
from gateway.services.postal import offices

PASSWORD = "mat-khau-buu-cuc-2026"
TEMPLATES = {
    kind: {"zns": False, "sms_text": text}
    for kind, text in (
        ("postal_picked_up", "Bưu điện đã nhận bưu gửi {tracking_number}."),
        ("postal_out_for_delivery", "Bưu tá đang phát bưu gửi {tracking_number}."),
        ("postal_delivered", "Đã phát bưu gửi {tracking_number} của hồ sơ {dossier_code}."),
        ("postal_delivery_failed", "Chưa phát được bưu gửi {tracking_number}."),
    )
}


@dataclass
class Told(Postal):
    sandbox: Any = None

    async def report(self, order_id: str, status: str) -> None:
        response = await self.client.post(
            f"/v1/operator/orders/{order_id}/events",
            json={
                "event_id": uuid.uuid4().hex,
                "status": status,
                "occurred_at": self.clock().isoformat(),
            },
            headers=self.auth("operator"),
        )
        assert response.status in (200, 201), await response.text()


@pytest.fixture
async def told(
    aiohttp_server: Any, database_url: str, clock: FixedClock, unused_tcp_port_factory: Any
) -> AsyncIterator[Told]:
    port = unused_tcp_port_factory()
    agencies = {"HCM": {"channels": ["sms"], "events": TEMPLATES}}
    sandbox, notify = await messages_sandbox(
        aiohttp_server, clock, f"http://127.0.0.1:{port}", agencies
    )
    opened = await open_postal(aiohttp_server, database_url, clock, port, notifications=notify)
    yield Told(
        client=opened.client,
        clock=clock,
        keys=opened.keys,
        carrier=opened.carrier,
        sandbox=sandbox,
    )
    await opened.client.close()


async def test_the_recipient_of_a_result_is_told_each_step_and_the_operator_sees_it(
    told: Told,
) -> None:
    order = await told.book()
    for status in ("picked_up", "out_for_delivery", "delivery_failed", "delivered"):
        told.clock.advance(minutes=30)
        await told.report(order["id"], status)
    await told.client.app[NOTIFICATIONS].run_until_idle()

    texts = [m["text"] for m in await sandbox_messages(told.client, told.sandbox)]
    number = order["tracking_number"]
    assert texts == [
        f"Buu dien da nhan buu gui {number}.",
        f"Buu ta dang phat buu gui {number}.",
        f"Chua phat duoc buu gui {number}.",
        f"Da phat buu gui {number} cua ho so {order['dossier_code']}.",
    ]
    received = await sandbox_messages(told.client, told.sandbox)
    assert {m["phone"] for m in received} == {"84912345678"}  # the citizen, not the agency
    response = await told.client.get(
        f"/v1/notifications?postal_order_id={order['id']}", headers=told.auth()
    )
    listed = (await response.json())["data"]
    assert [n["kind"] for n in listed] == [
        "postal_picked_up",
        "postal_out_for_delivery",
        "postal_delivery_failed",
        "postal_delivered",
    ]

    staff = told.client.app[STAFF]
    await staff.create_user(
        username="buudien",
        display_name="Bưu điện",
        role=Role.POSTAL_OPERATOR,
        password=PASSWORD,
        agency_codes=[],
    )
    await offices.scope_user(told.client.app[DATABASE], "buudien", ["BC-HCM"])
    session = await staff_login(told.client, "buudien", PASSWORD, "/operator")
    page = await told.client.get(
        f"/operator/orders/{order['id']}", headers={"Cookie": f"gw_session={session.token}"}
    )
    html = await page.text()
    assert page.status == 200
    assert html.count('data-testid="notification"') == 4
    assert "Phát không thành công" in html
    # The postman sees the recipient's number on the order; the messages name it masked.
    assert html.count("<td>091****678</td>") == 4
