"""Two delivery workers — two processes' worth of engines and sessions — on one PostgreSQL
database deliver every event exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from conftest import FixedClock, make_settings, seed

from gateway.app import create_app
from gateway.core.db import Database
from gateway.keys import DATABASE
from webhooks.delivery import DeliveryOptions, DeliveryWorker
from webhooks.endpoints import EndpointService

EVENTS = 300


async def test_two_workers_deliver_every_event_exactly_once(
    aiohttp_client: Any, aiohttp_server: Any, postgres_url: str
) -> None:
    received: Counter[str] = Counter()
    both_claimed = asyncio.Event()
    in_flight = 0

    async def receive(request: web.Request) -> web.Response:
        # Hold the first requests until more than one batch (25) is in flight at once: that is
        # only possible when the second worker claimed rows while the first was still sending.
        nonlocal in_flight
        await request.read()
        received[request.headers["webhook-id"]] += 1
        in_flight += 1
        if in_flight > 25:
            both_claimed.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both_claimed.wait(), timeout=20)
        in_flight -= 1
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hooks", receive)
    server = await aiohttp_server(receiver)

    clock = FixedClock(datetime.now(UTC))
    settings = make_settings(postgres_url, webhooks={"allow_private_urls": True})
    client = await aiohttp_client(create_app(settings, clock=clock, background=False))
    try:
        keys = await seed(client)
        auth = {"Authorization": f"Bearer {keys['portal']}"}
        response = await client.post(
            "/v1/webhook-endpoints",
            json={"url": str(server.make_url("/hooks")), "events": ["*"]},
            headers={**auth, "Idempotency-Key": "endpoint"},
        )
        assert response.status == 201
        for _ in range(EVENTS):
            created = await client.post(
                "/v1/payments",
                json={
                    "agency_code": "HCM",
                    "dossier_code": "HS-1",
                    "payer": {"name": "An"},
                    "items": [{"kind": "fee", "description": "Phí", "amount": 1000}],
                },
                headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
            )
            payment = await created.json()
            await client.post(f"/v1/payments/{payment['id']}/cancel", headers=auth)

        async def worker() -> int:
            db = Database(postgres_url)  # its own engine and pool, like a separate process
            try:
                async with aiohttp.ClientSession() as session:
                    endpoints = EndpointService(
                        db, clock, allow_private=True, secret_overlap=timedelta(hours=1)
                    )
                    work = DeliveryWorker(
                        db, clock, session, endpoints, DeliveryOptions(batch_size=25)
                    )
                    return await work.run_until_idle()
            finally:
                await db.close()

        first, second = await asyncio.gather(worker(), worker())
    finally:
        await client.app[DATABASE].close()

    assert first + second == EVENTS
    assert both_claimed.is_set(), "the second worker never claimed while the first was sending"
    assert first > 0 and second > 0
    assert len(received) == EVENTS
    assert set(received.values()) == {1}
