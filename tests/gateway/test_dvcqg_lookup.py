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
    status, answer, _ = await _lookup_with_code(platform, who, **query)
    return status, answer


async def _lookup_with_code(platform: Platform, who: str, **query: str) -> tuple[int, Any, str]:
    """The status, the answer and our stable code (``X-Gateway-Error``, "" without one)."""
    response = await platform.client.get(
        "/v1/dvcqg/payments", params=query, headers=platform.auth(who)
    )
    return response.status, await response.json(), response.headers.get("X-Gateway-Error", "")


NOT_FOUND = {"error_code": -1, "message": [], "paid": False}


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


async def test_a_second_bill_of_a_paid_dossier_is_still_offered(platform: Platform) -> None:
    """The agency bills the dossier again (a further fee): the first bill being paid must not
    tell the platform there is nothing to pay."""
    _, attempt = await platform.start("dvcqg")
    await platform.pay(attempt, "success")
    second = await platform.create_payment()

    status, answer = await _lookup(platform, "platform", MaHoSo=DOSSIER)

    assert (status, answer["error_code"], answer["paid"]) == (200, 1, False)
    assert answer["message"]["transaction_id"] == second["reference"]


async def test_another_agencys_dossier_is_answered_minus_1_like_an_unknown_one(
    platform: Platform,
) -> None:
    """Spec §10: always HTTP 200; -1 for a dossier not found — nothing leaks about others."""
    await platform.create_payment()  # an HCM dossier

    other = await _lookup_with_code(platform, "platform_hn", MaHoSo=DOSSIER)
    unknown = await _lookup_with_code(platform, "platform_hn", MaHoSo="NO-SUCH-DOSSIER")

    assert other == unknown == (200, NOT_FOUND, "not_found")


@pytest.mark.parametrize(("who", "status", "code"), [("portal", 403, "forbidden")])
async def test_only_a_platform_credential_may_look_up(
    platform: Platform, who: str, status: int, code: str
) -> None:
    await platform.create_payment()
    answered, problem = await _lookup(platform, who, MaHoSo=DOSSIER)
    assert (answered, problem["code"]) == (status, code)


@pytest.mark.parametrize("query", [{}, {"MaHoSo": ""}, {"MaHoSo": "x" * 65}])
async def test_a_lookup_without_a_readable_dossier_code_is_answered_minus_1(
    platform: Platform, query: dict[str, str]
) -> None:
    await platform.create_payment()
    answered = await _lookup_with_code(platform, "platform", **query)
    assert answered == (200, NOT_FOUND, "validation_failed")


async def test_a_caller_that_is_not_the_platform_is_still_refused_401(
    platform: Platform,
) -> None:
    response = await platform.client.get("/v1/dvcqg/payments", params={"MaHoSo": DOSSIER})
    assert (response.status, (await response.json())["code"]) == (401, "unauthenticated")
