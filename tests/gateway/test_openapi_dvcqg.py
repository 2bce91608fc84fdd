"""The DVCQG routes answer what /openapi.json documents: every callback answer, the return
route, the checkout button and the platform's lookup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import FixedClock
from dvcqg_support import Platform, open_platform
from test_openapi import assert_documented, served_document

from gateway.core.roles import Role
from gateway.keys import CLOCK, DATABASE
from gateway.services.clients import create_client


@pytest.fixture
async def platform(
    aiohttp_server: Any, database_url: str, clock: FixedClock, unused_tcp_port_factory: Any
) -> AsyncIterator[Platform]:
    opened = await open_platform(aiohttp_server, database_url, clock, unused_tcp_port_factory())
    yield opened
    await opened.client.close()


async def test_dvcqg_routes_match_their_schemas(platform: Platform) -> None:
    document = await served_document(platform)
    payment = await platform.create_payment()
    button = await platform.client.post(f"/pay/{payment['id']}/dvcqg", allow_redirects=False)
    assert button.status == 303
    await assert_documented(document, "post", "/pay/{payment_id}/dvcqg", button)
    assert button.headers["Location"].startswith(str(platform.platform.make_url("/pay")))
    attempts = await platform.client.get(
        f"/v1/payments/{payment['id']}/attempts", headers=platform.auth()
    )
    [attempt] = [a for a in (await attempts.json())["data"] if a["method"] == "dvcqg"]

    app = platform.client.app
    _, key = await create_client(
        app[DATABASE], app[CLOCK], name="p", role=Role.PLATFORM, agency_codes=["HCM"]
    )
    lookup = await platform.client.get(
        "/v1/dvcqg/payments",
        params={"MaHoSo": payment["dossier_code"]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert (await assert_documented(document, "get", "/v1/dvcqg/payments", lookup))[
        "error_code"
    ] == 1

    await platform.pay(attempt, "success", lose_callback=True)
    cases = [  # every answer is HTTP 200 (spec §4.2); the code is in a header
        (platform.callback(attempt, secret="guessed"), "X-Gateway-Error"),
        (b"{", "X-Gateway-Error"),
        (platform.callback(attempt, MaThamChieu="NOSUCHREF"), "X-Gateway-Error"),
        (platform.callback(attempt, SoTien="1"), "X-Gateway-Error"),
        (platform.callback(attempt), "X-Gateway-Outcome"),
        (platform.callback(attempt, MaGiaoDich="PP2"), "X-Gateway-Outcome"),  # already final
        (b"x" * 70_000, "X-Gateway-Error"),
    ]
    for raw, header in cases:
        response = await platform.client.post("/callbacks/dvcqg", data=raw)
        assert (response.status, header in response.headers) == (200, True)
        await assert_documented(document, "post", "/callbacks/dvcqg", response)

    back = await platform.client.get(
        "/callbacks/dvcqg/return",
        params={"MaThamChieu": attempt["provider_reference"]},
        allow_redirects=False,
    )
    await assert_documented(document, "get", "/callbacks/dvcqg/return", back)
    bad = await platform.client.get("/callbacks/dvcqg/return", params={"MaThamChieu": "NOPE"})
    await assert_documented(document, "get", "/callbacks/dvcqg/return", bad)
