"""The sandbox ZaloPay refuses what ZaloPay refuses (spec §B.3): a wrong MAC, an
``app_trans_id`` not dated in Vietnam time, an ``app_time`` more than 15 minutes off, an
order id used twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import FixedClock

from providers.common.secrets import Secret
from providers.payment.zalopay import ZalopayApp, create_request
from providers.sandbox.zalopay import SandboxZalopayConfig, create_zalopay_app

APP = ZalopayApp(2553, Secret("k1"), Secret("k2"), "http://unused")
NOW = datetime(2026, 11, 22, 17, 30, tzinfo=UTC)  # 2026-11-23 00:30 in Vietnam


def _order(trans_id: str, app_time: datetime = NOW, app: ZalopayApp = APP) -> dict[str, str]:
    return create_request(
        app,
        trans_id=trans_id,
        app_user="HCM",
        amount=185000,
        app_time=app_time,
        description="Thanh toán hồ sơ",
        redirect_url="http://gw/pay/p",
        callback_url="http://gw/callbacks/zalopay",
    )


async def _create(aiohttp_client: Any, *orders: dict[str, str]) -> list[tuple[int, int | None]]:
    sandbox = create_zalopay_app(
        SandboxZalopayConfig(app_id=2553, key1="k1", key2="k2", clock=FixedClock(NOW))
    )
    client = await aiohttp_client(sandbox)
    answers = []
    for order in orders:
        body = await (await client.post("/v2/create", data=order)).json()
        answers.append((body["return_code"], body["sub_return_code"]))
    return answers


async def test_create_checks_the_mac_the_vietnam_date_the_clock_and_repeats(
    aiohttp_client: Any,
) -> None:
    other_keys = ZalopayApp(2553, Secret("guessed"), Secret("k2"), "http://unused")
    assert await _create(
        aiohttp_client,
        _order("261123_A1"),  # Vietnam's date: accepted
        _order("261122_A2"),  # the UTC date: refused
        _order("261123_A3", NOW - timedelta(minutes=16)),  # too far from ZaloPay's clock
        _order("261123_A4", app=other_keys),  # MAC with another key1
        _order("261123_A1"),  # the same order again
    ) == [(1, 1), (2, -401), (2, -401), (2, -402), (2, -68)]
