"""The sandbox VNPAY app, driven over HTTP with a small merchant IPN endpoint beside it.

The connector reaches the sandbox through its settings (a VnpayTerminal pointing at the test
server), exactly as it would reach VNPAY; nothing is patched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import FixedClock
from vnpay_helpers import NOON_ICT, SECRET, TMN
from yarl import URL

from providers.payment.vnpay import (
    Outcome,
    VnpayClient,
    VnpayTerminal,
    build_payment_url,
    ipn_response,
    parse_ipn,
    parse_query_response,
    querydr_request,
)
from providers.payment.vnpay.wire import signed_query
from providers.sandbox.vnpay import REDELIVERIES, SandboxVnpayConfig, create_vnpay_app

SECRETS = {TMN: SECRET}
TXN_REF = "HS-2024-0001"


@dataclass
class IpnReceiver:
    """The merchant's IPN endpoint: records each call, answers the next scripted RspCode."""

    answers: list[str] = field(default_factory=list)
    received: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(dict(request.query))
        return web.json_response(ipn_response(self.answers.pop(0) if self.answers else "00"))


@dataclass
class Sandbox:
    server: TestServer
    session: aiohttp.ClientSession
    receiver: IpnReceiver
    clock: FixedClock
    terminal: VnpayTerminal

    def payment_url(self, **overrides: Any) -> str:
        args: dict[str, Any] = {
            "txn_ref": TXN_REF,
            "amount_vnd": 50_000,
            "order_info": "Lệ phí hồ sơ 0001",
            "ip_addr": "203.0.113.7",
            "return_url": "https://gw.example.vn/vnpay/return",
            "create_date": NOON_ICT,
            "expire_date": NOON_ICT + timedelta(minutes=15),
        }
        args.update(overrides)
        return build_payment_url(self.terminal, **args)

    async def open(self, url: str) -> tuple[int, str]:
        async with self.session.get(URL(url, encoded=True)) as response:
            return response.status, await response.text()

    async def simulate(self, outcome: str, txn_ref: str = TXN_REF) -> Any:
        response = await self.session.post(
            self.server.make_url("/paymentv2/simulate"),
            json={"txn_ref": txn_ref, "outcome": outcome},
        )
        assert response.status == 200, await response.text()
        return await response.json()

    async def transactions(self) -> Any:
        return await (await self.session.get(self.server.make_url("/transactions"))).json()

    async def api(self, body: dict[str, str]) -> Any:
        response = await self.session.post(self.terminal.api_url, json=body)
        return await response.json()

    def client(self) -> VnpayClient:
        ids = (f"R{n:04d}" for n in range(1, 10_000))
        return VnpayClient(
            self.session, self.terminal, clock=self.clock, new_request_id=lambda: next(ids)
        )


SandboxFactory = Callable[..., Any]


@pytest.fixture
async def make_sandbox(aiohttp_server: Any) -> AsyncIterator[SandboxFactory]:
    async with aiohttp.ClientSession() as session:

        async def make(**config: Any) -> Sandbox:
            receiver = IpnReceiver()
            merchant = web.Application()
            merchant.router.add_get("/vnpay/ipn", receiver.handle)
            merchant_server = await aiohttp_server(merchant)
            clock = FixedClock(NOON_ICT + timedelta(minutes=1))
            settings = SandboxVnpayConfig(
                tmn_code=TMN,
                hash_secret=SECRET,
                ipn_url=str(merchant_server.make_url("/vnpay/ipn")),
                retry_seconds=0.001,
                clock=clock,
                **config,
            )
            server = await aiohttp_server(create_vnpay_app(settings))
            terminal = VnpayTerminal(
                TMN,
                SECRET,
                str(server.make_url("/paymentv2/vpcpay.html")),
                str(server.make_url("/merchant_webapi/api/transaction")),
            )
            return Sandbox(server, session, receiver, clock, terminal)

        yield make


@pytest.fixture
async def sandbox(make_sandbox: SandboxFactory) -> Sandbox:
    sandbox: Sandbox = await make_sandbox()
    return sandbox


