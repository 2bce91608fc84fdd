"""The operator console in a real headless browser (Debian's chromium driven by Playwright): a
postal operator signs in, finds today's delivery, opens it, reports an event, records the
handover of the result at the agency, and prints the handover record (biên bản bàn giao)."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import zxingcpp
from conftest import Postal
from PIL import Image
from playwright.async_api import Browser, Page, expect
from tests_support import collect_errors, sign_in

from gateway.core.roles import Role
from gateway.keys import DATABASE, STAFF
from gateway.services.postal import offices

pytestmark = pytest.mark.browser

PASSWORD = "mat-khau-buu-cuc-2026"
DESKTOP = {"width": 1280, "height": 900}
#: For a human to look at; nothing asserts on it.
SCREENSHOT = "/tmp/operator.png"  # noqa: S108 — a fixed, well-known place on purpose


@dataclass
class Counter:
    """A desktop-sized tab at the post office, with what went wrong in it."""

    page: Page
    base: str
    errors: list[str] = field(default_factory=list)


@pytest.fixture(params=[1], ids=["screen"])
def pixel_ratio(request: pytest.FixtureRequest) -> int:
    """CSS pixels per device pixel of the tab (a print test asks for a sharper one)."""
    return int(request.param)


async def _operator(postal: Postal) -> None:
    """The postal operator ``buudien`` of post office BC-HCM."""
    await postal.client.app[STAFF].create_user(
        username="buudien",
        display_name="Lê Văn Bưu",
        role=Role.POSTAL_OPERATOR,
        password=PASSWORD,
        agency_codes=[],
    )
    await offices.scope_user(postal.client.app[DATABASE], "buudien", ["BC-HCM"])


async def _picked_up(postal: Postal, order: Any) -> None:
    """The post office reports the dossier collected (operator API), now."""
    response = await postal.client.post(
        f"/v1/operator/orders/{order['id']}/events",
        json={
            "event_id": order["id"],
            "status": "picked_up",
            "occurred_at": postal.clock().isoformat(),
        },
        headers=postal.auth("operator"),
    )
    assert response.status == 201, await response.text()


@pytest.fixture
async def counter(browser: Browser, postal: Postal, pixel_ratio: int) -> AsyncIterator[Counter]:
    await _operator(postal)
    context = await browser.new_context(
        viewport=DESKTOP, locale="vi-VN", device_scale_factor=pixel_ratio
    )
    page = await context.new_page()
    desk = Counter(page, str(postal.client.make_url("")).rstrip("/"))
    collect_errors(page, desk.errors)
    try:
        yield desk
    finally:
        await context.close()


async def test_an_operator_delivers_a_result_and_prints_the_handover_record(
    postal: Postal, counter: Counter
) -> None:
    page = counter.page
    order: Any = await postal.book()
    item = order["tracking_number"]
    postal.clock.advance(minutes=20)

    # Sign in on the staff login; a postal operator lands on today's work.
    await sign_in(page, counter.base, "buudien", PASSWORD)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Việc hôm nay – 22/11/2026")
    await expect(page.get_by_test_id("who")).to_have_text("Lê Văn Bưu · Nhân viên bưu chính")
    deliveries = page.get_by_test_id("deliveries")
    await expect(deliveries).to_contain_text("Nguyễn Văn An")
    await expect(deliveries).to_contain_text("0912345678")

    # Open the delivery: the recipient in full.
    await deliveries.get_by_role("link", name=item).click()
    await expect(page.get_by_test_id("tracking-number")).to_have_text(item)
    await expect(page.get_by_test_id("recipient")).to_contain_text("12 Lê Lợi")
    await expect(page.get_by_test_id("order-status")).to_have_text("Mới tạo")

    # Report that a postman is on it.
    await page.get_by_label("Trạng thái mới").select_option(label="Đã phân công bưu tá")
    await page.get_by_label("Ghi chú").fill("Bưu tá Lê Văn Bưu nhận việc")
    await page.get_by_role("button", name="Ghi nhận sự kiện").click()
    await expect(page.get_by_test_id("notice")).to_have_text(
        "Đã ghi nhận sự kiện và cập nhật trạng thái đơn."
    )
    await expect(page.get_by_test_id("order-status")).to_have_text("Đã phân công bưu tá")
    await expect(page.get_by_test_id("events")).to_contain_text("Bưu tá Lê Văn Bưu nhận việc")

    # The result is handed to the postman at the agency: the checklist and the seal.
    form = page.get_by_test_id("handover-form")
    await expect(form.get_by_label("Loại bàn giao")).to_have_value("collected")
    await form.get_by_label("Họ tên người bàn giao/nhận").fill("Trần Thị Bình")
    await form.get_by_label("Tên giấy tờ 1", exact=True).fill("Giấy phép lái xe")
    await form.get_by_label("Tên giấy tờ 2", exact=True).fill("Quyết định cấp đổi")
    await form.get_by_label("Bản chính hay bản sao 2").select_option(label="Bản sao")
    await form.get_by_label("Số lượng 2").fill("2")
    await form.get_by_label("Số niêm phong").fill("NP-0001")
    await form.get_by_role("button", name="Ghi nhận bàn giao").click()
    await expect(page.get_by_test_id("notice")).to_have_text("Đã ghi nhận biên bản bàn giao.")
    await expect(page.get_by_test_id("order-status")).to_have_text("Đã lấy hàng")
    await expect(page.get_by_test_id("handovers")).to_contain_text("Trần Thị Bình")
    await page.screenshot(path=SCREENSHOT, full_page=True)

    # The printable record lists the documents in Vietnamese.
    await page.get_by_role("link", name="In biên bản bàn giao").click()
    await expect(page.get_by_test_id("record-title")).to_have_text(
        "BIÊN BẢN BÀN GIAO KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"
    )
    documents = page.get_by_test_id("document")
    await expect(documents).to_have_count(2)
    await expect(documents.nth(0)).to_contain_text("Giấy phép lái xe")
    await expect(documents.nth(0)).to_contain_text("Bản chính")
    await expect(documents.nth(1)).to_contain_text("Quyết định cấp đổi")
    await expect(documents.nth(1)).to_contain_text("Bản sao")
    await expect(page.get_by_test_id("documents")).to_contain_text("Tên giấy tờ")
    await expect(page.get_by_test_id("seal-number")).to_have_text("NP-0001")
    await expect(page.get_by_role("button", name="In")).to_be_visible()

    assert counter.errors == []
    assert (await postal.order(order["id"]))["status"] == "picked_up"


#: A 0.33 mm bar is 1.25 CSS pixels: photograph the print at 4 device pixels per CSS pixel, as
#: a 300 dpi scanner would see it.
SHARP = pytest.mark.parametrize("pixel_ratio", [4], ids=["sharp"], indirect=True)


@SHARP
async def test_the_label_carries_a_code_128_of_the_item_code_and_prints_at_label_size(
    postal: Postal, counter: Counter
) -> None:
    """The label's barcode, photographed in the browser, is read back by an independent
    decoder (zxing-cpp) as the item code; printed, the label is one 100 × 150 mm page."""
    page = counter.page
    order: Any = await postal.book()
    item = order["tracking_number"]
    await sign_in(page, counter.base, "buudien", PASSWORD)
    await page.goto(f"{counter.base}/operator/orders/{order['id']}/label")
    await expect(page.get_by_test_id("label-tracking")).to_have_text(item)

    shot = await page.get_by_test_id("label-barcode").screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)).convert("L"))
    assert [(code.format, code.text) for code in found] == [(zxingcpp.BarcodeFormat.Code128, item)]

    pdf = await page.pdf(prefer_css_page_size=True, print_background=True)
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert len(boxes) == 1  # one page
    width_mm, height_mm = (float(points) * 25.4 / 72 for points in boxes[0])
    assert (round(width_mm), round(height_mm)) == (100, 150)
    assert counter.errors == []


@SHARP
async def test_the_handover_record_carries_the_barcode_of_the_item_code(
    postal: Postal, counter: Counter
) -> None:
    page = counter.page
    order: Any = await postal.book()
    await sign_in(page, counter.base, "buudien", PASSWORD)
    await page.goto(f"{counter.base}/operator/orders/{order['id']}/handover-record")
    shot = await page.get_by_test_id("record-barcode").locator("svg").screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)).convert("L"))
    assert [code.text for code in found] == [order["tracking_number"]]
    assert counter.errors == []


@SHARP
async def test_the_days_collected_dossiers_print_as_one_batch_handover_record(
    postal: Postal, counter: Counter
) -> None:
    """Two dossiers collected today, one still to collect: the batch record (biên bản giao
    nhận hồ sơ) lists the two with their slip numbers, barcodes and completeness boxes."""
    page = counter.page
    collected = [
        await postal.book(leg="pickup", dossier_code=f"000.00.12.H29-241122-000{n}") for n in (1, 2)
    ]
    waiting = await postal.book(leg="pickup", dossier_code="000.00.12.H29-241122-0003")
    postal.clock.advance(minutes=30)
    for order in collected:
        await _picked_up(postal, order)

    await sign_in(page, counter.base, "buudien", PASSWORD)
    await page.get_by_test_id("batch-link").click()
    await expect(page.get_by_test_id("batch-title")).to_have_text("BIÊN BẢN GIAO NHẬN HỒ SƠ")
    await expect(page.get_by_test_id("batch-record")).to_have_count(1)
    dossiers = page.get_by_test_id("batch-dossier")
    await expect(dossiers).to_have_count(2)
    slips = sorted(order["tracking_number"] for order in collected)
    await expect(page.get_by_test_id("slip-number")).to_have_text(slips)
    codes = {order["tracking_number"]: order["dossier_code"] for order in collected}
    await expect(dossiers.nth(1)).to_contain_text(codes[slips[1]])
    await expect(dossiers.nth(0)).to_contain_text("Đầy đủ")
    await expect(page.get_by_test_id("batch-record")).not_to_contain_text(
        waiting["tracking_number"]
    )
    shot = await dossiers.nth(1).locator("svg").screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)).convert("L"))
    assert [code.text for code in found] == [slips[1]]

    # Signed at the agency, with only the second dossier confirmed complete: its signing time
    # is its filing time, which the portal sees; the first stays with the post.
    postal.clock.advance(hours=2)  # 11:30 in Vietnam
    await page.get_by_label(f"Hồ sơ {slips[1]} đầy đủ").check()
    await page.get_by_label("Họ tên cán bộ tiếp nhận").fill("Phạm Thị Nhận")
    await page.get_by_label("Thời điểm ký").fill("2026-11-22T11:15")
    await page.get_by_role("button", name="Ghi nhận biên bản đã ký").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("thời điểm tiếp nhận hồ sơ")
    await expect(page.get_by_test_id("received")).to_have_count(1)
    await expect(dossiers.nth(1).get_by_test_id("received")).to_contain_text("22/11/2026 11:15")
    by_slip = {order["tracking_number"]: order["id"] for order in collected}
    filed = await postal.order(by_slip[slips[1]])
    assert (filed["status"], filed["handed_over_at"]) == ("delivered", "2026-11-22T04:15:00Z")
    held = await postal.order(by_slip[slips[0]])
    assert (held["status"], held["handed_over_at"]) == ("picked_up", None)
    assert counter.errors == []


# -- on a phone ----------------------------------------------------------------------------

PHONE = {"width": 390, "height": 844}


async def test_every_operator_console_page_fits_a_phone_and_keeps_to_the_csp(
    browser: Browser, postal: Postal
) -> None:
    """At 390 × 844 no page (sign-in, today's work, an order, its printouts) is wider than
    the screen, and none breaks the pages' CSP (no inline style or script: a violation is a
    console error)."""
    await _operator(postal)
    order: Any = await postal.book(leg="pickup")
    postal.clock.advance(minutes=30)
    await _picked_up(postal, order)
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    collect_errors(page, errors)
    base = str(postal.client.make_url("")).rstrip("/")
    widths: dict[str, int] = {}
    try:
        await page.goto(f"{base}/console/login")
        widths["/console/login"] = await page.evaluate(WIDTH)
        await sign_in(page, base, "buudien", PASSWORD)
        await expect(page.get_by_test_id("who")).to_be_visible()
        widths["/operator"] = await page.evaluate(WIDTH)
        for path in ("", "/label", "/handover-record"):
            await page.goto(f"{base}/operator/orders/{order['id']}{path}")
            widths[f"/operator/orders/{{id}}{path}"] = await page.evaluate(WIDTH)
        await page.goto(f"{base}/operator")
        await page.get_by_test_id("batch-link").click()
        await expect(page.get_by_test_id("batch-title")).to_be_visible()
        widths["/operator/handover-batch"] = await page.evaluate(WIDTH)
        await page.goto(f"{base}/operator/orders/{order['id']}")
        # The header (who, sign-out) is reachable, not pushed off the screen.
        box = await page.get_by_role("button", name="Đăng xuất").bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    finally:
        await context.close()

    assert {path: width for path, width in widths.items() if width > PHONE["width"]} == {}
    assert errors == []


WIDTH = "document.documentElement.scrollWidth"
