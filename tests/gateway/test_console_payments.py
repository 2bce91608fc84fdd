"""Payments in the finance console over HTTP: the search with its filters, agency scope and
pages, and one payment with its attempts, refunds and webhook deliveries. Both databases."""

from __future__ import annotations

import re
import uuid
from typing import Any

import aiohttp
import pytest
from conftest import FixedClock, Gateway, Portal, make_settings, seed
from tests_support import StaffSession, staff_login, start_sandbox_bank, transfer_in_full

from gateway.app import create_app
from gateway.core.roles import Role
from gateway.keys import DELIVERY, STAFF

PASSWORD = "mat-khau-thu-nghiem-2026"


@pytest.fixture
async def desk(
    aiohttp_client: Any,
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    portal: tuple[Portal, str],
) -> Gateway:
    """HCM's finance officer ``ketoan``, the deployment-wide ``truongphong``, the portal
    subscribed to every event, and three payments: HCM's paid one (refund pending) and
    cancelled one, and HN's pending one."""
    settings = make_settings(database_url, webhooks={"allow_private_urls": True})
    app = create_app(settings, clock=clock, background=False)
    client = await aiohttp_client(app, cookie_jar=aiohttp.DummyCookieJar())
    gateway = Gateway(client=client, clock=clock, keys=await seed(client))
    for username, role, everywhere in (
        ("ketoan", Role.FINANCE, False),
        ("truongphong", Role.FINANCE_APPROVER, True),
    ):
        await app[STAFF].create_user(
            username=username,
            display_name=username.title(),
            role=role,
            password=PASSWORD,
            agency_codes=["HCM"],
            all_agencies=everywhere,
        )
    _, url = portal
    response = await client.post(
        "/v1/webhook-endpoints",
        json={"url": url, "events": ["*"]},
        headers={**gateway.auth(), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status == 201
    gateway.keys["endpoint"] = (await response.json())["id"]

    paid = await gateway.create_payment(dossier_code="HCM-PAID-1")
    await transfer_in_full(await start_sandbox_bank(aiohttp_server, gateway), paid)
    response = await client.post(
        f"/v1/payments/{paid['id']}/refunds",
        json={"amount": 50000, "reason": "Thu trùng phí thẩm định"},
        headers={**gateway.auth("finance2"), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status == 201, await response.text()
    clock.advance(seconds=1)  # newest first: each payment a second later
    cancelled = await gateway.create_payment(dossier_code="HCM-CANCELLED-2")
    response = await client.post(f"/v1/payments/{cancelled['id']}/cancel", headers=gateway.auth())
    assert response.status == 200
    clock.advance(seconds=1)
    hanoi = await gateway.create_payment("other", agency_code="HN", dossier_code="HN-PENDING-3")
    await app[DELIVERY].run_until_idle()
    gateway.keys.update(paid=paid["id"], cancelled=cancelled["id"], hanoi=hanoi["id"])
    gateway.keys["paid_reference"] = paid["reference"]
    return gateway


async def login(gateway: Gateway, username: str = "ketoan") -> StaffSession:
    return await staff_login(gateway.client, username, PASSWORD, "/console")


async def search(gateway: Gateway, session: StaffSession, **filters: str) -> tuple[int, str]:
    response = await gateway.client.get("/console/payments", params=filters, headers=session.cookie)
    return response.status, await response.text()


def dossiers(html: str) -> list[str]:
    return re.findall(r'data-testid="payment-dossier">([^<]+)<', html)


async def test_an_officer_finds_only_the_payments_of_their_agency_newest_first(
    desk: Gateway,
) -> None:
    status, html = await search(desk, await login(desk))
    assert status == 200
    assert dossiers(html) == ["HCM-CANCELLED-2", "HCM-PAID-1"]
    assert "Đã hủy" in html and "Đã thanh toán" in html and "185.000 ₫" in html


async def test_deployment_wide_staff_find_every_agencys_payments(desk: Gateway) -> None:
    session = await login(desk, "truongphong")
    _, html = await search(desk, session)
    assert dossiers(html) == ["HN-PENDING-3", "HCM-CANCELLED-2", "HCM-PAID-1"]
    _, html = await search(desk, session, agency_code="HN")
    assert dossiers(html) == ["HN-PENDING-3"]


@pytest.mark.parametrize(
    ("filters", "found"),
    [
        ({"dossier_code": "HCM-PAID-1"}, ["HCM-PAID-1"]),
        ({"status": "cancelled"}, ["HCM-CANCELLED-2"]),
        ({"date_from": "2026-11-22", "date_to": "2026-11-22"}, ["HCM-CANCELLED-2", "HCM-PAID-1"]),
        ({"date_from": "2026-11-23"}, []),
        ({"date_to": "2026-11-21"}, []),
        ({"agency_code": "HN"}, []),  # another agency's: nothing, not an error
    ],
)
async def test_each_filter_narrows_the_search(
    desk: Gateway, filters: dict[str, str], found: list[str]
) -> None:
    status, html = await search(desk, await login(desk), **filters)
    assert status == 200
    assert dossiers(html) == found
    if not found:
        assert "Không có khoản thanh toán nào phù hợp." in html


async def test_a_reference_is_found_whatever_its_case(desk: Gateway) -> None:
    reference = desk.keys["paid_reference"]
    _, html = await search(desk, await login(desk), reference=reference.lower())
    assert dossiers(html) == ["HCM-PAID-1"]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"date_from": "22/11/2026"}, "Ngày bắt đầu không hợp lệ"),
        ({"date_to": "2026-13-01"}, "Ngày kết thúc không hợp lệ"),
        (
            {"date_from": "2026-11-23", "date_to": "2026-11-22"},
            "Ngày bắt đầu phải trước hoặc bằng ngày kết thúc.",
        ),
        ({"status": "lost"}, "Trạng thái không hợp lệ."),
        ({"reference": "ab'; --"}, "Mã thanh toán không hợp lệ."),
        ({"agency_code": "H N"}, "Mã đơn vị không hợp lệ."),
    ],
)
async def test_a_bad_filter_says_why_in_vietnamese_and_lists_nothing(
    desk: Gateway, filters: dict[str, str], message: str
) -> None:
    status, html = await search(desk, await login(desk), **filters)
    assert status == 422
    assert message in html
    assert dossiers(html) == []


