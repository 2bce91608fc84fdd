"""The reconciliation day page lists the day's statement files: accepted, a repeat of files
already imported, and quarantined with their row errors, in the user's agency scope."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from conftest import Gateway
from test_console_http import DAY, console, login, upload
from tests_support import camt053

__all__ = ["console"]  # the fixture, shared with the console's other HTTP tests

HANOI_ACCOUNT = "0022002345678"


async def day_page(gateway: Gateway, session: Any, day: str = DAY.isoformat()) -> str:
    response = await gateway.client.get("/console", params={"date": day}, headers=session.cookie)
    assert response.status == 200
    return await response.text()


def files(html: str) -> list[tuple[str, str]]:
    """(file name, result) of each listed file, in order."""
    return re.findall(
        r'data-testid="statement-file">\s*<td>[^<]*</td>\s*<td class="mono">([^<]+)</td>'
        r'.*?data-testid="file-status">([^<]+)<',
        html,
        re.S,
    )


async def test_the_day_lists_accepted_repeated_and_quarantined_files_with_row_errors(
    console: Gateway,
) -> None:
    officer = await login(console, "ketoan")
    entries = [("180000", "CRDT", "NGUYEN VAN AN NOP PHI"), ("20000", "DBIT", "PHI SMS")]
    assert (await upload(console, officer, camt053(entries))).status == 200
    console.clock.advance(seconds=1)  # listed oldest first
    # The same entries again in a file that differs (another opening balance): nothing new.
    again = camt053(entries, opening=10_000_001)
    assert (await upload(console, officer, again)).status == 200
    console.clock.advance(seconds=1)
    bad = camt053([("180000", "CRDT", "NOP PHI"), ("50000.50", "CRDT", "LE")], closing=10_230_000)
    assert (await upload(console, officer, bad)).status == 422

    html = await day_page(console, officer)
    assert [status for _, status in files(html)] == [
        "Đã nhận",
        "Trùng tệp đã nhập",
        "Bị cách ly",
    ]
    [errors] = re.findall(r'data-testid="file-row-errors">(.*?)</tr>', html, re.S)
    assert "Dòng 2:" in errors and "bad_amount" in errors
    assert "Có dòng không đọc được" in html


async def test_another_day_does_not_list_them(console: Gateway) -> None:
    officer = await login(console, "ketoan")
    await upload(console, officer, camt053([("180000", "CRDT", "NOP PHI")]))
    html = await day_page(console, officer, "2026-11-20")
    assert files(html) == []
    assert "Chưa có tệp sao kê nào cho ngày này." in html


async def test_an_officer_sees_the_files_of_their_agency_only(console: Gateway) -> None:
    wide = await login(console, "truongphong")  # deployment-wide
    await upload(console, wide, camt053([("180000", "CRDT", "NOP PHI")]))
    hanoi = camt053([("90000", "CRDT", "NOP PHI HN")], account=HANOI_ACCOUNT)
    form_account = {"account": HANOI_ACCOUNT}
    response = await console.client.post(
        "/console/statements",
        data=_multipart(wide.csrf, hanoi, form_account),
        headers=wide.cookie,
    )
    assert response.status == 200

    assert len(files(await day_page(console, wide))) == 2
    officer = await login(console, "ketoan")  # HCM's
    assert len(files(await day_page(console, officer))) == 1


def _multipart(csrf: str, data: bytes, fields: dict[str, str]) -> Any:
    form = aiohttp.FormData()
    form.add_field("csrf", csrf)
    form.add_field("source", "camt053")
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", data, filename="saoke-hn.xml", content_type="application/xml")
    return form
