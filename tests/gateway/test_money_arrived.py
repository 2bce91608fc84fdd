"""Money arriving through any channel does the same to the bill and to its attempt: the
VietQR bank notice and the VNPAY IPN are two ways of saying "money arrived" (one decision,
:func:`gateway.core.money.money_arrived`, through one ``apply_outcome``)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from conftest import POS_SECRET, Channels
from sqlalchemy import select
from tests_support import signed_ipn, signed_notice, vnpay_ipn

from gateway.core.db.schema import attempts, outbox_events
from gateway.keys import DATABASE
from providers.payment.pos import sign as pos_sign
from providers.payment.vnpay import GMT7
from providers.sandbox.pos import BACKGROUND


async def _vietqr_attempt(channels: Channels, payment: dict[str, Any]) -> dict[str, Any]:
    async with channels.client.app[DATABASE].read() as conn:
        row = (
            await conn.execute(
                select(attempts).where(
                    attempts.c.payment_id == payment["id"], attempts.c.channel == "vietqr"
                )
            )
        ).one()
    return dict(row._mapping)


async def _money_through(channels: Channels, channel: str, payment: dict[str, Any]) -> Any:
    """Money for ``payment`` arrives through ``channel``; returns the attempt it came by."""
    if channel == "vietqr":
        body, headers = signed_notice(payment, int(channels.clock().timestamp()))
        response = await channels.client.post(
            "/callbacks/bank/testbank", data=body, headers=headers
        )
        assert response.status == 200, await response.text()
        return (await _vietqr_attempt(channels, payment))["id"]
    status, attempt = await channels.attempt(payment["id"], method="vnpay")
    assert status == 201, attempt
    return attempt


async def _state(channels: Channels, payment_id: str, attempt_id: str) -> tuple[Any, Any]:
    bill = await channels.client.get(f"/v1/payments/{payment_id}", headers=channels.auth())
    attempt = await channels.client.get(
        f"/v1/payments/{payment_id}/attempts/{attempt_id}", headers=channels.auth()
    )
    return await bill.json(), await attempt.json()


async def _ipn(channels: Channels, attempt: dict[str, Any]) -> None:
    response = await channels.client.get("/callbacks/vnpay/ipn", params=signed_ipn(attempt))
    assert (await response.json())["RspCode"] == "00"


@pytest.mark.parametrize("channel", ["vietqr", "vnpay"])
async def test_money_after_expiry_makes_its_attempt_succeeded_and_flags_the_bill(
    channels: Channels, channel: str
) -> None:
    payment = await channels.create_payment()
    vnpay_attempt = (
        None if channel == "vietqr" else await _money_through(channels, "vnpay", payment)
    )
    channels.clock.advance(minutes=25)
    expired = await channels.client.get(f"/v1/payments/{payment['id']}", headers=channels.auth())
    assert (await expired.json())["status"] == "expired"  # swept when read

    if vnpay_attempt is None:
        attempt_id = await _money_through(channels, "vietqr", payment)
    else:
        await _ipn(channels, vnpay_attempt)
        attempt_id = vnpay_attempt["id"]

    bill, attempt = await _state(channels, payment["id"], attempt_id)
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "paid_after_expiry")
    assert (attempt["status"], attempt["review_reason"]) == ("succeeded", "paid_after_expiry")


@pytest.mark.parametrize(("first", "second"), [("vnpay", "vietqr"), ("vietqr", "vnpay")])
async def test_second_money_through_another_channel_is_flagged_duplicate_payment(
    channels: Channels, first: str, second: str
) -> None:
    payment = await channels.create_payment()
    vnpay_attempt = await _money_through(channels, "vnpay", payment)
    if first == "vnpay":
        await _ipn(channels, vnpay_attempt)
        late_id = await _money_through(channels, "vietqr", payment)
    else:
        await _money_through(channels, "vietqr", payment)
        await _ipn(channels, vnpay_attempt)
        late_id = vnpay_attempt["id"]

    bill, late = await _state(channels, payment["id"], late_id)
    assert bill["status"] == "paid"
    assert (late["status"], late["review_reason"]) == ("succeeded", "duplicate_payment")
    async with channels.client.app[DATABASE].read() as conn:
        types = (await conn.execute(select(outbox_events.c.type))).scalars().all()
    assert types.count("payment.paid") == 1 and types.count("attempt.needs_review") == 1


async def _types(channels: Channels) -> list[str]:
    async with channels.client.app[DATABASE].read() as conn:
        rows = await conn.execute(select(outbox_events.c.type).order_by(outbox_events.c.sequence))
        return list(rows.scalars())


@pytest.mark.parametrize("channel", ["vietqr", "vnpay"])
async def test_money_after_cancellation_makes_its_attempt_succeeded_and_flags_the_bill(
    channels: Channels, channel: str
) -> None:
    """The bill was cancelled while the citizen was paying: the money is recorded, the
    provider is told so (VNPAY: 00, it stops retrying), and a person settles it."""
    payment = await channels.create_payment()
    vnpay_attempt = (
        None if channel == "vietqr" else await _money_through(channels, "vnpay", payment)
    )
    cancel = await channels.client.post(
        f"/v1/payments/{payment['id']}/cancel", headers=channels.auth()
    )
    assert (await cancel.json())["status"] == "cancelled"

    if vnpay_attempt is None:
        attempt_id = await _money_through(channels, "vietqr", payment)
    else:
        before = await _state(channels, payment["id"], vnpay_attempt["id"])
        assert before[1]["status"] == "cancelled"  # closed with its bill
        await _ipn(channels, vnpay_attempt)  # answered 00
        attempt_id = vnpay_attempt["id"]

    bill, attempt = await _state(channels, payment["id"], attempt_id)
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "paid_after_cancellation")
    assert (attempt["status"], attempt["review_reason"]) == (
        "succeeded",
        "paid_after_cancellation",
    )
    assert await _types(channels) == ["payment.cancelled", "payment.needs_review"]


# -- the money's own time ----------------------------------------------------------------


async def _pos_attempt(channels: Channels, payment: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        url = channels.pos.make_url("/sandbox/terminals/T-HCM-1/script")
        assert (await session.post(url, json={"outcome": "no_answer"})).status == 200
    status, attempt = await channels.attempt(payment["id"], method="pos", terminal_id="T-HCM-1")
    assert status == 201, attempt
    await channels.pos.app[BACKGROUND].wait()
    return dict(attempt)


async def _late_money(
    channels: Channels,
    channel: str,
    payment: dict[str, Any],
    attempt: dict[str, Any] | None,
    moved_at: datetime,
) -> str:
    """Money for ``payment`` that moved at ``moved_at`` (as the provider states it) reaches
    the gateway now; returns the id of the attempt that took it."""
    now = int(channels.clock().timestamp())
    if channel == "vietqr":
        body, headers = signed_notice(payment, now, booked_at=int(moved_at.timestamp()))
        response = await channels.client.post(
            "/callbacks/bank/testbank", data=body, headers=headers
        )
        assert response.status == 200, await response.text()
        return str((await _vietqr_attempt(channels, payment))["id"])
    assert attempt is not None
    if channel == "vnpay":
        params = vnpay_ipn(
            attempt,
            vnp_PayDate=moved_at.astimezone(GMT7).strftime("%Y%m%d%H%M%S"),
            vnp_TransactionNo=str(uuid.uuid4().int % 10**8),
        )
        response = await channels.client.get("/callbacks/vnpay/ipn", params=params)
        assert (await response.json())["RspCode"] == "00"
        return str(attempt["id"])
    result = {
        "sale_id": attempt["id"],
        "status": "approved",
        "amount": attempt["amount"],
        "approval_code": "123456",
        "masked_pan": "970436******1234",
        "card_brand": "NAPAS",
        "rrn": "123456789012",
        "decline_reason": None,
        "completed_at": moved_at.isoformat(),
    }
    body = json.dumps(result).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Pos-Timestamp": str(now),
        "X-Pos-Signature": pos_sign(POS_SECRET.encode(), now, body),
    }
    response = await channels.client.post("/callbacks/pos", data=body, headers=headers)
    assert response.status == 200, await response.text()
    return str(attempt["id"])


async def _bill_and_attempt(
    channels: Channels, channel: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    payment = await channels.create_payment()  # expires in 15 minutes
    if channel == "vietqr":
        return payment, None
    if channel == "pos":
        return payment, await _pos_attempt(channels, payment)
    return payment, await _money_through(channels, "vnpay", payment)


CHANNELS = ["vietqr", "vnpay", "pos"]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_money_that_moved_in_time_but_is_reported_late_pays_the_bill(
    channels: Channels, channel: str
) -> None:
    """Judged by when the money moved (bank booking, vnp_PayDate, the card's completion),
    not by when the message reached the gateway."""
    payment, attempt = await _bill_and_attempt(channels, channel)
    moved_at = channels.clock() + timedelta(minutes=10)
    channels.clock.advance(minutes=20)  # the message arrives after the expiry

    attempt_id = await _late_money(channels, channel, payment, attempt, moved_at)

    bill, taken = await _state(channels, payment["id"], attempt_id)
    assert (bill["status"], bill["review_reason"]) == ("paid", None)
    assert (taken["status"], taken["review_reason"]) == ("succeeded", None)


@pytest.mark.parametrize("channel", CHANNELS)
async def test_money_in_time_for_a_bill_already_expired_is_reviewed_as_reported_late(
    channels: Channels, channel: str
) -> None:
    """The portal was told the bill expired: a late message does not reopen it, but the
    review says the citizen paid in time."""
    payment, attempt = await _bill_and_attempt(channels, channel)
    moved_at = channels.clock() + timedelta(minutes=10)
    channels.clock.advance(minutes=20)
    assert (await channels.payment(payment["id"]))["status"] == "expired"  # swept when read

    attempt_id = await _late_money(channels, channel, payment, attempt, moved_at)

    bill, taken = await _state(channels, payment["id"], attempt_id)
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "reported_after_expiry")
    assert (taken["status"], taken["review_reason"]) == ("succeeded", "reported_after_expiry")
    assert await _types(channels) == ["payment.expired", "payment.needs_review"]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(
    "stated", [timedelta(minutes=-1), timedelta(minutes=31)], ids=["before_bill", "future"]
)
async def test_an_implausible_money_time_is_not_believed(
    channels: Channels, channel: str, stated: timedelta
) -> None:
    """A stated time before the bill existed, or ahead of our clock by more than the skew,
    is not believed: the money counts from when it was received — after the expiry."""
    payment, attempt = await _bill_and_attempt(channels, channel)
    created = channels.clock()
    channels.clock.advance(minutes=20)

    attempt_id = await _late_money(channels, channel, payment, attempt, created + stated)

    bill, taken = await _state(channels, payment["id"], attempt_id)
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "paid_after_expiry")
    assert taken["review_reason"] == "paid_after_expiry"
