"""The citizen's side in a real headless browser (Debian's chromium through Playwright): the
checkout page turns paid by itself and links to the receipt page, which shows the receipt's
number and total. Every wait is Playwright's auto-waiting ``expect``, never a sleep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import FixedClock, Gateway, Identity, make_settings, seed
from playwright.async_api import Browser, Page, expect
from receipt_support import receipt_settings
from tests_support import collect_errors, signed_notice

from gateway.app import create_app
from gateway.keys import RECEIPTS

pytestmark = pytest.mark.browser

SWITCH_TIMEOUT_MS = 5000


async def open_checkout(
    aiohttp_client: Any, database_url: str, clock: FixedClock, identity: Identity
) -> Gateway:
    """The gateway issuing receipts for HCM, with no number range yet."""
    settings = make_settings(
        database_url, payments={"checkout_poll_ms": 200}, receipts=receipt_settings(identity)
    )
    client = await aiohttp_client(create_app(settings, clock=clock, background=False))
    return Gateway(client=client, clock=clock, keys=await seed(client))


@pytest.fixture
async def checkout(
    aiohttp_client: Any, database_url: str, clock: FixedClock, identity: Identity
) -> Gateway:
    gateway = await open_checkout(aiohttp_client, database_url, clock, identity)
    await gateway.client.app[RECEIPTS].add_range("HCM", "26TAB", "online", 1, 1000)
    return gateway


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[tuple[Page, list[str]]]:
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
    tab = await context.new_page()
    errors: list[str] = []
    collect_errors(tab, errors)
    try:
        yield tab, errors
    finally:
        await context.close()


async def test_the_paid_checkout_page_links_to_the_receipt_with_its_number_and_total(
    checkout: Gateway, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    payment = await checkout.create_payment()
    await tab.goto(str(checkout.client.make_url(f"/pay/{payment['id']}")))
    await expect(tab.get_by_test_id("status")).to_have_text("Chờ thanh toán")

    body, headers = signed_notice(payment, int(checkout.clock().timestamp()))
    paid = await checkout.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert paid.status == 200

    link = tab.get_by_test_id("receipt-link")
    await expect(link).to_be_visible(timeout=SWITCH_TIMEOUT_MS)
    await expect(tab.get_by_test_id("receipt-number")).to_have_text("00000001")
    await expect(tab.get_by_test_id("receipt-symbol")).to_have_text("26TAB")
    await link.click()

    await expect(tab.get_by_test_id("receipt-title")).to_have_text("BIÊN LAI THU PHÍ, LỆ PHÍ")
    await expect(tab.get_by_test_id("receipt-number")).to_have_text("00000001")
    await expect(tab.get_by_test_id("receipt-total")).to_have_text("185.000 ₫")
    await expect(tab.get_by_test_id("amount-in-words")).to_have_text(
        "Một trăm tám mươi lăm nghìn đồng"
    )
    await expect(tab.get_by_test_id("signed-note")).to_be_visible()

    receipt_page = tab.url
    # The checkout page opened afresh, already paid, links to the same receipt.
    await tab.goto(str(checkout.client.make_url(f"/pay/{payment['id']}")))
    await expect(tab.get_by_test_id("receipt-number")).to_have_text("00000001")
    await tab.get_by_test_id("receipt-link").click()
    await expect(tab.get_by_test_id("receipt-total")).to_have_text("185.000 ₫")
    assert tab.url == receipt_page
    assert errors == []


async def test_the_paid_page_keeps_asking_until_a_pending_receipt_is_issued(
    aiohttp_client: Any,
    database_url: str,
    clock: FixedClock,
    identity: Identity,
    page: tuple[Page, list[str]],
) -> None:
    tab, errors = page
    gateway = await open_checkout(aiohttp_client, database_url, clock, identity)
    payment = await gateway.create_payment()
    await tab.goto(str(gateway.client.make_url(f"/pay/{payment['id']}")))
    body, headers = signed_notice(payment, int(gateway.clock().timestamp()))
    paid = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert paid.status == 200  # paid, but the receipt waits: the point has no number range

    await expect(tab.get_by_test_id("receipt-line")).to_contain_text(
        "đang chờ cấp số", timeout=SWITCH_TIMEOUT_MS
    )
    await gateway.client.app[RECEIPTS].add_range("HCM", "26TAB", "online", 1, 1000)

    await expect(tab.get_by_test_id("receipt-number")).to_have_text(
        "00000001", timeout=SWITCH_TIMEOUT_MS
    )
    assert errors == []
