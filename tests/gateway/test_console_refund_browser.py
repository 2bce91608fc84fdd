"""A refund made by hand, settled by two people in the finance console in a real browser at
phone width (390 × 844): the officer opens the refund from the payment's page and proposes
its result; the approver approves it (the browser asks first) and the refund is settled. No
page is wider than the screen."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Gateway
from playwright.async_api import Browser, expect
from test_refund_resolutions import PASSWORD, _refund, _transfer_paid
from tests_support import OVERFLOW, PHONE, collect_errors, sign_in

from gateway.core.roles import Role
from gateway.keys import STAFF

pytestmark = pytest.mark.browser


async def test_a_refund_made_by_hand_is_settled_by_two_people_on_a_phone(
    browser: Browser, gateway: Gateway
) -> None:
    for username, role in (("ketoan", Role.FINANCE), ("truongphong", Role.FINANCE_APPROVER)):
        await gateway.client.app[STAFF].create_user(
            username=username,
            display_name=username.title(),
            role=role,
            password=PASSWORD,
            agency_codes=["HCM"],
        )
    payment = await _transfer_paid(gateway)
    refund = await _refund(gateway, payment, payment["amount"])
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    collect_errors(page, errors, expected=None)
    questions: list[str] = []

    async def answer(dialog: Any) -> None:
        questions.append(dialog.message)
        await dialog.accept()

    page.on("dialog", answer)
    base = str(gateway.client.make_url("")).rstrip("/")
    try:
        await sign_in(page, base, "ketoan", PASSWORD)
        await page.goto(f"{base}/console/payments/{payment['id']}")
        await page.get_by_test_id("refund-row").get_by_role("link").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Khoản hoàn tiền")
        await expect(page.get_by_test_id("refund-status")).to_contain_text("Chờ xác nhận")
        width, offenders = await page.evaluate(OVERFLOW)
        assert width <= PHONE["width"], offenders
        await page.get_by_label("Kết quả đã xác nhận").select_option("succeeded")
        await page.get_by_label("Mã giao dịch hoàn tiền").fill("FT26330123456")
        await page.get_by_label("Lý do, cách xác nhận").fill("Đã chuyển khoản hoàn tiền.")
        await page.get_by_role("button", name="Gửi đề xuất").click()
        await expect(page.get_by_test_id("notice")).to_contain_text("Đã ghi nhận đề xuất")
        await expect(page.get_by_role("button", name="Phê duyệt")).to_have_count(0)
        await page.get_by_role("button", name="Đăng xuất").click()

        await sign_in(page, base, "truongphong", PASSWORD)
        await page.goto(f"{base}/console/refunds/{refund['id']}")
        await expect(page.get_by_test_id("waiting-outcome")).to_contain_text("Thành công")
        await page.get_by_role("button", name="Phê duyệt").click()
        await expect(page.get_by_test_id("notice")).to_contain_text("Đã phê duyệt")
        await expect(page.get_by_test_id("refund-status")).to_contain_text("thành công")
        await expect(page.get_by_test_id("resolution-status")).to_have_text("Đã phê duyệt")
        width, offenders = await page.evaluate(OVERFLOW)
        assert width <= PHONE["width"], offenders
        assert questions and questions[0].startswith("Phê duyệt và áp dụng")
    finally:
        await context.close()
    assert errors == []
    assert (await gateway.payment(payment["id"]))["status"] == "refunded"
