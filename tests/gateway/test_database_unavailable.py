"""When the database cannot be reached, callers get a retryable 503, not a 500."""

from __future__ import annotations

from typing import Any

from conftest import make_settings

from gateway.app import create_app


async def test_unreachable_database_answers_503_service_unavailable(
    aiohttp_client: Any, unused_tcp_port: int
) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{unused_tcp_port}/nowhere"
    client = await aiohttp_client(create_app(make_settings(url), background=False))
    key = "gw_aaaaaaaaaa_" + "b" * 32
    response = await client.get("/v1/payments", headers={"Authorization": f"Bearer {key}"})
    problem = await response.json()
    assert (response.status, problem["code"]) == (503, "service_unavailable")
    ready = await client.get("/readyz")
    assert ready.status == 503
