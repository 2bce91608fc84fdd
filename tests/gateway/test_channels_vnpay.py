"""VNPAY end to end through the real sandbox: redirect, IPN, return URL, polling, refunds,
and every way an IPN can be wrong."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from conftest import VNPAY_SECRET, VNPAY_TMN, Channels
from sqlalchemy import event, select
from tests_support import end_other_sessions, pay_at_vnpay, signed_ipn, vnpay_ipn

from gateway.core.db.schema import (
    attempts,
    notification_intake,
    outbox_events,
    payments,
    provider_events,
)
from gateway.keys import DATABASE, POLLER
from providers.payment.vnpay import canonical_query, sign
from providers.sandbox.vnpay import CONFIG


async def _ipn(channels: Channels, params: dict[str, str]) -> dict[str, str]:
    response = await channels.client.get("/callbacks/vnpay/ipn", params=params)
    assert response.status == 200  # VNPAY reads the RspCode, not the HTTP status
    return await response.json()


async def test_vnpay_attempt_redirects_to_a_signed_payment_url(channels: Channels) -> None:
    payment, attempt = await channels.start("vnpay")

    assert attempt["status"] == "pending" and attempt["method"] == "vnpay"
    url = urlsplit(attempt["next_action"]["url"])
    assert url.path.endswith("/paymentv2/vpcpay.html")
    params = dict(parse_qsl(url.query))
    assert params["vnp_Amount"] == str(payment["amount"] * 100)
    assert params["vnp_TxnRef"] == attempt["provider_reference"]
    assert params["vnp_TmnCode"] == VNPAY_TMN
    assert params["vnp_ReturnUrl"].endswith("/callbacks/vnpay/return")
    assert all(name.startswith("vnp_") for name in params)
    secure = params.pop("vnp_SecureHash")
    assert secure == sign(VNPAY_SECRET, canonical_query(params))


async def test_successful_vnpay_payment_marks_the_bill_paid(channels: Channels) -> None:
    payment, attempt = await channels.start("vnpay")
    transaction = await pay_at_vnpay(channels, attempt, "success")

    assert [a["rsp_code"] for a in transaction["ipn_attempts"]] == ["00"]
    after = await channels.payment(payment["id"])
    assert after["status"] == "paid"
    done = await channels.payment_attempt(payment["id"], attempt["id"])
    assert done["status"] == "succeeded"
    assert done["provider_transaction_id"] == transaction["transaction_no"]


async def test_failed_vnpay_payment_leaves_the_bill_open_and_is_recorded(
    channels: Channels,
) -> None:
    payment, attempt = await channels.start("vnpay")
    transaction = await pay_at_vnpay(channels, attempt, "failure")

    assert [a["rsp_code"] for a in transaction["ipn_attempts"]] == ["00"]  # recorded: 00
    assert (await channels.payment(payment["id"]))["status"] == "pending"
    failed = await channels.payment_attempt(payment["id"], attempt["id"])
    assert failed["status"] == "failed" and failed["failure_code"].startswith("vnpay_")
    async with channels.client.app[DATABASE].read() as conn:
        types = (await conn.execute(select(outbox_events.c.type))).scalars().all()
    assert types == ["attempt.failed"]
    status, again = await channels.attempt(payment["id"], method="vnpay")
    assert status == 201 and again["id"] != attempt["id"]  # the citizen can try again


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite has no server
async def test_an_ipn_the_database_failed_is_answered_99_and_applied_when_sent_again(
    channels: Channels,
) -> None:
    """PostgreSQL ended the gateway's pooled connections (a restart, a failover) as an IPN
    came: VNPAY is answered in its own format, 99 "Unknow error" (it was a 503 problem+json),
    nothing is stored, and VNPAY's next try pays the bill once."""
    payment, attempt = await channels.start("vnpay")
    db = channels.client.app[DATABASE]
    assert await end_other_sessions(db.url) >= 1
    params = signed_ipn(attempt)

    failed = await channels.client.get("/callbacks/vnpay/ipn", params=params)
    assert (failed.status, await failed.json()) == (
        200,
        {"RspCode": "99", "Message": "Unknow error"},  # as VNPAY spells it
    )
    async with db.read() as conn:
        stored = (await conn.execute(select(provider_events.c.id))).all()
    assert stored == []
    assert (await channels.payment(payment["id"]))["status"] == "pending"

    again = await (await channels.client.get("/callbacks/vnpay/ipn", params=params)).json()
    assert again["RspCode"] == "00"
    assert (await channels.payment(payment["id"]))["status"] == "paid"


