"""The checkout page with the wallets, in a real headless browser (Debian's chromium driven
by Playwright): checkout → the wallet's sandbox page → success → back on a paid page; a
failure or a cancellation shows the wallet's Vietnamese message. Every wait is Playwright's
auto-waiting ``expect``, never a sleep."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import FixedClock, Wallets, open_wallets
from playwright.async_api import Browser, Page, expect
from tests_support import collect_errors

from gateway.core.money import CHANNEL_LABELS

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def shop(
    aiohttp_server: Any, database_url: str, clock: FixedClock, unused_tcp_port_factory: Any
) -> AsyncIterator[Wallets]:
    opened = await open_wallets(
        aiohttp_server,
        database_url,
        clock,
        unused_tcp_port_factory(),
        payments={"checkout_poll_ms": 200},
    )
    yield opened
    await opened.client.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[tuple[Page, list[str]]]:
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    tab = await context.new_page()
    errors: list[str] = []
    collect_errors(tab, errors)
    try:
        yield tab, errors
    finally:
        await context.close()


async def _to_wallet(shop: Wallets, tab: Page, method: str, label: str) -> dict[str, Any]:
    payment = await shop.create_payment()
    await tab.goto(str(shop.client.make_url(f"/pay/{payment['id']}")))
    button = tab.get_by_test_id(method)
    await expect(button).to_contain_text(label)
    await button.click()
    await expect(tab).to_have_url(re.compile(r".*/pay\?(orderId|apptransid)=.*"))
    return dict(payment)


@pytest.mark.parametrize(("method", "label"), [("momo", "Ví MoMo"), ("zalopay", "ZaloPay")])
async def test_citizen_pays_with_a_wallet_and_comes_back_to_a_paid_page(
    shop: Wallets, page: tuple[Page, list[str]], method: str, label: str
) -> None:
    tab, errors = page
    payment = await _to_wallet(shop, tab, method, label)
    await tab.get_by_role("button", name="Xác nhận thanh toán").click()

    await expect(tab).to_have_url(re.compile(rf".*/pay/{payment['id']}\?.*"))
    await expect(tab.get_by_test_id("status")).to_have_text("Đã thanh toán")
    assert (await shop.payment(payment["id"]))["status"] == "paid"
    assert errors == []


@pytest.mark.parametrize(
    ("method", "label", "button", "message"),
    [
        ("momo", "Ví MoMo", "Hủy giao dịch", "Bạn đã từ chối xác nhận thanh toán."),
        ("momo", "Ví MoMo", "Thanh toán thất bại", "Tài khoản ví MoMo không đủ số dư."),
        ("zalopay", "ZaloPay", "Hủy giao dịch", "Bạn đã hủy giao dịch ZaloPay."),
    ],
)
async def test_a_failed_wallet_payment_shows_its_message_and_the_bill_stays_payable(
    shop: Wallets, page: tuple[Page, list[str]], method: str, label: str, button: str, message: str
) -> None:
    tab, errors = page
    payment = await _to_wallet(shop, tab, method, label)
    await tab.get_by_role("button", name=button).click()

    await expect(tab).to_have_url(re.compile(rf".*/pay/{payment['id']}\?.*"))
    await expect(tab.get_by_test_id("attempt-failure")).to_contain_text(
        f"Thanh toán qua {CHANNEL_LABELS[method]} không thành công: {message}"
    )
    await expect(tab.get_by_test_id("status")).to_have_text("Chờ thanh toán")
    await expect(tab.get_by_test_id(method)).to_be_visible()  # the citizen can try again
    assert errors == []
