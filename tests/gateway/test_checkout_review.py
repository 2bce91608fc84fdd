"""The checkout page of a bill whose money needs a person (``needs_review``), over HTTP: why
it is checked, for each review reason, and the default contact when the agency has none."""

from __future__ import annotations

from typing import Any

from conftest import Gateway
from tests_support import start_sandbox_bank, transfer


async def _page(gateway: Gateway, payment_id: str) -> str:
    response = await gateway.client.get(f"/pay/{payment_id}")
    assert response.status == 200
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    return await response.text()


async def test_an_agency_without_a_contact_sends_the_citizen_to_where_they_filed(
    gateway: Gateway, aiohttp_server: Any
) -> None:
    bank = await start_sandbox_bank(aiohttp_server, gateway)
    payment = await gateway.create_payment()
    await transfer(bank, payment, 200000)  # 15.000 ₫ more than the bill

    html = await _page(gateway, payment["id"])
    assert "Số tiền nhận được (200.000 ₫) khác số tiền phải nộp (185.000 ₫): thừa 15.000 ₫." in html
    assert (
        'Cần hỗ trợ, vui lòng liên hệ <strong data-testid="contact-name">Bộ phận tiếp nhận và '
        "trả kết quả nơi bạn nộp hồ sơ</strong> và cung cấp mã hồ sơ "
        f"{payment['dossier_code']}." in html
    )
    assert 'data-testid="contact-phone"' not in html


async def test_money_after_expiry_is_explained_as_late(
    gateway: Gateway, aiohttp_server: Any
) -> None:
    bank = await start_sandbox_bank(aiohttp_server, gateway)
    payment = await gateway.create_payment()
    gateway.clock.advance(minutes=16)  # the bill (15 minutes) has run out
    await transfer(bank, payment, payment["amount"])

    html = await _page(gateway, payment["id"])
    assert "Đang được kiểm tra" in html
    assert "Khoản tiền đến sau khi yêu cầu thanh toán đã hết hạn." in html
    assert "185.000 ₫</strong> qua Chuyển khoản VietQR" in html


async def test_a_pending_bill_shows_no_review(gateway: Gateway) -> None:
    payment = await gateway.create_payment()
    html = await _page(gateway, payment["id"])
    assert 'data-testid="review"' not in html
