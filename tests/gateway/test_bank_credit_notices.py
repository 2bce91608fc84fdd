"""Bank credit notices close the VietQR loop: verified, stored once, applied once.

Transfers go through the real sandbox bank app, which signs and delivers notices to the
gateway over HTTP; forged and stale notices are posted directly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from conftest import AGENCY_ACCOUNT, AGENCY_BIN, BANK_SECRET, Gateway
from sqlalchemy import func, select

from gateway.core.db.schema import outbox_events, provider_events
from gateway.keys import DATABASE
from providers.payment.vietqr import notice as wire
from providers.sandbox.bank import REDELIVERIES, SandboxBankConfig, create_bank_app


class BankClient:
    """A payer's banking app, talking to the sandbox bank."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __call__(
        self, amount: int, description: str, account: str = AGENCY_ACCOUNT
    ) -> dict[str, Any]:
        response = await self.session.post(
            "/transfers",
            json={
                "bin": AGENCY_BIN,
                "account_number": account,
                "amount": amount,
                "description": description,
            },
        )
        assert response.status == 201, await response.text()
        return await response.json()

    async def resend(self, transaction_id: str) -> dict[str, Any]:
        response = await self.session.post(f"/transfers/{transaction_id}/resend")
        return await response.json()


Transfer = BankClient


@pytest.fixture
async def bank(aiohttp_server: Any, gateway: Gateway) -> Any:
    config = SandboxBankConfig(
        bin=AGENCY_BIN,
        secret=BANK_SECRET.encode(),
        notify_url=str(gateway.client.make_url("/callbacks/bank/testbank")),
        retry_seconds=0.01,
        max_attempts=3,
        clock=gateway.clock,
    )
    return await aiohttp_server(create_bank_app(config))


@pytest.fixture
async def transfer(bank: Any) -> AsyncIterator[BankClient]:
    async with aiohttp.ClientSession(base_url=str(bank.make_url("/"))) as session:
        yield BankClient(session)


async def _events(gateway: Gateway) -> list[Any]:
    async with gateway.client.app[DATABASE].read() as conn:
        return list(
            (await conn.execute(select(provider_events).order_by(provider_events.c.id))).all()
        )


async def test_transfer_with_the_reference_marks_the_payment_paid(
    gateway: Gateway, transfer: Transfer
) -> None:
    payment = await gateway.create_payment()
    sent = await transfer(185000, f"Nop phi {payment['reference']} ho so")

    assert sent["delivered"] is True
    after = await gateway.payment(payment["id"])
    assert after["status"] == "paid"
    assert after["paid_at"] == "2026-11-22T02:00:00Z"
    [event] = await _events(gateway)
    assert (event.outcome, event.payment_id, event.event_key) == (
        "applied",
        payment["id"],
        sent["transaction_id"],
    )
    assert json.loads(event.payload)["transaction_id"] == sent["transaction_id"]


async def test_reference_is_found_inside_bank_prefixes_diacritics_and_lower_case(
    gateway: Gateway, transfer: Transfer
) -> None:
    payment = await gateway.create_payment()
    mangled = f"MBVCB.3812.nộp lệ phí-{payment['reference'].lower()}-CHUYEN TIEN"
    await transfer(185000, mangled)
    assert (await gateway.payment(payment["id"]))["status"] == "paid"


async def test_replayed_notice_is_acknowledged_and_changes_nothing(
    gateway: Gateway, transfer: Transfer
) -> None:
    payment = await gateway.create_payment()
    sent = await transfer(185000, payment["reference"])
    resent = await transfer.resend(sent["transaction_id"])

    assert resent["attempts"] == [200, 200]
    assert len(await _events(gateway)) == 1
    assert (await gateway.payment(payment["id"]))["status"] == "paid"


async def test_notice_with_an_unknown_reference_is_kept_as_unmatched(
    gateway: Gateway, transfer: Transfer
) -> None:
    payment = await gateway.create_payment()
    await transfer(185000, "chuyen tien hoc phi DVC0000000000")

    [event] = await _events(gateway)
    assert (event.outcome, event.reason, event.payment_id) == (
        "unmatched",
        "unknown_reference",
        None,
    )
    assert event.amount == 185000
    assert (await gateway.payment(payment["id"]))["status"] == "pending"


async def test_wrong_amount_puts_the_payment_up_for_review(
    gateway: Gateway, transfer: Transfer
) -> None:
    payment = await gateway.create_payment()
    await transfer(180000, payment["reference"])

    after = await gateway.payment(payment["id"])
    assert (after["status"], after["review_reason"]) == ("needs_review", "amount_mismatch")
    [event] = await _events(gateway)
    assert (event.outcome, event.amount) == ("needs_review", 180000)


