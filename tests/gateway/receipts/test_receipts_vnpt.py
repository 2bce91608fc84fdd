"""An agency issuing through VNPT (``issuer = "vnpt"``): the payment's transaction leaves the
receipt pending, the pending-receipts loop publishes it at the VNPT sandbox (a real server)
outside any transaction and records VNPT's number; a lost answer, a refusal and two loops at
once never give the citizen two receipts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import Channels, FixedClock, make_settings, open_channels
from receipt_support import Identity, event_types, receipt_settings, receipt_xml, receipts_of
from sqlalchemy import update
from structlog.testing import capture_logs
from test_receipt_corrections import WRONG_AMOUNT, counts, decide, last_event, propose
from test_receipts_issue import pay_by_transfer
from tests_support import DEMO_PORTAL, pay_demo_bill, start_sandbox

from config import ConfigError, load_settings
from gateway.core.db.schema import receipts
from gateway.keys import DATABASE, METRICS, RECEIPTS
from providers.sandbox.vnpt_receipts import TENANT, SandboxVnptConfig, create_vnpt_receipts_app

VNPT = {
    "username": "hcm-service",
    "password": "hcm-service-password",
    "account": "hcm-admin",
    "ac_pass": "hcm-admin-password",
}


@dataclass
class VnptWorld:
    gateway: Channels
    vnpt: Any  # the sandbox VNPT tenant's server
    config: SandboxVnptConfig

    async def held(self) -> list[dict[str, Any]]:
        """The receipts the VNPT tenant holds."""
        async with self.gateway.client.session.get(
            self.vnpt.make_url("/sandbox/receipts")
        ) as response:
            assert response.status == 200
            return list(await response.json())

    async def faults(self, **faults: list[str]) -> None:
        async with self.gateway.client.session.post(
            self.vnpt.make_url("/sandbox/faults"), json=faults
        ) as response:
            assert response.status == 200, await response.text()

    async def loop_round(self) -> int:
        """One round of the pending-receipts background step."""
        return int(await self.gateway.client.app[RECEIPTS].issue_pending())


@pytest.fixture
async def world(
    request: pytest.FixtureRequest,
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
    identity: Identity,
) -> AsyncIterator[VnptWorld]:
    """The gateway with HCM issuing through the sandbox VNPT tenant (a server of its own);
    HCM's settings may be changed by parametrizing ``world`` indirectly."""
    config = SandboxVnptConfig(**VNPT, clock=clock)
    vnpt = await aiohttp_server(create_vnpt_receipts_app(config))
    hcm = getattr(request, "param", {})
    receipts = {
        **receipt_settings(identity, issuer="vnpt", **hcm),
        "vnpt": {"base_url": str(vnpt.make_url("")), **VNPT},
    }
    port = unused_tcp_port_factory()
    gateway = await open_channels(aiohttp_server, database_url, clock, port, receipts=receipts)
    yield VnptWorld(gateway, vnpt, config)
    await gateway.client.close()


async def test_a_paid_payment_is_issued_by_vnpt_with_vnpts_number(world: VnptWorld) -> None:
    gateway = world.gateway
    payment = await gateway.create_payment()

    await pay_by_transfer(gateway, payment)

    # Paid at once; the receipt waits for VNPT, with no number drawn from our ranges.
    [waiting] = await receipts_of(gateway, payment["id"])
    assert (waiting["status"], waiting["pending_reason"]) == ("pending", "external_issuer")
    assert (waiting["number"], waiting["symbol"], waiting["provider"]) == (None, None, "vnpt")
    assert await event_types(gateway, payment["id"]) == ["payment.paid"]
    assert await world.held() == []
    pending = gateway.client.app[METRICS].receipts_pending.labels("HCM", "external_issuer")
    assert pending._value.get() == 0  # waiting for VNPT is the normal way, not an alert

    assert await world.loop_round() == 1

    [held] = await world.held()
    assert (held["fkey"], held["pattern"], held["serial"]) == (waiting["id"], "EBL01", "26TAB")
    assert held["total"] == 185_000 and held["customer_name"] == "Nguyễn Văn An"
    [receipt] = await receipts_of(gateway, payment["id"])
    assert (receipt["status"], receipt["pending_reason"]) == ("issued", None)
    assert (receipt["symbol"], receipt["number"]) == ("26TAB", held["number"])
    assert receipt["issued_at"] == "2026-11-22T02:00:00Z"
    assert f"<InvoiceNo>{held['number']}</InvoiceNo>".encode() in await receipt_xml(
        gateway, receipt
    )
    assert await event_types(gateway, payment["id"]) == ["payment.paid", "receipt.issued"]
    assert await world.loop_round() == 0  # nothing left
    assert len(await world.held()) == 1
    assert await event_types(gateway, payment["id"]) == ["payment.paid", "receipt.issued"]