async def test_replayed_ipn_is_answered_02_and_changes_nothing(channels: Channels) -> None:
    payment, attempt = await channels.start("vnpay")
    await pay_at_vnpay(channels, attempt, "success")
    async with aiohttp.ClientSession() as session:
        resent = await session.post(
            channels.vnpay.make_url("/paymentv2/resend_ipn"),
            json={"txn_ref": attempt["provider_reference"]},
        )
        transaction = await resent.json()
    assert [a["rsp_code"] for a in transaction["ipn_attempts"]] == ["00", "02"]
    async with channels.client.app[DATABASE].read() as conn:
        stored = (await conn.execute(select(provider_events))).all()
    assert len(stored) == 1
    assert (await channels.payment(payment["id"]))["status"] == "paid"


async def test_late_failure_after_success_does_not_move_the_payment_back(
    channels: Channels,
) -> None:
    payment, attempt = await channels.start("vnpay")
    await pay_at_vnpay(channels, attempt, "success")
    late = vnpay_ipn(attempt, vnp_ResponseCode="24", vnp_TransactionStatus="02")
    assert (await _ipn(channels, late))["RspCode"] == "02"
    assert (await channels.payment(payment["id"]))["status"] == "paid"
    assert (await channels.payment_attempt(payment["id"], attempt["id"]))["status"] == "succeeded"


@pytest.mark.parametrize("closed", ["expired", "cancelled"])
async def test_late_failure_for_an_attempt_closed_with_its_bill_changes_nothing(
    channels: Channels, closed: str
) -> None:
    payment, attempt = await channels.start("vnpay")
    if closed == "expired":
        channels.clock.advance(minutes=16)
        assert (await channels.payment(payment["id"]))["status"] == "expired"
    else:
        response = await channels.client.post(
            f"/v1/payments/{payment['id']}/cancel", headers=channels.auth()
        )
        assert response.status == 200
    late = vnpay_ipn(attempt, vnp_ResponseCode="24", vnp_TransactionStatus="02")
    assert (await _ipn(channels, late))["RspCode"] == "02"  # VNPAY stops retrying
    assert (await channels.payment(payment["id"]))["status"] == closed
    assert (await channels.payment_attempt(payment["id"], attempt["id"]))["status"] == closed
    async with channels.client.app[DATABASE].read() as conn:
        [event] = (await conn.execute(select(provider_events))).all()
    assert (event.outcome, event.payment_id) == ("already_final", payment["id"])


async def test_paid_only_when_both_codes_are_00(channels: Channels) -> None:
    payment, attempt = await channels.start("vnpay")
    odd = vnpay_ipn(attempt, vnp_ResponseCode="00", vnp_TransactionStatus="02")
    assert (await _ipn(channels, odd))["RspCode"] == "00"
    assert (await channels.payment(payment["id"]))["status"] == "pending"


