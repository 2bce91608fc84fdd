"""Two delivery workers — two processes' worth of engines and sessions — on one PostgreSQL
database deliver every event exactly once, and the events of each payment in order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from conftest import FixedClock, make_settings, seed

from gateway.app import create_app
from gateway.core import outbox
from gateway.core.db import Database
from gateway.keys import DATABASE
from webhooks.delivery import DeliveryOptions, DeliveryWorker
from webhooks.endpoints import EndpointService

EVENTS = 300
PAYMENTS = 40
PER_PAYMENT = 4


async def worker(url: str, clock: FixedClock, batch_size: int) -> int:
    """A delivery worker with its own engine and pool, like a separate process."""
    db = Database(url)
    try:
        async with aiohttp.ClientSession() as session:
            endpoints = EndpointService(
                db, clock, allow_private=True, secret_overlap=timedelta(hours=1)
            )
            work = DeliveryWorker(
                db, clock, session, endpoints, DeliveryOptions(batch_size=batch_size)
            )
            return await work.run_until_idle()
    finally:
        await db.close()


async def _gateway_and_portal(
    aiohttp_client: Any,
    aiohttp_server: Any,
    postgres_url: str,
    receive: Callable[[web.Request], Awaitable[web.Response]],
) -> tuple[Any, FixedClock, str]:
    """The gateway on PostgreSQL without its background loops, and a portal whose webhook
    receiver runs ``receive``; returns the gateway's client, its clock and the hooks URL."""
    portal = web.Application()
    portal.router.add_post("/hooks", receive)
    server = await aiohttp_server(portal)
    clock = FixedClock(datetime.now(UTC))
    settings = make_settings(postgres_url, webhooks={"allow_private_urls": True})
    client = await aiohttp_client(create_app(settings, clock=clock, background=False))
    return client, clock, str(server.make_url("/hooks"))


async def _subscribe(client: Any, hooks: str) -> dict[str, str]:
    """Seed the gateway and subscribe the portal to every event; returns the portal's auth."""
    keys = await seed(client)
    auth = {"Authorization": f"Bearer {keys['portal']}"}
    response = await client.post(
        "/v1/webhook-endpoints",
        json={"url": hooks, "events": ["*"]},
        headers={**auth, "Idempotency-Key": "endpoint"},
    )
    assert response.status == 201
    return auth


async def _new_payment(client: Any, auth: dict[str, str]) -> str:
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
    payment_id: str = (await created.json())["id"]
    return payment_id


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

    client, clock, hooks = await _gateway_and_portal(
        aiohttp_client, aiohttp_server, postgres_url, receive
    )
    try:
        auth = await _subscribe(client, hooks)
        for _ in range(EVENTS):
            payment_id = await _new_payment(client, auth)
            await client.post(f"/v1/payments/{payment_id}/cancel", headers=auth)

        first, second = await asyncio.gather(
            worker(postgres_url, clock, 25), worker(postgres_url, clock, 25)
        )
    finally:
        await client.app[DATABASE].close()

    assert first + second == EVENTS
    assert both_claimed.is_set(), "the second worker never claimed while the first was sending"
    assert first > 0 and second > 0
    assert len(received) == EVENTS
    assert set(received.values()) == {1}


async def test_two_workers_deliver_the_events_of_each_payment_in_sequence_order(
    aiohttp_client: Any, aiohttp_server: Any, postgres_url: str
) -> None:
    accepted: dict[str, list[int]] = {}
    refused: set[str] = set()

    async def receive(request: web.Request) -> web.Response:
        # The first try of each payment's first event fails; everything else is accepted.
        event = json.loads(await request.read())
        payment_id, sequence = event["data"]["payment"]["id"], event["data"]["sequence"]
        if sequence == 1 and payment_id not in refused:
            refused.add(payment_id)
            return web.Response(status=500)
        accepted.setdefault(payment_id, []).append(sequence)
        return web.Response(status=204)

    client, clock, hooks = await _gateway_and_portal(
        aiohttp_client, aiohttp_server, postgres_url, receive
    )
    try:
        auth = await _subscribe(client, hooks)
        payment_ids = [await _new_payment(client, auth) for _ in range(PAYMENTS)]
        # Several events per payment, written by the real outbox, interleaved across payments.
        async with client.app[DATABASE].write() as conn:
            for _ in range(PER_PAYMENT):
                for payment_id in payment_ids:
                    await outbox.emit(
                        conn,
                        now=clock(),
                        type="attempt.failed",
                        data={"payment": {"id": payment_id}},
                        payment_id=payment_id,
                    )
        tries = []
        for _ in range(3):
            tries += await asyncio.gather(
                worker(postgres_url, clock, 7), worker(postgres_url, clock, 7)
            )
            clock.advance(seconds=7)  # the first back-off is 5 s ± 20 %
    finally:
        await client.app[DATABASE].close()

    assert sum(tries) == PAYMENTS * (PER_PAYMENT + 1)
    expected = list(range(1, PER_PAYMENT + 1))
    assert accepted == {payment_id: expected for payment_id in payment_ids}
