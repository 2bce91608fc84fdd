"""The checkout page on a phone (Debian's chromium driven by Playwright): the QR saved as a
picture, the transfer details copied one tap each, and a bill whose money needs a person
explained with whom to contact. Every page here runs under the pages' CSP (no inline style or
script): a violation is a console error, and each test asserts there are none."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from conftest import AGENCY_ACCOUNT, FixedClock, Gateway, make_settings, seed
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page, expect
from tests_support import collect_errors, start_sandbox_bank, transfer

from gateway.app import create_app

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
POLL_MS = 200
SWITCH_TIMEOUT_MS = 5000
CONTACT = {
    "name": "Bộ phận một cửa Sở Tư pháp",
    "phone": "028 3822 0000",
    "email": "motcua@stp.example",
    "hours": "Thứ Hai – Thứ Sáu, 7:30 – 17:00",
}


@pytest.fixture
async def checkout(aiohttp_client: Any, database_url: str, clock: FixedClock) -> Gateway:
    """The service, polling fast, with a contact for the test agency (HCM) only."""
    settings = make_settings(
        database_url,
        payments={"checkout_poll_ms": POLL_MS},
        contacts={"agencies": {"HCM": CONTACT}},
    )
    client = await aiohttp_client(create_app(settings, clock=clock, background=False))
    return Gateway(client=client, clock=clock, keys=await seed(client))


@pytest.fixture
async def tab(browser: Browser) -> AsyncIterator[tuple[BrowserContext, Page, list[str]]]:
    context = await browser.new_context(
        viewport=PHONE,
        locale="vi-VN",
        accept_downloads=True,
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = await context.new_page()
    errors: list[str] = []
    collect_errors(page, errors)
    try:
        yield context, page, errors
    finally:
        await context.close()


async def test_on_a_phone_the_qr_saves_as_a_png_and_each_transfer_detail_copies(
    checkout: Gateway, tab: tuple[BrowserContext, Page, list[str]], tmp_path: Path
) -> None:
    _, page, errors = tab
    payment = await checkout.create_payment()
    await page.goto(str(checkout.client.make_url(f"/pay/{payment['id']}")))

    # "Lưu mã QR" downloads the PNG; an independent decoder reads the bill's VietQR back.
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Lưu mã QR").click()
    download = await info.value
    assert download.suggested_filename == f"VietQR-{payment['reference']}.png"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(saved.read_bytes())).convert("L"))
    assert [code.text for code in found] == [payment["vietqr"]["payload"]]

    # Each copy button puts its value on the clipboard, as the banking app wants it.
    for testid, expected in (
        ("copy-account", AGENCY_ACCOUNT),
        ("copy-amount", "185000"),
        ("copy-reference", payment["reference"]),
    ):
        button = page.get_by_test_id(testid)
        await button.click()
        await expect(button).to_have_text("Đã sao chép")
        assert await page.evaluate("navigator.clipboard.readText()") == expected

    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert errors == []


async def test_a_short_transfer_tells_the_citizen_what_arrived_what_is_missing_and_whom_to_call(
    checkout: Gateway, tab: tuple[BrowserContext, Page, list[str]], aiohttp_server: Any
) -> None:
    _, page, errors = tab
    bank = await start_sandbox_bank(aiohttp_server, checkout)
    payment = await checkout.create_payment()
    await page.goto(str(checkout.client.make_url(f"/pay/{payment['id']}")))
    await expect(page.get_by_test_id("status")).to_have_text("Chờ thanh toán")

    await transfer(bank, payment, 180000)  # 5.000 ₫ short of 185.000 ₫

    await expect(page.get_by_test_id("status")).to_have_text(
        "Đang được kiểm tra", timeout=SWITCH_TIMEOUT_MS
    )
    await expect(page.get_by_test_id("qr")).to_be_hidden()
    await expect(page.get_by_test_id("result")).to_have_text("Khoản thanh toán đang được kiểm tra.")
    await expect(page.get_by_test_id("review-received")).to_have_text(
        "180.000 ₫ qua Chuyển khoản VietQR, lúc 22/11/2026 09:00"
    )
    await expect(page.get_by_test_id("review-why")).to_have_text(
        "Số tiền nhận được (180.000 ₫) khác số tiền phải nộp (185.000 ₫): thiếu 5.000 ₫."
    )
    await expect(page.get_by_test_id("review-next")).to_contain_text(
        "Vui lòng không chuyển thêm tiền trước khi được hướng dẫn."
    )
    await expect(page.get_by_test_id("contact-name")).to_have_text(CONTACT["name"])
    phone_link = page.get_by_test_id("contact-phone")
    await expect(phone_link).to_have_text(CONTACT["phone"])
    await expect(phone_link).to_have_attribute("href", "tel:02838220000")
    await expect(page.get_by_test_id("contact-email")).to_have_attribute(
        "href", f"mailto:{CONTACT['email']}"
    )
    await expect(page.get_by_test_id("review-contact")).to_contain_text(CONTACT["hours"])
    await expect(page.get_by_test_id("review-contact")).to_contain_text(payment["dossier_code"])
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert errors == []