@pytest.mark.parametrize(
    ("tamper", "rsp_code"),
    [
        ("value", "97"),
        ("upper_case_hash", "97"),
        ("extra_parameter", "97"),
        ("wrong_secret", "97"),
        ("missing_amount", "99"),
        ("amount_not_x100", "99"),
        ("unknown_txn_ref", "01"),
    ],
)
async def test_bad_ipn_gets_vnpays_code_and_changes_nothing(
    channels: Channels, tamper: str, rsp_code: str
) -> None:
    payment, attempt = await channels.start("vnpay")
    params = vnpay_ipn(attempt)
    if tamper == "value":
        params["vnp_Amount"] = "100"
    elif tamper == "upper_case_hash":
        params["vnp_SecureHash"] = params["vnp_SecureHash"].upper()
    elif tamper == "extra_parameter":
        params["vnp_Extra"] = "1"
    elif tamper == "wrong_secret":
        params = vnpay_ipn(attempt, secret="guessed")
    elif tamper == "missing_amount":
        params = vnpay_ipn(attempt, vnp_Amount="<drop>")
    elif tamper == "amount_not_x100":
        params = vnpay_ipn(attempt, vnp_Amount=str(attempt["amount"] * 100 + 1))
    elif tamper == "unknown_txn_ref":
        params = vnpay_ipn(attempt, vnp_TxnRef="NOSUCHREF")

    assert (await _ipn(channels, params))["RspCode"] == rsp_code
    assert (await channels.payment(payment["id"]))["status"] == "pending"
    assert (await channels.payment_attempt(payment["id"], attempt["id"]))["status"] == "pending"


async def _stored(channels: Channels) -> list[tuple[str, str | None]]:
    async with channels.client.app[DATABASE].read() as conn:
        rows = (await conn.execute(select(provider_events).order_by(provider_events.c.id))).all()
    return [(row.outcome, row.reason) for row in rows]


async def test_money_of_another_amount_is_answered_04_and_put_up_for_review_also_on_replay(
    channels: Channels,
) -> None:
    payment, attempt = await channels.start("vnpay")
    short = vnpay_ipn(attempt, vnp_Amount=str((attempt["amount"] - 1000) * 100))

    assert (await _ipn(channels, short))["RspCode"] == "04"  # VNPAY's code for the amount
    bill = await channels.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "amount_mismatch")
    taken = await channels.payment_attempt(payment["id"], attempt["id"])
    assert (taken["status"], taken["review_reason"]) == ("succeeded", "amount_mismatch")
    assert (taken["amount"], taken["details"]["received_amount"]) == (
        attempt["amount"],
        attempt["amount"] - 1000,
    )  # what was asked for, and what arrived

    assert (await _ipn(channels, short))["RspCode"] == "04"  # the replay: the same answer
    assert await _stored(channels) == [("needs_review", "amount_mismatch")]
    assert (await channels.payment(payment["id"]))["status"] == "needs_review"


async def test_replay_of_an_ipn_deferred_to_querydr_is_answered_02_once_querydr_settled_it(
    channels: Channels,
) -> None:
    payment, attempt = await channels.start("vnpay")
    channels.vnpay.app[CONFIG].ipn_url = "http://127.0.0.1:9/nowhere"  # VNPAY's IPN is lost
    channels.vnpay.app[CONFIG].max_ipn_attempts = 1
    await pay_at_vnpay(channels, attempt, "success")
    odd = vnpay_ipn(attempt, vnp_ResponseCode="00", vnp_TransactionStatus="02")
    assert (await _ipn(channels, odd))["RspCode"] == "00"  # contradictory: left to querydr
    assert (await _ipn(channels, odd))["RspCode"] == "00"  # still open: nothing to confirm
    assert (await channels.payment(payment["id"]))["status"] == "pending"

    channels.clock.advance(seconds=301)
    assert await channels.client.app[POLLER].run_once() == 1
    assert (await channels.payment(payment["id"]))["status"] == "paid"
    assert (await _ipn(channels, odd))["RspCode"] == "02"  # the order is confirmed now
    assert await _stored(channels) == [("deferred_to_query", None)]


