"""A provider's success for an attempt it had reported failed is money on a closed attempt,
recorded like money landing on an expired or cancelled one: through the real pipeline — the
VNPAY IPN and the MoMo IPN from their sandboxes — the attempt moves ``failed → succeeded``
with ``review_reason = succeeded_after_failure``, once however often the success comes; the
bill goes to ``needs_review``, or the money is a ``duplicate_payment`` if the bill was paid
meanwhile. The money keeps the provider's own reference, so VNPAY refunds it and
reconciliation pairs it with VNPAY's one line of the day."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import aiohttp
from conftest import VNPAY_TMN, Channels, Wallets
from sqlalchemy import select
from tests_support import pay_at_vnpay, vnpay_ipn

from gateway.core.db.schema import attempts, outbox_events, provider_events
from gateway.keys import DATABASE
from providers.sandbox.momo import ORDERS
from providers.sandbox.statements import PaidPayment, vnpay_day_file
from providers.sandbox.vnpay import TRANSACTIONS
from reconciliation.engine import reconcile
from reconciliation.frame import to_frame
from reconciliation.ledger import ledger
from reconciliation.model import BUSINESS_TZ, Direction, Source, StatementLine


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


async def _recorded(channels: Channels) -> tuple[list[str], list[str]]:
    """(the inbox's outcomes, the outbox's event types), oldest first."""
    async with channels.client.app[DATABASE].read() as conn:
        inbox = (
            await conn.execute(select(provider_events.c.outcome).order_by(provider_events.c.id))
        ).scalars()
        events = (await conn.execute(select(outbox_events.c.type))).scalars()
        return list(inbox), list(events)


async def _vnpay_day(channels: Channels, day: date) -> tuple[list[Any], list[str]]:
    async with channels.client.app[DATABASE].read() as conn:
        return await ledger(conn, day, Source.VNPAY)


async def test_a_vnpay_success_after_its_failure_puts_the_unpaid_bill_up_for_review(
    channels: Channels,
) -> None:
    payment, attempt = await channels.start("vnpay")
    await pay_at_vnpay(channels, attempt, "failure")
    assert (await channels.payment_attempt(payment["id"], attempt["id"]))["status"] == "failed"

    assert await _ipn(channels, vnpay_ipn(attempt)) == "00"  # recorded: VNPAY stops

    bill = await channels.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "succeeded_after_failure")
    [money] = await _attempts(channels, payment["id"])  # the one attempt, no second one
    assert (money.id, money.status, money.review_reason, money.amount) == (
        attempt["id"],
        "succeeded",
        "succeeded_after_failure",
        payment["amount"],
    )
    assert (money.provider_reference, money.provider_transaction_id) == (
        attempt["provider_reference"],
        "14422574",
    )
    # What VNPAY said first stays on the attempt for the person who checks it.
    assert money.failure_code is None and money.details["reported_failure_code"]
    inbox, events = await _recorded(channels)
    assert inbox[-1] == "needs_review"
    assert events.count("payment.needs_review") == 1

    # VNPAY repeats the success with other bytes (another transaction time): recorded once.
    again = vnpay_ipn(attempt, vnp_PayDate="20261122091501")
    assert await _ipn(channels, again) == "02"
    assert len(await _attempts(channels, payment["id"])) == 1
    assert (await _recorded(channels))[1].count("payment.needs_review") == 1


async def test_two_vnpay_successes_after_its_failure_at_once_are_recorded_once(
    channels: Channels,
) -> None:
    payment, attempt = await channels.start("vnpay")
    await pay_at_vnpay(channels, attempt, "failure")

    answers = await asyncio.gather(
        _ipn(channels, vnpay_ipn(attempt)),
        _ipn(channels, vnpay_ipn(attempt, vnp_PayDate="20261122091501")),
    )

    assert sorted(answers) == ["00", "02"]
    [money] = await _attempts(channels, payment["id"])
    assert (money.status, money.review_reason) == ("succeeded", "succeeded_after_failure")
    assert (await _recorded(channels))[1].count("payment.needs_review") == 1


async def test_reconciliation_pairs_the_late_money_with_vnpays_one_line_of_the_day(
    channels: Channels,
) -> None:
    """VNPAY's day file has one succeeded line for the payment (its last word); the gateway's
    side of the day has the same one line, so they match — no ``duplicate``, no
    ``status_mismatch`` of a failed line beside it."""
    payment, attempt = await channels.start("vnpay")
    await pay_at_vnpay(channels, attempt, "failure")
    assert await _ipn(channels, vnpay_ipn(attempt)) == "00"
    day = channels.clock().astimezone(BUSINESS_TZ).date()

    lines, keys = await _vnpay_day(channels, day)

    assert keys == [f"attempt:{attempt['id']}"]
    vnpay_file = StatementLine(
        source=Source.VNPAY,
        line_no=1,
        amount=payment["amount"],
        direction=Direction.CREDIT,
        booking_date=day,
        reference=attempt["provider_reference"],
        provider_txn_id="14422574",
        status="succeeded",
    )
    result = reconcile(to_frame(lines), to_frame([vnpay_file], first_id=100), business_date=day)
    assert result.exceptions.height == 0, result.exceptions
    assert result.matches.select("internal_id", "external_id").rows() == [(0, 100)]


async def test_the_late_money_is_refunded_through_vnpay(channels: Channels) -> None:
    """VNPAY changes its word about the attempt and resends the IPN; finance refunds the
    money through VNPAY, which finds the payment by its own vnp_TxnRef and date."""
    payment, attempt = await channels.start("vnpay")
    await pay_at_vnpay(channels, attempt, "failure")
    txn = channels.vnpay.app[TRANSACTIONS][(VNPAY_TMN, attempt["provider_reference"])]
    txn.response_code, txn.status, txn.transaction_no = "00", "00", "14422574"
    resent = await channels.client.session.post(
        channels.vnpay.make_url("/paymentv2/resend_ipn"),
        json={"txn_ref": attempt["provider_reference"]},
    )
    assert resent.status == 200, await resent.text()
    assert (await channels.payment(payment["id"]))["status"] == "needs_review"

    response = await channels.client.post(
        f"/v1/payments/{payment['id']}/refunds",
        json={"amount": payment["amount"], "reason": "Tiền về sau khi VNPAY báo thất bại"},
        headers={**channels.auth(), "Idempotency-Key": uuid.uuid4().hex},
    )

    assert response.status == 201, await response.text()
    refund = await response.json()
    assert (refund["status"], refund["failure_code"]) == ("succeeded", None)
    assert (await channels.payment(payment["id"]))["status"] == "refunded"
    assert txn.refunded_vnd == payment["amount"]


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
    late = await channels.payment_attempt(payment["id"], first["id"])
    assert (late["status"], late["review_reason"]) == ("succeeded", "duplicate_payment")
    assert len(await _attempts(channels, payment["id"])) == 2  # the two the citizen made
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
    [money] = await _attempts(wallets, payment["id"])
    assert (money.id, money.channel, money.status, money.provider_transaction_id) == (
        attempt["id"],
        "momo",
        "succeeded",
        str(order.trans_id),
    )
    status, body = await wallets.sandbox(  # MoMo resends it: recorded once
        wallets.momo, "/resend_ipn", order_id=attempt["provider_reference"]
    )
    assert status == 200 and body["ipn_statuses"][-1] == 204
    assert len(await _attempts(wallets, payment["id"])) == 1
    assert (await _recorded(wallets))[1].count("payment.needs_review") == 1


async def _upload_vnpay_day(channels: Channels, data: bytes, name: str) -> None:
    form = aiohttp.FormData()
    form.add_field("source", "vnpay_day")
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    response = await channels.client.post(
        "/v1/reconciliation/statements", data=form, headers=channels.auth("finance")
    )
    assert response.status in (200, 201), await response.text()
    assert (await response.json())["status"] == "accepted"


async def _run(channels: Channels, day: date) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run ``day``: the run's VNPAY totals, and the day's exceptions (not superseded)."""
    response = await channels.client.post(
        "/v1/reconciliation/runs",
        json={"business_date": day.isoformat()},
        headers=channels.auth("finance"),
    )
    assert response.status == 201, await response.text()
    vnpay_totals = (await response.json())["summary"]["sources"].get("vnpay", {})
    listed = await channels.client.get(
        "/v1/reconciliation/exceptions",
        params={"business_date": day.isoformat()},
        headers=channels.auth("finance"),
    )
    assert listed.status == 200, await listed.text()
    return vnpay_totals, list((await listed.json())["data"])