async def _past_expiry(gateway: Gateway, payment_id: str) -> None:
    gateway.clock.advance(minutes=20)  # not yet swept: still 'pending' in the database


async def _expired(gateway: Gateway, payment_id: str) -> None:
    gateway.clock.advance(minutes=20)
    assert (await gateway.payment(payment_id))["status"] == "expired"


async def _cancelled(gateway: Gateway, payment_id: str) -> None:
    await gateway.client.post(f"/v1/payments/{payment_id}/cancel", headers=gateway.auth())


@pytest.mark.parametrize(
    ("close", "reason"),
    [
        (_past_expiry, "paid_after_expiry"),
        (_expired, "paid_after_expiry"),
        (_cancelled, "paid_after_cancellation"),
    ],
    ids=["after-expiry", "expired", "cancelled"],
)
async def test_money_for_a_bill_no_longer_open_is_put_up_for_review(
    gateway: Gateway, transfer: Transfer, close: Any, reason: str
) -> None:
    payment = await gateway.create_payment()
    await close(gateway, payment["id"])
    await transfer(185000, payment["reference"])
    after = await gateway.payment(payment["id"])
    assert (after["status"], after["review_reason"]) == ("needs_review", reason)


async def test_second_payment_of_a_paid_bill_is_recorded_and_the_bill_stays_paid(
    gateway: Gateway, transfer: Transfer
) -> None:
    payment = await gateway.create_payment()
    first = await transfer(185000, payment["reference"])
    second = await transfer(185000, payment["reference"])
    assert first["transaction_id"] != second["transaction_id"]  # two transfers, not a replay

    assert (await gateway.payment(payment["id"]))["status"] == "paid"
    outcomes = [(event.outcome, event.reason) for event in await _events(gateway)]
    assert outcomes == [("applied", None), ("duplicate_payment", "already_paid")]
    listing = await gateway.client.get(
        f"/v1/payments/{payment['id']}/attempts", headers=gateway.auth()
    )
    taken = [
        (a["provider_transaction_id"], a["status"], a["amount"], a["review_reason"])
        for a in (await listing.json())["data"]
    ]
    assert sorted(taken, key=lambda a: a[3] or "") == [  # one clock: created at one moment
        (first["transaction_id"], "succeeded", 185000, None),
        (second["transaction_id"], "succeeded", 185000, "duplicate_payment"),
    ]
    async with gateway.client.app[DATABASE].read() as conn:
        types = (
            (
                await conn.execute(
                    select(outbox_events.c.type).where(outbox_events.c.payment_id == payment["id"])
                )
            )
            .scalars()
            .all()
        )
    assert (types.count("payment.paid"), types.count("attempt.needs_review")) == (1, 1)


async def test_money_into_another_account_does_not_pay_the_bill(
    gateway: Gateway, transfer: Transfer
) -> None:
    payment = await gateway.create_payment()
    await transfer(185000, payment["reference"], account="0022002345678")

    assert (await gateway.payment(payment["id"]))["status"] == "pending"
    [event] = await _events(gateway)
    assert (event.outcome, event.reason) == ("unmatched", "account_mismatch")


async def test_a_mistyped_reference_does_not_match_anyone(
    gateway: Gateway, transfer: Transfer
) -> None:
    payment = await gateway.create_payment()
    reference = payment["reference"]
    wrong = reference[:-2] + ("0" if reference[-2] != "0" else "1") + reference[-1]
    await transfer(185000, wrong)
    assert (await gateway.payment(payment["id"]))["status"] == "pending"


# -- forged, stale and malformed notices: refused, nothing stored -------------------------


def _signed(body: bytes, timestamp: int, secret: str = BANK_SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        wire.TIMESTAMP_HEADER: str(timestamp),
        wire.SIGNATURE_HEADER: wire.sign(secret.encode(), timestamp, body),
    }


def _notice_body(reference: str, amount: int = 185000, **extra: Any) -> bytes:
    data = {
        "transaction_id": "FT0001",
        "bin": AGENCY_BIN,
        "account_number": AGENCY_ACCOUNT,
        "amount": amount,
        "description": reference,
        "booked_at": "2026-11-22T09:00:00+07:00",
        **extra,
    }
    return json.dumps(data).encode()