async def test_a_lost_publish_answer_is_found_by_its_key_next_round(world: VnptWorld) -> None:
    gateway = world.gateway
    payment = await gateway.create_payment()
    await pay_by_transfer(gateway, payment)
    # VNPT numbers the receipt but the answer is lost, and the look-ups find VNPT down.
    await world.faults(publish=["lost_answer"], reads=["unavailable"] * 3)

    with capture_logs() as logs:
        assert await world.loop_round() == 0

    [waiting] = await receipts_of(gateway, payment["id"])
    assert (waiting["status"], waiting["pending_reason"]) == ("pending", "vnpt_unavailable")
    alerts = [e for e in logs if e["event"] == "receipt_pending"]
    assert [(a["reason"], a["log_level"]) for a in alerts] == [("vnpt_unavailable", "error")]
    assert len(await world.held()) == 1  # VNPT did publish it

    assert await world.loop_round() == 1

    [held] = await world.held()  # found by its fkey: VNPT holds exactly one
    [receipt] = await receipts_of(gateway, payment["id"])
    assert (receipt["status"], receipt["number"]) == ("issued", held["number"])
    assert held["fkey"] == receipt["id"]
    assert await event_types(gateway, payment["id"]) == ["payment.paid", "receipt.issued"]


async def test_vnpt_refusing_leaves_the_receipt_pending_with_the_reason(world: VnptWorld) -> None:
    gateway = world.gateway
    world.config.ranges = {("EBL01", "26TAC"): 100}  # VNPT has not registered 26TAB
    payment = await gateway.create_payment()
    await pay_by_transfer(gateway, payment)

    assert await world.loop_round() == 0
    assert await world.loop_round() == 0  # retried, still refused: alerted once

    [waiting] = await receipts_of(gateway, payment["id"])
    assert (waiting["status"], waiting["pending_reason"]) == ("pending", "vnpt_rejected")
    assert waiting["number"] is None
    metrics = gateway.client.app[METRICS]
    assert metrics.receipts_pending.labels("HCM", "vnpt_rejected")._value.get() == 1
    assert await world.held() == []
    assert await event_types(gateway, payment["id"]) == ["payment.paid"]

    world.config.ranges[("EBL01", "26TAB")] = 100  # registered at VNPT: the next round issues

    assert await world.loop_round() == 1
    [receipt] = await receipts_of(gateway, payment["id"])
    assert (receipt["status"], receipt["number"]) == ("issued", 1)


@pytest.mark.parametrize("world", [{"symbols": {"2027": "27TAB"}}], indirect=True)
async def test_without_the_years_symbol_nothing_is_sent_to_vnpt(world: VnptWorld) -> None:
    gateway = world.gateway  # paid in 2026, with only the 2027 symbol
    payment = await gateway.create_payment()
    await pay_by_transfer(gateway, payment)

    assert await world.loop_round() == 0

    [waiting] = await receipts_of(gateway, payment["id"])
    assert (waiting["status"], waiting["pending_reason"]) == ("pending", "no_symbol_for_year")
    assert await world.held() == []
    metrics = gateway.client.app[METRICS]
    assert metrics.receipts_pending.labels("HCM", "no_symbol_for_year")._value.get() == 1


async def test_two_loops_at_once_issue_the_receipt_once(world: VnptWorld) -> None:
    gateway = world.gateway
    payment = await gateway.create_payment()
    await pay_by_transfer(gateway, payment)

    rounds = await asyncio.gather(world.loop_round(), world.loop_round())

    assert sorted(rounds) == [0, 1]
    [held] = await world.held()
    [receipt] = await receipts_of(gateway, payment["id"])
    assert (receipt["status"], receipt["number"]) == ("issued", held["number"])
    assert await event_types(gateway, payment["id"]) == ["payment.paid", "receipt.issued"]


