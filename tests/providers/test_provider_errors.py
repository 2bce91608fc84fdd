"""What every connector shares: its errors are ``ProviderError``s that say whether a call may be
repeated and whether the provider may have acted, and its secrets never show when printed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from tests_support import pos_sale

from config import load_settings
from gateway.channels.registry import build_vnpay, pos_merchant
from providers.common.errors import ProviderError
from providers.common.secrets import Secret
from providers.payment.pos import PosClient, PosError, PosMerchant
from providers.payment.vietqr import VietQRError
from providers.payment.vietqr import notice as bank_notice
from providers.payment.vnpay import VnpayClient, VnpayError, VnpayTerminal
from providers.postal.vnpost import VnpostAccount, VnpostError

VNPAY_SECRET = "vnpay-hash-secret-never-shown"
POS_SECRET = "pos-merchant-key-never-shown"
VNPOST_PASSWORD = "vnpost-password-never-shown"


def printed(value: object) -> str:
    """Every way a value reaches a log line or a traceback."""
    return "\n".join(
        [repr(value), str(value), f"{value}", f"{value!r}", repr([value]), repr({"v": value})]
    )


def test_configured_connectors_never_print_their_secrets() -> None:
    terminal = VnpayTerminal("DEMOTMN1", VNPAY_SECRET, "https://pay.example", "https://api.example")
    merchant = PosMerchant("M-1", POS_SECRET.encode(), "https://pos.example")
    account = VnpostAccount("user", VNPOST_PASSWORD, "C-1", "https://vnpost.example")

    for value, secret in (
        (terminal, VNPAY_SECRET),
        (merchant, POS_SECRET),
        (account, VNPOST_PASSWORD),
    ):
        assert secret not in printed(value)
    # The value is still there, read on purpose only.
    assert terminal.hash_secret.reveal() == VNPAY_SECRET
    assert merchant.secret.encode() == POS_SECRET.encode()
    assert account.password.reveal() == VNPOST_PASSWORD
    assert isinstance(terminal.hash_secret, Secret)


def test_the_gateways_terminals_built_from_settings_never_print_their_secrets() -> None:
    settings = load_settings(
        environ={},
        overrides={
            "sandbox": True,
            "vnpay": {"tmn_code": "DEMOTMN1", "hash_secret": VNPAY_SECRET},
            "pos": {"merchant_id": "M-1", "secret": POS_SECRET},
        },
    )

    async def build() -> str:
        async with aiohttp.ClientSession() as session:
            channel = build_vnpay(settings, session, lambda: datetime.now(UTC))
            assert channel is not None
            return (
                printed(channel.terminals.default)
                + printed(channel.terminals)
                + printed(vars(channel))
            )

    shown = asyncio.run(build())
    assert VNPAY_SECRET not in shown
    assert POS_SECRET not in printed(pos_merchant(settings))


def test_every_connector_error_is_a_provider_error() -> None:
    for error in (
        VietQRError("crc_mismatch", "tag 63 differs"),
        bank_notice.NoticeError("signature_invalid", "wrong signature"),
        VnpayError("signature_invalid", "wrong vnp_SecureHash"),
        PosError("signature_invalid", "wrong signature"),
        VnpostError("unauthorized", "token refused"),
    ):
        assert isinstance(error, ProviderError)
        assert error.code == "crc_mismatch" or error.code in {"signature_invalid", "unauthorized"}
        # A message that cannot be trusted fails the same way every time.
        assert (error.retryable, error.outcome_unknown) == (False, False)


def test_a_bad_bank_signature_is_a_provider_error_that_no_retry_fixes() -> None:
    body = b'{"transaction_id": "FT1"}'
    with pytest.raises(ProviderError) as raised:
        bank_notice.verify(
            b"the-right-key",
            timestamp="1763800000",
            signature=bank_notice.sign(b"a-wrong-key", 1763800000, body),
            body=body,
            now=1763800000,
            tolerance_seconds=300,
        )
    assert raised.value.code == "signature_invalid"
    assert (raised.value.retryable, raised.value.outcome_unknown) == (False, False)


# -- what a timeout means ---------------------------------------------------------------


@pytest.fixture
async def silent_provider(aiohttp_server: Any) -> AsyncIterator[str]:
    """A provider that takes every request and never answers it."""
    never = asyncio.Event()

    async def hang(_request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hang)
    server = await aiohttp_server(app)
    yield str(server.make_url("")).rstrip("/")
    never.set()


SALE = pos_sale(terminal_id="DEMO-POS-01", sale_id="att_timeout_1")


async def test_a_pos_push_that_times_out_is_retryable_and_its_outcome_unknown(
    silent_provider: str,
) -> None:
    merchant = PosMerchant("M-1", POS_SECRET.encode(), silent_provider)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ProviderError) as raised:
            await PosClient(session, merchant, timeout_seconds=0.2).push_sale(SALE)
    error = raised.value
    assert isinstance(error, PosError)
    assert error.code == "outcome_unknown"
    assert (error.retryable, error.outcome_unknown) == (True, True)
    assert POS_SECRET not in str(error) + repr(error)


async def test_a_pos_cloud_that_cannot_be_reached_is_retryable_and_nothing_was_sent(
    unused_tcp_port: int,
) -> None:
    merchant = PosMerchant("M-1", POS_SECRET.encode(), f"http://127.0.0.1:{unused_tcp_port}")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(PosError) as raised:
            await PosClient(session, merchant, timeout_seconds=2).push_sale(SALE)
    assert raised.value.code == "unavailable"
    assert (raised.value.retryable, raised.value.outcome_unknown) == (True, False)


async def test_a_vnpay_refund_that_times_out_is_unknown_and_never_resubmitted(
    silent_provider: str,
) -> None:
    terminal = VnpayTerminal("DEMOTMN1", VNPAY_SECRET, f"{silent_provider}/pay", silent_provider)
    async with aiohttp.ClientSession() as session:
        client = VnpayClient(session, terminal, timeout_seconds=0.2)
        with pytest.raises(ProviderError) as raised:
            await client.refund(
                request_id="REQ1",
                transaction_type="02",
                txn_ref="att_1",
                amount_vnd=135000,
                transaction_no="14000001",
                transaction_date=datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
                create_by="finance",
                ip_addr="127.0.0.1",
                order_info="Hoan tien",
            )
    error = raised.value
    assert isinstance(error, VnpayError)
    assert error.code == "refund_outcome_unknown"
    # VNPAY's refund has no idempotency key: query, never send it again.
    assert (error.retryable, error.outcome_unknown) == (False, True)
    assert VNPAY_SECRET not in json.dumps({"error": repr(error), "text": str(error)})
