"""The VNPost client against the sandbox carrier, reached through settings, nothing patched."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import FixedClock

from providers.postal.vnpost import (
    Address,
    OrderRequest,
    Party,
    VnpostAccount,
    VnpostClient,
    VnpostError,
    parse_webhook,
)
from providers.postal.vnpost.statuses import MYVNPOST
from providers.sandbox.vnpost import BACKGROUND, SandboxVnpostConfig, create_vnpost_app

KEY = b"vnpost-webhook-key"
CITIZEN = Party("Nguyễn Văn An", "0912345678", Address("12 Lý Tự Trọng", "26734", "79"))
AGENCY = Party("Sở Tư pháp", "0283829000", Address("141 Pasteur", "26740", "79"))
ORDER = OrderRequest("PR01-delivery-1", AGENCY, CITIZEN, 250, cod_amount=50_000)


@dataclass
class Receiver:
    """The gateway's webhook endpoint: records every push, answers as told (then 200)."""

    calls: list[tuple[str | None, bytes]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhooks/vnpost", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        self.calls.append((request.headers.get("X-Vnpost-Signature"), await request.read()))
        return web.Response(status=self.answers.pop(0) if self.answers else 200)


@dataclass
class World:
    client: VnpostClient
    carrier: aiohttp.ClientSession  # the sandbox's control routes
    receiver: Receiver
    clock: FixedClock
    server: TestServer  # the sandbox carrier itself (to await its background work)


@pytest.fixture
async def world(aiohttp_server: Any, clock: FixedClock) -> AsyncIterator[World]:
    receiver = Receiver()
    hook: TestServer = await aiohttp_server(receiver.app())
    config = SandboxVnpostConfig(
        username="dvc-hcm",
        password="s3cret",
        customer_code="KH001",
        webhook_url=str(hook.make_url("/webhooks/vnpost")),
        webhook_key=KEY,
        retry_seconds=0.01,
        max_attempts=3,
        clock=clock,
    )
    server: TestServer = await aiohttp_server(create_vnpost_app(config))
    base = str(server.make_url("/"))
    account = VnpostAccount("dvc-hcm", "s3cret", "KH001", base)
    async with aiohttp.ClientSession() as session, aiohttp.ClientSession(base) as carrier:
        client = VnpostClient(session, account, 5, clock, read_wait_seconds=0.01)
        yield World(client, carrier, receiver, clock, server)


async def test_create_issues_an_s10_item_code_and_get_reads_it(world: World) -> None:
    created = await world.client.create_order(ORDER)
    assert created.client_reference == "PR01-delivery-1"
    assert created.item_code.startswith("EB") and created.item_code.endswith("VN")
    state = await world.client.get_order(created.item_code)
    assert (state.status_code, len(state.events)) == (1, 1)  # 1: created (partner order API)


async def test_second_create_with_the_same_reference_adopts_the_existing_order(
    world: World,
) -> None:
    first = await world.client.create_order(ORDER)
    again = await world.client.create_order(ORDER)
    assert again == first
    orders = await (await world.carrier.get("/sandbox/orders")).json()
    assert len(orders) == 1


async def test_find_by_reference_answers_none_for_an_unknown_reference(world: World) -> None:
    assert await world.client.find_by_reference("PR99-pickup-1") is None


async def test_expired_token_is_renewed_once_and_the_call_repeated(world: World) -> None:
    created = await world.client.create_order(ORDER)
    await world.carrier.post("/sandbox/tokens/expire")
    state = await world.client.get_order(created.item_code)  # 401, new token, 200
    assert state.item_code == created.item_code


async def test_wrong_credentials_are_unauthorized(world: World, clock: FixedClock) -> None:
    account = VnpostAccount("dvc-hcm", "wrong", "KH001", str(world.carrier._base_url))
    async with aiohttp.ClientSession() as session:
        client = VnpostClient(session, account, 5, clock)
        with pytest.raises(VnpostError) as caught:
            await client.create_order(ORDER)
    assert caught.value.code == "unauthorized"


async def test_cancel_before_pickup_then_cancel_again_is_rejected(world: World) -> None:
    created = await world.client.create_order(ORDER)
    state = await world.client.cancel_order(created.item_code)
    assert state.status_code == 9  # pickup cancelled
    with pytest.raises(VnpostError) as caught:
        await world.client.cancel_order(created.item_code)
    assert (caught.value.code, caught.value.http_status) == ("rejected", 409)


async def test_unknown_item_code_is_not_found(world: World) -> None:
    with pytest.raises(VnpostError, match="not_found"):
        await world.client.get_order("EB000000000VN")


async def test_advance_pushes_a_signed_webhook_and_the_history_grows(world: World) -> None:
    created = await world.client.create_order(ORDER)
    response = await world.carrier.post(f"/orders/{created.item_code}/advance", json={"status": 12})
    assert response.status == 200
    signature, body = world.receiver.calls[-1]
    push = parse_webhook(KEY, signature, body)
    assert (push.item_code, push.client_reference) == (created.item_code, "PR01-delivery-1")
    assert push.event.code == 12
    assert push.event.at == world.clock()
    events = await world.client.history(created.item_code)
    assert [event.code for event in events] == [1, 12]


async def test_unacknowledged_webhook_is_redelivered_in_the_background(world: World) -> None:
    created = await world.client.create_order(ORDER)
    world.receiver.answers = [500, 503]
    await world.carrier.post(f"/orders/{created.item_code}/advance", json={"status": 10})
    await world.server.app[BACKGROUND].wait()  # the carrier's redeliveries; no sleeping
    orders = await (await world.carrier.get("/sandbox/orders")).json()
    assert orders[0]["deliveries"] == [500, 503, 200]
    assert world.receiver.calls[0] == world.receiver.calls[2]


@pytest.mark.parametrize("code", [30, 26, 100, 110, "14"])  # undocumented, MyVNPost's, text
async def test_advance_to_a_code_outside_the_configured_table_is_refused(
    world: World, code: Any
) -> None:
    created = await world.client.create_order(ORDER)
    response = await world.carrier.post(
        f"/orders/{created.item_code}/advance", json={"status": code}
    )
    assert response.status == 422
    assert (await response.json())["code"] == "INVALID_STATUS"
    assert (await world.client.get_order(created.item_code)).status_code == 1  # unchanged
    assert world.receiver.calls == []


async def test_advance_of_an_item_code_the_carrier_does_not_hold_is_not_found(
    world: World,
) -> None:
    response = await world.carrier.post("/orders/EB999999995VN/advance", json={"status": 12})
    assert response.status == 404
    assert (await response.json())["code"] == "NOT_FOUND"
    assert world.receiver.calls == []


async def test_a_myvnpost_carrier_speaks_its_own_table(
    aiohttp_server: Any, clock: FixedClock
) -> None:
    receiver = Receiver()
    hook: TestServer = await aiohttp_server(receiver.app())
    server: TestServer = await aiohttp_server(
        create_vnpost_app(
            SandboxVnpostConfig(
                username="u",
                password="p",
                customer_code="KH001",
                webhook_url=str(hook.make_url("/webhooks/vnpost")),
                webhook_key=KEY,
                clock=clock,
                profile=MYVNPOST,
            )
        )
    )
    account = VnpostAccount("u", "p", "KH001", str(server.make_url("/")))
    async with aiohttp.ClientSession() as session:
        client = VnpostClient(session, account, 5, clock)
        created = await client.create_order(ORDER)
        for _ in range(4):
            assert (await session.post(server.make_url(f"/orders/{created.item_code}/step"))).ok
        refused = await session.post(
            server.make_url(f"/orders/{created.item_code}/advance"), json={"status": 14}
        )
        assert refused.status == 422  # a partner order API code means nothing here
        history = [event.code for event in await client.history(created.item_code)]
    assert history == [20, 70, 100, 110, 120]  # accepted … COD collected, COD remitted
    assert [parse_webhook(KEY, *call).event.code for call in receiver.calls] == [70, 100, 110, 120]


async def test_a_restarted_carrier_keeps_its_orders_and_never_reissues_an_item_code(
    aiohttp_server: Any, clock: FixedClock, tmp_path: Any
) -> None:
    state = tmp_path / "sandbox-vnpost.jsonl"

    async def started() -> TestServer:
        config = SandboxVnpostConfig(
            username="u",
            password="p",
            customer_code="KH001",
            webhook_url="http://127.0.0.1:9/none",
            webhook_key=KEY,
            max_attempts=1,
            clock=clock,
            state_path=state,
        )
        server: TestServer = await aiohttp_server(create_vnpost_app(config))
        return server

    first = await started()
    async with aiohttp.ClientSession() as session:
        client = VnpostClient(
            session, VnpostAccount("u", "p", "KH001", str(first.make_url("/"))), 5, clock
        )
        before = [
            await client.create_order(OrderRequest(f"PR0{n}-delivery-1", AGENCY, CITIZEN, 250))
            for n in (1, 2)
        ]
        assert (await session.post(first.make_url(f"/orders/{before[0].item_code}/step"))).ok
        await first.close()
        assert len(state.read_text(encoding="utf-8").splitlines()) == 3  # two creates, a step
        with state.open("a", encoding="utf-8") as handle:
            handle.write('{"item_code": "EB')  # a line a crash cut short

        second = await started()  # the same directory
        written_back = state.read_text(encoding="utf-8").splitlines()
        assert [json.loads(line)["item_code"] for line in written_back] == [
            order.item_code for order in before
        ]  # one line per order, as it now is; the cut line is gone
        account = VnpostAccount("u", "p", "KH001", str(second.make_url("/")))
        client = VnpostClient(session, account, 5, clock)
        after = await client.create_order(OrderRequest("PR03-delivery-1", AGENCY, CITIZEN, 250))
        kept = await client.get_order(before[0].item_code)
        again = await client.create_order(OrderRequest("PR01-delivery-1", AGENCY, CITIZEN, 250))
    assert after.item_code not in {order.item_code for order in before}
    assert [event.code for event in kept.events] == [1, 2]
    assert again == before[0]  # the same reference is still the same order
    assert "Nguyễn" not in state.read_text(encoding="utf-8")  # no parties kept on disk


# -- a carrier that misbehaves (the sandbox never does) -----------------------------------


@dataclass
class ScriptedCarrier:
    """Answers the token route properly and everything else from a script; counts calls."""

    answers: list[tuple[int, bytes]]
    calls: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/token", self._token)
        app.router.add_route("*", "/api/{tail:.*}", self._handle)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        return web.json_response({"token": "t", "expires_in": 3600})

    async def _handle(self, request: web.Request) -> web.Response:
        self.calls.append(f"{request.method} {request.path}")
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return web.Response(status=status, body=body, content_type="application/json")


Script = Callable[..., Awaitable[tuple[ScriptedCarrier, VnpostClient]]]


@pytest.fixture
async def scripted(aiohttp_server: Any, clock: FixedClock) -> AsyncIterator[Script]:
    """Start a carrier answering ``answers`` and return it with a client of it (5 s timeout,
    any other client options passed on)."""
    async with aiohttp.ClientSession() as session:

        async def start(
            answers: list[tuple[int, bytes]], **options: Any
        ) -> tuple[ScriptedCarrier, VnpostClient]:
            carrier = ScriptedCarrier(answers)
            server = await aiohttp_server(carrier.app())
            account = VnpostAccount("u", "p", "KH001", str(server.make_url("/")))
            return carrier, VnpostClient(session, account, 5, clock, **options)

        yield start


async def test_create_on_5xx_is_outcome_unknown_and_sent_once(scripted: Script) -> None:
    carrier, client = await scripted([(502, b"")])
    with pytest.raises(VnpostError) as caught:
        await client.create_order(ORDER)
    assert caught.value.code == "outcome_unknown"
    assert carrier.calls == ["POST /api/orders"]


async def test_reads_are_retried_on_5xx(scripted: Script) -> None:
    order = b'{"item_code":"EB123456789VN","sale_order_code":"R1","status":5,"events":[]}'
    carrier, client = await scripted([(503, b""), (200, order)], read_wait_seconds=0.01)
    state = await client.get_order("EB123456789VN")
    assert state.status_code == 5
    assert len(carrier.calls) == 2


async def test_malformed_answer_is_malformed(scripted: Script) -> None:
    _, client = await scripted([(200, b"<html>oops</html>")])
    with pytest.raises(VnpostError, match="malformed"):
        await client.history("EB123456789VN")
    with pytest.raises(VnpostError, match="malformed"):
        await client.create_order(ORDER)


async def test_persistent_401_after_renewal_is_unauthorized(scripted: Script) -> None:
    carrier, client = await scripted([(401, b'{"code":"UNAUTHORIZED"}')])
    with pytest.raises(VnpostError, match="unauthorized"):
        await client.get_order("EB123456789VN")
    assert len(carrier.calls) == 2  # the call, then once more with a renewed token


async def test_tick_moves_every_live_order_one_step_along_its_path(world: World) -> None:
    plain = await world.client.create_order(OrderRequest("PR02-delivery-1", AGENCY, CITIZEN, 250))
    with_cod = await world.client.create_order(ORDER)
    codes: dict[str, list[int]] = {plain.item_code: [], with_cod.item_code: []}
    for _ in range(10):
        async with world.carrier.post("/sandbox/tick") as answer:
            assert answer.status == 200
        for item in codes:
            codes[item].append((await world.client.get_order(item)).status_code)
    assert codes[plain.item_code] == [2, 4, 6, 7, 10, 11, 12, 14, 14, 14]
    # COD is paid out to the partner after the delivery (21)
    assert codes[with_cod.item_code] == [2, 4, 6, 7, 10, 11, 12, 14, 21, 21]
    async with world.carrier.post("/sandbox/tick") as answer:
        assert (await answer.json())["moved"] == 0  # both paths are done


async def test_faults_lose_a_create_answer_and_drop_pushes(world: World) -> None:
    async with world.carrier.post(
        "/sandbox/faults", json={"create": ["lost_answer"], "pushes": "drop"}
    ) as answer:
        assert answer.status == 200
    with pytest.raises(VnpostError) as lost:
        await world.client.create_order(ORDER)
    assert lost.value.code == "outcome_unknown"
    found = await world.client.find_by_reference(ORDER.client_reference)
    assert found is not None
    async with world.carrier.post(f"/orders/{found.item_code}/step") as answer:
        assert answer.status == 200
    assert world.receiver.calls == []  # the push was lost, the history was not
    assert [e.code for e in await world.client.history(found.item_code)] == [1, 2]
    async with world.carrier.post("/sandbox/faults", json={"create": ["late"]}) as answer:
        assert answer.status == 422