def test_an_agency_issuing_through_vnpt_needs_the_vnpt_tenant(identity: Identity) -> None:
    receipts = receipt_settings(identity, issuer="vnpt")

    with pytest.raises(ConfigError) as refused:
        make_settings("sqlite+aiosqlite://", receipts=receipts)

    assert 'issuer = "vnpt" needs receipts.vnpt.base_url' in str(refused.value)
    with pytest.raises(ConfigError) as unknown:
        make_settings("sqlite+aiosqlite://", receipts=receipt_settings(identity, issuer="viettel"))
    assert "issuer" in str(unknown.value)


async def test_replacing_through_vnpt_is_off_until_the_agency_turns_it_on(
    world: VnptWorld,
) -> None:
    """``vnpt_replacements`` is off by default until VNPT confirms the operation: a
    replacement is refused at proposal, nothing is recorded, and a notice is still possible."""
    gateway = world.gateway
    payment = await gateway.create_payment()
    await pay_by_transfer(gateway, payment)
    await world.loop_round()
    [original] = await receipts_of(gateway, payment["id"])
    before = await counts(gateway)

    status, problem = await propose(gateway, original["id"], WRONG_AMOUNT)

    assert (status, problem["code"], problem["reason"]) == (
        409,
        "receipt_not_issuable",
        "vnpt_replacements_off",
    )
    assert await counts(gateway) == before
    [still] = await receipts_of(gateway, payment["id"])
    assert still["status"] == "issued"
    assert len(await world.held()) == 1


@pytest.mark.parametrize("world", [{"vnpt_replacements": True}], indirect=True)
async def test_a_vnpt_receipt_is_replaced_through_vnpt_once_another_person_approves(
    world: VnptWorld,
) -> None:
    gateway = world.gateway
    payment = await gateway.create_payment()
    await pay_by_transfer(gateway, payment)
    await world.loop_round()
    [original] = await receipts_of(gateway, payment["id"])
    gateway.clock.advance(minutes=5)
    status, correction = await propose(gateway, original["id"], WRONG_AMOUNT, who="approver2")
    assert status == 201, correction
    status, problem = await decide(gateway, correction["id"], "approve", "approver2")
    assert (status, problem["code"]) == (409, "self_approval")  # maker-checker, as ever

    status, approved = await decide(gateway, correction["id"], "approve", "approver")

    # Approval calls no provider: the replacement is born pending, like VNPT's receipts,
    # and the original stays issued until VNPT has published it.
    assert status == 200, approved
    old, new = await receipts_of(gateway, payment["id"])
    assert (old["status"], new["status"], new["pending_reason"]) == (
        "issued",
        "pending",
        "external_issuer",
    )
    assert await event_types(gateway, payment["id"]) == ["payment.paid", "receipt.issued"]
    assert (new["id"], new["replaces"], new["amount"]) == (
        approved["replacement_id"],
        original["id"],
        185_000,
    )
    assert len(await world.held()) == 1

    # The loop publishes it at VNPT as the replacement of the original's fkey, once.
    await world.faults(publish=["lost_answer"])
    assert await world.loop_round() == 1
    assert await world.loop_round() == 0
    old, new = await receipts_of(gateway, payment["id"])
    assert (old["status"], new["status"], new["provider"], new["number"]) == (
        "replaced",
        "issued",
        "vnpt",
        2,
    )
    held = {r["fkey"]: (r["number"], r["status"], r["replaces"]) for r in await world.held()}
    assert held == {original["id"]: (1, 3, None), new["id"]: (2, 1, original["id"])}
    assert b"<ReplacedFkey>" in await receipt_xml(gateway, new)
    assert await event_types(gateway, payment["id"]) == [
        "payment.paid",
        "receipt.issued",
        "receipt.issued",
        "receipt.replaced",
    ]
    replaced = await last_event(gateway)
    assert (replaced["data"]["receipt"]["id"], replaced["data"]["replaced"]["id"]) == (
        new["id"],
        original["id"],
    )
    assert replaced["data"]["replaced"]["status"] == "replaced"


