"""The finance staff console in a real headless browser (Debian's chromium driven by
Playwright): a quarantined upload, then a whole reconciliation day with maker-checker —
the officer resolves, the approver approves, nobody approves their own resolution, and
the day is closed.

The day's data comes through the services: a citizen pays 185.000 ₫ by bank transfer
through the sandbox bank, and the bank's camt.053 for the day shows that credit as
180.000 ₫ (an amount mismatch) plus a credit nobody at the gateway knows about.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import AGENCY_ACCOUNT, FixedClock, Gateway, make_settings, seed
from playwright.async_api import Browser, Page, expect
from test_console_http import DAY, PASSWORD, camt053
from tests_support import (
    OVERFLOW,
    PHONE,
    collect_errors,
    sign_in,
    start_sandbox_bank,
    transfer_in_full,
)

from gateway.app import create_app
from gateway.core.roles import Role
from gateway.keys import STAFF

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
EXPECTED_STATUS = re.compile(r"^Failed to load resource: .* status of (409|422) ")
#: For a human to look at; nothing asserts on it.
SCREENSHOT = "/tmp/console.png"  # noqa: S108 — a fixed, well-known place on purpose
STAFF_USERS = (
    ("ketoan", "Nguyễn Thị Kế Toán", Role.FINANCE),
    ("truongphong", "Trần Văn Trưởng Phòng", Role.FINANCE_APPROVER),
    ("phophong", "Lê Thị Phó Phòng", Role.FINANCE_APPROVER),
)


# -- fixtures ----------------------------------------------------------------------------


@dataclass
class Desk:
    """A desktop-sized tab, with what went wrong in it (script errors, CSP reports)."""

    page: Page
    base: str
    errors: list[str] = field(default_factory=list)
    #: The questions irreversible actions asked, in order (each was answered "OK" unless
    #: :meth:`decline_next` said otherwise).
    questions: list[str] = field(default_factory=list)
    declining: bool = False

    async def answer(self, dialog: Any) -> None:
        self.questions.append(dialog.message)
        if self.declining:
            self.declining = False
            await dialog.dismiss()
        else:
            await dialog.accept()

    def decline_next(self) -> None:
        self.declining = True

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base + path)

    async def login(self, username: str) -> None:
        await sign_in(self.page, self.base, username, PASSWORD)
        await expect(self.page.get_by_role("heading", level=1)).to_contain_text("Đối soát ngày")

    async def logout(self) -> None:
        await self.page.get_by_role("button", name="Đăng xuất").click()
        await expect(self.page.get_by_role("heading", level=1)).to_have_text("Đăng nhập")

    async def open_exception(self, type_label: str) -> None:
        await self.page.get_by_role("link", name="Ngoại lệ", exact=True).click()
        await self.page.get_by_role("link", name=type_label).click()
        await expect(self.page.get_by_role("heading", level=1)).to_have_text(type_label)


@pytest.fixture
async def desk(browser: Browser, console_day: Gateway) -> AsyncIterator[Desk]:
    context = await browser.new_context(viewport=DESKTOP, locale="vi-VN", accept_downloads=True)
    page = await context.new_page()
    desk = Desk(page, str(console_day.client.make_url("")).rstrip("/"))
    # A refused form answers its page with 409/422 on purpose; chromium logs that as a
    # failed "resource". Anything else (a CSP violation, a script error) counts.
    collect_errors(page, desk.errors, expected=EXPECTED_STATUS)
    page.on("dialog", desk.answer)
    try:
        yield desk
    finally:
        await context.close()


@pytest.fixture
async def console_day(
    aiohttp_client: Any, aiohttp_server: Any, database_url: str, clock: FixedClock
) -> Gateway:
    """The service with three console users and one payment paid by bank transfer."""
    app = create_app(make_settings(database_url), clock=clock, background=False)
    client = await aiohttp_client(app)
    gateway = Gateway(client=client, clock=clock, keys=await seed(client))
    for username, display_name, role in STAFF_USERS:
        await app[STAFF].create_user(
            username=username,
            display_name=display_name,
            role=role,
            password=PASSWORD,
            agency_codes=["HCM"],
            all_agencies=role is Role.FINANCE_APPROVER,  # they close the day: deployment-wide
        )
    bank = await start_sandbox_bank(aiohttp_server, gateway)
    payment = await gateway.create_payment()
    await transfer_in_full(bank, payment)
    gateway.keys["reference"] = payment["reference"]
    return gateway


def bank_statement(reference: str, *, closing: int | None = None) -> bytes:
    return camt053(
        [
            ("180000", "CRDT", f"{reference} NGUYEN VAN AN NOP PHI"),
            ("500000", "CRDT", "TRAN THI BINH CHUYEN TIEN"),
        ],
        closing=closing,
    )


async def upload(desk: Desk, name: str, data: bytes) -> None:
    page = desk.page
    await page.get_by_role("link", name="Nhập sao kê").click()
    await page.get_by_label("Loại tệp").select_option("camt053")
    await page.get_by_label("Số tài khoản").fill(AGENCY_ACCOUNT)
    await page.get_by_label("Tệp sao kê").set_input_files(
        {"name": name, "mimeType": "application/xml", "buffer": data}
    )
    await page.get_by_role("button", name="Tải lên").click()


# -- tests -------------------------------------------------------------------------------


async def test_a_reconciliation_day_from_upload_to_close_with_maker_checker(
    console_day: Gateway, desk: Desk
) -> None:
    page = desk.page
    reference = console_day.keys["reference"]

    # The finance officer signs in; nothing has been reconciled yet.
    await desk.login("ketoan")
    await expect(page.get_by_test_id("who")).to_have_text("Nguyễn Thị Kế Toán · Kế toán viên")
    await expect(page.get_by_test_id("no-run")).to_be_visible()
    await expect(page.get_by_role("button", name="Khóa sổ ngày")).to_have_count(0)

    # A statement whose balances do not tie is quarantined whole, with the reason.
    await upload(desk, "saoke-sai.xml", bank_statement(reference, closing=10_600_000))
    await expect(page.get_by_test_id("import-status")).to_have_text("Bị cách ly")
    await expect(page.get_by_test_id("reason")).to_contain_text(
        "Số dư không khớp (đầu kỳ + ghi có − ghi nợ ≠ cuối kỳ)"
    )
    await expect(page.get_by_test_id("reason")).to_contain_text("closing balance is 10600000")

    # The corrected file is accepted.
    await upload(desk, "saoke.xml", bank_statement(reference))
    await expect(page.get_by_test_id("import-status")).to_have_text("Đã nhận")
    await expect(page.get_by_test_id("line-count")).to_have_text("2 dòng giao dịch")

    # Run the day: two exceptions.
    await page.get_by_role("link", name="Tổng quan").click()
    await page.get_by_role("button", name="Chạy đối soát").click()
    await expect(page.get_by_test_id("notice")).to_have_text("Đã chạy đối soát cho ngày này.")
    await expect(page.get_by_test_id("exception-count")).to_have_text("2")
    by_type = page.get_by_test_id("by-type")
    await expect(by_type).to_contain_text("Lệch số tiền")
    await expect(by_type).to_contain_text("Không có trên cổng")
    await expect(page.get_by_test_id("day-status")).to_have_text("Chưa khóa sổ")

    # The officer reviews the amount mismatch side by side, and resolves it (maker).
    await desk.open_exception("Lệch số tiền")
    await expect(page.get_by_test_id("exception-status")).to_have_text("Chưa xử lý")
    gateway_side = page.get_by_test_id("gateway-side")
    await expect(gateway_side).to_contain_text(reference)
    await expect(gateway_side).to_contain_text("185.000 ₫")
    await expect(page.get_by_test_id("statement-side")).to_contain_text("180.000 ₫")
    await expect(page.get_by_test_id("statement-side")).to_contain_text("NGUYEN VAN AN NOP PHI")
    await expect(page.get_by_test_id("difference")).to_have_text("5.000 ₫")
    await page.screenshot(path=SCREENSHOT, full_page=True)

    await page.get_by_label("Cách xử lý").select_option(label="Ghi giảm")
    await page.get_by_label("Lý do").fill(
        "Ngân hàng thu phí chuyển tiền 5.000 ₫ của người nộp; đã đối chiếu chứng từ."
    )
    await page.get_by_role("button", name="Ghi nhận xử lý").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("đang chờ phê duyệt")
    await expect(page.get_by_test_id("exception-status")).to_have_text("Chờ phê duyệt")
    await expect(page.get_by_test_id("resolution")).to_have_text("Ghi giảm")
    await expect(page.get_by_role("button", name="Phê duyệt")).to_have_count(0)
    await desk.logout()

    # The approver approves it (checker).
    await desk.login("truongphong")
    await desk.open_exception("Lệch số tiền")
    await page.get_by_role("button", name="Phê duyệt").click()
    await expect(page.get_by_test_id("notice")).to_have_text("Đã phê duyệt xử lý ngoại lệ.")
    await expect(page.get_by_test_id("exception-status")).to_have_text("Đã phê duyệt")
    await expect(page.get_by_test_id("approved-by")).to_contain_text("Trần Văn Trưởng Phòng")

    # The approver resolves the unknown credit himself and cannot approve his own decision.
    await desk.open_exception("Không có trên cổng")
    await expect(page.get_by_test_id("gateway-side")).to_contain_text(
        "Không có giao dịch tương ứng trên cổng."
    )
    await expect(page.get_by_test_id("statement-side")).to_contain_text("500.000 ₫")
    await page.get_by_label("Cách xử lý").select_option(label="Đề nghị hoàn tiền")
    await page.get_by_label("Lý do").fill("Không có hồ sơ nào khớp; đề nghị ngân hàng trả lại.")
    await page.get_by_role("button", name="Ghi nhận xử lý").click()
    await page.get_by_role("button", name="Phê duyệt").click()
    await expect(page.get_by_test_id("error")).to_have_text(
        "Không thể tự phê duyệt xử lý của chính mình (dù đã ghi nhận bằng khóa API hay tài "
        "khoản khác của cùng một người); cần người khác phê duyệt."
    )
    await expect(page.get_by_test_id("exception-status")).to_have_text("Chờ phê duyệt")

    # So the day cannot be closed yet.
    await page.get_by_role("link", name="Tổng quan").click()
    await page.get_by_role("button", name="Khóa sổ ngày").click()
    await expect(page.get_by_test_id("error")).to_contain_text("Chưa thể khóa sổ")
    await expect(page.get_by_test_id("day-status")).to_have_text("Chưa khóa sổ")
    await desk.logout()

    # A second approver approves it and closes the day.
    await desk.login("phophong")
    await desk.open_exception("Không có trên cổng")
    await page.get_by_role("button", name="Phê duyệt").click()
    await expect(page.get_by_test_id("exception-status")).to_have_text("Đã phê duyệt")
    await page.get_by_role("link", name="Tổng quan").click()
    # Closing asks first; "Cancel" leaves the day open.
    desk.decline_next()
    await page.get_by_role("button", name="Khóa sổ ngày").click()
    await page.reload()
    await expect(page.get_by_test_id("day-status")).to_have_text("Chưa khóa sổ")
    await page.get_by_role("button", name="Khóa sổ ngày").click()
    await expect(page.get_by_test_id("notice")).to_have_text("Đã khóa sổ ngày.")
    assert (
        desk.questions[-2].startswith("Khóa sổ ngày ")
        and desk.questions[-1] == (desk.questions[-2])
    )
    assert any(question.startswith("Phê duyệt cách xử lý này?") for question in desk.questions)
    await expect(page.get_by_test_id("day-status")).to_have_text("Đã khóa sổ")
    await expect(page.get_by_role("button", name="Chạy đối soát")).to_have_count(0)

    # The day's report downloads.
    async with page.expect_download() as download_info:
        await page.get_by_test_id("report-xlsx").click()
    download = await download_info.value
    assert download.suggested_filename == f"doi-soat-{DAY.isoformat()}.xlsx"

    assert desk.errors == []


# -- on a phone ----------------------------------------------------------------------------

#: For a human to look at; nothing asserts on it.
PHONE_SCREENSHOT = "/tmp/console-phone.png"  # noqa: S108 — a fixed, well-known place on purpose


async def _width(page: Page) -> tuple[int, list[str]]:
    width, offenders = await page.evaluate(OVERFLOW)
    return int(width), offenders


async def test_every_finance_console_page_fits_a_phone(
    browser: Browser, console_day: Gateway
) -> None:
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    page = await context.new_page()
    base = str(console_day.client.make_url("")).rstrip("/")
    desk = Desk(page, base)
    page.on("dialog", desk.answer)
    # A CSP violation (an inline style or script) is a console error.
    collect_errors(page, desk.errors, expected=EXPECTED_STATUS)
    try:
        await page.goto(f"{base}/console/login")
        widths = {"/console/login": await _width(page)}
        await desk.login("ketoan")
        await upload(desk, "saoke.xml", bank_statement(console_day.keys["reference"]))
        await page.get_by_role("link", name="Tổng quan").click()
        await page.get_by_role("button", name="Chạy đối soát").click()
        await expect(page.get_by_test_id("notice")).to_be_visible()
        widths["/console (a run)"] = await _width(page)
        await page.screenshot(path=PHONE_SCREENSHOT, full_page=True)
        for path in (
            "/console/statements",
            "/console/exceptions",
            "/console/webhooks",
            "/console/receipts",
            "/console/payments",  # last: a payment is opened from it
        ):
            await page.goto(base + path)
            widths[path] = await _width(page)
        await page.get_by_test_id("payment-dossier").first.click()
        await expect(page.get_by_test_id("payment-reference")).to_be_visible()
        widths["/console/payments/{id}"] = await _width(page)
        await desk.open_exception("Không có trên cổng")
        widths["/console/exceptions/{id}"] = await _width(page)
        # The header (navigation, who, sign-out) is reachable, not pushed off the screen.
        box = await page.get_by_role("button", name="Đăng xuất").bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    finally:
        await context.close()

    assert {path: found for path, found in widths.items() if found[0] > PHONE["width"]} == {}
    assert desk.errors == []


async def test_an_officer_finds_a_payment_by_its_reference_and_opens_it(
    console_day: Gateway, desk: Desk
) -> None:
    page = desk.page
    reference = console_day.keys["reference"]
    await desk.login("ketoan")
    await page.get_by_role("link", name="Thanh toán", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Tra cứu thanh toán")
    await page.get_by_label("Mã thanh toán").fill(reference.lower())
    await page.get_by_label("Trạng thái").select_option(label="Đã thanh toán")
    await page.get_by_role("button", name="Tìm").click()
    await expect(page.get_by_test_id("payment-row")).to_have_count(1)
    await expect(page.get_by_test_id("payment-status")).to_have_text("Đã thanh toán")
    await page.get_by_test_id("payment-dossier").click()
    await expect(page.get_by_test_id("payment-reference")).to_have_text(reference)
    await expect(page.get_by_test_id("attempts")).to_contain_text("Chuyển khoản VietQR")
    await expect(page.get_by_test_id("payment-amount")).to_have_text("185.000 ₫")
    assert desk.errors == []
