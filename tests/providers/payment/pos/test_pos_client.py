"""How the POS client treats a cloud that is slow, failing, or not to be trusted.

The cloud here is a tiny aiohttp app that answers from a script (the sandbox is always
well-behaved); it records every request so that "sent once" and "retried" are counted.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import FixedClock
from pos_helpers import MERCHANT_ID, SECRET, approved
from tests_support import pos_sale

from providers.payment.pos import PosClient, PosError, PosMerchant, PushResult, Sale, codec

APPROVED = approved(sale_id="att_0001")
ACCEPTED = {"sale_id": "att_0001", "status": "sent_to_terminal"}


@dataclass
class Answer:
    status: int
    data: dict[str, Any] = field(default_factory=dict)
    secret: bytes | None = SECRET  # None: unsigned
    hold: asyncio.Event | None = None  # answer only once this is set


@dataclass
class ScriptedCloud:
    clock: FixedClock
    answers: list[Answer] = field(default_factory=list)
    requests: list[tuple[str, str, Any, bytes]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((request.method, request.path, request.headers.copy(), body))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer.hold is not None:
            await answer.hold.wait()
        payload = json.dumps(answer.data).encode()
        headers = {"Content-Type": "application/json"}
        if answer.secret is not None:
            stamp = int(self.clock().timestamp())
            headers = codec.signed_headers(answer.secret, stamp, payload)
        return web.Response(status=answer.status, body=payload, headers=headers)


@pytest.fixture
async def cloud(aiohttp_server: Any, clock: FixedClock) -> AsyncIterator[tuple[ScriptedCloud, str]]:
    scripted = ScriptedCloud(clock)
    server: TestServer = await aiohttp_server(scripted.app())
    yield scripted, str(server.make_url("/"))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client(
    session: aiohttp.ClientSession, base_url: str, clock: FixedClock, timeout: float = 5
) -> PosClient:
    merchant = PosMerchant(MERCHANT_ID, SECRET, base_url)
    return PosClient(session, merchant, timeout, clock=clock, query_wait_seconds=0)


@pytest.fixture
def pos(
    cloud: tuple[ScriptedCloud, str], session: aiohttp.ClientSession, clock: FixedClock
) -> tuple[ScriptedCloud, PosClient]:
    """The scripted cloud and a client of it, as most tests here want them."""
    scripted, base = cloud
    return scripted, client(session, base, clock)


SALE = pos_sale(terminal_id="T-1", sale_id="att_0001", description="Lệ phí")
Call = Callable[[PosClient], Awaitable[Any]]


def push(pos_client: PosClient) -> Awaitable[Any]:
    return pos_client.push_sale(SALE)


def cancel(pos_client: PosClient) -> Awaitable[Any]:
    return pos_client.cancel_sale("T-1", "att_0001")


def query(pos_client: PosClient) -> Awaitable[Any]:
    return pos_client.get_sale("T-1", "att_0001")


async def error_of(pos: tuple[ScriptedCloud, PosClient], call: Call, *answers: Answer) -> PosError:
    """The error ``call`` raises when the cloud answers ``answers`` (the last one repeating)."""
    scripted, pos_client = pos
    scripted.answers = list(answers)
    with pytest.raises(PosError) as raised:
        await call(pos_client)
    return raised.value


async def test_a_push_is_sent_signed_and_shaped_as_documented(
    cloud: tuple[ScriptedCloud, str], session: aiohttp.ClientSession, clock: FixedClock
) -> None:
    scripted, base = cloud
    scripted.answers = [Answer(202, ACCEPTED)]

    assert await client(session, base, clock).push_sale(SALE) == PushResult(accepted=True)

    [(method, path, headers, body)] = scripted.requests
    assert (method, path) == ("POST", "/v1/terminals/T-1/sales")
    assert body == codec.build_sale(MERCHANT_ID, SALE).body
    assert headers["X-Pos-Timestamp"] == str(int(clock().timestamp()))
    codec.verify(
        SECRET,
        timestamp=headers["X-Pos-Timestamp"],
        signature=headers["X-Pos-Signature"],
        body=body,
        now=int(clock().timestamp()),
    )


@pytest.mark.parametrize(("call", "status"), [(push, 502), (cancel, 503)], ids=["push", "cancel"])
async def test_a_money_moving_call_answered_with_5xx_is_outcome_unknown_and_never_resent(
    pos: tuple[ScriptedCloud, PosClient], call: Call, status: int
) -> None:
    error = await error_of(pos, call, Answer(status, {}, secret=None))
    assert (error.code, error.http_status) == ("outcome_unknown", status)
    assert len(pos[0].requests) == 1


async def test_a_push_that_times_out_is_outcome_unknown(
    cloud: tuple[ScriptedCloud, str], session: aiohttp.ClientSession, clock: FixedClock
) -> None:
    scripted, base = cloud
    release = asyncio.Event()
    scripted.answers = [Answer(202, ACCEPTED, hold=release)]  # the cloud got it, then stalls
    try:
        with pytest.raises(PosError) as raised:
            await client(session, base, clock, timeout=0.05).push_sale(SALE)
    finally:
        release.set()
    assert raised.value.code == "outcome_unknown"
    assert len(scripted.requests) == 1


async def test_a_push_to_a_cloud_that_cannot_be_reached_is_unavailable(
    session: aiohttp.ClientSession, clock: FixedClock
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(PosError) as raised:
        await client(session, f"http://127.0.0.1:{port}", clock).push_sale(SALE)
    assert raised.value.code == "unavailable"


@pytest.mark.parametrize(
    ("answer", "cause"),
    [
        (Answer(202, ACCEPTED, secret=None), "signature_missing"),
        (Answer(202, ACCEPTED, secret=b"impostor"), "signature_invalid"),
        (Answer(202, {**ACCEPTED, "sale_id": "att_9999"}), "malformed"),
        (Answer(202, {"status": "approved", "sale_id": "att_0001"}), "malformed"),
    ],
    ids=["unsigned", "other-key", "other-sale", "odd-status"],
)
async def test_an_answer_to_a_push_that_cannot_be_trusted_is_outcome_unknown(
    pos: tuple[ScriptedCloud, PosClient], answer: Answer, cause: str
) -> None:
    error = await error_of(pos, push, answer)
    assert error.code == "outcome_unknown"
    assert isinstance(error.__cause__, PosError)
    assert error.__cause__.code == cause


async def test_a_signed_refusal_is_an_error_not_a_business_result(
    pos: tuple[ScriptedCloud, PosClient],
) -> None:
    error = await error_of(pos, push, Answer(401, {"code": "signature_invalid"}))
    assert (error.code, error.http_status) == ("rejected", 401)


async def test_a_query_is_retried_on_5xx_and_then_answers(
    pos: tuple[ScriptedCloud, PosClient],
) -> None:
    scripted, pos_client = pos
    scripted.answers = [Answer(503, secret=None), Answer(502, secret=None), Answer(200, APPROVED)]

    result = await pos_client.get_sale("T-1", "att_0001")

    assert result is not None and result.approval_code == "042817"
    assert [(method, path) for method, path, _, _ in scripted.requests] == [
        ("GET", "/v1/terminals/T-1/sales/att_0001")
    ] * 3


async def test_a_query_that_keeps_failing_is_unavailable_after_its_attempts(
    pos: tuple[ScriptedCloud, PosClient],
) -> None:
    error = await error_of(pos, query, Answer(503, secret=None))
    assert error.code == "unavailable"
    assert len(pos[0].requests) == 3


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (Answer(200, APPROVED, secret=b"impostor"), "signature_invalid"),
        (Answer(200, {**APPROVED, "sale_id": "att_9999"}), "malformed"),
        (Answer(200, {**APPROVED, "amount": 185000.0}), "malformed"),
    ],
    ids=["other-key", "other-sale", "float-amount"],
)
async def test_a_query_answer_that_cannot_be_trusted_is_refused_and_not_retried(
    pos: tuple[ScriptedCloud, PosClient], answer: Answer, code: str
) -> None:
    error = await error_of(pos, query, answer)
    assert error.code == code
    assert len(pos[0].requests) == 1


async def test_an_invalid_sale_is_refused_before_anything_is_sent(
    pos: tuple[ScriptedCloud, PosClient],
) -> None:
    scripted, pos_client = pos
    with pytest.raises(PosError) as raised:
        await pos_client.push_sale(Sale(**{**SALE.__dict__, "amount": 1.5}))
    assert raised.value.code == "invalid_field"
    assert scripted.requests == []
