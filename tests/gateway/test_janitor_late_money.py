"""The janitor also asks about attempts our side closed with their bill (issue 12): the
citizen pays on the provider's page just as the bill expires or is cancelled, the callback is
lost, and the janitor's later query records the money for review instead of losing it
(gateway/services/polling.py, "Closed by our side"). DVCQG and MoMo, both as real sandbox
servers, on the test clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from conftest import FixedClock, Wallets, open_wallets
from dvcqg_support import Platform, open_platform
from sqlalchemy import select

from gateway.core.db.schema import attempts, outbox_events
from gateway.keys import DATABASE, POLLER
from providers.sandbox.momo import ORDERS


@dataclass
class Provider:
    """One queryable channel with its sandbox: start a bill's attempt, finish it on the
    provider's page with the callback lost."""

    method: str
    channels: Platform | Wallets

    async def start(self, **payment: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        bill = await self.channels.create_payment(**payment)
        status, attempt = await self.channels.attempt(bill["id"], method=self.method)
        assert status == 201, attempt
        return bill, attempt

    async def pay_losing_callback(self, attempt: dict[str, Any], outcome: str) -> None:
        if isinstance(self.channels, Platform):
            await self.channels.pay(attempt, outcome, lose_callback=True)
            return
        status, body = await self.channels.sandbox(
            self.channels.momo,
            "/simulate",
            order_id=attempt["provider_reference"],
            outcome=outcome,
            lose_ipn=True,
        )
        assert status == 200, body

    async def janitor(self) -> int:
        return int(await self.channels.client.app[POLLER].run_once())

    async def row(self, attempt_id: str) -> Any:
        async with self.channels.client.app[DATABASE].read() as conn:
            return (await conn.execute(select(attempts).where(attempts.c.id == attempt_id))).one()

    async def event_types(self) -> list[str]:
        async with self.channels.client.app[DATABASE].read() as conn:
            rows = await conn.execute(
                select(outbox_events.c.type).order_by(outbox_events.c.sequence)
            )
            return list(rows.scalars())

    async def expire(self, bill: dict[str, Any]) -> None:
        """The bill's time runs out (15 minutes): it expires, closing its attempt."""
        self.channels.clock.advance(minutes=16)
        assert (await self.channels.payment(bill["id"]))["status"] == "expired"  # swept when read


@pytest.fixture(params=["dvcqg", "momo"])
async def provider(
    request: Any,
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
) -> AsyncIterator[Provider]:
    port = unused_tcp_port_factory()
    opened: Platform | Wallets
    if request.param == "dvcqg":
        opened = await open_platform(aiohttp_server, database_url, clock, port)
    else:
        opened = await open_wallets(aiohttp_server, database_url, clock, port)
    yield Provider(request.param, opened)
    await opened.client.close()


async def test_money_taken_after_expiry_with_the_callback_lost_is_recorded_for_review(
    provider: Provider,
) -> None:
    bill, attempt = await provider.start()
    await provider.expire(bill)
    closed = await provider.row(attempt["id"])
    assert closed.status == "expired"

    # The citizen was still on the provider's page and paid; the callback never came.
    await provider.pay_losing_callback(attempt, "success")
    provider.channels.clock.advance(minutes=1)
    assert await provider.janitor() == 1

    late = await provider.channels.payment(bill["id"])
    assert (late["status"], late["review_reason"]) == ("needs_review", "paid_after_expiry")
    taken = await provider.channels.payment_attempt(bill["id"], attempt["id"])
    assert (taken["status"], taken["review_reason"]) == ("succeeded", "paid_after_expiry")
    assert taken["next_query_at"] is None

    provider.channels.clock.advance(hours=2)
    assert await provider.janitor() == 0  # the provider's word is in: nothing more to ask
    types = await provider.event_types()
    assert types.count("payment.needs_review") == 1
    assert types.count("attempt.needs_review") == 0


async def test_a_payment_still_under_way_is_asked_again_until_its_money_arrives(
    provider: Provider,
) -> None:
    bill, attempt = await provider.start()
    await provider.pay_losing_callback(attempt, "pending")  # the bank is slow
    await provider.expire(bill)

    asked = 0
    for _ in range(3):
        provider.channels.clock.advance(minutes=30)
        asked += await provider.janitor()
    assert asked == 3  # every half hour: the wait (5 then 10, 20 minutes; MoMo's less) is over
    still = await provider.row(attempt["id"])
    assert (still.status, still.next_query_at is not None) == ("expired", True)

    await _bank_confirms(provider, attempt)
    provider.channels.clock.advance(hours=1)
    assert await provider.janitor() == 1
    late = await provider.channels.payment(bill["id"])
    assert late["status"] == "needs_review"
    assert (await provider.event_types()).count("payment.needs_review") == 1


async def test_a_closed_attempt_its_provider_calls_failed_is_no_longer_asked_about(
    provider: Provider,
) -> None:
    bill, attempt = await provider.start()
    await provider.expire(bill)
    await provider.pay_losing_callback(attempt, "failure")
    provider.channels.clock.advance(minutes=1)
    assert await provider.janitor() == 1

    ended = await provider.row(attempt["id"])
    assert (ended.status, ended.next_query_at, ended.query_count) == ("expired", None, 1)
    assert (await provider.channels.payment(bill["id"]))["status"] == "expired"
    provider.channels.clock.advance(hours=5)
    assert await provider.janitor() == 0
    assert (await provider.row(attempt["id"])).query_count == 1


async def test_past_the_horizon_a_closed_attempt_is_no_longer_asked_and_not_flagged(
    provider: Provider,
) -> None:
    bill, attempt = await provider.start()
    await provider.pay_losing_callback(attempt, "pending")  # never finishes
    await provider.expire(bill)
    horizon = {"dvcqg": timedelta(days=3), "momo": timedelta(hours=48)}[provider.method]

    provider.channels.clock.advance(minutes=1)
    assert await provider.janitor() == 1
    started = provider.channels.clock.now - timedelta(minutes=17)
    provider.channels.clock.now = started + horizon - timedelta(hours=1)
    assert await provider.janitor() == 1  # still inside the horizon: asked
    provider.channels.clock.advance(hours=2)
    assert await provider.janitor() == 0  # past it: simply no longer asked

    closed = await provider.channels.payment_attempt(bill["id"], attempt["id"])
    assert (closed["status"], closed["flagged_at"]) == ("expired", None)  # not for finance
    # Nobody acts on it any more: cleared, so the claim's candidates do not grow.
    assert closed["next_query_at"] is None
    assert closed["query_count"] == 2
    assert "attempt.needs_review" not in await provider.event_types()


async def test_money_taken_after_the_bill_was_cancelled_is_recorded_for_review(
    provider: Provider,
) -> None:
    bill, attempt = await provider.start()
    response = await provider.channels.client.post(
        f"/v1/payments/{bill['id']}/cancel", headers=provider.channels.auth()
    )
    assert response.status == 200, await response.text()
    assert (await provider.row(attempt["id"])).status == "cancelled"

    provider.channels.clock.advance(minutes=1)
    await provider.pay_losing_callback(attempt, "success")
    provider.channels.clock.advance(minutes=1)
    assert await provider.janitor() == 1

    late = await provider.channels.payment(bill["id"])
    assert (late["status"], late["review_reason"]) == ("needs_review", "paid_after_cancellation")


async def _bank_confirms(provider: Provider, attempt: dict[str, Any]) -> None:
    """The slow bank finally answers: the provider now reports the payment done (no
    callback: it stays lost)."""
    if isinstance(provider.channels, Platform):
        txn = provider.channels.transaction(attempt)
        txn.state, txn.result_code, txn.transaction_id = "1", "00", "PP7"
        return
    order = provider.channels.momo.app[ORDERS][attempt["provider_reference"]]
    order.result_code, order.trans_id = 0, 4100000077


async def test_money_through_an_attempt_cancelled_when_another_paid_is_a_duplicate(
    wallets: Wallets,
) -> None:
    """The bill was paid through one MoMo attempt while the citizen, in another tab, paid the
    other one too and its IPN was lost: the janitor finds the second payment for a refund."""
    bill = await wallets.create_payment()
    _, first = await wallets.attempt(bill["id"], method="momo")
    _, second = await wallets.attempt(bill["id"], method="momo")
    await wallets.sandbox(
        wallets.momo, "/simulate", order_id=first["provider_reference"], outcome="success"
    )
    assert (await wallets.payment(bill["id"]))["status"] == "paid"
    assert (await wallets.payment_attempt(bill["id"], second["id"]))["status"] == "cancelled"

    await wallets.sandbox(
        wallets.momo,
        "/simulate",
        order_id=second["provider_reference"],
        outcome="success",
        lose_ipn=True,
    )
    wallets.clock.advance(minutes=1)
    assert await wallets.client.app[POLLER].run_once() == 1

    assert (await wallets.payment(bill["id"]))["status"] == "paid"
    twice = await wallets.payment_attempt(bill["id"], second["id"])
    assert (twice["status"], twice["review_reason"]) == ("succeeded", "duplicate_payment")
    async with wallets.client.app[DATABASE].read() as conn:
        types = (await conn.execute(select(outbox_events.c.type))).scalars().all()
    assert types.count("payment.paid") == 1 and types.count("attempt.needs_review") == 1
