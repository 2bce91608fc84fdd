"""The front door: ``/`` points each kind of user somewhere, and ``/docs/api`` renders the
service's own OpenAPI document with assets served by the service itself (no CDN)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import FixedClock, Gateway
from playwright.async_api import Page, expect
from tests_support import sandbox_settings, start_sandbox


async def test_the_landing_page_links_the_consoles_the_api_reference_and_the_sandbox(
    gateway: Gateway,
) -> None:
    response = await gateway.client.get("/")
    html = await response.text()

    assert response.status == 200 and response.content_type == "text/html"
    assert '<html lang="vi">' in html
    for link in ('href="/console"', 'href="/operator"', 'href="/docs/api"', 'href="/openapi.json"'):
        assert link in html
    assert 'data-testid="sandbox"' not in html  # no sandbox controls outside sandbox mode


async def test_in_sandbox_mode_the_landing_page_lists_the_sandbox_providers(
    aiohttp_client: Any, tmp_path: Any, unused_tcp_port: int, clock: FixedClock
) -> None:
    client = await start_sandbox(sandbox_settings(tmp_path, unused_tcp_port), clock)
    try:
        html = await (await client.get("/")).text()
    finally:
        await client.close()
    assert 'data-testid="sandbox"' in html and "Chế độ thử nghiệm" in html
    assert "/sandbox/bank/transfers" in html


async def test_the_api_reference_loads_only_assets_of_this_service(gateway: Gateway) -> None:
    page = await (await gateway.client.get("/docs/api")).text()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)

    assert all(s.startswith(("/", "data:")) for s in sources), sources
    for asset in [s for s in sources if s.startswith("/static/")]:
        response = await gateway.client.get(asset)
        assert response.status == 200, asset
        assert len(await response.read()) > 100, asset


async def test_an_unknown_static_file_is_404(gateway: Gateway) -> None:
    response = await gateway.client.get("/static/swagger-ui/../../config/settings.py")
    assert response.status in (403, 404)


# -- in a real browser ------------------------------------------------------------------


@pytest.mark.browser
async def test_the_api_reference_renders_the_documented_operations_in_a_browser(
    gateway: Gateway, tab: tuple[Page, list[str]]
) -> None:
    page, errors = tab
    document: Any = await (await gateway.client.get("/openapi.json")).json()

    await page.goto(str(gateway.client.make_url("/docs/api")))

    await expect(page.locator(".information-container .title")).to_contain_text(
        document["info"]["title"]
    )
    operation = page.locator(".opblock-summary-path", has_text="/v1/payments").first
    await expect(operation).to_be_visible()
    assert errors == []
