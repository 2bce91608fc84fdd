"""The VNPT e-receipt client against the sandbox VNPT tenant, reached through its account,
nothing patched: publish, look up, view, download and cancel by fkey; a duplicate fkey or a
lost answer never numbers a receipt twice; VNPT's ERR codes become stable errors."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from providers.receipts.vnpt import (
    Published,
    VnptAccount,
    VnptClient,
    VnptError,
    VnptInvoice,
    VnptLine,
)
from providers.receipts.vnpt.codec import VnptReference
from providers.sandbox.vnpt_receipts import SandboxVnptConfig, create_vnpt_receipts_app

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
PATTERN, SERIAL = "EBL01", "26TAB"


def invoice(fkey: str = "rct_0001", name: str = "Nguyễn Văn An") -> VnptInvoice:
    return VnptInvoice(
        fkey=fkey,
        customer_code="H29.22-241122-0001",
        customer_name=name,
        arising_date=date(2026, 11, 22),
        lines=(
            VnptLine("Phí thẩm định hồ sơ", 50_000, is_charge=False, code="P01"),
            VnptLine("Lệ phí cấp đổi giấy phép lái xe", 135_000, is_charge=True, code="L01"),
        ),
        total=185_000,
        amount_in_words="Một trăm tám mươi lăm nghìn đồng",
        payment_method="CK",
        extra="Cấp đổi giấy phép lái xe",
        extra2="vietqr DVC8K2M4",
    )


@dataclass
class World:
    client: VnptClient
    tenant: aiohttp.ClientSession  # the sandbox's control routes

    async def receipts(self) -> list[dict[str, Any]]:
        async with self.tenant.get("/sandbox/receipts") as response:
            return list(await response.json())

    async def fail_next_publishes(self, *faults: str) -> None:
        async with self.tenant.post("/sandbox/faults", json={"publish": list(faults)}) as r:
            assert r.status == 200


async def _world(
    aiohttp_server: Any, ranges: dict[tuple[str, str], int] | None = None, **account: str
) -> AsyncIterator[World]:
    config = SandboxVnptConfig(
        username="dvc_service",
        password="service-pass",
        account="dvc_admin",
        ac_pass="admin-pass",
        ranges=ranges or {},
        clock=lambda: NOW,
    )
    server: TestServer = await aiohttp_server(create_vnpt_receipts_app(config))
    credentials = {
        "username": "dvc_service",
        "password": "service-pass",
        "account": "dvc_admin",
        "ac_pass": "admin-pass",
        **account,
    }
    vnpt = VnptAccount(base_url=str(server.make_url("/")), **credentials)  # type: ignore[arg-type]
    async with (
        aiohttp.ClientSession() as session,
        aiohttp.ClientSession(server.make_url("/")) as tenant,
    ):
        yield World(VnptClient(session, vnpt, 2, read_wait_seconds=0.01), tenant)


@pytest.fixture
async def world(aiohttp_server: Any) -> AsyncIterator[World]:
    async for world in _world(aiohttp_server):
        yield world


async def test_publish_numbers_receipts_in_order_and_they_can_be_looked_up(world: World) -> None:
    first = await world.client.publish(invoice("rct_0001"), PATTERN, SERIAL)
    second = await world.client.publish(invoice("rct_0002"), PATTERN, SERIAL)

    assert first == Published("rct_0001", PATTERN, SERIAL, 1)
    assert second.number == 2
    state = await world.client.lookup("rct_0002")
    assert state is not None
    assert (state.pattern, state.serial, state.number, state.state) == (
        PATTERN,
        SERIAL,
        2,
        "issued",
    )
    assert state.amount == 185_000
    assert await world.client.lookup("rct_9999") is None


async def test_view_shows_the_receipt_and_download_gives_its_xml(world: World) -> None:
    await world.client.publish(invoice(), PATTERN, SERIAL)

    page = await world.client.view("rct_0001")
    xml = await world.client.download_xml("rct_0001")

    assert "Nguyễn Văn An" in page and "185,000" in page
    assert "<InvoiceNo>1</InvoiceNo>" in xml.decode()
    assert "Lệ phí cấp đổi giấy phép lái xe" in xml.decode()


async def test_a_payer_name_with_markup_travels_as_text(world: World) -> None:
    await world.client.publish(invoice(name="Trần & <Lê>"), PATTERN, SERIAL)

    [kept] = await world.receipts()
    assert kept["customer_name"] == "Trần & <Lê>"


async def test_publishing_the_same_fkey_again_adopts_the_receipt_without_a_second_number(
    world: World,
) -> None:
    first = await world.client.publish(invoice(), PATTERN, SERIAL)
    again = await world.client.publish(invoice(), PATTERN, SERIAL)

    assert again == first
    assert [r["number"] for r in await world.receipts()] == [1]


async def test_an_fkey_holding_a_receipt_of_another_serial_is_a_duplicate_key(world: World) -> None:
    await world.client.publish(invoice(), PATTERN, SERIAL)

    with pytest.raises(VnptError) as caught:
        await world.client.publish(invoice(), PATTERN, "26TAC")

    assert caught.value.code == "duplicate_key"
    assert not caught.value.retryable
    assert len(await world.receipts()) == 1


async def test_a_lost_publish_answer_is_settled_by_looking_the_fkey_up(world: World) -> None:
    await world.fail_next_publishes("lost_answer")

    published = await world.client.publish(invoice(), PATTERN, SERIAL)

    assert published == Published("rct_0001", PATTERN, SERIAL, 1)
    assert [r["number"] for r in await world.receipts()] == [1]


async def test_a_publish_that_never_arrived_is_sent_again_after_the_look_up(world: World) -> None:
    await world.fail_next_publishes("unavailable")

    published = await world.client.publish(invoice(), PATTERN, SERIAL)

    assert published.number == 1
    assert len(await world.receipts()) == 1


async def test_a_publish_still_unanswered_after_its_attempts_is_outcome_unknown(
    world: World,
) -> None:
    await world.fail_next_publishes("unavailable", "unavailable")

    with pytest.raises(VnptError) as caught:
        await world.client.publish(invoice(), PATTERN, SERIAL)

    assert caught.value.code == "outcome_unknown"
    assert caught.value.retryable and caught.value.outcome_unknown
    assert await world.receipts() == []


async def test_cancel_unconfirms_then_cancels_and_a_second_cancel_changes_nothing(
    world: World,
) -> None:
    await world.client.publish(invoice(), PATTERN, SERIAL)

    await world.client.cancel("rct_0001")
    await world.client.cancel("rct_0001")

    state = await world.client.lookup("rct_0001")
    assert state is not None and state.state == "cancelled"
    assert "ĐÃ HỦY" in await world.client.view("rct_0001")


async def test_cancelling_an_unknown_fkey_is_not_found(world: World) -> None:
    with pytest.raises(VnptError) as caught:
        await world.client.cancel("rct_9999")
    assert caught.value.code == "not_found"
    assert caught.value.provider_code == "ERR:6"


async def test_viewing_an_unknown_fkey_is_not_found(world: World) -> None:
    with pytest.raises(VnptError) as caught:
        await world.client.view("rct_9999")
    assert caught.value.code == "not_found"
    assert caught.value.message_vi == "Không tìm thấy biên lai theo khóa (fkey)"


async def test_a_wrong_publisher_account_is_unauthorized_and_publishes_nothing(
    aiohttp_server: Any,
) -> None:
    async for world in _world(aiohttp_server, ac_pass="wrong"):
        with pytest.raises(VnptError) as caught:
            await world.client.publish(invoice(), PATTERN, SERIAL)
        assert (caught.value.code, caught.value.provider_code) == ("unauthorized", "ERR:1")
        assert await world.receipts() == []


async def test_an_unregistered_serial_and_an_exhausted_range_are_refused_with_their_codes(
    aiohttp_server: Any,
) -> None:
    async for world in _world(aiohttp_server, ranges={(PATTERN, SERIAL): 1}):
        with pytest.raises(VnptError) as unregistered:
            await world.client.publish(invoice("rct_0001"), PATTERN, "26TXY")
        await world.client.publish(invoice("rct_0002"), PATTERN, SERIAL)
        with pytest.raises(VnptError) as exhausted:
            await world.client.publish(invoice("rct_0003"), PATTERN, SERIAL)

        assert (unregistered.value.code, unregistered.value.provider_code) == ("rejected", "ERR:20")
        assert unregistered.value.message_vi == (
            "Mẫu số và ký hiệu không phù hợp hoặc chưa đăng ký sử dụng"
        )
        assert (exhausted.value.code, exhausted.value.provider_code) == ("rejected", "ERR:6")
        assert [r["fkey"] for r in await world.receipts()] == ["rct_0002"]


async def test_an_invoice_we_cannot_build_is_refused_before_sending(world: World) -> None:
    bad = VnptInvoice(
        fkey="rct 1",  # a space
        customer_code="H29",
        customer_name="An",
        arising_date=date(2026, 11, 22),
        lines=(VnptLine("Lệ phí", 10_000, is_charge=True),),
        total=10_000,
        amount_in_words="Mười nghìn đồng",
    )
    with pytest.raises(VnptError) as caught:
        await world.client.publish(bad, PATTERN, SERIAL)
    assert caught.value.code == "invalid_field"
    assert await world.receipts() == []


async def test_an_unreachable_tenant_is_unavailable() -> None:
    account = VnptAccount("http://127.0.0.1:9", "u", "p", "a", "ap")  # the discard port: closed
    async with aiohttp.ClientSession() as session:
        client = VnptClient(session, account, 1, read_attempts=2, read_wait_seconds=0.01)
        with pytest.raises(VnptError) as caught:
            await client.lookup("rct_0001")
    assert caught.value.code == "unavailable"


async def test_a_read_is_retried_through_a_passing_outage(world: World) -> None:
    await world.client.publish(invoice(), PATTERN, SERIAL)
    async with world.tenant.post("/sandbox/faults", json={"reads": ["unavailable"]}) as r:
        assert r.status == 200

    state = await world.client.lookup("rct_0001")

    assert state is not None and state.number == 1


async def test_a_read_that_keeps_failing_is_unavailable(world: World) -> None:
    faults = {"reads": ["unavailable"] * 3}  # as many as the client's read attempts
    async with world.tenant.post("/sandbox/faults", json=faults) as r:
        assert r.status == 200

    with pytest.raises(VnptError) as caught:
        await world.client.view("rct_0001")

    assert caught.value.code == "unavailable" and caught.value.retryable


def _replacement(fkey: str = "rct_0002", of: str = "rct_0001", number: int = 1) -> VnptInvoice:
    replaces = VnptReference(of, PATTERN, SERIAL, number, date(2026, 11, 22))
    return dataclasses.replace(invoice(fkey), replaces=replaces)


async def test_a_replacement_is_numbered_and_marks_the_original_replaced(world: World) -> None:
    await world.client.publish(invoice("rct_0001"), PATTERN, SERIAL)

    published = await world.client.publish(_replacement(), PATTERN, SERIAL)

    assert published == Published("rct_0002", PATTERN, SERIAL, 2)
    original = await world.client.lookup("rct_0001")
    assert original is not None and original.state == "replaced"
    held = {r["fkey"]: (r["number"], r["status"], r["replaces"]) for r in await world.receipts()}
    assert held == {"rct_0001": (1, 3, None), "rct_0002": (2, 1, "rct_0001")}


async def test_a_lost_replacement_answer_is_adopted_without_a_second_replacement(
    world: World,
) -> None:
    await world.client.publish(invoice("rct_0001"), PATTERN, SERIAL)
    await world.fail_next_publishes("lost_answer")

    published = await world.client.publish(_replacement(), PATTERN, SERIAL)

    assert published.number == 2
    assert [(r["fkey"], r["status"]) for r in await world.receipts()] == [
        ("rct_0001", 3),
        ("rct_0002", 1),
    ]


async def test_a_replacement_sent_again_and_refused_as_replaced_is_adopted(world: World) -> None:
    """A round whose answer was lost after VNPT published: sent again, VNPT refuses it because
    the original is replaced already (ERR:8); the replacement's fkey is looked up and adopted."""
    await world.client.publish(invoice("rct_0001"), PATTERN, SERIAL)
    first = await world.client.publish(_replacement(), PATTERN, SERIAL)

    again = await world.client.publish(_replacement(), PATTERN, SERIAL)

    assert again == first
    assert [(r["fkey"], r["number"], r["status"]) for r in await world.receipts()] == [
        ("rct_0001", 1, 3),
        ("rct_0002", 2, 1),
    ]


async def test_replacing_a_receipt_that_is_not_there_to_replace_is_refused_and_numbers_nothing(
    world: World,
) -> None:
    await world.client.publish(invoice("rct_0001"), PATTERN, SERIAL)
    await world.client.publish(_replacement(), PATTERN, SERIAL)

    for wrong in (
        _replacement("rct_0003", of="rct_9999"),  # unknown
        _replacement("rct_0003"),  # replaced already
        _replacement("rct_0003", of="rct_0002", number=5),  # another number than VNPT's
    ):
        with pytest.raises(VnptError) as caught:
            await world.client.publish(wrong, PATTERN, SERIAL)
        assert (caught.value.code, caught.value.provider_code) == ("rejected", "ERR:8")
    assert len(await world.receipts()) == 2