async def _paid(sandbox: Sandbox, outcome: str = "success") -> Any:
    status, _ = await sandbox.open(sandbox.payment_url())
    assert status == 200
    return await sandbox.simulate(outcome)


# -- the payment page ----------------------------------------------------------------------


async def test_payment_page_shows_amount_order_info_and_the_two_buttons(sandbox: Sandbox) -> None:
    status, page = await sandbox.open(sandbox.payment_url())

    assert status == 200
    assert "50.000 VND" in page
    assert "Le phi ho so 0001" in page
    assert "Thanh toán thành công" in page
    assert "Thanh toán thất bại" in page
    [txn] = await sandbox.transactions()
    assert (txn["txn_ref"], txn["amount_vnd"], txn["transaction_status"]) == (TXN_REF, 50_000, "01")
    assert txn["create_date"] == "20240101120000"


async def test_payment_page_rejects_a_bad_signature(sandbox: Sandbox) -> None:
    url = sandbox.payment_url().replace("vnp_Amount=5000000", "vnp_Amount=500000")

    status, page = await sandbox.open(url)

    assert status == 400
    assert 'data-code="70"' in page
    assert "Sai chữ ký" in page
    assert await sandbox.transactions() == []


async def test_payment_page_rejects_an_upper_case_hash(sandbox: Sandbox) -> None:
    url, _, digest = sandbox.payment_url().rpartition("=")
    status, page = await sandbox.open(f"{url}={digest.upper()}")
    assert (status, 'data-code="70"' in page) == (400, True)


async def test_payment_page_rejects_an_unknown_terminal(sandbox: Sandbox) -> None:
    other = VnpayTerminal("OTHERTMN", SECRET, sandbox.terminal.payment_url, "https://x")
    url = build_payment_url(
        other,
        txn_ref=TXN_REF,
        amount_vnd=50_000,
        order_info="x",
        ip_addr="203.0.113.7",
        return_url="https://gw.example.vn/r",
        create_date=NOON_ICT,
        expire_date=NOON_ICT + timedelta(minutes=15),
    )
    status, page = await sandbox.open(url)
    assert (status, 'data-code="72"' in page) == (400, True)


@pytest.mark.parametrize(
    "change",
    [{"vnp_Version": "2.0.0"}, {"vnp_CurrCode": "USD"}, {"vnp_Amount": "5000050"}],
    ids=["version", "currency", "amount"],
)
async def test_payment_page_rejects_a_signed_but_malformed_request(
    sandbox: Sandbox, change: dict[str, str]
) -> None:
    params = dict(parse_qsl(urlsplit(sandbox.payment_url()).query))
    params.update(change)
    url = f"{sandbox.terminal.payment_url}?{signed_query(SECRET, params)}"
    status, page = await sandbox.open(url)
    assert (status, 'data-code="03"' in page) == (400, True)


async def test_payment_page_rejects_an_expired_request(sandbox: Sandbox) -> None:
    sandbox.clock.advance(minutes=20)
    status, page = await sandbox.open(sandbox.payment_url())
    assert (status, 'data-code="11"' in page) == (400, True)


# -- completing a payment and the IPN ------------------------------------------------------


async def test_simulated_success_sends_a_signed_ipn_that_parse_ipn_accepts(
    sandbox: Sandbox,
) -> None:
    answer = await _paid(sandbox)

    [ipn] = sandbox.receiver.received
    result = parse_ipn(ipn, SECRETS.get)
    assert result.succeeded is True
    assert (result.txn_ref, result.amount_vnd) == (TXN_REF, 50_000)
    assert result.transaction_no == answer["transaction_no"]
    assert result.pay_date == sandbox.clock.now
    assert answer["ipn_attempts"] == [{"http_status": 200, "rsp_code": "00"}]
    assert parse_ipn(dict(parse_qsl(urlsplit(answer["return_url"]).query)), SECRETS.get) == result