@pytest.mark.parametrize("world", [{"vnpt_replacements": True}], indirect=True)
async def test_a_replacement_vnpt_refuses_waits_with_its_reason_and_issues_nothing(
    world: VnptWorld,
) -> None:
    gateway = world.gateway
    payment = await gateway.create_payment()
    await pay_by_transfer(gateway, payment)
    await world.loop_round()
    [original] = await receipts_of(gateway, payment["id"])
    # Someone replaced it at VNPT's portal meanwhile: VNPT has nothing left to replace.
    world.vnpt.app[TENANT].receipts[original["id"]].status = 3
    gateway.clock.advance(minutes=5)
    _, correction = await propose(gateway, original["id"], WRONG_AMOUNT)
    status, _ = await decide(gateway, correction["id"], "approve", "approver2")
    assert status == 200

    with capture_logs() as logs:
        assert await world.loop_round() == 0

    old, new = await receipts_of(gateway, payment["id"])
    assert (new["status"], new["pending_reason"], new["number"]) == (
        "pending",
        "vnpt_rejected",
        None,
    )
    assert [log["reason"] for log in logs if log["event"] == "receipt_pending"] == ["vnpt_rejected"]
    assert len(await world.held()) == 1
    # The original is not stuck as replaced by a replacement VNPT never accepted.
    assert old["status"] == "issued"
    assert "receipt.replaced" not in await event_types(gateway, payment["id"])
    # and no second replacement while this one waits.
    _, second = await propose(gateway, original["id"], WRONG_AMOUNT)
    status, problem = await decide(gateway, second["id"], "approve", "approver2")
    assert (status, problem["code"], problem["reason"]) == (
        409,
        "receipt_not_issuable",
        "replacement_pending",
    )
    assert len(await receipts_of(gateway, payment["id"])) == 2


async def test_in_sandbox_mode_a_vnpt_agency_issues_through_the_mounted_sandbox(
    tmp_path: Any, unused_tcp_port: int, clock: FixedClock
) -> None:
    settings = load_settings(
        environ={},
        overrides={
            "data_dir": str(tmp_path),
            "port": unused_tcp_port,
            "demo": {"api_key": DEMO_PORTAL, "receipts": {"issuer": "vnpt"}},
        },
    )
    client = await start_sandbox(settings, clock)
    try:
        portal = {"Authorization": f"Bearer {DEMO_PORTAL}"}
        payment = await pay_demo_bill(client, "vnpt-1", 135_000)

        assert await client.app[RECEIPTS].issue_pending() == 1

        listed = await client.get(f"/v1/payments/{payment['id']}/receipts", headers=portal)
        [receipt] = (await listed.json())["data"]
        held = await (await client.get("/sandbox/vnpt-receipts/sandbox/receipts")).json()
        assert [(h["fkey"], h["number"]) for h in held] == [(receipt["id"], 1)]
        assert (receipt["status"], receipt["provider"], receipt["number"]) == ("issued", "vnpt", 1)
    finally:
        await client.close()


@pytest.mark.parametrize("world", [{"vnpt_replacements": True}], indirect=True)
async def test_a_receipt_vnpt_does_not_hold_is_not_replaced_through_it(world: VnptWorld) -> None:
    gateway = world.gateway
    payment = await gateway.create_payment()
    await pay_by_transfer(gateway, payment)
    await world.loop_round()
    [original] = await receipts_of(gateway, payment["id"])
    # As if the gateway had signed it before the agency moved to VNPT.
    async with gateway.client.app[DATABASE].write() as conn:
        await conn.execute(
            update(receipts)
            .where(receipts.c.id == original["id"])
            .values(provider="gateway", external_key=None)
        )
    _, correction = await propose(gateway, original["id"], WRONG_AMOUNT)
    before = await counts(gateway)

    status, problem = await decide(gateway, correction["id"], "approve", "approver2")

    assert (status, problem["code"], problem["reason"]) == (
        409,
        "receipt_not_issuable",
        "not_at_provider",
    )
    assert await counts(gateway) == before
    [unchanged] = await receipts_of(gateway, payment["id"])
    assert unchanged["status"] == "issued"
    assert len(await world.held()) == 1