async def test_a_first_contradictory_ipn_for_an_attempt_querydr_settled_is_answered_02(
    channels: Channels,
) -> None:
    """VNPAY's order of checks (01, 04, 02, 00) holds for a first copy left to querydr too."""
    payment, attempt = await channels.start("vnpay")
    channels.vnpay.app[CONFIG].ipn_url = "http://127.0.0.1:9/nowhere"  # VNPAY's IPN is lost
    channels.vnpay.app[CONFIG].max_ipn_attempts = 1
    await pay_at_vnpay(channels, attempt, "success")
    channels.clock.advance(seconds=301)
    assert await channels.client.app[POLLER].run_once() == 1
    assert (await channels.payment(payment["id"]))["status"] == "paid"

    odd = vnpay_ipn(attempt, vnp_ResponseCode="00", vnp_TransactionStatus="02")
    assert (await _ipn(channels, odd))["RspCode"] == "02"
    assert (await channels.payment(payment["id"]))["status"] == "paid"
    assert await _stored(channels) == [("deferred_to_query", "rsp_02")]


async def test_parameter_order_does_not_matter(channels: Channels) -> None:
    payment, attempt = await channels.start("vnpay")
    params = vnpay_ipn(attempt)
    shuffled = dict(reversed(list(params.items())))
    assert (await _ipn(channels, shuffled))["RspCode"] == "00"
    assert (await channels.payment(payment["id"]))["status"] == "paid"


async def test_return_url_only_redirects_to_the_checkout_page(channels: Channels) -> None:
    payment, attempt = await channels.start("vnpay")
    params = vnpay_ipn(attempt)  # a success, but only the IPN may apply it
    response = await channels.client.get(
        "/callbacks/vnpay/return", params=params, allow_redirects=False
    )
    assert response.status == 303
    assert response.headers["Location"] == f"/pay/{payment['id']}"
    assert (await channels.payment(payment["id"]))["status"] == "pending"
    forged = {**params, "vnp_Amount": "1"}
    bad = await channels.client.get("/callbacks/vnpay/return", params=forged, allow_redirects=False)
    assert bad.status == 400
    assert "Không xác minh được" in await bad.text()


async def test_missing_ipn_is_made_up_for_by_querydr(channels: Channels) -> None:
    payment, attempt = await channels.start("vnpay")
    channels.vnpay.app[CONFIG].ipn_url = "http://127.0.0.1:9/nowhere"  # the IPN is lost
    channels.vnpay.app[CONFIG].max_ipn_attempts = 1
    await pay_at_vnpay(channels, attempt, "success")
    assert (await channels.payment(payment["id"]))["status"] == "pending"

    poller = channels.client.app[POLLER]
    assert await poller.run_once() == 0  # too early: VNPAY may still send the IPN
    channels.clock.advance(seconds=301)
    assert await poller.run_once() == 1
    assert (await channels.payment(payment["id"]))["status"] == "paid"


async def test_unfinished_vnpay_attempt_is_kept_pending_then_expires(channels: Channels) -> None:
    payment, attempt = await channels.start("vnpay")  # the citizen never opens the page
    poller = channels.client.app[POLLER]
    channels.clock.advance(seconds=301)
    await poller.run_once()
    assert (await channels.payment_attempt(payment["id"], attempt["id"]))["status"] == "pending"
    channels.clock.advance(minutes=25)
    await poller.run_once()
    async with channels.client.app[DATABASE].read() as conn:
        row = (await conn.execute(select(attempts).where(attempts.c.id == attempt["id"]))).one()
    assert row.status == "expired"  # VNPAY never saw it and its time is up


async def test_second_success_through_another_channel_is_flagged_not_lost(
    channels: Channels,
) -> None:
    payment = await channels.create_payment()
    _, first = await channels.attempt(payment["id"], method="vnpay")
    _, second = await channels.attempt(payment["id"], method="vnpay")
    await pay_at_vnpay(channels, first, "success")
    await pay_at_vnpay(channels, second, "success")

    assert (await channels.payment(payment["id"]))["status"] == "paid"
    flagged = await channels.payment_attempt(payment["id"], second["id"])
    assert (flagged["status"], flagged["review_reason"]) == ("succeeded", "duplicate_payment")
    async with channels.client.app[DATABASE].read() as conn:
        types = (await conn.execute(select(outbox_events.c.type))).scalars().all()
    assert "attempt.needs_review" in types and types.count("payment.paid") == 1