@pytest.mark.parametrize(
    ("outcome", "codes"), [("failure", ("51", "02")), ("cancel", ("24", "02"))]
)
async def test_failed_and_cancelled_payments_send_an_ipn_that_is_not_succeeded(
    sandbox: Sandbox, outcome: str, codes: tuple[str, str]
) -> None:
    await _paid(sandbox, outcome)

    result = parse_ipn(sandbox.receiver.received[0], SECRETS.get)
    assert (result.response_code, result.transaction_status) == codes
    assert (result.succeeded, result.outcome) == (False, Outcome.FAILED)


async def test_browser_completion_sends_the_ipn_then_redirects_to_the_return_url(
    sandbox: Sandbox,
) -> None:
    await sandbox.open(sandbox.payment_url())
    response = await sandbox.session.post(
        sandbox.server.make_url("/paymentv2/complete"),
        data={"txn_ref": TXN_REF, "outcome": "success"},
        allow_redirects=False,
    )

    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        "https://gw.example.vn/vnpay/return"
    )
    assert parse_ipn(dict(parse_qsl(location.query)), SECRETS.get).succeeded
    assert len(sandbox.receiver.received) == 1


async def test_a_transaction_completes_only_once(sandbox: Sandbox) -> None:
    await _paid(sandbox)
    response = await sandbox.session.post(
        sandbox.server.make_url("/paymentv2/simulate"),
        json={"txn_ref": TXN_REF, "outcome": "failure"},
    )
    assert response.status == 409
    status, page = await sandbox.open(sandbox.payment_url())
    assert (status, 'data-code="01"' in page) == (400, True)


async def test_ipn_is_redelivered_until_the_merchant_confirms(sandbox: Sandbox) -> None:
    sandbox.receiver.answers = ["99", "99", "00"]

    answer = await _paid(sandbox)
    assert answer["ipn_attempts"] == [{"http_status": 200, "rsp_code": "99"}]
    await sandbox.server.app[REDELIVERIES].wait()

    assert len(sandbox.receiver.received) == 3
    assert sandbox.receiver.received[0] == sandbox.receiver.received[2]
    [txn] = await sandbox.transactions()
    assert [a["rsp_code"] for a in txn["ipn_attempts"]] == ["99", "99", "00"]


async def test_already_confirmed_answer_stops_redelivery(sandbox: Sandbox) -> None:
    sandbox.receiver.answers = ["02"]
    await _paid(sandbox)
    await sandbox.server.app[REDELIVERIES].wait()
    assert len(sandbox.receiver.received) == 1


async def test_redelivery_gives_up_after_max_attempts(make_sandbox: SandboxFactory) -> None:
    sandbox: Sandbox = await make_sandbox(max_ipn_attempts=4)
    sandbox.receiver.answers = ["97"] * 10

    await _paid(sandbox)
    await sandbox.server.app[REDELIVERIES].wait()

    assert len(sandbox.receiver.received) == 4


async def test_a_single_allowed_attempt_is_never_repeated(make_sandbox: SandboxFactory) -> None:
    sandbox: Sandbox = await make_sandbox(max_ipn_attempts=1)
    sandbox.receiver.answers = ["99"]

    await _paid(sandbox)
    await sandbox.server.app[REDELIVERIES].wait()

    assert len(sandbox.receiver.received) == 1


async def test_resend_delivers_the_same_ipn_again(sandbox: Sandbox) -> None:
    await _paid(sandbox)
    response = await sandbox.session.post(
        sandbox.server.make_url("/paymentv2/resend_ipn"), json={"txn_ref": TXN_REF}
    )
    assert response.status == 200
    first, second = sandbox.receiver.received
    assert first == second


# -- querydr -------------------------------------------------------------------------------


async def test_querydr_returns_the_status_before_and_after_payment(sandbox: Sandbox) -> None:
    await sandbox.open(sandbox.payment_url())
    client = sandbox.client()
    query: dict[str, Any] = {
        "txn_ref": TXN_REF,
        "transaction_date": NOON_ICT,
        "ip_addr": "10.0.0.1",
    }

    before = await client.query(**query, order_info="Truy van")
    await sandbox.simulate("success")
    after = await client.query(**query, order_info="Truy van")

    assert (before.found, before.transaction_status, before.outcome) == (
        True,
        "01",
        Outcome.PENDING,
    )
    assert (after.transaction_status, after.outcome, after.amount_vnd) == (
        "00",
        Outcome.SUCCEEDED,
        50_000,
    )
    assert after.pay_date == sandbox.clock.now


