"""Correcting a receipt in the finance console, in a real headless browser (Debian's
chromium through Playwright): an officer proposes a replacement for a wrong amount; an
approver declines the confirmation once (nothing happens), then approves, and the
replacement receipt has the next number. Every wait is Playwright's ``expect``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import FixedClock, Gateway, Identity, make_settings, seed
from playwright.async_api import Browser, Dialog, Page, expect
from receipt_support import receipt_settings
from tests_support import OVERFLOW, PHONE, collect_errors, sign_in, signed_notice

from gateway.app import create_app
from gateway.core.roles import Role
from gateway.keys import RECEIPTS, STAFF

pytestmark = pytest.mark.browser

PASSWORD = "mat-khau-thu-nghiem-2026"


@pytest.fixture
async def paid(
    aiohttp_client: Any, database_url: str, clock: FixedClock, identity: Identity
) -> Gateway:
    """HCM issuing receipts, two console users, and one payment paid by transfer."""
    settings = make_settings(database_url, receipts=receipt_settings(identity))
    client = await aiohttp_client(create_app(settings, clock=clock, background=False))
    gateway = Gateway(client=client, clock=clock, keys=await seed(client))
    await client.app[RECEIPTS].add_range("HCM", "26TAB", "online", 1, 1000)
    for username, name, role in (
        ("ketoan", "Nguyễn Thị Kế Toán", Role.FINANCE),
        ("truongphong", "Trần Văn Trưởng Phòng", Role.FINANCE_APPROVER),
    ):
        await client.app[STAFF].create_user(
            username=username,
            display_name=name,
            role=role,
            password=PASSWORD,
            agency_codes=["HCM"],
        )
    payment = await gateway.create_payment()
    body, headers = signed_notice(payment, int(clock().timestamp()))
    response = await client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert response.status == 200
    return gateway


@pytest.fixture
async def tab(browser: Browser) -> AsyncIterator[tuple[Page, list[str], list[str]]]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    questions: list[str] = []
    collect_errors(page, errors)
    answers = iter([False, True])  # decline the first question, accept the next

    async def answer(dialog: Dialog) -> None:
        questions.append(dialog.message)
        await (dialog.accept() if next(answers, True) else dialog.dismiss())

    page.on("dialog", answer)
    try:
        yield page, errors, questions
    finally:
        await context.close()


async def test_an_officer_proposes_a_replacement_and_an_approver_approves_it(
    paid: Gateway, tab: tuple[Page, list[str], list[str]]
) -> None:
    page, errors, questions = tab
    base = str(paid.client.make_url("")).rstrip("/")
    await sign_in(page, base, "ketoan", PASSWORD)
    await page.get_by_role("link", name="Biên lai", exact=True).click()
    await page.get_by_role("link", name="26TAB – 00000001").click()
    await expect(page.get_by_test_id("receipt-status")).to_have_text("Đã phát hành")
    await page.get_by_label("Lý do").fill("Phí thẩm định ghi sai số tiền")
    await page.get_by_test_id("replace-items").check()
    await page.get_by_test_id("item-amount").nth(0).fill("155000")
    await page.get_by_test_id("item-amount").nth(1).fill("30000")
    await page.get_by_test_id("propose-submit").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Đã ghi nhận đề nghị")
    await expect(page.get_by_test_id("correction-status")).to_have_text("Chờ phê duyệt")
    await expect(page.get_by_test_id("approve")).to_have_count(0)  # not for the maker
    receipt_path = page.url.removeprefix(base).partition("?")[0]
    await page.get_by_role("button", name="Đăng xuất").click()

    await sign_in(page, base, "truongphong", PASSWORD)
    await page.goto(base + receipt_path)
    await page.get_by_test_id("approve").click()  # declined: nothing happens
    await expect(page.get_by_test_id("correction-status")).to_have_text("Chờ phê duyệt")
    await page.get_by_test_id("approve").click()

    await expect(page.get_by_test_id("notice")).to_contain_text("Đã phê duyệt")
    await expect(page.get_by_test_id("receipt-status")).to_have_text("Đã được thay thế")
    assert len(questions) == 2 and "biên lai thay thế" in questions[0]
    await page.get_by_test_id("replacement-link").click()
    await expect(page.get_by_test_id("receipt-number")).to_have_text("00000002")
    await expect(page.get_by_test_id("receipt-status")).to_have_text("Đã phát hành")
    assert errors == []


async def test_the_receipt_pages_of_the_console_fit_a_phone(
    paid: Gateway, browser: Browser
) -> None:
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    collect_errors(page, errors)  # a CSP violation (an inline style or script) is one
    try:
        base = str(paid.client.make_url("")).rstrip("/")
        await sign_in(page, base, "truongphong", PASSWORD)
        widths = {}
        await page.goto(base + "/console/receipts")
        widths["/console/receipts"] = await page.evaluate(OVERFLOW)
        await page.get_by_role("link", name="26TAB – 00000001").click()
        await expect(page.get_by_test_id("receipt-status")).to_have_text("Đã phát hành")
        widths["/console/receipts/{id}"] = await page.evaluate(OVERFLOW)
    finally:
        await context.close()
    assert {path: found for path, found in widths.items() if found[0] > PHONE["width"]} == {}
    assert errors == []


async def test_an_officer_drops_a_line_that_does_not_belong_and_moves_its_money(
    paid: Gateway, browser: Browser
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    collect_errors(page, errors, re.compile(r"Failed to load resource: .* 422"))  # the refusal

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)
    try:
        base = str(paid.client.make_url("")).rstrip("/")
        await sign_in(page, base, "ketoan", PASSWORD)
        await page.get_by_role("link", name="Biên lai", exact=True).click()
        await page.get_by_role("link", name="26TAB – 00000001").click()
        await page.get_by_label("Lý do").fill("Phí thẩm định không áp dụng, thu vào lệ phí")
        await page.get_by_test_id("replace-items").check()
        await page.get_by_test_id("item-drop").nth(1).check()  # the phí line, 50.000 ₫
        await page.get_by_test_id("propose-submit").click()

        # Dropped without moving its money: the replacement would claim less than was paid.
        await expect(page.get_by_test_id("error")).to_contain_text(
            "Tổng các khoản (135.000 ₫) phải bằng số tiền đã thu cho biên lai này (185.000 ₫)"
        )
        await expect(page.get_by_test_id("correction")).to_have_count(0)
        await expect(page.get_by_test_id("item-drop").nth(1)).to_be_checked()  # kept
        await page.get_by_test_id("item-amount").nth(0).fill("185000")
        await page.get_by_test_id("propose-submit").click()
        await expect(page.get_by_test_id("notice")).to_contain_text("Đã ghi nhận đề nghị")
        await expect(page.get_by_test_id("correction")).to_contain_text("185.000")
        receipt_path = page.url.removeprefix(base).partition("?")[0]
        await page.get_by_role("button", name="Đăng xuất").click()

        await sign_in(page, base, "truongphong", PASSWORD)
        await page.goto(base + receipt_path)
        await page.get_by_test_id("approve").click()
        await expect(page.get_by_test_id("receipt-status")).to_have_text("Đã được thay thế")
        await page.get_by_test_id("replacement-link").click()
        await expect(page.get_by_test_id("receipt-number")).to_have_text("00000002")
        rows = page.get_by_test_id("receipt-items").locator("tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("185.000")
    finally:
        await context.close()
    assert errors == []
