"""The connectors' one HTTP helper against a real aiohttp server: 5xx and dropped
connections are transient, a read is tried again (a fresh request each time) until it
answers or its tries are spent, and an answer below 500 is handed back as it is."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web

from providers.common.http import Spent, Transient, post, read_with_retries

LIMIT = aiohttp.ClientTimeout(total=5)


async def _server(aiohttp_server: Any, statuses: list[int]) -> tuple[Any, list[Any]]:
    seen: list[Any] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(await request.json())
        status = statuses.pop(0) if statuses else 200
        return web.json_response({"ok": status == 200}, status=status)

    app = web.Application()
    app.router.add_post("/api", answer)
    return await aiohttp_server(app), seen


async def test_a_read_is_tried_again_after_5xx_with_a_fresh_request(aiohttp_server: Any) -> None:
    server, seen = await _server(aiohttp_server, [503, 502])
    numbers = iter(range(1, 10))
    async with aiohttp.ClientSession() as session:

        async def read() -> tuple[int, bytes]:
            return await post(
                session, str(server.make_url("/api")), LIMIT, json={"n": next(numbers)}
            )

        status, body = await read_with_retries(read, attempts=3, wait_seconds=0.001)
    assert (status, body) == (200, b'{"ok": true}')
    assert seen == [{"n": 1}, {"n": 2}, {"n": 3}]


async def test_a_read_whose_tries_are_spent_says_so_with_the_last_failure(
    aiohttp_server: Any,
) -> None:
    server, seen = await _server(aiohttp_server, [500, 500, 500, 200])
    async with aiohttp.ClientSession() as session:
        with pytest.raises(Spent) as spent:
            await read_with_retries(
                lambda: post(session, str(server.make_url("/api")), LIMIT, json={}),
                attempts=3,
                wait_seconds=0.001,
            )
    assert isinstance(spent.value.__cause__, Transient)
    assert "HTTP 500" in str(spent.value) and len(seen) == 3


async def test_an_answer_below_500_is_not_retried_and_no_server_is_transient(
    aiohttp_server: Any, unused_tcp_port: int
) -> None:
    server, seen = await _server(aiohttp_server, [404])
    async with aiohttp.ClientSession() as session:
        status, _ = await read_with_retries(
            lambda: post(session, str(server.make_url("/api")), LIMIT, json={}),
            attempts=3,
            wait_seconds=0.001,
        )
        assert (status, len(seen)) == (404, 1)
        with pytest.raises(Transient):
            await post(session, f"http://127.0.0.1:{unused_tcp_port}/api", LIMIT, json={})
