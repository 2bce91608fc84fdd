"""One delivery attempt against real local receivers (pytest-aiohttp's ``aiohttp_server``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks import Webhook

from webhooks import signing
from webhooks.sender import MAX_RESPONSE_BYTES, AttemptOutcome, send

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]
SECRET = signing.generate_secret(bytes(range(32)))
BODY = b'{"type":"payment.succeeded","data":{"payment_id":"pay_01"}}'
TIMEOUT = 5.0


@dataclass
class Receiver:
    """A receiver endpoint answering with a fixed status; records what reached it."""

    status: int
    location: str | None = None
    response_body: bytes = b""
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    async def hook(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.headers), await request.read()))
        headers = {"Location": self.location} if self.location else {}
        return web.Response(status=self.status, headers=headers, body=self.response_body)


async def serve(aiohttp_server: ServerFactory, receiver: Receiver) -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/hook", receiver.hook)
    app.router.add_route("*", "/elsewhere", receiver.hook)
    return await aiohttp_server(app)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def signed_headers() -> dict[str, str]:
    return signing.headers([SECRET], "msg_01", int(time.time()), BODY)


async def deliver(
    session: aiohttp.ClientSession,
    server: TestServer,
    path: str = "/hook",
    timeout_seconds: float = TIMEOUT,
) -> AttemptOutcome:
    return await send(session, str(server.make_url(path)), BODY, signed_headers(), timeout_seconds)


async def test_a_2xx_answer_is_delivered_and_the_receiver_verifies_the_signature(
    aiohttp_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    receiver = Receiver(status=200)
    outcome = await deliver(session, await serve(aiohttp_server, receiver))
    assert outcome.status_code == 200
    assert outcome.error is None
    assert (outcome.delivered, outcome.gone, outcome.retryable) == (True, False, False)
    assert outcome.duration_ms >= 0
    [(_, headers, body)] = receiver.requests
    assert body == BODY
    assert headers["Content-Type"] == "application/json"
    Webhook(SECRET).verify(body, headers)


async def test_204_is_delivered_too(
    aiohttp_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    outcome = await deliver(session, await serve(aiohttp_server, Receiver(status=204)))
    assert outcome.delivered


async def test_410_means_the_receiver_wants_the_endpoint_disabled(
    aiohttp_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    outcome = await deliver(session, await serve(aiohttp_server, Receiver(status=410)))
    assert outcome.status_code == 410
    assert (outcome.delivered, outcome.gone, outcome.retryable) == (False, True, False)


@pytest.mark.parametrize("status", [400, 404, 429, 500, 503])
async def test_other_failures_are_retryable(
    aiohttp_server: ServerFactory, session: aiohttp.ClientSession, status: int
) -> None:
    outcome = await deliver(session, await serve(aiohttp_server, Receiver(status=status)))
    assert outcome.status_code == status
    assert outcome.error is None
    assert (outcome.delivered, outcome.gone, outcome.retryable) == (False, False, True)


async def test_a_redirect_is_a_retryable_failure_and_is_not_followed(
    aiohttp_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    receiver = Receiver(status=302, location="/elsewhere")
    outcome = await deliver(session, await serve(aiohttp_server, receiver))
    assert outcome.status_code == 302
    assert outcome.retryable
    assert [path for path, _, _ in receiver.requests] == ["/hook"]


async def test_a_large_answer_is_read_only_up_to_the_limit_and_still_counts(
    aiohttp_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    receiver = Receiver(status=200, response_body=b"x" * (16 * MAX_RESPONSE_BYTES))
    outcome = await deliver(session, await serve(aiohttp_server, receiver))
    assert outcome.delivered


@pytest.fixture
async def stalled_server(aiohttp_server: ServerFactory) -> AsyncIterator[TestServer]:
    """A receiver that accepts the request and never answers until teardown."""
    release = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    yield server
    release.set()  # before aiohttp_server's own teardown, which waits for open handlers


async def test_a_receiver_that_does_not_answer_in_time_is_a_timeout(
    stalled_server: TestServer, session: aiohttp.ClientSession
) -> None:
    outcome = await deliver(session, stalled_server, timeout_seconds=0.2)
    assert outcome.status_code is None
    assert outcome.error == "timeout"
    assert outcome.retryable
    assert 150 <= outcome.duration_ms < 5000


async def test_a_refused_connection_is_a_retryable_connection_error(
    unused_tcp_port: int, session: aiohttp.ClientSession
) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}/hook"
    outcome = await send(session, url, BODY, signed_headers(), TIMEOUT)
    assert outcome.status_code is None
    assert outcome.error is not None and outcome.error.startswith("connection_error: ")
    assert outcome.retryable