async def test_a_success_on_a_later_day_than_its_failure_is_one_match_on_the_moneys_day(
    channels: Channels,
) -> None:
    """VNPAY calls the payment failed on day 1; its day file of day 1 has it succeeded (its
    last word); the success IPN comes on day 2 with ``vnp_PayDate`` on day 1. The gateway's
    ledger puts the money on its own day (the day VNPAY's file has it), so the re-run of day 1
    matches it and day 2 does not see it again: one amount, at most one exception — the
    first run's, which the re-run supersedes."""
    payment, attempt = await channels.start("vnpay")
    await pay_at_vnpay(channels, attempt, "failure")
    day1 = channels.clock().astimezone(BUSINESS_TZ).date()
    day2 = day1 + timedelta(days=1)
    channels.clock.advance(days=1, hours=1)  # the next morning: VNPAY's file of day 1 comes
    day_file = vnpay_day_file(
        [
            PaidPayment(
                reference=attempt["provider_reference"],
                amount=payment["amount"],
                paid_at=datetime(2026, 11, 22, 9, 15, tzinfo=BUSINESS_TZ),
                channel="vnpay",
                provider_txn_id="14422574",
                agency_code=payment["agency_code"],
            )
        ],
        day1,
        tmn_code=VNPAY_TMN,
    )
    await _upload_vnpay_day(channels, day_file, f"vnpay_{day1}")
    _, first = await _run(channels, day1)
    assert [(e["source"], e["type"]) for e in first] == [("vnpay", "status_mismatch")]

    # Day 2: VNPAY's success IPN, its money's time on day 1.
    assert await _ipn(channels, vnpay_ipn(attempt, vnp_PayDate="20261122091500")) == "00"
    bill = await channels.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "succeeded_after_failure")
    [money] = await _attempts(channels, payment["id"])
    assert money.details["money_at"] == "2026-11-22T02:15:00Z"  # vnp_PayDate 09:15 in Vietnam

    totals, rerun = await _run(channels, day1)
    assert rerun == []  # the first run's status_mismatch is superseded: the difference is gone
    assert (totals["matched"], totals["matched_amount"]) == (1, payment["amount"])
    lines, keys = await _vnpay_day(channels, day1)
    assert (keys, [line.status for line in lines]) == ([f"attempt:{attempt['id']}"], ["succeeded"])
    assert await _vnpay_day(channels, day2) == ([], [])
    assert (await _run(channels, day2))[1] == []  # no expected_in_transit, no missing_in_vnpay


