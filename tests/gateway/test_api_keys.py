"""API keys: verified keys are remembered briefly; a revoked key stops working within 10 s."""

from __future__ import annotations

from conftest import Gateway
from sqlalchemy import update

from gateway.core.db.schema import api_clients
from gateway.keys import DATABASE
from gateway.services.clients import key_id


async def test_a_revoked_key_is_refused_once_its_verification_is_ten_seconds_old(
    gateway: Gateway,
) -> None:
    assert (await gateway.client.get("/v1/payments", headers=gateway.auth())).status == 200
    async with gateway.client.app[DATABASE].write() as conn:
        await conn.execute(
            update(api_clients)
            .where(api_clients.c.id == key_id(gateway.keys["portal"]))
            .values(revoked_at=gateway.clock())
        )
    assert (await gateway.client.get("/v1/payments", headers=gateway.auth())).status == 200
    gateway.clock.advance(seconds=11)
    response = await gateway.client.get("/v1/payments", headers=gateway.auth())
    assert (response.status, (await response.json())["code"]) == (401, "unauthenticated")


async def test_a_wrong_key_is_never_served_from_memory(gateway: Gateway) -> None:
    real = gateway.keys["portal"]
    assert (await gateway.client.get("/v1/payments", headers=gateway.auth())).status == 200
    forged = real[:-1] + ("A" if real[-1] != "A" else "B")
    response = await gateway.client.get(
        "/v1/payments", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status == 401
