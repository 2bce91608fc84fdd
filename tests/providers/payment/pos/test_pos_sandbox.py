"""The POS client against the real sandbox POS cloud, callbacks into a real receiver.

Nothing is patched: the client reaches the sandbox through its settings, the sandbox calls
back over HTTP, and background redeliveries are awaited rather than slept for.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta, timezone
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from conftest import FixedClock
from pos_helpers import MERCHANT_ID, SECRET, Cardholder, Receiver

from providers.payment.pos import (
    CancelResult,
    CardBrand,
    PosClient,
    PosError,
    PosMerchant,
    PushResult,
    Sale,
    SaleStatus,
    attempt_status,
    codec,
)
from providers.sandbox.pos import BACKGROUND, SandboxPosConfig, create_pos_app

ICT = timezone(timedelta(hours=7))
TERMINAL = "T-HCM-0001"


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    receiver = Receiver()
    server = await aiohttp_server(receiver.app())
    receiver.url = str(server.make_url("/pos/callbacks"))
    return receiver


@pytest.fixture
async def cloud(aiohttp_server: Any, clock: FixedClock) -> TestServer:
    config = SandboxPosConfig(
        merchant_id=MERCHANT_ID, secret=SECRET, retry_seconds=0, max_attempts=3, clock=clock
    )
    server: TestServer = await aiohttp_server(create_pos_app(config))
    return server


@pytest.fixture
async def pos(cloud: TestServer, clock: FixedClock) -> AsyncIterator[PosClient]:
    merchant = PosMerchant(MERCHANT_ID, SECRET, str(cloud.make_url("/")))
    async with aiohttp.ClientSession() as session:
        yield PosClient(session, merchant, timeout_seconds=5, clock=clock, query_wait_seconds=0)


@pytest.fixture
async def cardholder(cloud: TestServer) -> AsyncIterator[Cardholder]:
    async with aiohttp.ClientSession(base_url=str(cloud.make_url("/"))) as session:
        yield Cardholder(session)


def sale(receiver: Receiver, sale_id: str = "att_0001", terminal_id: str = TERMINAL) -> Sale:
    return Sale(
        terminal_id=terminal_id,
        sale_id=sale_id,
        amount=185000,
        reference="DVC7K3M9QX2PAB3F",
        description="Lệ phí cấp đổi GPLX",
        callback_url=receiver.url,
    )


def now(clock: FixedClock) -> int:
    return int(clock().timestamp())


async def test_approved_sale_is_called_back_once_signed_with_card_data(
    pos: PosClient, cardholder: Cardholder, receiver: Receiver, clock: FixedClock
) -> None:
    await cardholder.script(TERMINAL, "no_answer")
    assert await pos.push_sale(sale(receiver)) == PushResult(accepted=True)
    assert receiver.calls == []  # nobody has tapped a card yet

    status, _ = await cardholder.complete(TERMINAL, "approve", card_brand="NAPAS")

    assert status == 200
    [_] = receiver.calls
    result = receiver.opened(0, now(clock))
    assert (result.sale_id, result.status, result.amount) == ("att_0001", "approved", 185000)
    assert result.card_brand is CardBrand.NAPAS
    assert re.fullmatch(r"9704\d{2}\*{6}\d{4}", result.masked_pan or "")
    assert re.fullmatch(r"\d{6}", result.approval_code or "")
    assert re.fullmatch(r"\d{12}", result.rrn or "")
    assert result.completed_at == clock().astimezone(ICT)
    assert attempt_status(result.status) == "succeeded"
    assert await pos.get_sale(TERMINAL, "att_0001") == result


async def test_the_default_script_approves_in_the_background(
    pos: PosClient, cloud: TestServer, receiver: Receiver, clock: FixedClock
) -> None:
    assert (await pos.push_sale(sale(receiver))).accepted
    await cloud.app[BACKGROUND].wait()  # the scripted cardholder, then any redelivery
    result = receiver.opened(0, now(clock))
    assert result.status is SaleStatus.APPROVED and result.final
    assert result.masked_pan is not None and result.card_brand is not None


async def test_a_scripted_decline_reports_the_issuers_reason(
    pos: PosClient, cloud: TestServer, cardholder: Cardholder, receiver: Receiver, clock: FixedClock
) -> None:
    await cardholder.script(TERMINAL, "decline", delay_ms=1, decline_reason="do_not_honor")
    await pos.push_sale(sale(receiver))
    await cloud.app[BACKGROUND].wait()
    result = receiver.opened(0, now(clock))
    assert (result.status, result.decline_reason, result.approval_code) == (
        "declined",
        "do_not_honor",
        None,
    )
    assert attempt_status(result.status) == "failed"


async def test_second_sale_on_a_busy_terminal_is_refused_as_terminal_busy(
    pos: PosClient, cardholder: Cardholder, receiver: Receiver
) -> None:
    await cardholder.script(TERMINAL, "no_answer")
    await pos.push_sale(sale(receiver, "att_0001"))

    busy = await pos.push_sale(sale(receiver, "att_0002"))

    assert busy == PushResult(accepted=False, code="terminal_busy")
    assert await pos.get_sale(TERMINAL, "att_0002") is None  # nothing was created
    assert (await pos.push_sale(sale(receiver, "att_0002", "T-HCM-0002"))).accepted


async def test_a_terminal_takes_a_new_sale_once_its_sale_is_final(
    pos: PosClient, cardholder: Cardholder, receiver: Receiver
) -> None:
    await cardholder.script(TERMINAL, "no_answer")
    await pos.push_sale(sale(receiver, "att_0001"))
    await cardholder.complete(TERMINAL, "decline")
    assert (await pos.push_sale(sale(receiver, "att_0002"))).accepted


async def test_the_same_sale_id_pushed_twice_is_answered_the_same_and_runs_once(
    pos: PosClient, cardholder: Cardholder, receiver: Receiver
) -> None:
    await cardholder.script(TERMINAL, "no_answer")
    first = await pos.push_sale(sale(receiver))
    again = await pos.push_sale(sale(receiver))  # e.g. resent after outcome_unknown

    assert first == again == PushResult(accepted=True)
    assert len(await cardholder.sales()) == 1
    await cardholder.complete(TERMINAL, "approve")
    assert await pos.push_sale(sale(receiver)) == PushResult(accepted=True)  # even when final
    assert len(receiver.calls) == 1


async def test_a_sale_id_reused_for_another_amount_is_rejected(
    pos: PosClient, cardholder: Cardholder, receiver: Receiver
) -> None:
    await cardholder.script(TERMINAL, "no_answer")
    await pos.push_sale(sale(receiver))
    other = Sale(**{**sale(receiver).__dict__, "amount": 1000})
    with pytest.raises(PosError) as raised:
        await pos.push_sale(other)
    assert (raised.value.code, raised.value.http_status) == ("rejected", 422)


async def test_cancel_while_waiting_for_the_card_cancels_and_calls_back(
    pos: PosClient, cardholder: Cardholder, receiver: Receiver, clock: FixedClock
) -> None:
    await cardholder.script(TERMINAL, "no_answer")
    await pos.push_sale(sale(receiver))

    assert await pos.cancel_sale(TERMINAL, "att_0001") == CancelResult(accepted=True)

    called_back = receiver.opened(0, now(clock))
    assert (called_back.status, called_back.masked_pan) == ("cancelled", None)
    queried = await pos.get_sale(TERMINAL, "att_0001")
    assert queried is not None and queried.status is SaleStatus.CANCELLED
    assert attempt_status(queried.status) == "cancelled"
    assert (await pos.push_sale(sale(receiver, "att_0002"))).accepted  # terminal is free


async def test_cancel_after_approval_is_refused_with_the_final_status(
    pos: PosClient, cardholder: Cardholder, receiver: Receiver
) -> None:
    await cardholder.script(TERMINAL, "no_answer")
    await pos.push_sale(sale(receiver))
    await cardholder.complete(TERMINAL, "approve")

    refused = await pos.cancel_sale(TERMINAL, "att_0001")

    assert refused == CancelResult(
        accepted=False, code="not_cancellable", status=SaleStatus.APPROVED
    )
    assert len(receiver.calls) == 1  # no second, contradicting callback


async def test_cancel_of_a_sale_the_cloud_never_received_says_so(pos: PosClient) -> None:
    unknown = await pos.cancel_sale(TERMINAL, "att_none")
    assert unknown == CancelResult(accepted=False, code="unknown_sale")


async def test_a_cardholder_who_never_answers_leaves_the_sale_sent_to_terminal(
    pos: PosClient, cloud: TestServer, cardholder: Cardholder, receiver: Receiver
) -> None:
    await cardholder.script(TERMINAL, "no_answer")
    await pos.push_sale(sale(receiver))
    await cloud.app[BACKGROUND].wait()

    result = await pos.get_sale(TERMINAL, "att_0001")

    assert result is not None
    assert (result.status, result.final, result.completed_at) == ("sent_to_terminal", False, None)
    assert attempt_status(result.status) == "pending"
    assert receiver.calls == []


async def test_a_terminal_timeout_is_final_and_fails_the_attempt(
    pos: PosClient, cardholder: Cardholder, receiver: Receiver, clock: FixedClock
) -> None:
    await cardholder.script(TERMINAL, "no_answer")
    await pos.push_sale(sale(receiver))
    await cardholder.complete(TERMINAL, "time_out")
    result = receiver.opened(0, now(clock))
    assert (result.status, result.final, attempt_status(result.status)) == (
        "timed_out",
        True,
        "failed",
    )


async def test_a_query_for_a_sale_the_cloud_never_received_is_none(pos: PosClient) -> None:
    assert await pos.get_sale(TERMINAL, "att_none") is None


async def test_complete_without_a_sale_in_progress_is_refused(cardholder: Cardholder) -> None:
    status, problem = await cardholder.complete(TERMINAL, "approve")
    assert (status, problem["code"]) == (409, "no_sale_in_progress")
    status, problem = await cardholder.complete(TERMINAL, "explode")
    assert (status, problem["code"]) == (422, "invalid_outcome")


# -- callbacks are retried until acknowledged ----------------------------------------------


async def test_a_callback_is_retried_until_the_receiver_accepts_it(
    pos: PosClient, cloud: TestServer, cardholder: Cardholder, receiver: Receiver, clock: FixedClock
) -> None:
    receiver.answers = [500, 503]
    await cardholder.script(TERMINAL, "no_answer")
    await pos.push_sale(sale(receiver))

    _, completed = await cardholder.complete(TERMINAL, "approve")
    assert completed["deliveries"] == [500]  # first attempt made before answering
    await cloud.app[BACKGROUND].wait()

    [listed] = await cardholder.sales()
    assert listed["deliveries"] == [500, 503, 200]
    assert len({body for _, body in receiver.calls}) == 1  # the same result each time
    assert all(receiver.opened(i, now(clock)).status == "approved" for i in range(3))


async def test_the_cloud_gives_up_after_max_attempts(
    pos: PosClient, cloud: TestServer, cardholder: Cardholder, receiver: Receiver
) -> None:
    receiver.answers = [500] * 10
    await cardholder.script(TERMINAL, "no_answer")
    await pos.push_sale(sale(receiver))
    await cardholder.complete(TERMINAL, "decline")
    await cloud.app[BACKGROUND].wait()
    [listed] = await cardholder.sales()
    assert listed["deliveries"] == [500, 500, 500]


# -- every protocol request is verified, every answer signed -------------------------------


def _push_body(receiver: Receiver) -> bytes:
    return codec.build_sale(MERCHANT_ID, sale(receiver, "att_0009")).body


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (lambda body, ts: codec.signed_headers(b"guessed", ts, body), "signature_invalid"),
        (lambda body, ts: codec.signed_headers(SECRET, ts, body + b" "), "signature_invalid"),
        (lambda body, ts: {"Content-Type": "application/json"}, "signature_missing"),
        (lambda body, ts: codec.signed_headers(SECRET, ts - 301, body), "timestamp_stale"),
    ],
    ids=["wrong-key", "tampered-body", "unsigned", "stale"],
)
async def test_a_request_that_fails_verification_is_refused_with_401(
    cloud: TestServer,
    cardholder: Cardholder,
    receiver: Receiver,
    clock: FixedClock,
    headers: Any,
    code: str,
) -> None:
    body = _push_body(receiver)
    url = cloud.make_url(f"/v1/terminals/{TERMINAL}/sales")
    async with aiohttp.ClientSession() as session:
        response = await session.post(url, data=body, headers=headers(body, now(clock)))
        answer = await response.read()
        assert await cardholder.sales() == []  # nothing was created
        signed = codec.signed_headers(SECRET, now(clock), body)
        assert (await session.post(url, data=body, headers=signed)).status == 202  # control
    assert response.status == 401
    codec.verify(  # the refusal itself is signed
        SECRET,
        timestamp=response.headers.get(codec.TIMESTAMP_HEADER),
        signature=response.headers.get(codec.SIGNATURE_HEADER),
        body=answer,
        now=now(clock),
    )
    assert json.loads(answer)["code"] == code
