"""Sending a same-day summary claims it first (``locked_until``, a lease taken by a
conditional UPDATE, gateway/services/receipts/transmission.py): the background loop and
``gateway receipts summary --send`` never both send it, on PostgreSQL (a real race) and on
SQLite; a claim left by a process that died is taken again once its lease is over. Each
summary is claimed right before its own send, so a batch that outlasts one lease sends none
twice, and a sender whose lease ran out leaves the new owner's claim alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from conftest import FixedClock
from receipt_support import Identity
from tax_support import World, open_world

from gateway.cli import _parser, _receipt_summary
from gateway.core.db.schema import receipt_summaries
from gateway.core.errors import SummaryAlreadyAccepted, SummarySendInFlight
from gateway.keys import DATABASE, SETTINGS
from gateway.services.receipts.transmission import claim, lease_of
from gateway.services.wiring import build_services
from providers.sandbox.tax_authority import OFFICE

DAY = "2026-11-22"


@pytest.fixture
async def world(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
    identity: Identity,
) -> AsyncIterator[World]:
    async with open_world(
        aiohttp_server, database_url, clock, unused_tcp_port_factory(), identity
    ) as opened:
        yield opened


@pytest.fixture
async def patient_world(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
    identity: Identity,
) -> AsyncIterator[World]:
    """A gateway that waits long for the tax authority: a held send stays in flight until
    the test lets the sandbox answer."""
    async with open_world(
        aiohttp_server,
        database_url,
        clock,
        unused_tcp_port_factory(),
        identity,
        timeout_seconds=60,
    ) as opened:
        yield opened


async def _deliveries(world: World) -> int:
    """How many copies of any message reached the tax authority."""
    return sum(message["deliveries"] for message in await world.received())


async def _built_day(world: World) -> None:
    await world.pay()
    world.gateway.clock.advance(days=1)
    assert await world.summaries.build_due() == 1


async def test_the_loop_and_send_now_at_once_send_the_summary_once(world: World) -> None:
    await _built_day(world)

    loop, now = await asyncio.gather(
        world.summaries.send_due(),
        world.summaries.send_now(date.fromisoformat(DAY), "HCM"),
        return_exceptions=True,
    )

    # Whoever claimed it sent it; the other sent nothing (refused while it was in flight,
    # or it found the answer already recorded).
    if loop == 1:
        assert isinstance(now, SummarySendInFlight | SummaryAlreadyAccepted), now
    else:
        assert loop == 0 and isinstance(now, dict) and now["status"] == "accepted", now
    [summary] = await world.listed(business_date=DAY)
    assert (summary["status"], summary["attempts"]) == ("accepted", 1)
    assert await _deliveries(world) == 1


async def test_two_send_nows_at_once_send_the_summary_once(world: World) -> None:
    await _built_day(world)
    day = date.fromisoformat(DAY)

    results = await asyncio.gather(
        world.summaries.send_now(day, "HCM"),
        world.summaries.send_now(day, "HCM"),
        return_exceptions=True,
    )

    sent = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, SummarySendInFlight | SummaryAlreadyAccepted)]
    assert len(sent) == 1 and len(refused) == 1, results
    assert await _deliveries(world) == 1


async def test_the_cli_while_the_loop_is_sending_is_refused_and_sends_nothing(
    patient_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world = patient_world
    await _built_day(world)
    office = world.tax.app[OFFICE]
    office.arrived.clear()
    await world.script({"outcome": "timeout"})  # the tax authority holds the loop's message
    command = ["receipts", "summary", "--date", DAY, "--agency", "HCM", "--send"]
    settings = world.gateway.client.app[SETTINGS]

    async with build_services(settings, clock=world.gateway.clock) as services:
        loop = asyncio.create_task(world.summaries.send_due())
        await office.arrived.wait()  # the loop's send is in flight now
        capsys.readouterr()
        refused = await _receipt_summary(services, _parser().parse_args(command))
        printed = capsys.readouterr()
        assert await _deliveries(world) == 1  # only the loop's copy
        office.released.set()  # the tax authority answers the loop now
        assert await loop == 1

    assert refused == 1
    assert "receipt_summary_in_flight" in printed.err
    assert f"HCM\t{DAY}\t#1\tunsent" in printed.out  # shown as it was, being sent
    [summary] = await world.listed(business_date=DAY)
    assert (summary["status"], summary["attempts"]) == ("accepted", 1)
    assert await _deliveries(world) == 1


async def test_a_send_without_answer_gives_its_claim_back(world: World) -> None:
    await _built_day(world)
    await world.script({"outcome": "timeout"})
    assert await world.summaries.send_due() == 1  # no answer within 0.3 s: unsent

    [unsent] = await world.listed(business_date=DAY)
    assert (unsent["status"], unsent["attempts"]) == ("unsent", 1)
    resent = await world.summaries.send_now(date.fromisoformat(DAY), "HCM")

    assert (resent["status"], resent["message_id"]) == ("accepted", unsent["message_id"])
    [kept] = await world.received()
    assert kept["deliveries"] == 2 and kept["answered"] is True


async def test_a_claim_left_by_a_sender_that_died_is_taken_again_after_its_lease(
    world: World,
) -> None:
    await _built_day(world)
    [built] = await world.listed(business_date=DAY)
    database = world.gateway.client.app[DATABASE]
    lease = lease_of(0.3)  # the world's timeout_seconds
    async with database.write() as conn:  # a process claims it, then dies before sending
        taken = await claim(
            conn, receipt_summaries, [built["id"]], ["unsent"], world.gateway.clock(), lease
        )
    assert taken == [built["id"]]

    assert await world.summaries.send_due() == 0
    with pytest.raises(SummarySendInFlight):
        await world.summaries.send_now(date.fromisoformat(DAY), "HCM")
    assert await world.received() == []

    world.gateway.clock.advance(seconds=lease.total_seconds())
    assert await world.summaries.send_due() == 1

    [summary] = await world.listed(business_date=DAY)
    assert (summary["status"], summary["attempts"]) == ("accepted", 1)
    assert await _deliveries(world) == 1


async def _two_built_days(world: World) -> list[dict[str, Any]]:
    """Two past days with a receipt each, their summaries built (oldest sent first)."""
    await world.pay()
    world.gateway.clock.advance(days=1)
    await world.pay()
    world.gateway.clock.advance(days=1)
    assert await world.summaries.build_due() == 2
    first = await world.listed(business_date=DAY)
    second = await world.listed(business_date="2026-11-23")
    return [*first, *second]


def _pulse(event: asyncio.Event) -> None:
    """Let the sends the sandbox holds now answer; those arriving later are held again."""
    event.set()
    event.clear()


async def test_a_batch_that_outlasts_one_lease_sends_each_summary_once(
    patient_world: World,
) -> None:
    # Each send lasts 3/4 of a lease: together the batch outlasts one. The second summary is
    # claimed when its send starts, so another process finds it held while it is in flight.
    world = patient_world
    await _two_built_days(world)
    office = world.tax.app[OFFICE]
    lease = lease_of(60).total_seconds()
    await world.script({"outcome": "timeout"}, {"outcome": "timeout"})
    office.arrived.clear()

    loop = asyncio.create_task(world.summaries.send_due())
    await office.arrived.wait()  # the first day's send is in flight
    world.gateway.clock.advance(seconds=lease * 3 / 4)
    office.arrived.clear()
    _pulse(office.released)  # the tax authority answers the first
    await office.arrived.wait()  # the second day's send is in flight
    world.gateway.clock.advance(seconds=lease * 3 / 4)

    other = await world.summaries.send_due()  # another process's loop, meanwhile

    _pulse(office.released)
    assert await loop == 2
    received = await world.received()
    assert [message["deliveries"] for message in received] == [1, 1]
    assert other == 0  # it found the second day held, and sent nothing
    summaries = await world.listed()
    assert sorted((s["status"], s["attempts"]) for s in summaries) == [("accepted", 1)] * 2


async def test_a_sender_whose_lease_ran_out_leaves_the_new_owners_claim(
    patient_world: World,
) -> None:
    world = patient_world
    await _built_day(world)
    [built] = await world.listed(business_date=DAY)
    office = world.tax.app[OFFICE]
    database = world.gateway.client.app[DATABASE]
    lease = lease_of(60)
    await world.script({"outcome": "timeout"})
    office.arrived.clear()

    late = asyncio.create_task(world.summaries.send_due())
    await office.arrived.wait()  # its send is in flight, and outlasts its lease
    world.gateway.clock.advance(seconds=lease.total_seconds() + 1)
    async with database.write() as conn:  # another process claims the summary again
        taken = await claim(
            conn, receipt_summaries, [built["id"]], ["unsent"], world.gateway.clock(), lease
        )
    assert taken == [built["id"]]
    _pulse(office.released)  # the late sender's answer comes
    assert await late == 1

    # The answer is the new owner's to record: the claim holds, the CLI is refused.
    [summary] = await world.listed(business_date=DAY)
    assert (summary["status"], summary["attempts"]) == ("unsent", 0)
    with pytest.raises(SummarySendInFlight):
        await world.summaries.send_now(date.fromisoformat(DAY), "HCM")
    assert await _deliveries(world) == 1
