"""A provider's success for an attempt it had reported failed (ARCHITECTURE §4: "a late or
duplicate message never moves a final state backwards; it is recorded and, where money moved,
becomes a reconciliation exception"): through the real pipeline — the VNPAY IPN and the MoMo
IPN from their sandboxes — the failed attempt stays failed, and the money is recorded once,
through an attempt of its own (the path VietQR's further transfers take,
``record_money``), for a person: the bill goes to ``needs_review``
(``succeeded_after_failure``), or the money is a ``duplicate_payment`` if the bill was paid
meanwhile. Nothing stays only in the inbox."""

from __future__ import annotations

from typing import Any

from conftest import Channels, Wallets
from sqlalchemy import select
from tests_support import pay_at_vnpay, vnpay_ipn

from gateway.core.db.schema import attempts, outbox_events, provider_events
from gateway.keys import DATABASE
from providers.sandbox.momo import ORDERS
from reconciliation.ledger import ledger
from reconciliation.model import BUSINESS_TZ, Source


async def _ipn(channels: Channels, params: dict[str, str]) -> str:
    response = await channels.client.get("/callbacks/vnpay/ipn", params=params)
    assert response.status == 200
    return str((await response.json())["RspCode"])


async def _attempts(channels: Channels, payment_id: str) -> list[Any]:
    """The bill's attempts other than its VietQR one (born with the bill), oldest first."""
    async with channels.client.app[DATABASE].read() as conn:
        return list(
            (
                await conn.execute(
                    select(attempts)
                    .where(attempts.c.payment_id == payment_id, attempts.c.channel != "vietqr")
                    .order_by(attempts.c.created_at, attempts.c.id)
                )
            ).all()
        )


async def _late(channels: Channels, payment_id: str) -> list[Any]:
    """The attempts that recorded late money (reference ``<reference>~late``)."""
    rows = await _attempts(channels, payment_id)
    return [row for row in rows if row.provider_reference.endswith("~late")]


async def _recorded(channels: Channels) -> tuple[list[str], list[str]]:
    """(the inbox's outcomes, the outbox's event types), oldest first."""
    async with channels.client.app[DATABASE].read() as conn:
        inbox = (
            await conn.execute(select(provider_events.c.outcome).order_by(provider_events.c.id))
        ).scalars()
        events = (await conn.execute(select(outbox_events.c.type))).scalars()
        return list(inbox), list(events)


async def test_a_vnpay_success_after_its_failure_puts_the_unpaid_bill_up_for_review(
    channels: Channels,
) -> None:
    payment, attempt = await channels.start("vnpay")
    await pay_at_vnpay(channels, attempt, "failure")
    assert (await channels.payment_attempt(payment["id"], attempt["id"]))["status"] == "failed"

    assert await _ipn(channels, vnpay_ipn(attempt)) == "00"  # recorded: VNPAY stops

    bill = await channels.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "succeeded_after_failure")
    [failed] = [row for row in await _attempts(channels, payment["id"]) if row.id == attempt["id"]]
    [late] = await _late(channels, payment["id"])
    assert (failed.id, failed.status) == (attempt["id"], "failed")  # never moved backwards
    assert (late.status, late.review_reason, late.amount) == (
        "succeeded",
        "succeeded_after_failure",
        payment["amount"],
    )
    assert (late.channel, late.provider_reference) == (
        "vnpay",
        f"{attempt['provider_reference']}~late",
    )
    assert late.provider_transaction_id == "14422574"
    inbox, events = await _recorded(channels)
    assert inbox[-1] == "needs_review"
    assert events.count("payment.needs_review") == 1
    # Reconciliation's own side of the day has the money, against VNPAY's day file.
    async with channels.client.app[DATABASE].read() as conn:
        day = channels.clock().astimezone(BUSINESS_TZ).date()
        lines, keys = await ledger(conn, day, Source.VNPAY)
    [money] = [line for line, key in zip(lines, keys, strict=True) if key == f"attempt:{late.id}"]
    assert (money.amount, money.status, money.provider_txn_id) == (
        payment["amount"],
        "succeeded",
        "14422574",
    )

    # VNPAY repeats the success with other bytes (another transaction time): recorded once.
    again = vnpay_ipn(attempt, vnp_PayDate="20261122091501")
    assert await _ipn(channels, again) == "02"
    assert len(await _attempts(channels, payment["id"])) == 2
    assert (await _recorded(channels))[1].count("payment.needs_review") == 1


async def test_a_vnpay_success_after_its_failure_on_a_bill_paid_meanwhile_is_a_duplicate(
    channels: Channels,
) -> None:
    payment, first = await channels.start("vnpay")
    await pay_at_vnpay(channels, first, "failure")
    status, second = await channels.attempt(payment["id"], method="vnpay")
    assert status == 201
    await pay_at_vnpay(channels, second, "success")
    assert (await channels.payment(payment["id"]))["status"] == "paid"

    assert await _ipn(channels, vnpay_ipn(first, vnp_TransactionNo="14422999")) == "00"

    bill = await channels.payment(payment["id"])
    assert bill["status"] == "paid"  # the bill keeps its status; the money is flagged
    [late] = await _late(channels, payment["id"])
    assert (late.status, late.review_reason) == ("succeeded", "duplicate_payment")
    inbox, events = await _recorded(channels)
    assert inbox[-1] == "duplicate_payment"
    assert events.count("attempt.needs_review") == 1


async def test_a_momo_success_ipn_after_its_failure_is_recorded_for_review(
    wallets: Wallets,
) -> None:
    payment, attempt = await wallets.start("momo")
    status, body = await wallets.sandbox(
        wallets.momo, "/simulate", order_id=attempt["provider_reference"], outcome="failure"
    )
    assert status == 200, body
    assert (await wallets.payment_attempt(payment["id"], attempt["id"]))["status"] == "failed"
    order = wallets.momo.app[ORDERS][attempt["provider_reference"]]
    order.result_code, order.message = 0, "Thành công."  # MoMo changes its word

    status, body = await wallets.sandbox(
        wallets.momo, "/resend_ipn", order_id=attempt["provider_reference"]
    )
    assert status == 200, body
    assert body["ipn_statuses"][-1] == 204

    bill = await wallets.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "succeeded_after_failure")
    assert (await wallets.payment_attempt(payment["id"], attempt["id"]))["status"] == "failed"
    [late] = await _late(wallets, payment["id"])
    assert (late.channel, late.status, late.provider_transaction_id) == (
        "momo",
        "succeeded",
        str(order.trans_id),
    )
