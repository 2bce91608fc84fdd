"""Money arriving through any channel does the same to the bill and to its attempt: the
VietQR bank notice and the VNPAY IPN are two ways of saying "money arrived" (one decision,
:func:`gateway.core.money.money_arrived`, through one ``apply_outcome``)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Channels
from sqlalchemy import select
from tests_support import signed_ipn, signed_notice

from gateway.core.db.schema import attempts, outbox_events
from gateway.keys import DATABASE


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
