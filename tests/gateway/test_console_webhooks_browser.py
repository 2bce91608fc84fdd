"""The finance console's newer pages in a real browser at phone width (390 × 844): an officer
opens their portal's webhook endpoint, sends a test event, and sends again what failed since a
time after confirming; searches payments; and two people resolve a flagged attempt. No page
is wider than the screen."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Gateway
from playwright.async_api import Browser, expect
from test_console_attempt_resolutions import PASSWORD as RESOLUTION_PASSWORD
from test_console_attempt_resolutions import flagged
from test_console_payments import PASSWORD, desk
from tests_support import OVERFLOW, PHONE, collect_errors, sign_in

from gateway.keys import DELIVERY

#: The fixtures: HCM's officer, the portal's endpoint and three payments; a flagged attempt.
__all__ = ["desk", "flagged"]

pytestmark = pytest.mark.browser


async def test_webhook_operations_and_payments_on_a_phone(browser: Browser, desk: Gateway) -> None:
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    collect_errors(page, errors)
    questions: list[str] = []

    async def answer(dialog: Any) -> None:
        questions.append(dialog.message)
        await dialog.accept()

    page.on("dialog", answer)
    base = str(desk.client.make_url("")).rstrip("/")
    widths: dict[str, int] = {}

    async def measure(name: str) -> None:
        width, offenders = await page.evaluate(OVERFLOW)
        widths[name] = int(width)
        assert int(width) <= PHONE["width"], (name, offenders)

    try:
        await sign_in(page, base, "ketoan", PASSWORD)
        await page.get_by_role("link", name="Webhook", exact=True).click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Điểm nhận webhook")
        await measure("/console/webhooks")
        await page.get_by_test_id("endpoint-link").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Nhật ký gửi webhook")
        await expect(page.get_by_test_id("delivery-row").first).to_be_visible()
        await measure("/console/webhooks/{id}")

        await page.get_by_role("button", name="Gửi sự kiện thử").click()
        await expect(page.get_by_test_id("notice")).to_have_text(
            "Đã xếp hàng gửi một sự kiện thử tới điểm nhận này."
        )
        assert await desk.client.app[DELIVERY].run_until_idle() == 1
        await page.reload()  # a GET after the redirect: nothing is sent again
        await expect(page.get_by_test_id("delivery-type").first).to_have_text("webhook.test")
        await expect(page.get_by_test_id("delivery-status").first).to_have_text("Đã gửi")

        await page.get_by_label("Bị lỗi từ thời điểm").fill("2026-11-22T08:00")
        await page.get_by_role("button", name="Gửi lại các thông báo lỗi").click()
        await expect(page.get_by_test_id("notice")).to_have_text(
            "Đã xếp hàng gửi lại 0 thông báo bị lỗi."
        )
        assert questions == [
            "Gửi lại mọi thông báo bị lỗi tới điểm nhận này từ thời điểm đã chọn trở đi "
            "(kể cả của sự kiện tạo trước đó)?"
        ]
        await measure("/console/webhooks/{id} (after recover)")

        await page.get_by_role("link", name="Thanh toán", exact=True).click()
        await expect(page.get_by_test_id("payment-row")).to_have_count(2)
        await measure("/console/payments")
        await page.get_by_test_id("payment-dossier").last.click()
        await expect(page.get_by_test_id("refunds")).to_contain_text("Thu trùng phí thẩm định")
        await measure("/console/payments/{id}")
    finally:
        await context.close()
    assert errors == []


async def test_a_flagged_attempt_is_resolved_by_two_people_on_a_phone(
    browser: Browser, wallets: Any, flagged: dict[str, Any]
) -> None:
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    collect_errors(page, errors, expected=None)
    questions: list[str] = []

    async def answer(dialog: Any) -> None:
        questions.append(dialog.message)
        await dialog.accept()

    page.on("dialog", answer)
    base = str(wallets.client.make_url("")).rstrip("/")
    try:
        await sign_in(page, base, "ketoan", RESOLUTION_PASSWORD)
        await page.get_by_test_id("resolve-attempt").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Giao dịch chưa rõ kết quả")
        width, offenders = await page.evaluate(OVERFLOW)
        assert width <= PHONE["width"], offenders
        await page.get_by_label("Kết quả nhà cung cấp xác nhận").select_option("succeeded")
        await page.get_by_label("Mã giao dịch của nhà cung cấp").fill("MOMO-TXN-1")
        await page.get_by_label("Số tiền đã thu").fill(str(flagged["bill"]["amount"]))
        await page.get_by_label("Lý do, cách xác nhận").fill("MoMo xác nhận qua email.")
        await page.get_by_role("button", name="Gửi đề xuất").click()
        await expect(page.get_by_test_id("notice")).to_contain_text("Đã ghi nhận đề xuất")
        await expect(page.get_by_role("button", name="Phê duyệt")).to_have_count(0)
        await page.get_by_role("button", name="Đăng xuất").click()

        await sign_in(page, base, "truongphong", RESOLUTION_PASSWORD)
        await page.goto(f"{base}/console/attempts/{flagged['attempt']['id']}")
        await page.get_by_role("button", name="Phê duyệt").click()
        await expect(page.get_by_test_id("notice")).to_contain_text("Đã phê duyệt")
        await expect(page.get_by_test_id("attempt-status")).to_contain_text("Thành công")
        width, offenders = await page.evaluate(OVERFLOW)
        assert width <= PHONE["width"], offenders
        assert questions and questions[0].startswith("Phê duyệt và áp dụng")
    finally:
        await context.close()
    assert errors == []