async def test_querydr_for_an_unknown_transaction_or_date_is_91(sandbox: Sandbox) -> None:
    await sandbox.open(sandbox.payment_url())
    client = sandbox.client()

    unknown = await client.query(
        txn_ref="HS-9999", transaction_date=NOON_ICT, ip_addr="10.0.0.1", order_info="q"
    )
    wrong_date = await client.query(
        txn_ref=TXN_REF,
        transaction_date=NOON_ICT + timedelta(seconds=1),
        ip_addr="10.0.0.1",
        order_info="q",
    )

    assert (unknown.response_code, unknown.outcome) == ("91", Outcome.UNKNOWN)
    assert wrong_date.response_code == "91"


def _querydr(sandbox: Sandbox, request_id: str = "REQ0001") -> dict[str, str]:
    return querydr_request(
        sandbox.terminal,
        request_id=request_id,
        txn_ref=TXN_REF,
        transaction_date=NOON_ICT,
        create_date=sandbox.clock.now,
        ip_addr="10.0.0.1",
        order_info="Truy van",
    )


async def test_bad_request_hash_is_answered_97(sandbox: Sandbox) -> None:
    await sandbox.open(sandbox.payment_url())
    body = {**_querydr(sandbox), "vnp_TxnRef": "HS-2024-0002"}

    result = parse_query_response(SECRET, await sandbox.api(body))

    assert result.response_code == "97"


async def test_repeated_request_id_is_answered_94(sandbox: Sandbox) -> None:
    await sandbox.open(sandbox.payment_url())
    first = parse_query_response(SECRET, await sandbox.api(_querydr(sandbox)))
    again = parse_query_response(SECRET, await sandbox.api(_querydr(sandbox)))
    assert (first.response_code, again.response_code) == ("00", "94")


# -- refund --------------------------------------------------------------------------------


async def _refund(sandbox: Sandbox, request_id: str, amount: int, kind: str = "03") -> Any:
    return await sandbox.client().refund(
        request_id=request_id,
        transaction_type=kind,
        txn_ref=TXN_REF,
        amount_vnd=amount,
        transaction_no=None,
        transaction_date=NOON_ICT,
        create_by="officer01",
        ip_addr="10.0.0.1",
        order_info="Hoàn phí",
    )


async def _refundable(sandbox: Sandbox) -> int:
    [txn] = await sandbox.transactions()
    refundable: int = txn["refundable_vnd"]
    return refundable


async def test_refund_reduces_the_refundable_amount_and_refuses_more_than_paid(
    sandbox: Sandbox,
) -> None:
    await _paid(sandbox)
    assert await _refundable(sandbox) == 50_000

    first = await _refund(sandbox, "RF1", 20_000)
    assert (first.accepted, first.amount_vnd, first.outcome) == (True, 20_000, Outcome.SUCCEEDED)
    assert await _refundable(sandbox) == 30_000

    assert (await _refund(sandbox, "RF2", 60_000)).response_code == "93"  # more than paid
    assert (await _refund(sandbox, "RF3", 40_000)).response_code == "02"  # more than left
    assert (await _refund(sandbox, "RF4", 50_000, kind="02")).response_code == "04"
    assert (await _refund(sandbox, "RF5", 30_000)).accepted
    assert (await _refund(sandbox, "RF6", 1_000)).response_code == "02"
    assert await _refundable(sandbox) == 0


async def test_full_refund_must_be_the_whole_amount(sandbox: Sandbox) -> None:
    await _paid(sandbox)
    assert (await _refund(sandbox, "RF1", 10_000, kind="02")).response_code == "93"
    assert (await _refund(sandbox, "RF2", 50_000, kind="02")).accepted


async def test_refund_of_an_unpaid_transaction_is_refused_95(sandbox: Sandbox) -> None:
    await _paid(sandbox, "failure")
    result = await _refund(sandbox, "RF1", 10_000)
    assert (result.response_code, result.outcome) == ("95", Outcome.FAILED)