async def test_a_success_after_its_failures_day_was_closed_is_on_the_day_it_came(
    channels: Channels,
) -> None:
    """Day 1 was reconciled and closed with the attempt failed; VNPAY's success comes on day 2
    (``vnp_PayDate`` on day 1). Day 1 cannot be re-run, so the money is on day 2's ledger —
    on some day's, never lost — and day 2's run, once VNPAY reported day 2, raises it once
    for finance (VNPAY has it on the closed day)."""
    payment, attempt = await channels.start("vnpay")
    await pay_at_vnpay(channels, attempt, "failure")
    day1 = channels.clock().astimezone(BUSINESS_TZ).date()
    day2 = day1 + timedelta(days=1)
    channels.clock.advance(days=1, hours=1)
    assert (await _run(channels, day1))[1] == []
    close = await channels.client.post(
        f"/v1/reconciliation/days/{day1}/close", headers=channels.auth("approver")
    )
    assert close.status == 200, await close.text()

    assert await _ipn(channels, vnpay_ipn(attempt, vnp_PayDate="20261122091500")) == "00"

    assert await _vnpay_day(channels, day1) == ([], [])
    assert (await _vnpay_day(channels, day2))[1] == [f"attempt:{attempt['id']}"]
    assert (await _run(channels, day2))[1] == []  # VNPAY has not reported day 2 yet
    channels.clock.advance(days=1)
    day_file = vnpay_day_file([], day2, tmn_code=VNPAY_TMN)  # VNPAY has it on day 1
    await _upload_vnpay_day(channels, day_file, f"vnpay_{day2}")
    _, raised = await _run(channels, day2)
    assert [(e["source"], e["type"], e["amount"]) for e in raised] == [
        ("vnpay", "expected_in_transit", payment["amount"])
    ]
