"""Per-agency wallet credentials (``[momo.merchants.<AGENCY>]``): an agency with its own
merchant is offered MoMo and its IPNs are checked with its own keys; an agency without one
(and no default merchant) is neither offered MoMo nor can start an attempt."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import Channels, FixedClock, open_channels

from providers.sandbox.momo import SandboxMomoConfig, create_momo_app

HCM_MERCHANT = {"partner_code": "MOMOHCM", "access_key": "hcm-access", "secret_key": "hcm-secret"}


@pytest.fixture
async def hcm_only(
    aiohttp_server: Any, database_url: str, clock: FixedClock, unused_tcp_port_factory: Any
) -> AsyncIterator[tuple[Channels, Any]]:
    momo = await aiohttp_server(
        create_momo_app(
            SandboxMomoConfig(
                partner_code="MOMOHCM",
                access_key="hcm-access",
                secret_key="hcm-secret",
                retry_seconds=0.01,
                clock=clock,
            )
        )
    )
    opened = await open_channels(
        aiohttp_server,
        database_url,
        clock,
        unused_tcp_port_factory(),
        momo={
            "api_url": str(momo.make_url("/v2/gateway/api")),
            "merchants": {"HCM": HCM_MERCHANT},
            # no default merchant (default.toml's sandbox one is taken away)
            "partner_code": None,
            "access_key": None,
            "secret_key": None,
        },
    )
    yield opened, momo
    await opened.client.close()


async def test_only_the_agency_with_a_merchant_is_offered_momo(
    hcm_only: tuple[Channels, Any],
) -> None:
    gateway, momo = hcm_only
    hcm = await gateway.create_payment()
    status, attempt = await gateway.attempt(hcm["id"], method="momo")
    assert status == 201, attempt
    simulated = await gateway.client.session.post(
        momo.make_url("/simulate"),
        json={"order_id": attempt["provider_reference"], "outcome": "success"},
    )
    assert (await simulated.json())["ipn_statuses"] == [204]  # verified with HCM's keys
    assert (await gateway.payment(hcm["id"]))["status"] == "paid"

    hn = await gateway.create_payment(who="other", agency_code="HN")
    page = await (await gateway.client.get(f"/pay/{hn['id']}")).text()
    assert 'data-testid="momo"' not in page
    response = await gateway.client.post(
        f"/v1/payments/{hn['id']}/attempts",
        json={"method": "momo"},
        headers={**gateway.auth("other"), "Idempotency-Key": "hn-momo"},
    )
    problem = await response.json()
    assert response.status == 422
    assert problem["errors"][0]["code"] == "channel_unavailable"