async def test_paying_a_bill_closes_its_own_open_attempts_and_no_other_bills(
    channels: Channels,
) -> None:
    first, first_vnpay = await channels.start("vnpay")
    second, second_vnpay = await channels.start("vnpay")
    await channels.attempt(second["id"], method="vnpay")  # a second open VNPAY attempt

    async def statuses() -> dict[tuple[str, str], list[str]]:
        async with channels.client.app[DATABASE].read() as conn:
            rows = (
                await conn.execute(
                    select(attempts.c.payment_id, attempts.c.channel, attempts.c.status)
                )
            ).all()
        found: dict[tuple[str, str], list[str]] = {}
        for row in rows:
            found.setdefault((row.payment_id, row.channel), []).append(row.status)
        return {key: sorted(value) for key, value in found.items()}

    assert await _ipn(channels, signed_ipn(first_vnpay)) == {
        "RspCode": "00",
        "Message": "Confirm Success",
    }
    assert await statuses() == {
        (first["id"], "vietqr"): ["cancelled"],
        (first["id"], "vnpay"): ["succeeded"],
        (second["id"], "vietqr"): ["pending"],  # another bill's attempts stay open
        (second["id"], "vnpay"): ["pending", "pending"],
    }
    assert (await _ipn(channels, signed_ipn(second_vnpay)))["RspCode"] == "00"
    assert await statuses() == {
        (first["id"], "vietqr"): ["cancelled"],
        (first["id"], "vnpay"): ["succeeded"],
        (second["id"], "vietqr"): ["cancelled"],
        (second["id"], "vnpay"): ["cancelled", "succeeded"],  # its other VNPAY attempt too
    }


@pytest.mark.parametrize(("left", "becomes"), [("created", "cancelled"), ("unknown", "unknown")])
async def test_paying_a_bill_closes_an_attempt_left_created_and_never_guesses_an_unknown_one(
    channels: Channels, left: str, becomes: str
) -> None:
    """An attempt whose start never finished (``created``: the process stopped before the
    provider was asked) is still open: the IPN that pays the bill cancels it too, short cut
    for bills with no other open attempt or not. One whose provider call timed out
    (``unknown``) is not guessed at: it stays for the janitor's query."""
    payment, paid_by = await channels.start("vnpay")
    _, other = await channels.attempt(payment["id"], method="vnpay")
    async with channels.client.app[DATABASE].write() as conn:
        await conn.execute(  # what a crash mid-start, or a timed-out call, leaves behind
            attempts.update().where(attempts.c.id == other["id"]).values(status=left)
        )

    assert (await _ipn(channels, signed_ipn(paid_by)))["RspCode"] == "00"
    async with channels.client.app[DATABASE].read() as conn:
        rows = (
            await conn.execute(
                select(attempts.c.id, attempts.c.channel, attempts.c.status).where(
                    attempts.c.payment_id == payment["id"]
                )
            )
        ).all()
    assert {(row.id, row.channel): row.status for row in rows if row.id != paid_by["id"]} == {
        (other["id"], "vnpay"): becomes,
        **{(row.id, "vietqr"): "cancelled" for row in rows if row.channel == "vietqr"},
    }


async def test_attempt_on_a_paid_or_expired_bill_is_refused(channels: Channels) -> None:
    payment, attempt = await channels.start("vnpay")
    await pay_at_vnpay(channels, attempt, "success")
    status, problem = await channels.attempt(payment["id"], method="vnpay")
    assert (status, problem["code"], problem["current"]) == (409, "invalid_transition", "paid")
    other = await channels.create_payment()
    channels.clock.advance(minutes=16)
    status, problem = await channels.attempt(other["id"], method="vnpay")
    assert (status, problem["current"]) == (409, "expired")


