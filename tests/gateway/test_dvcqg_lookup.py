"""``GET /v1/dvcqg/payments?MaHoSo=…``: the national portal's payment platform asks what a
dossier has to pay, with a ``platform`` credential scoped to agencies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import FixedClock
from dvcqg_support import PARTNER, Platform, open_platform

from gateway.core.roles import Role
from gateway.keys import CLOCK, DATABASE
from gateway.services.clients import create_client

DOSSIER = "000.00.12.H29-241122-0001"


@pytest.fixture
async def platform(
    aiohttp_server: Any, database_url: str, clock: FixedClock, unused_tcp_port_factory: Any
) -> AsyncIterator[Platform]:
    opened = await open_platform(aiohttp_server, database_url, clock, unused_tcp_port_factory())
    app = opened.client.app
    for who, agency in (("platform", "HCM"), ("platform_hn", "HN")):
        _, opened.keys[who] = await create_client(
            app[DATABASE], app[CLOCK], name=who, role=Role.PLATFORM, agency_codes=[agency]
        )
    yield opened
    await opened.client.close()


async def _lookup(platform: Platform, who: str, **query: str) -> tuple[int, Any]:
    response = await platform.client.get(
        "/v1/dvcqg/payments", params=query, headers=platform.auth(who)
    )
    return response.status, await response.json()


async def test_a_pending_bill_is_answered_with_its_fee_lines(platform: Platform) -> None:
    payment = await platform.create_payment()

    status, answer = await _lookup(platform, "platform", MaHoSo=DOSSIER)

    assert status == 200
    assert (answer["error_code"], answer["paid"]) == (1, False)
    message = answer["message"]
    assert (message["transaction_id"], message["client_id"]) == (payment["reference"], PARTNER)
    assert (message["MaHoSo"], message["MaDichVu"], message["SoTien"]) == (DOSSIER, "2", "185000")
    assert message["MaTraCuuTT"] == f"{DOSSIER}20261122090000"  # 02:00 UTC is 09:00 in Vietnam
    assert [(line["LoaiPhiLePhi"], line["SoTien"]) for line in message["PhiLePhi"]] == [
        ("2", "135000"),
        ("1", "50000"),
    ]


async def test_a_paid_dossier_has_nothing_to_pay(platform: Platform) -> None:
    _, attempt = await platform.start("dvcqg")
    await platform.pay(attempt, "success")

    status, answer = await _lookup(platform, "platform", MaHoSo=DOSSIER)

    assert (status, answer) == (200, {"error_code": 0, "message": [], "paid": True})


async def test_another_agencys_credential_is_answered_not_found(platform: Platform) -> None:
    await platform.create_payment()  # an HCM dossier

    status, problem = await _lookup(platform, "platform_hn", MaHoSo=DOSSIER)
    unknown = await _lookup(platform, "platform_hn", MaHoSo="NO-SUCH-DOSSIER")

    assert (status, problem["code"]) == (404, "not_found")
    assert (unknown[0], unknown[1]["code"]) == (404, "not_found")  # the same: nothing leaks


@pytest.mark.parametrize(("who", "status", "code"), [("portal", 403, "forbidden")])
async def test_only_a_platform_credential_may_look_up(
    platform: Platform, who: str, status: int, code: str
) -> None:
    await platform.create_payment()
    answered, problem = await _lookup(platform, who, MaHoSo=DOSSIER)
    assert (answered, problem["code"]) == (status, code)


async def test_a_lookup_without_a_dossier_code_is_refused(platform: Platform) -> None:
    status, problem = await _lookup(platform, "platform")
    assert (status, problem["code"]) == (422, "validation_failed")
