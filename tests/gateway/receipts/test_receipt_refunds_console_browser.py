"""The finance console's receipt page shows the refunds recorded against the receipt, in a
real headless browser (Debian's chromium through Playwright): for an agency issuing the phí
and the lệ phí apart, a whole refund is listed on each receipt with the whole amount and the
receipt's own share; a part refunded without lines is listed as not attributed; a receipt
without refunds says so; the page fits a phone. Every wait is Playwright's ``expect``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from conftest import FixedClock, Gateway, Identity, make_settings, seed
from playwright.async_api import Browser, Page, expect
from receipt_support import receipt_settings
from tests_support import OVERFLOW, PHONE, collect_errors, sign_in, signed_notice

from gateway.app import create_app
from gateway.core.roles import Role
from gateway.keys import RECEIPTS, STAFF
from gateway.pages.receipts import REFUND_LABELS
from gateway.pages.render import vnd

pytestmark = pytest.mark.browser

PASSWORD = "mat-khau-thu-nghiem-2026"


@pytest.fixture
async def refunded(
    aiohttp_client: Any, database_url: str, clock: FixedClock, identity: Identity
) -> tuple[Gateway, dict[str, Any]]:
    """HCM issuing a phí receipt and a lệ phí receipt per payment; two payments of 50,000 phí
    and 135,000 lệ phí paid by transfer (receipts 1-2 and 3-4): the first refunded whole, the
    second refunded 100,000 without lines (unattributed). The refunds, by payment."""
    settings = make_settings(database_url, receipts=receipt_settings(identity, split="split"))
    client = await aiohttp_client(create_app(settings, clock=clock, background=False))
    gateway = Gateway(client=client, clock=clock, keys=await seed(client))
    await client.app[RECEIPTS].add_range("HCM", "26TAB", "online", 1, 1000)
    await client.app[STAFF].create_user(
        username="ketoan",
        display_name="Nguyễn Thị Kế Toán",
        role=Role.FINANCE,
        password=PASSWORD,
        agency_codes=["HCM"],
    )
    made = {}
    for name, amount in (("whole", 185_000), ("part", 100_000)):
        payment = await gateway.create_payment()
        body, headers = signed_notice(payment, int(clock().timestamp()))
        paid = await client.post("/callbacks/bank/testbank", data=body, headers=headers)
        assert paid.status == 200, await paid.text()
        response = await client.post(
            f"/v1/payments/{payment['id']}/refunds",
            json={"amount": amount, "reason": "Hồ sơ bị từ chối"},
            headers={**gateway.auth("finance"), "Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status == 201, await response.text()
        made[name] = await response.json()
    return gateway, made


async def _open(page: Page, base: str, number: int) -> None:
    await page.goto(base + "/console/receipts")
    await page.get_by_role("link", name=f"26TAB – {number:08d}").click()
    await expect(page.get_by_test_id("receipt-status")).to_have_text("Đã phát hành")


async def test_the_receipt_page_shows_each_refund_with_the_receipts_share(
    refunded: tuple[Gateway, dict[str, Any]], browser: Browser
) -> None:
    gateway, made = refunded
    whole, part = made["whole"], made["part"]
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    collect_errors(page, errors)
    try:
        base = str(gateway.client.make_url("")).rstrip("/")
        await sign_in(page, base, "ketoan", PASSWORD)

        # The lệ phí receipt of the first payment: the whole refund, 135,000 of it its own.
        await _open(page, base, 2)
        rows = page.get_by_test_id("refund-share")
        await expect(rows).to_have_count(1)
        await expect(page.get_by_test_id("refunds")).to_contain_text("Hoàn tiền")
        await expect(rows.first).to_contain_text(REFUND_LABELS[whole["status"]])
        await expect(rows.first.get_by_test_id("refund-amount")).to_have_text(vnd(185_000))
        await expect(rows.first.get_by_test_id("refund-share-amount")).to_have_text(vnd(135_000))
        headers = page.get_by_test_id("refund-shares").locator("th")
        await expect(headers).to_have_text(
            ["Trạng thái", "Thời điểm", "Số tiền hoàn", "Phần của biên lai này"]
        )

        # Its phí receipt: the same refund, 50,000 of it.
        await _open(page, base, 1)
        await expect(page.get_by_test_id("refund-share-amount")).to_have_text(vnd(50_000))
        await expect(page.get_by_test_id("refund-amount")).to_have_text(vnd(185_000))

        # The second payment's receipts: a part without lines, on each, not attributed.
        for number in (3, 4):
            await _open(page, base, number)
            await expect(page.get_by_test_id("refund-amount")).to_have_text(vnd(100_000))
            await expect(page.get_by_test_id("refund-share-amount")).to_have_text(
                "Chưa phân bổ theo biên lai"
            )
            await expect(page.get_by_test_id("refund-share")).to_contain_text(
                REFUND_LABELS[part["status"]]
            )
    finally:
        await context.close()
    assert errors == []


async def test_a_receipt_without_refunds_says_so_and_the_refunds_fit_a_phone(
    refunded: tuple[Gateway, dict[str, Any]], browser: Browser, clock: FixedClock
) -> None:
    gateway, _ = refunded
    payment = await gateway.create_payment()  # paid, not refunded: receipts 5 and 6
    body, headers = signed_notice(payment, int(clock().timestamp()))
    paid = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert paid.status == 200
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    collect_errors(page, errors)  # a CSP violation (an inline style or script) is one
    try:
        base = str(gateway.client.make_url("")).rstrip("/")
        await sign_in(page, base, "ketoan", PASSWORD)
        await _open(page, base, 5)
        await expect(page.get_by_test_id("refunds")).to_contain_text("Chưa có khoản hoàn tiền nào.")
        await expect(page.get_by_test_id("refund-share")).to_have_count(0)
        await _open(page, base, 2)
        await expect(page.get_by_test_id("refund-share")).to_have_count(1)
        width = await page.evaluate(OVERFLOW)
    finally:
        await context.close()
    assert width[0] <= PHONE["width"], width
    assert errors == []
