"""Checkout → "Thanh toán qua Cổng Dịch vụ công quốc gia" → the (sandbox) platform's page →
an outcome → back on the checkout page, in a real headless browser (Debian's chromium driven
by Playwright). Every wait is Playwright's auto-waiting ``expect``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import FixedClock
from dvcqg_support import Platform, open_platform
from playwright.async_api import Browser, Page, expect
from tests_support import collect_errors

from gateway.core.money import CHANNEL_LABELS
from providers.payment.dvcqg import FAILURE_MESSAGES

pytestmark = pytest.mark.browser


@pytest.fixture
async def platform(
    aiohttp_server: Any, database_url: str, clock: FixedClock, unused_tcp_port_factory: Any
) -> AsyncIterator[Platform]:
    opened = await open_platform(aiohttp_server, database_url, clock, unused_tcp_port_factory())
    yield opened
    await opened.client.close()


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


async def _to_the_platform(platform: Platform, tab: Page) -> str:
    payment = await platform.create_payment()
    await tab.goto(str(platform.client.make_url(f"/pay/{payment['id']}")))
    await tab.get_by_test_id("dvcqg").click()
    await expect(tab).to_have_url(re.compile(r".*/pay\?MaThamChieu=.*"))
    await expect(tab.get_by_role("heading", level=1)).to_contain_text("Cổng Dịch vụ công quốc gia")
    return str(payment["id"])


async def test_citizen_pays_through_the_platform_and_comes_back_to_a_paid_page(
    platform: Platform, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    payment_id = await _to_the_platform(platform, tab)
    await tab.get_by_label("BIDV").check()
    await tab.get_by_role("button", name="Thanh toán thành công").click()

    await expect(tab).to_have_url(re.compile(rf".*/pay/{payment_id}$"))
    await expect(tab.get_by_test_id("status")).to_have_text("Đã thanh toán")
    assert errors == []


async def test_a_failed_platform_payment_shows_its_message_and_the_bill_stays_open(
    platform: Platform, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    payment_id = await _to_the_platform(platform, tab)
    await tab.get_by_role("button", name="Thanh toán thất bại").click()

    await expect(tab).to_have_url(re.compile(rf".*/pay/{payment_id}$"))
    await expect(tab.get_by_test_id("status")).to_have_text("Chờ thanh toán")
    await expect(tab.get_by_test_id("attempt-failure")).to_contain_text(
        f"Thanh toán qua {CHANNEL_LABELS['dvcqg']} không thành công: {FAILURE_MESSAGES['dvcqg_4']}"
    )
    await expect(tab.get_by_test_id("dvcqg")).to_be_visible()  # the citizen can try again
    assert errors == []
