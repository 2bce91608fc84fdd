"""Gapless numbering under concurrency: 50 payments paid at the same moment through two app
instances sharing one database (two ``create_app`` — two processes' worth of wiring) get the
receipt numbers 1..50, each once, on PostgreSQL (row locks on the range) and on SQLite (one
writer)."""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import FixedClock, Gateway, make_settings, seed
from receipt_support import (
    Identity,
    receipt_settings,
    receipts_of,
)
from tests_support import signed_notice

from gateway.app import create_app
from gateway.core.errors import ReceiptRangeOverlaps
from gateway.keys import RECEIPTS

PAYMENTS = 50


async def test_fifty_concurrent_payments_through_two_instances_get_numbers_1_to_50(
    aiohttp_client: Any,
    database_url: str,
    clock: FixedClock,
    identity: Identity,
) -> None:
    settings = make_settings(database_url, receipts=receipt_settings(identity))
    first = await aiohttp_client(create_app(settings, clock=clock, background=False))
    second = await aiohttp_client(create_app(settings, clock=clock, background=False))
    keys = await seed(first)
    await first.app[RECEIPTS].add_range("HCM", "26TAB", "online", 1, 1000)
    gateway = Gateway(client=first, clock=clock, keys=keys)
    payments = [await gateway.create_payment() for _ in range(PAYMENTS)]

    async def pay(index: int, payment: dict[str, Any]) -> None:
        body, headers = signed_notice(payment, int(clock().timestamp()))
        instance = (first, second)[index % 2]
        response = await instance.post("/callbacks/bank/testbank", data=body, headers=headers)
        assert response.status == 200, await response.text()

    await asyncio.gather(*(pay(i, payment) for i, payment in enumerate(payments)))

    numbers = []
    for payment in payments:
        assert (await gateway.payment(payment["id"]))["status"] == "paid"
        [receipt] = await receipts_of(gateway, payment["id"])
        assert (receipt["status"], receipt["symbol"]) == ("issued", "26TAB")
        numbers.append(receipt["number"])
    assert sorted(numbers) == list(range(1, PAYMENTS + 1))
    [online] = await first.app[RECEIPTS].ranges("HCM")
    assert online["next_number"] == PAYMENTS + 1


async def test_overlapping_ranges_added_at_once_through_two_instances_only_one_is_added(
    aiohttp_client: Any,
    database_url: str,
    clock: FixedClock,
    identity: Identity,
) -> None:
    """Staff add overlapping number ranges for the same symbol at the same moment, through two
    processes: the overlap check must see the other's range, or the same receipt number could
    be given twice. One range is added; the other is refused as overlapping."""
    settings = make_settings(database_url, receipts=receipt_settings(identity))
    first = await aiohttp_client(create_app(settings, clock=clock, background=False))
    second = await aiohttp_client(create_app(settings, clock=clock, background=False))
    await seed(first)

    points = ("online", "counter", "postal")
    results = await asyncio.gather(
        *(
            (first, second)[i % 2]
            .app[RECEIPTS]
            .add_range("HCM", "26TAB", points[i % 3], 1 + 100 * i, 1000 + 100 * i)
            for i in range(8)
        ),
        return_exceptions=True,
    )

    refused = [result for result in results if isinstance(result, BaseException)]
    assert [type(error) for error in refused] == [ReceiptRangeOverlaps] * 7, results
    assert len(await first.app[RECEIPTS].ranges("HCM")) == 1