async def _refused(
    gateway: Gateway,
    body: bytes,
    headers: dict[str, str],
    code: str,
    status: int = 401,
    bank: str = "testbank",
) -> None:
    response = await gateway.client.post(f"/callbacks/bank/{bank}", data=body, headers=headers)
    problem = await response.json()
    assert (response.status, problem["code"]) == (status, code)
    assert await _events(gateway) == []


async def test_notice_with_a_bad_signature_is_refused(gateway: Gateway) -> None:
    payment = await gateway.create_payment()
    body = _notice_body(payment["reference"])
    now = int(gateway.clock().timestamp())
    await _refused(gateway, body, _signed(body, now, secret="guessed"), "signature_invalid")
    assert (await gateway.payment(payment["id"]))["status"] == "pending"


async def test_notice_whose_body_was_altered_after_signing_is_refused(gateway: Gateway) -> None:
    payment = await gateway.create_payment()
    now = int(gateway.clock().timestamp())
    headers = _signed(_notice_body(payment["reference"], amount=1000), now)
    await _refused(gateway, _notice_body(payment["reference"]), headers, "signature_invalid")


async def test_notice_without_signature_is_refused(gateway: Gateway) -> None:
    body = _notice_body("x")
    await _refused(gateway, body, {"Content-Type": "application/json"}, "signature_missing")


@pytest.mark.parametrize("skew", [-301, 301])
async def test_notice_with_a_stale_timestamp_is_refused(gateway: Gateway, skew: int) -> None:
    payment = await gateway.create_payment()
    body = _notice_body(payment["reference"])
    stamp = int(gateway.clock().timestamp()) + skew
    await _refused(gateway, body, _signed(body, stamp), "timestamp_stale")


async def test_notice_with_a_non_numeric_timestamp_is_refused(gateway: Gateway) -> None:
    body = _notice_body("x")
    headers = {**_signed(body, 1), wire.TIMESTAMP_HEADER: "yesterday"}
    await _refused(gateway, body, headers, "timestamp_invalid")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        _notice_body("x", amount=1500.5),
        _notice_body("x", amount="185000"),
        _notice_body("x", amount=0),
        _notice_body("x", booked_at="22/11/2026"),
        _notice_body("x", booked_at="2026-11-22T09:00:00"),
        _notice_body("x", transaction_id=""),
    ],
)
async def test_signed_but_malformed_notice_is_refused(gateway: Gateway, body: bytes) -> None:
    now = int(gateway.clock().timestamp())
    await _refused(gateway, body, _signed(body, now), "malformed_notice", status=400)


async def test_notice_for_an_unconfigured_bank_is_not_found(gateway: Gateway) -> None:
    body = _notice_body("x")
    now = int(gateway.clock().timestamp())
    await _refused(gateway, body, _signed(body, now), "not_found", status=404, bank="nobank")


async def test_sandbox_bank_retries_until_the_gateway_accepts(
    aiohttp_server: Any, gateway: Gateway
) -> None:
    """The bank keeps its promise to retry: first to a wrong secret (refused), then fixed."""
    payment = await gateway.create_payment()
    config = SandboxBankConfig(
        bin=AGENCY_BIN,
        secret=b"wrong",
        retry_seconds=0.01,
        max_attempts=3,
        clock=gateway.clock,
        notify_url=str(gateway.client.make_url("/callbacks/bank/testbank")),
    )
    server = await aiohttp_server(create_bank_app(config))
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            server.make_url("/transfers"),
            json={
                "bin": AGENCY_BIN,
                "account_number": AGENCY_ACCOUNT,
                "amount": 185000,
                "description": payment["reference"],
            },
        )
        sent = await response.json()
        assert sent["delivered"] is False and sent["attempts"] == [401]
        config.secret = BANK_SECRET.encode()  # the bank fixes its key; retries now succeed
        await server.app[REDELIVERIES].wait()  # the background redeliveries; no sleeping
        listed = await (await session.get(server.make_url("/transfers"))).json()
    assert listed[0]["delivered"] is True
    assert listed[0]["attempts"][0] == 401 and listed[0]["attempts"][-1] == 200
    assert (await gateway.payment(payment["id"]))["status"] == "paid"
    async with gateway.client.app[DATABASE].read() as conn:
        count = (await conn.execute(select(func.count()).select_from(provider_events))).scalar()
    assert count == 1


async def test_oversized_notice_is_refused_before_anything_is_read(gateway: Gateway) -> None:
    body = _notice_body("x" * 70_000)
    now = int(gateway.clock().timestamp())
    await _refused(gateway, body, _signed(body, now), "payload_too_large", status=413)
