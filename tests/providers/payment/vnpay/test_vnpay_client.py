"""VnpayClient's retry policy: querydr is retried on transport failures, refund never is.

A small scripted aiohttp app stands in for VNPAY's API: each request gets the next scripted
reply (an HTTP status, a dropped connection, garbage, or a correctly signed answer).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import FixedClock
from vnpay_helpers import NOON_ICT, SECRET, TMN

from providers.payment.vnpay import VnpayClient, VnpayError, VnpayTerminal
from providers.payment.vnpay.codec import (
    QUERYDR_RESPONSE_FIELDS,
    REFUND_RESPONSE_FIELDS,
    pipe_hash,
)

TXN_REF = "HS-2024-0001"
Reply = Callable[[dict[str, Any]], web.StreamResponse]


def signed_answer(request: dict[str, Any], code: str = "00", **fields: str) -> web.Response:
    command = request["vnp_Command"]
    answer = {
        "vnp_ResponseId": "a1",
        "vnp_Command": command,
        "vnp_ResponseCode": code,
        "vnp_Message": "ok",
        "vnp_TmnCode": TMN,
        "vnp_TxnRef": request["vnp_TxnRef"],
        "vnp_TransactionStatus": "00",
        **fields,
    }
    order = QUERYDR_RESPONSE_FIELDS if command == "querydr" else REFUND_RESPONSE_FIELDS
    answer["vnp_SecureHash"] = pipe_hash(SECRET, answer, order)
    return web.json_response(answer)


def status(code: int) -> Reply:
    return lambda _request: web.Response(status=code)


def text(body: str) -> Reply:
    return lambda _request: web.Response(text=body, content_type="application/json")


class Drop(Exception):
    """Reply marker: close the connection without answering."""


def drop(_request: dict[str, Any]) -> web.StreamResponse:
    raise Drop


@dataclass
class ScriptedVnpay:
    replies: list[Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        reply = self.replies.pop(0) if self.replies else signed_answer
        try:
            return reply(body)
        except Drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response()


def _make_client(session: aiohttp.ClientSession, terminal: VnpayTerminal) -> VnpayClient:
    ids = (f"R{n}" for n in range(1, 100))
    return VnpayClient(
        session,
        terminal,
        timeout_seconds=2,
        clock=FixedClock(NOON_ICT + timedelta(hours=1)),
        new_request_id=lambda: next(ids),
        retry_wait_seconds=0,
    )


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


Scripted = Callable[..., Awaitable[tuple[VnpayClient, ScriptedVnpay]]]


@pytest.fixture
def scripted(aiohttp_server: Any, session: aiohttp.ClientSession) -> Scripted:
    """Start a VNPAY that answers with ``replies`` in turn; returns a client of it and it."""

    async def start(*replies: Reply) -> tuple[VnpayClient, ScriptedVnpay]:
        vnpay = ScriptedVnpay(list(replies))
        app = web.Application()
        app.router.add_post("/api", vnpay.handle)
        server = await aiohttp_server(app)
        api = str(server.make_url("/api"))
        return _make_client(session, VnpayTerminal(TMN, SECRET, "https://pay.example", api)), vnpay

    return start


async def _error_of(call: Awaitable[Any]) -> VnpayError:
    with pytest.raises(VnpayError) as caught:
        await call
    return caught.value


async def _query(client: VnpayClient) -> Any:
    return await client.query(
        txn_ref=TXN_REF, transaction_date=NOON_ICT, ip_addr="10.0.0.1", order_info="Truy van"
    )


async def _refund(client: VnpayClient) -> Any:
    return await client.refund(
        request_id="RF1",
        transaction_type="03",
        txn_ref=TXN_REF,
        amount_vnd=10_000,
        transaction_no="14422574",
        transaction_date=NOON_ICT,
        create_by="officer01",
        ip_addr="10.0.0.1",
        order_info="Hoan phi",
    )


async def test_query_is_retried_on_5xx_and_dropped_connections_with_new_request_ids(
    scripted: Scripted,
) -> None:
    client, vnpay = await scripted(status(503), drop)

    result = await _query(client)

    assert result.found is True
    assert [r["vnp_RequestId"] for r in vnpay.requests] == ["R1", "R2", "R3"]


async def test_query_gives_up_after_three_attempts(scripted: Scripted) -> None:
    client, vnpay = await scripted(status(500), status(502), status(503))

    with pytest.raises(VnpayError) as caught:
        await _query(client)

    assert (caught.value.code, caught.value.retryable) == ("provider_unavailable", True)
    assert len(vnpay.requests) == 3


async def test_query_against_a_closed_port_is_provider_unavailable(
    session: aiohttp.ClientSession,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    terminal = VnpayTerminal(TMN, SECRET, "https://pay.example", f"http://127.0.0.1:{port}/api")

    with pytest.raises(VnpayError) as caught:
        await _query(_make_client(session, terminal))

    assert caught.value.code == "provider_unavailable"


@pytest.mark.parametrize(
    "reply", [status(404), text("<html>"), text(json.dumps({"vnp_ResponseCode": "00"}))]
)
async def test_query_is_not_retried_on_a_bad_answer(scripted: Scripted, reply: Reply) -> None:
    client, vnpay = await scripted(reply)
    error = await _error_of(_query(client))
    assert error.code in {"malformed", "signature_invalid"}
    assert len(vnpay.requests) == 1


async def test_query_answer_about_another_transaction_is_refused(scripted: Scripted) -> None:
    other = lambda request: signed_answer({**request, "vnp_TxnRef": "HS-OTHER"})  # noqa: E731
    client, _ = await scripted(other)
    with pytest.raises(VnpayError) as caught:
        await _query(client)
    assert caught.value.code == "malformed"


async def test_refund_decline_is_a_result_not_an_error(scripted: Scripted) -> None:
    declined = lambda request: signed_answer(request, "02")  # noqa: E731
    client, vnpay = await scripted(declined)

    result = await _refund(client)

    assert (result.accepted, result.response_code) == (False, "02")
    assert vnpay.requests[0]["vnp_Amount"] == "1000000"
    assert vnpay.requests[0]["vnp_CreateDate"] == "20240101130000"


@pytest.mark.parametrize(
    "reply",
    [status(503), drop, text("not json"), text(json.dumps({"vnp_ResponseCode": "00"}))],
    ids=["5xx", "dropped", "garbage", "unsigned"],
)
async def test_refund_is_never_retried_and_an_unclear_outcome_is_refund_outcome_unknown(
    scripted: Scripted, reply: Reply
) -> None:
    client, vnpay = await scripted(reply)
    error = await _error_of(_refund(client))
    assert (error.code, error.retryable) == ("refund_outcome_unknown", False)
    assert len(vnpay.requests) == 1


async def test_refund_with_bad_arguments_sends_nothing(scripted: Scripted) -> None:
    client, vnpay = await scripted()
    with pytest.raises(VnpayError) as caught:
        await client.refund(
            request_id="RF1",
            transaction_type="05",
            txn_ref=TXN_REF,
            amount_vnd=10_000,
            transaction_no=None,
            transaction_date=NOON_ICT,
            create_by="officer01",
            ip_addr="10.0.0.1",
            order_info="Hoan phi",
        )
    assert caught.value.code == "invalid_field"
    assert vnpay.requests == []
