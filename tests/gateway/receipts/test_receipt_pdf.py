"""The receipt as a PDF download: the letters of Vietnamese survive (read back with pypdf,
an implementation independent of the writer), a wrong token is the same 404 as the page."""

from __future__ import annotations

import io

import pytest
import receipt_support
from conftest import IN_CI, Channels
from pypdf import PdfReader
from receipt_support import receipts_of
from tests_support import signed_notice

from gateway.services.receipts.pdf import find_font

#: The gateway issuing receipts for HCM (the shared fixture).
receipting = receipt_support.receipting


@pytest.fixture(autouse=True)
def font() -> None:
    if find_font() is None:
        message = "no font with the Vietnamese letters: install Debian's fonts-dejavu-core"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


async def test_the_receipt_downloads_as_a_pdf_with_its_vietnamese_text(
    receipting: Channels,
) -> None:
    payment = await receipting.create_payment()
    body, headers = signed_notice(payment, int(receipting.clock().timestamp()))
    paid = await receipting.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert paid.status == 200
    [receipt] = await receipts_of(receipting, payment["id"])
    page_path = receipt["view_url"].removeprefix(str(receipting.client.make_url("")).rstrip("/"))
    html = await (await receipting.client.get(page_path)).text()
    path, _, query = page_path.partition("?")
    pdf_path = f"{path}.pdf?{query}"
    assert f'href="{pdf_path}"' in html

    response = await receipting.client.get(pdf_path)

    assert response.status == 200
    assert response.content_type == "application/pdf"
    assert "bien-lai-26TAB-00000001.pdf" in response.headers["Content-Disposition"]
    text = " ".join(
        page.extract_text() for page in PdfReader(io.BytesIO(await response.read())).pages
    )
    for shown in (
        "BIÊN LAI THU PHÍ, LỆ PHÍ",
        "Mã số thuế",
        "Nguyễn Văn An",
        "Lệ phí cấp đổi GPLX",
        "185.000 ₫",
        "Một trăm tám mươi lăm nghìn đồng",
        "Số: 00000001",
        "Chuyển khoản VietQR",
    ):
        assert shown in text, shown
    wrong = await receipting.client.get(f"{path}.pdf?t=not-the-token")
    assert wrong.status == 404