async def test_the_search_pages_through_many_payments_keeping_its_filters(
    desk: Gateway,
) -> None:
    for number in range(21):
        desk.clock.advance(seconds=1)
        await desk.create_payment(dossier_code=f"HCM-MANY-{number:02}")
    session = await login(desk)
    _, html = await search(desk, session, status="pending")
    first = dossiers(html)
    assert len(first) == 20 and first[0] == "HCM-MANY-20" and first[-1] == "HCM-MANY-01"
    assert 'data-testid="first-page"' not in html
    found = re.search(r'href="([^"]+)" data-testid="next-page"', html)
    assert found is not None
    response = await desk.client.get(found.group(1).replace("&amp;", "&"), headers=session.cookie)
    html = await response.text()
    assert response.status == 200
    assert dossiers(html) == ["HCM-MANY-00"]  # still only pending ones
    assert 'data-testid="first-page"' in html and 'data-testid="next-page"' not in html


async def test_a_payment_shows_its_attempts_refunds_and_webhook_deliveries(desk: Gateway) -> None:
    session = await login(desk)
    response = await desk.client.get(
        f"/console/payments/{desk.keys['paid']}", headers=session.cookie
    )
    html = await response.text()
    assert response.status == 200
    assert desk.keys["paid_reference"] in html
    attempts = html.split('data-testid="attempts"')[1].split("</table>")[0]
    assert "Chuyển khoản VietQR" in attempts and "Thành công" in attempts
    refunds = html.split('data-testid="refunds"')[1].split("</table>")[0]
    assert "Thu trùng phí thẩm định" in refunds and "50.000 ₫" in refunds
    deliveries = html.split('data-testid="webhook-deliveries"')[1].split("</table>")[0]
    assert "payment.paid" in deliveries and "Đã gửi" in deliveries
    assert desk.keys["endpoint"] in deliveries


async def test_another_agencys_payment_is_a_vietnamese_404(desk: Gateway) -> None:
    session = await login(desk)
    response = await desk.client.get(
        f"/console/payments/{desk.keys['hanoi']}", headers=session.cookie
    )
    assert response.status == 404
    assert "Không tìm thấy dữ liệu yêu cầu." in await response.text()
    wide = await login(desk, "truongphong")
    response = await desk.client.get(f"/console/payments/{desk.keys['hanoi']}", headers=wide.cookie)
    assert response.status == 200


# -- the API's list, which the search uses ---------------------------------------------------


async def test_the_payment_api_filters_by_reference_and_agency_code(desk: Gateway) -> None:
    reference = desk.keys["paid_reference"]
    response = await desk.client.get(
        "/v1/payments", params={"reference": reference}, headers=desk.auth()
    )
    assert [p["dossier_code"] for p in (await response.json())["data"]] == ["HCM-PAID-1"]
    response = await desk.client.get(
        "/v1/payments", params={"agency_code": "HN"}, headers=desk.auth()
    )
    assert (await response.json())["data"] == []  # not the caller's agency: nothing


async def test_the_payment_api_refuses_a_malformed_reference(desk: Gateway) -> None:
    response = await desk.client.get(
        "/v1/payments", params={"reference": "x" * 33}, headers=desk.auth()
    )
    assert response.status == 422
    assert (await response.json())["errors"][0]["field"] == "reference"
