"""Webhook operations in the finance console over HTTP: the endpoints of the user's agencies,
an endpoint's delivery log, a test event, redelivering one event, and sending again what
failed since a time — each POST answered with a redirect, bad input refused with a reason."""

from __future__ import annotations

import re
import uuid
from typing import Any

from conftest import Gateway, Portal
from sqlalchemy import select
from test_console_payments import desk, login

from gateway.core.db.schema import deliveries
from gateway.keys import DATABASE, DELIVERY

__all__ = ["desk"]  # the fixture: HCM's officer, a deployment-wide approver, three payments


async def endpoint_of(gateway: Gateway, who: str, url: str) -> str:
    response = await gateway.client.post(
        "/v1/webhook-endpoints",
        json={"url": url, "events": ["*"]},
        headers={**gateway.auth(who), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status == 201
    return str((await response.json())["id"])


async def open_deliveries(gateway: Gateway) -> list[tuple[str, str]]:
    async with gateway.client.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(deliveries.c.event_id, deliveries.c.status)
            .where(deliveries.c.status != "succeeded")
            .order_by(deliveries.c.id)
        )
        return [(row.event_id, row.status) for row in rows]


async def submit(gateway: Gateway, session: Any, path: str, **fields: str) -> Any:
    return await gateway.client.post(
        path, data={"csrf": session.csrf, **fields}, headers=session.cookie, allow_redirects=False
    )


async def get(gateway: Gateway, session: Any, path: str) -> tuple[int, str]:
    response = await gateway.client.get(path, headers=session.cookie)
    return response.status, await response.text()


async def test_an_officer_sees_the_endpoints_of_their_agencys_portal_only(
    desk: Gateway, portal: tuple[Portal, str]
) -> None:
    hanoi = await endpoint_of(desk, "other", portal[1] + "?hn")
    status, html = await get(desk, await login(desk), "/console/webhooks")
    assert status == 200
    assert desk.keys["endpoint"] in html and hanoi not in html
    _, html = await get(desk, await login(desk, "truongphong"), "/console/webhooks")
    assert desk.keys["endpoint"] in html and hanoi in html


async def test_the_delivery_log_shows_what_was_sent_and_how_it_went(desk: Gateway) -> None:
    status, html = await get(desk, await login(desk), f"/console/webhooks/{desk.keys['endpoint']}")
    assert status == 200
    types = re.findall(r'data-testid="delivery-type">([^<]+)<', html)
    assert types[0] == "payment.cancelled" and "payment.paid" in types
    assert "Đã gửi" in html and "HTTP 200" in html


async def test_a_test_event_is_sent_and_the_page_says_so_after_a_redirect(
    desk: Gateway, portal: tuple[Portal, str]
) -> None:
    receiver, _ = portal
    session = await login(desk)
    page = f"/console/webhooks/{desk.keys['endpoint']}"
    response = await submit(desk, session, f"{page}/test")
    assert response.status == 303
    assert response.headers["Location"] == f"{page}?msg=tested"
    _, html = await get(desk, session, response.headers["Location"])
    assert "Đã xếp hàng gửi một sự kiện thử tới điểm nhận này." in html
    assert await desk.client.app[DELIVERY].run_until_idle() == 1
    assert receiver.bodies()[-1]["type"] == "webhook.test"


async def test_one_event_is_redelivered(desk: Gateway, portal: tuple[Portal, str]) -> None:
    receiver, _ = portal
    session = await login(desk)
    page = f"/console/webhooks/{desk.keys['endpoint']}"
    _, html = await get(desk, session, page)
    event_id = re.findall(r'data-testid="delivery-event">(evt_\w+)<', html)[0]
    response = await submit(desk, session, f"{page}/events/{event_id}/redeliver")
    assert response.status == 303 and response.headers["Location"].endswith("msg=redelivered")
    received = len(receiver.received)
    assert await desk.client.app[DELIVERY].run_until_idle() == 1
    assert receiver.bodies()[received]["id"] == event_id


async def test_what_failed_since_a_time_is_sent_again(
    desk: Gateway, portal: tuple[Portal, str]
) -> None:
    receiver, _ = portal
    receiver.answers = [500] * 100  # the portal is down
    desk.clock.advance(minutes=30)
    payment = await desk.create_payment(dossier_code="HCM-OUTAGE-4")
    await desk.client.post(f"/v1/payments/{payment['id']}/cancel", headers=desk.auth())
    for _ in range(40):  # a retry delay at a time until it is given up
        await desk.client.app[DELIVERY].run_until_idle()
        if [status for _, status in await open_deliveries(desk)] == ["failed"]:
            break
        desk.clock.advance(hours=15)
    [(event_id, status)] = await open_deliveries(desk)
    assert status == "failed"

    receiver.answers = []  # back up
    session = await login(desk)
    page = f"/console/webhooks/{desk.keys['endpoint']}"
    _, html = await get(desk, session, page)
    assert 'data-confirm="Gửi lại mọi thông báo bị lỗi' in html  # the browser asks first
    response = await submit(desk, session, f"{page}/recover", since="2026-11-22T09:20")
    assert response.status == 303
    _, html = await get(desk, session, response.headers["Location"])
    assert "Đã xếp hàng gửi lại 1 thông báo bị lỗi." in html
    assert await desk.client.app[DELIVERY].run_until_idle() == 1
    assert receiver.bodies()[-1]["id"] == event_id
    assert await open_deliveries(desk) == []


async def test_recovering_without_a_valid_time_says_why_and_sends_nothing(desk: Gateway) -> None:
    session = await login(desk)
    page = f"/console/webhooks/{desk.keys['endpoint']}"
    for since in ("", "hôm qua", "2026-11-22T09:20+07:00"):
        response = await submit(desk, session, f"{page}/recover", since=since)
        assert response.status == 422
        assert "Hãy chọn thời điểm bắt đầu" in await response.text()
    assert await open_deliveries(desk) == []


async def test_another_agencys_endpoint_is_a_404_and_nothing_is_sent(
    desk: Gateway, portal: tuple[Portal, str]
) -> None:
    hanoi = await endpoint_of(desk, "other", portal[1] + "?hn")
    session = await login(desk)
    status, html = await get(desk, session, f"/console/webhooks/{hanoi}")
    assert status == 404 and "Không tìm thấy dữ liệu yêu cầu." in html
    response = await submit(desk, session, f"/console/webhooks/{hanoi}/test")
    assert response.status == 404
    assert await open_deliveries(desk) == []


async def test_a_test_without_the_forms_token_sends_nothing(desk: Gateway) -> None:
    session = await login(desk)
    response = await desk.client.post(
        f"/console/webhooks/{desk.keys['endpoint']}/test",
        data={"csrf": "wrong"},
        headers=session.cookie,
        allow_redirects=False,
    )
    assert response.status == 403
    assert await open_deliveries(desk) == []
