"""A finance officer deals with a notice of receipt errors (04/SS-CTĐT) the tax authority
rejected, on the console's dashboard, in a real headless browser (Debian's chromium through
Playwright): a reason of blanks is refused with the reason to give; with a reason the notice
leaves the dashboard's warnings and stays listed, dismissed, with who and why. Every wait is
Playwright's ``expect``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import FixedClock
from playwright.async_api import Browser, expect
from receipt_support import Identity
from tax_support import World, open_world
from tests_support import collect_errors, sign_in

from gateway.core.roles import Role
from gateway.keys import STAFF

pytestmark = pytest.mark.browser

DAY = "2026-11-22"
PASSWORD = "mat-khau-thu-nghiem-2026"
REASON = {"code": "E21", "message": "Biên lai không tồn tại"}


@pytest.fixture
async def world(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
    identity: Identity,
) -> AsyncIterator[World]:
    async with open_world(
        aiohttp_server, database_url, clock, unused_tcp_port_factory(), identity
    ) as opened:
        yield opened


async def test_an_officer_dismisses_a_rejected_notice_with_a_reason_on_the_dashboard(
    world: World, browser: Browser
) -> None:
    payment = await world.pay()
    correction = await world.correct(payment, {"payer_name": "Nguyễn Văn Ân"})
    await world.script({"outcome": "reject", "reasons": [REASON]})
    await world.notices.send_due()
    staff = world.gateway.client.app[STAFF]
    user_id = await staff.create_user(
        username="ketoan",
        display_name="Nguyễn Thị Kế Toán",
        role=Role.FINANCE,
        password=PASSWORD,
        agency_codes=["HCM"],
    )
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    collect_errors(page, errors, re.compile(r"Failed to load resource: .* 422"))  # the refusal
    try:
        base = str(world.gateway.client.make_url("")).rstrip("/")
        await sign_in(page, base, "ketoan", PASSWORD)
        await page.goto(f"{base}/console?date={DAY}")
        row = page.get_by_test_id("open-notice")
        await expect(row).to_contain_text("Cơ quan thuế từ chối")
        await expect(row).to_contain_text("Biên lai không tồn tại")
        await expect(page.get_by_test_id("notice-warnings")).to_be_visible()

        await row.get_by_label("Lý do bỏ qua").fill("   ")  # blanks: refused by the service
        await row.get_by_role("button", name="Bỏ qua thông báo").click()
        await expect(page.get_by_test_id("error")).to_contain_text("Hãy nhập lý do xử lý.")
        await expect(page.get_by_test_id("open-notice")).to_have_count(1)

        reason = "Đã lập đề nghị điều chỉnh mới cho biên lai; thông báo cũ không gửi lại"
        await page.get_by_test_id("open-notice").get_by_label("Lý do bỏ qua").fill(reason)
        await page.get_by_role("button", name="Bỏ qua thông báo").click()

        await expect(page.get_by_test_id("notice")).to_contain_text(
            "Đã ghi nhận xử lý thông báo sai sót"
        )
        await expect(page.get_by_test_id("open-notice")).to_have_count(0)
        await expect(page.get_by_test_id("notice-warnings")).to_have_count(0)
    finally:
        await context.close()
    assert errors == []
    notice = await world.notices.of_correction(correction["id"])
    assert notice["status"] == "dismissed" and notice["dismissal"]["reason"] == reason
    assert notice["dismissal"]["by"] == user_id  # the console user, in the audit log too