async def test_vnpay_refunds_partially_then_fully_and_never_beyond(channels: Channels) -> None:
    payment, attempt = await channels.start("vnpay")
    await pay_at_vnpay(channels, attempt, "success")

    async def refund(amount: int) -> tuple[int, dict[str, Any]]:
        response = await channels.client.post(
            f"/v1/payments/{payment['id']}/refunds",
            json={"amount": amount, "reason": "Nộp thừa"},
            headers={**channels.auth(), "Idempotency-Key": uuid.uuid4().hex},
        )
        return response.status, await response.json()

    status, first = await refund(50000)
    assert (status, first["status"]) == (201, "succeeded")
    assert (await channels.payment(payment["id"]))["status"] == "partially_refunded"
    status, problem = await refund(200000)
    assert (status, problem["errors"][0]["code"]) == (422, "exceeds_refundable")
    status, rest = await refund(135000)
    assert (status, rest["status"]) == (201, "succeeded")
    assert (await channels.payment(payment["id"]))["status"] == "refunded"
    status, problem = await refund(1)
    assert (status, problem["code"]) == (409, "invalid_transition")


async def test_refund_of_an_unpaid_bill_is_refused(channels: Channels) -> None:
    payment, _ = await channels.start("vnpay")
    response = await channels.client.post(
        f"/v1/payments/{payment['id']}/refunds",
        json={"amount": 1000, "reason": "x"},
        headers={**channels.auth(), "Idempotency-Key": "r"},
    )
    assert (response.status, (await response.json())["code"]) == (409, "invalid_transition")


async def test_unknown_method_and_missing_terminal_are_refused(channels: Channels) -> None:
    payment = await channels.create_payment()
    status, problem = await channels.attempt(payment["id"], method="cash")
    assert (status, problem["errors"][0]["field"]) == (422, "method")
    status, problem = await channels.attempt(payment["id"], method="pos")
    assert (status, problem["errors"][0]["field"]) == (422, "terminal_id")


async def test_an_ipn_paying_a_bill_on_postgresql_is_five_statements(channels: Channels) -> None:
    """On PostgreSQL an IPN that pays a bill is five statements in one transaction
    (docs/performance.md): the inbox's store with the payment found by the reference and
    locked, its attempts locked and read, the payment's move (which advances its event
    sequence and reads it back as the API shows it, lines included) with the attempt's move
    and the other open attempt (the VietQR one) closed, the event with its intake note and
    the endpoints' read, the inbox's settle. What it did is what it always did."""
    payment, attempt = await channels.start("vnpay")
    db = channels.client.app[DATABASE]
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        answer = await _ipn(channels, signed_ipn(attempt))
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)

    assert answer == {"RspCode": "00", "Message": "Confirm Success"}
    if not db.is_sqlite:
        assert len(statements) == 5
        assert statements[0].startswith("WITH stored AS")
        assert statements[-3].startswith("WITH moved AS")
        assert statements[-2].startswith("WITH event AS")
    paid = await channels.payment(payment["id"])
    assert paid["status"] == "paid"
    async with db.read() as conn:
        statuses = dict((await conn.execute(select(attempts.c.id, attempts.c.status))).all())
        paid_event = outbox_events.c.type == "payment.paid"
        body = (await conn.execute(select(outbox_events.c.body).where(paid_event))).scalar_one()
        noted = select(notification_intake.c.source_key).where(
            notification_intake.c.event_type == "payment.paid"
        )
        notes = (await conn.execute(noted)).scalars().all()
        sequence = (await conn.execute(select(payments.c.sequence))).scalar_one()
    assert statuses.pop(attempt["id"]) == "succeeded"
    assert list(statuses.values()) == ["cancelled"]  # the VietQR attempt, closed with the bill
    sent = json.loads(body)
    assert sent["data"] == {"payment": paid, "sequence": sequence}
    assert notes == [sent["id"]]
