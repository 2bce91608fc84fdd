"""The citizen's checkout page ``/pay/{id}`` in a real headless browser (Debian's chromium
driven by Playwright): what a payer sees on a phone, and the status switching by itself.

The service polls fast here (``checkout_poll_ms = 200``); every wait is Playwright's
auto-waiting ``expect``, never a sleep.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import AGENCY_ACCOUNT, FixedClock, Gateway, make_settings, seed
from playwright.async_api import Browser, Page, expect
from tests_support import collect_errors, start_sandbox_bank, transfer_in_full

from gateway.app import create_app

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
POLL_MS = 200
#: Long enough for a few polls on a loaded machine, far below the test's own budget.
SWITCH_TIMEOUT_MS = 5000
#: For a human to look at; nothing asserts on it.
SCREENSHOT = "/tmp/checkout.png"  # noqa: S108 — a fixed, well-known place on purpose


# -- fixtures ----------------------------------------------------------------------------


@dataclass
class Phone:
    """A phone-sized tab, with what went wrong in it (script errors, console errors)."""

    page: Page
    errors: list[str] = field(default_factory=list)


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[Phone]:
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    page = await context.new_page()
    phone = Phone(page)
    collect_errors(page, phone.errors)
    try:
        yield phone
    finally:
        await context.close()


@pytest.fixture
async def checkout(aiohttp_client: Any, database_url: str, clock: FixedClock) -> Gateway:
    """Like ``gateway`` from conftest, but the page polls its status every 200 ms."""
    settings = make_settings(database_url, payments={"checkout_poll_ms": POLL_MS})
    client = await aiohttp_client(create_app(settings, clock=clock, background=False))
    return Gateway(client=client, clock=clock, keys=await seed(client))


async def open_checkout(phone: Phone, checkout: Gateway, payment_id: str) -> Page:
    response = await phone.page.goto(str(checkout.client.make_url(f"/pay/{payment_id}")))
    assert response is not None and response.status == 200
    return phone.page


# -- tests -------------------------------------------------------------------------------


async def test_pending_page_shows_everything_needed_to_pay_on_a_phone(
    checkout: Gateway, phone: Phone
) -> None:
    payment = await checkout.create_payment()
    page = await open_checkout(phone, checkout, payment["id"])

    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sở Tư pháp TP. Hồ Chí Minh")
    await expect(page.get_by_test_id("dossier")).to_have_text("000.00.12.H29-241122-0001")
    await expect(page.get_by_test_id("status")).to_have_text("Chờ thanh toán")

    items = page.get_by_test_id("item")
    await expect(items.get_by_test_id("item-kind")).to_have_text(["Lệ phí", "Phí"])
    await expect(items.get_by_test_id("item-description")).to_have_text(
        ["Lệ phí cấp đổi GPLX", "Phí thẩm định hồ sơ"]
    )
    await expect(items.get_by_test_id("item-amount")).to_have_text(["135.000 ₫", "50.000 ₫"])
    await expect(page.get_by_test_id("total")).to_have_text("185.000 ₫")

    qr = page.get_by_test_id("qr")
    await expect(qr).to_be_visible()
    # decode() rejects if the image cannot be loaded (404, CSP, broken SVG).
    natural_width = await qr.evaluate("img => img.decode().then(() => img.naturalWidth)")
    assert natural_width > 0

    await expect(page.get_by_test_id("bank")).to_have_text("Ngân hàng mô phỏng (sandbox)")
    await expect(page.get_by_test_id("account-number")).to_have_text(AGENCY_ACCOUNT)
    await expect(page.get_by_test_id("account-name")).to_have_text("SO TU PHAP HCM")
    await expect(page.get_by_test_id("transfer-amount")).to_have_text("185.000 ₫")
    await expect(page.get_by_test_id("reference")).to_have_text(payment["reference"])

    # Rendered at the fixed clock's creation time with the default 15 minutes to go; the
    # browser counts down on its own (real) clock from there.
    await expect(page.get_by_test_id("countdown")).to_have_text(re.compile(r"^1[45]:[0-5]\d$"))

    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.screenshot(path=SCREENSHOT, full_page=True)
    assert phone.errors == []


async def test_page_turns_paid_after_a_bank_transfer_without_reloading(
    checkout: Gateway, phone: Phone, aiohttp_server: Any
) -> None:
    bank = await start_sandbox_bank(aiohttp_server, checkout)
    payment = await checkout.create_payment()
    page = await open_checkout(phone, checkout, payment["id"])
    await expect(page.get_by_test_id("status")).to_have_text("Chờ thanh toán")
    await expect(page.get_by_test_id("result")).to_be_hidden()
    await page.evaluate("window.__marker = 1")

    await transfer_in_full(bank, payment)

    await expect(page.get_by_test_id("status")).to_have_text(
        "Đã thanh toán", timeout=SWITCH_TIMEOUT_MS
    )
    await expect(page.get_by_test_id("qr")).to_be_hidden()
    await expect(page.get_by_test_id("countdown")).to_be_hidden()
    await expect(page.get_by_test_id("result")).to_be_visible()
    await expect(page.get_by_test_id("result")).to_have_text(
        "Đã thanh toán thành công. Cảm ơn bạn!"
    )
    assert await page.evaluate("window.__marker") == 1, "the page was reloaded"
    assert phone.errors == []


async def test_page_turns_expired_once_the_payment_runs_out(
    checkout: Gateway, phone: Phone
) -> None:
    payment = await checkout.create_payment()
    page = await open_checkout(phone, checkout, payment["id"])
    await expect(page.get_by_test_id("status")).to_have_text("Chờ thanh toán")
    await page.evaluate("window.__marker = 1")

    # No expiry sweep runs here: the next status poll expires the overdue payment on read.
    checkout.clock.advance(minutes=16)

    await expect(page.get_by_test_id("status")).to_have_text("Hết hạn", timeout=SWITCH_TIMEOUT_MS)
    await expect(page.get_by_test_id("result")).to_have_text(
        "Khoản thanh toán đã hết hạn. Vui lòng tạo lại yêu cầu thanh toán trên Cổng Dịch vụ công."
    )
    await expect(page.get_by_test_id("qr")).to_be_hidden()
    await expect(page.get_by_test_id("countdown")).to_be_hidden()
    assert await page.evaluate("window.__marker") == 1, "the page was reloaded"
    assert phone.errors == []


async def test_cancelled_payment_shows_cancelled_on_load(checkout: Gateway, phone: Phone) -> None:
    payment = await checkout.create_payment()
    response = await checkout.client.post(
        f"/v1/payments/{payment['id']}/cancel", headers=checkout.auth()
    )
    assert response.status == 200, await response.text()

    page = await open_checkout(phone, checkout, payment["id"])

    await expect(page.get_by_test_id("status")).to_have_text("Đã hủy")
    await expect(page.get_by_test_id("result")).to_have_text("Khoản thanh toán đã bị hủy.")
    await expect(page.get_by_test_id("qr")).to_be_hidden()
    await expect(page.get_by_test_id("countdown")).to_be_hidden()
    assert phone.errors == []


async def test_unknown_payment_shows_the_vietnamese_not_found_page(
    checkout: Gateway, phone: Phone
) -> None:
    page = phone.page
    response = await page.goto(str(checkout.client.make_url("/pay/pay_" + "a" * 26)))

    assert response is not None and response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    await expect(page).to_have_title("Không tìm thấy khoản thanh toán")
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Không tìm thấy khoản thanh toán"
    )
    await expect(page.locator("main")).to_contain_text("Cổng Dịch vụ công")


async def test_citizen_pays_through_vnpay_and_comes_back_to_a_paid_page(
    channels: Any, phone: Phone
) -> None:
    """Checkout → "Thanh toán qua VNPAY" → VNPAY's page → success → back on the checkout page,
    which shows the result the IPN recorded (the return itself changes nothing)."""
    payment = await channels.create_payment()
    page = phone.page
    await page.goto(str(channels.client.make_url(f"/pay/{payment['id']}")))
    await page.get_by_test_id("vnpay").click()
    await expect(page).to_have_url(re.compile(r".*/paymentv2/vpcpay\.html\?.*vnp_TxnRef=.*"))
    await page.get_by_role("button", name="Thanh toán thành công").click()

    await expect(page).to_have_url(re.compile(rf".*/pay/{payment['id']}$"))
    await expect(page.get_by_test_id("status")).to_have_text("Đã thanh toán")
    assert phone.errors == []


async def test_a_cancelled_vnpay_payment_tells_the_citizen_why_and_offers_to_try_again(
    channels: Any, phone: Phone
) -> None:
    """VNPAY's "customer cancelled" (``vnp_ResponseCode`` 24) comes back as VNPAY's reason in
    Vietnamese, with the ways to pay still offered."""
    payment = await channels.create_payment()
    page = phone.page
    await page.goto(str(channels.client.make_url(f"/pay/{payment['id']}")))
    await page.get_by_test_id("vnpay").click()
    await page.get_by_role("button", name="Hủy giao dịch").click()

    await expect(page).to_have_url(re.compile(rf".*/pay/{payment['id']}(\?.*)?$"))
    await expect(page.get_by_test_id("attempt-failure")).to_have_text(
        "Thanh toán qua Cổng thanh toán VNPAY không thành công: Bạn đã hủy giao dịch. "
        "Bạn có thể thử lại hoặc chọn cách thanh toán khác."
    )
    await expect(page.get_by_test_id("vnpay")).to_be_visible()
    await expect(page.get_by_test_id("status")).to_have_text("Chờ thanh toán")
    assert phone.errors == []
