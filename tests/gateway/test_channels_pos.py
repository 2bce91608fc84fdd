"""Card terminals end to end through the real sandbox POS cloud: push, callback, one sale per
terminal, cancel, queries instead of assumptions, refunds by finance staff, bad callbacks."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp
import pytest
from conftest import METRICS_AUTH, POS_SECRET, Channels
from sqlalchemy import select
from tests_support import complete_refund, signed_notice

from gateway.core.db.schema import outbox_events, provider_events
from gateway.keys import ATTEMPTS, DATABASE, POLLER
from providers.payment.pos import sign
from providers.sandbox.pos import BACKGROUND, SALES


async def _cloud(channels: Channels, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        response = await session.post(channels.pos.make_url(path), json=body)
        assert response.status == 200, await response.text()
        answer = await response.json()
    await channels.pos.app[BACKGROUND].wait()  # the cardholder and the callback, no sleeping
    return answer


async def _script(channels: Channels, terminal: str, outcome: str) -> None:
    await _cloud(channels, f"/sandbox/terminals/{terminal}/script", {"outcome": outcome})


async def _push(
    channels: Channels, terminal: str = "T-HCM-1"
) -> tuple[dict[str, Any], dict[str, Any]]:
    return await channels.start("pos", terminal_id=terminal)


async def test_card_payment_on_the_terminal_pays_the_bill_with_card_details(
    channels: Channels,
) -> None:
    await _script(channels, "T-HCM-1", "no_answer")
    payment, attempt = await _push(channels)
    assert attempt["status"] == "pending"
    assert attempt["next_action"] == {"type": "terminal", "terminal_id": "T-HCM-1"}

    await _cloud(channels, "/sandbox/terminals/T-HCM-1/complete", {"outcome": "approve"})

    assert (await channels.payment(payment["id"]))["status"] == "paid"
    paid = await channels.payment_attempt(payment["id"], attempt["id"])
    assert paid["status"] == "succeeded"
    details = paid["details"]
    assert len(details["approval_code"]) == 6 and len(details["rrn"]) == 12
    assert "******" in details["masked_pan"] and details["card_brand"]
    assert paid["provider_transaction_id"] == details["rrn"]


@pytest.mark.parametrize("outcome", ["approve", "decline"])
async def test_a_card_faster_than_the_clouds_reply_to_the_push_decides_the_sale(
    channels: Channels, outcome: str
) -> None:
    """The cardholder taps before the POS cloud has answered our push: its callback reaches
    the gateway while the attempt is still ``created``. The money (or the decline) counts at
    once; it is not acknowledged and then dropped, leaving the bill waiting for the janitor."""
    await _cloud(
        channels, "/sandbox/terminals/T-HCM-1/script", {"outcome": outcome, "before_reply": True}
    )
    payment, attempt = await _push(channels)
    decided = await channels.payment_attempt(payment["id"], attempt["id"])
    assert decided["status"] == ("succeeded" if outcome == "approve" else "failed")
    bill = await channels.payment(payment["id"])
    assert bill["status"] == ("paid" if outcome == "approve" else "pending")
    [sale] = await _sandbox_sales(channels)
    assert sale["deliveries"] == [200]  # one delivery, taken the first time
    assert not await _terminal_busy(channels, "T-HCM-1")


async def test_declined_card_fails_the_attempt_and_frees_the_terminal(channels: Channels) -> None:
    await _script(channels, "T-HCM-1", "decline")
    payment, attempt = await _push(channels)
    await channels.pos.app[BACKGROUND].wait()

    failed = await channels.payment_attempt(payment["id"], attempt["id"])
    assert failed["status"] == "failed" and failed["failure_code"].startswith("card_declined")
    assert (await channels.payment(payment["id"]))["status"] == "pending"
    await _script(channels, "T-HCM-1", "approve")
    status, _ = await channels.attempt(payment["id"], method="pos", terminal_id="T-HCM-1")
    assert status == 201
    await channels.pos.app[BACKGROUND].wait()
    assert (await channels.payment(payment["id"]))["status"] == "paid"


async def test_a_busy_terminal_refuses_a_second_payment(channels: Channels) -> None:
    await _script(channels, "T-HCM-1", "no_answer")
    await _push(channels)
    other = await channels.create_payment()
    status, problem = await channels.attempt(other["id"], method="pos", terminal_id="T-HCM-1")
    assert (status, problem["code"]) == (409, "terminal_busy")
    response = await channels.client.get(
        f"/v1/payments/{other['id']}/attempts", headers=channels.auth()
    )
    assert [a["method"] for a in (await response.json())["data"]] == ["vietqr"]


async def test_terminal_of_another_agency_is_not_usable(channels: Channels) -> None:
    payment = await channels.create_payment()
    status, problem = await channels.attempt(payment["id"], method="pos", terminal_id="T-HN-1")
    assert (status, problem["code"]) == (404, "not_found")


async def test_cancel_while_waiting_for_the_card(channels: Channels) -> None:
    await _script(channels, "T-HCM-1", "no_answer")
    payment, attempt = await _push(channels)
    response = await channels.client.post(
        f"/v1/payments/{payment['id']}/attempts/{attempt['id']}/cancel", headers=channels.auth()
    )
    assert response.status == 202
    await channels.pos.app[BACKGROUND].wait()
    assert (await channels.payment_attempt(payment["id"], attempt["id"]))["status"] == "cancelled"
    assert (await channels.payment(payment["id"]))["status"] == "pending"
    listing = await (await channels.client.get("/v1/terminals", headers=channels.auth())).json()
    assert listing["data"][0]["busy"] is False


async def test_cancelling_the_bill_stops_the_sale_waiting_on_the_terminal(
    channels: Channels,
) -> None:
    """The portal withdraws the bill while the citizen stands at the counter: the terminal
    stops the sale, so no card can pay a cancelled bill, and the terminal is free again."""
    await _script(channels, "T-HCM-1", "no_answer")
    payment, attempt = await _push(channels)
    response = await channels.client.post(
        f"/v1/payments/{payment['id']}/cancel", headers=channels.auth()
    )
    assert response.status == 200, await response.text()
    await channels.pos.app[BACKGROUND].wait()
    assert (await channels.payment(payment["id"]))["status"] == "cancelled"
    assert (await channels.payment_attempt(payment["id"], attempt["id"]))["status"] == "cancelled"
    listing = await (await channels.client.get("/v1/terminals", headers=channels.auth())).json()
    assert listing["data"][0]["busy"] is False
    # Nothing is left on the terminal for a card to complete.
    async with aiohttp.ClientSession() as session:
        url = channels.pos.make_url("/sandbox/terminals/T-HCM-1/complete")
        answer = await session.post(url, json={"outcome": "approve"})
        assert answer.status == 409, await answer.text()


@pytest.mark.parametrize("closed", ["expired", "paid_elsewhere"])
async def test_the_sweep_stops_a_sale_whose_bill_closed_while_the_card_was_awaited(
    channels: Channels, closed: str
) -> None:
    """No one cancelled the bill at the counter: it expired (found by a read or the sweep), or
    the citizen paid it by bank transfer while the terminal still asked for a card. The
    sweep stops the sale, so the card cannot be charged for a closed bill, and frees the
    terminal; a second sweep has nothing left to ask."""
    await _script(channels, "T-HCM-1", "no_answer")
    payment, attempt = await _push(channels)
    if closed == "expired":
        await _close_bill(channels, payment["id"], "expired")
    else:
        body, headers = signed_notice(payment, int(channels.clock().timestamp()))
        paid = await channels.client.post("/callbacks/bank/testbank", data=body, headers=headers)
        assert paid.status == 200
        assert (await channels.payment(payment["id"]))["status"] == "paid"
    assert await _terminal_busy(channels, "T-HCM-1")  # the terminal still holds the sale

    assert await channels.client.app[ATTEMPTS].stop_sales_of_closed_bills() == 1
    await channels.pos.app[BACKGROUND].wait()

    assert not await _terminal_busy(channels, "T-HCM-1")
    async with aiohttp.ClientSession() as session:
        url = channels.pos.make_url("/sandbox/terminals/T-HCM-1/complete")
        answer = await session.post(url, json={"outcome": "approve"})
        assert answer.status == 409, await answer.text()  # no sale left for a card
    assert await channels.client.app[ATTEMPTS].stop_sales_of_closed_bills() == 0
    bill = await channels.payment(payment["id"])
    assert bill["status"] == ("expired" if closed == "expired" else "paid")
    sale = await channels.payment_attempt(payment["id"], attempt["id"])
    assert sale["status"] == ("expired" if closed == "expired" else "cancelled")


async def test_a_silent_terminal_is_queried_never_assumed_failed(channels: Channels) -> None:
    await _script(channels, "T-HCM-1", "no_answer")
    payment, attempt = await _push(channels)
    channels.clock.advance(seconds=121)
    assert await channels.client.app[POLLER].run_once() == 1
    assert (await channels.payment_attempt(payment["id"], attempt["id"]))["status"] == "pending"


async def test_lost_callback_is_made_up_for_by_a_query(channels: Channels) -> None:
    await _script(channels, "T-HCM-1", "no_answer")
    payment, _ = await _push(channels)
    # The card is approved, but its callback never reaches us (it goes to a dead address).
    await _complete_without_callback(channels, "T-HCM-1")
    assert (await channels.payment(payment["id"]))["status"] == "pending"
    channels.clock.advance(seconds=121)
    await channels.client.app[POLLER].run_once()
    assert (await channels.payment(payment["id"]))["status"] == "paid"


async def _complete_without_callback(channels: Channels, terminal: str) -> None:
    for sale in channels.pos.app[SALES].values():
        sale.callback_url = "http://127.0.0.1:9/nowhere"
    await _cloud(channels, f"/sandbox/terminals/{terminal}/complete", {"outcome": "approve"})


def _signed(body: bytes, secret: str = POS_SECRET, timestamp: int | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Pos-Timestamp": str(timestamp),
        "X-Pos-Signature": sign(secret.encode(), timestamp or 0, body),
    }


def _result(sale_id: str, status: str = "approved", amount: int = 185000) -> bytes:
    return json.dumps(
        {
            "sale_id": sale_id,
            "status": status,
            "amount": amount,
            "approval_code": "123456",
            "masked_pan": "970436******1234",
            "card_brand": "NAPAS",
            "rrn": "123456789012",
            "decline_reason": None,
            "completed_at": "2026-11-22T02:01:00+00:00",
        }
    ).encode()


async def _post_result(channels: Channels, body: bytes, secret: str = POS_SECRET) -> Any:
    now = int(channels.clock().timestamp())
    headers = _signed(body, secret, now)
    headers["X-Pos-Signature"] = sign(secret.encode(), now, body)
    return await channels.client.post("/callbacks/pos", data=body, headers=headers)


async def test_callback_with_a_bad_signature_is_refused(channels: Channels) -> None:
    await _script(channels, "T-HCM-1", "no_answer")
    payment, attempt = await _push(channels)
    response = await _post_result(channels, _result(attempt["id"]), secret="guessed")
    assert (response.status, (await response.json())["code"]) == (401, "signature_invalid")
    assert (await channels.payment(payment["id"]))["status"] == "pending"


async def test_callback_for_an_unknown_sale_is_stored_and_refused(channels: Channels) -> None:
    response = await _post_result(channels, _result("att_nosuchsale000000000000000"))
    assert (response.status, (await response.json())["code"]) == (404, "not_found")
    async with channels.client.app[DATABASE].read() as conn:
        [event] = (await conn.execute(select(provider_events))).all()
    assert event.outcome == "unmatched"


async def test_callback_for_a_terminal_that_is_not_running_the_sale_is_refused(
    channels: Channels,
) -> None:
    await _script(channels, "T-HCM-1", "decline")
    payment, attempt = await _push(channels)
    await channels.pos.app[BACKGROUND].wait()  # declined: the terminal is free again
    response = await _post_result(channels, _result(attempt["id"], "approved"))
    assert (response.status, (await response.json())["code"]) == (409, "terminal_not_busy")
    assert (await channels.payment(payment["id"]))["status"] == "pending"
    assert (await channels.payment_attempt(payment["id"], attempt["id"]))["status"] == "failed"


async def test_replayed_callback_is_acknowledged_once(channels: Channels) -> None:
    await _script(channels, "T-HCM-1", "no_answer")
    payment, attempt = await _push(channels)
    body = _result(attempt["id"])
    first = await _post_result(channels, body)
    second = await _post_result(channels, body)
    assert (await first.json())["outcome"] == "applied"
    assert (second.status, (await second.json())["outcome"]) == (200, "duplicate")
    assert (await channels.payment(payment["id"]))["status"] == "paid"


async def test_card_payment_of_another_amount_is_answered_409_and_put_up_for_review(
    channels: Channels,
) -> None:
    await _script(channels, "T-HCM-1", "no_answer")
    payment, attempt = await _push(channels)
    response = await _post_result(channels, _result(attempt["id"], amount=1000))
    assert (response.status, (await response.json())["code"]) == (409, "amount_mismatch")
    bill = await channels.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "amount_mismatch")
    taken = await channels.payment_attempt(payment["id"], attempt["id"])
    assert (taken["status"], taken["review_reason"]) == ("succeeded", "amount_mismatch")
    async with channels.client.app[DATABASE].read() as conn:
        [event] = (await conn.execute(select(provider_events))).all()
    assert (event.outcome, event.reason) == ("needs_review", "amount_mismatch")


async def _sandbox_sales(channels: Channels) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        response = await session.get(channels.pos.make_url("/sandbox/sales"))
        return list(await response.json())


async def _close_bill(channels: Channels, payment_id: str, how: str) -> None:
    """The bill closes while the terminal still waits for the card."""
    if how == "expired":
        channels.clock.advance(minutes=16)
        assert (await channels.payment(payment_id))["status"] == "expired"  # swept when read
    else:
        response = await channels.client.post(
            f"/v1/payments/{payment_id}/cancel", headers=channels.auth()
        )
        assert (response.status, (await response.json())["status"]) == (200, "cancelled")


async def _outbox(channels: Channels) -> list[dict[str, Any]]:
    """The events of the one payment, in order, as their deliveries send them."""
    async with channels.client.app[DATABASE].read() as conn:
        bodies = await conn.execute(select(outbox_events.c.body).order_by(outbox_events.c.sequence))
        return [json.loads(body) for body in bodies.scalars()]


async def _terminal_busy(channels: Channels, terminal: str) -> bool:
    listing = await (await channels.client.get("/v1/terminals", headers=channels.auth())).json()
    return bool(next(t for t in listing["data"] if t["terminal_id"] == terminal)["busy"])


async def test_card_charged_before_the_bill_was_cancelled_is_found_and_put_up_for_review(
    channels: Channels,
) -> None:
    """The card was faster than the portal: approved, but its callback lost, when the bill is
    cancelled. The terminal can no longer stop the sale; the janitor's query finds the money,
    and the cancelled bill goes to review instead of the money being lost."""
    await _script(channels, "T-HCM-1", "no_answer")
    payment, attempt = await _push(channels)
    await _complete_without_callback(channels, "T-HCM-1")
    await _close_bill(channels, payment["id"], "cancelled")
    assert (await channels.payment_attempt(payment["id"], attempt["id"]))["status"] == "cancelled"
    channels.clock.advance(seconds=121)
    await channels.client.app[POLLER].run_once()
    bill = await channels.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "paid_after_cancellation")
    taken = await channels.payment_attempt(payment["id"], attempt["id"])
    assert (taken["status"], taken["review_reason"]) == ("succeeded", "paid_after_cancellation")
    assert not await _terminal_busy(channels, "T-HCM-1")


@pytest.mark.parametrize(("closed", "reason"), [("expired", "paid_after_expiry")])
async def test_card_charged_while_the_bill_closed_is_recorded_for_review_and_acknowledged(
    channels: Channels, closed: str, reason: str
) -> None:
    await _script(channels, "T-HCM-1", "no_answer")
    payment, attempt = await _push(channels)
    await _close_bill(channels, payment["id"], closed)
    assert (await channels.payment_attempt(payment["id"], attempt["id"]))["status"] == closed

    # The citizen's card is charged all the same; the cloud calls back.
    await _cloud(channels, "/sandbox/terminals/T-HCM-1/complete", {"outcome": "approve"})

    [sale] = await _sandbox_sales(channels)
    assert (sale["status"], sale["deliveries"]) == ("approved", [200])  # no retries needed
    bill = await channels.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("needs_review", reason)
    taken = await channels.payment_attempt(payment["id"], attempt["id"])
    assert (taken["status"], taken["review_reason"]) == ("succeeded", reason)
    assert taken["provider_transaction_id"] == sale["rrn"] == taken["details"]["rrn"]
    events = await _outbox(channels)
    assert [e["type"] for e in events] == [f"payment.{closed}", "payment.needs_review"]
    assert events[-1]["data"]["payment"]["review_reason"] == reason
    async with channels.client.app[DATABASE].read() as conn:
        [event] = (await conn.execute(select(provider_events))).all()
    assert (event.outcome, event.reason) == ("needs_review", None)
    assert not await _terminal_busy(channels, "T-HCM-1")  # its sale is over


async def test_card_charged_after_another_channel_paid_the_bill_is_a_duplicate_to_refund(
    channels: Channels,
) -> None:
    await _script(channels, "T-HCM-1", "no_answer")
    payment, attempt = await _push(channels)
    body, headers = signed_notice(payment, int(channels.clock().timestamp()))
    paid = await channels.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert paid.status == 200
    assert (await channels.payment_attempt(payment["id"], attempt["id"]))["status"] == "cancelled"

    await _cloud(channels, "/sandbox/terminals/T-HCM-1/complete", {"outcome": "approve"})

    [sale] = await _sandbox_sales(channels)
    assert sale["deliveries"] == [200]
    bill = await channels.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("paid", None)
    taken = await channels.payment_attempt(payment["id"], attempt["id"])
    assert (taken["status"], taken["review_reason"]) == ("succeeded", "duplicate_payment")
    events = await _outbox(channels)
    assert [e["type"] for e in events] == ["payment.paid", "attempt.needs_review"]
    assert events[-1]["data"]["attempt"]["id"] == attempt["id"]


async def test_a_late_decline_for_a_sale_closed_with_its_bill_changes_nothing(
    channels: Channels,
) -> None:
    await _script(channels, "T-HCM-1", "no_answer")
    payment, attempt = await _push(channels)
    await _close_bill(channels, payment["id"], "expired")
    assert await _terminal_busy(channels, "T-HCM-1")  # the cloud still runs the sale

    await _cloud(channels, "/sandbox/terminals/T-HCM-1/complete", {"outcome": "time_out"})

    [sale] = await _sandbox_sales(channels)
    assert (sale["status"], sale["deliveries"]) == ("timed_out", [200])
    assert (await channels.payment(payment["id"]))["status"] == "expired"
    closed = await channels.payment_attempt(payment["id"], attempt["id"])
    assert (closed["status"], closed["failure_code"]) == ("expired", None)
    assert [e["type"] for e in await _outbox(channels)] == ["payment.expired"]
    async with channels.client.app[DATABASE].read() as conn:
        [event] = (await conn.execute(select(provider_events))).all()
    assert (event.outcome, event.payment_id) == ("already_final", payment["id"])
    assert not await _terminal_busy(channels, "T-HCM-1")  # free for the next citizen


async def test_card_refund_is_completed_by_finance_staff(channels: Channels) -> None:
    await _script(channels, "T-HCM-1", "approve")
    payment, _ = await _push(channels)
    await channels.pos.app[BACKGROUND].wait()
    response = await channels.client.post(
        f"/v1/payments/{payment['id']}/refunds",
        json={"amount": 185000, "reason": "Hồ sơ bị từ chối"},
        headers={**channels.auth(), "Idempotency-Key": uuid.uuid4().hex},
    )
    refund = await response.json()
    assert (response.status, refund["status"]) == (201, "pending")  # no POS refund API

    portal_try = await channels.client.post(
        f"/v1/refunds/{refund['id']}/complete",
        json={"status": "succeeded"},
        headers=channels.auth(),
    )
    assert portal_try.status == 403
    done = await complete_refund(channels, refund["id"], "succeeded", "RF-001")
    assert done["status"] == "succeeded"
    assert (await channels.payment(payment["id"]))["status"] == "refunded"
    again = await channels.client.post(
        f"/v1/refunds/{refund['id']}/complete",
        json={"status": "failed"},
        headers=channels.auth("finance"),
    )
    assert again.status == 409


async def test_a_result_after_money_of_another_amount_does_not_settle_the_review(
    channels: Channels,
) -> None:
    await _script(channels, "T-HCM-1", "no_answer")
    payment, attempt = await _push(channels)
    wrong = await _post_result(channels, _result(attempt["id"], amount=1000))
    assert wrong.status == 409
    again = await _post_result(channels, _result(attempt["id"], amount=1000))
    assert (again.status, (await again.json())["code"]) == (409, "amount_mismatch")  # same answer
    other = await _post_result(channels, _result(attempt["id"]))
    assert (other.status, (await other.json())["code"]) == (409, "terminal_not_busy")
    bill = await channels.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "amount_mismatch")


async def test_a_bank_transfer_attempt_cannot_be_cancelled(channels: Channels) -> None:
    payment = await channels.create_payment()
    listing = await channels.client.get(
        f"/v1/payments/{payment['id']}/attempts", headers=channels.auth()
    )
    [vietqr] = (await listing.json())["data"]
    response = await channels.client.post(
        f"/v1/payments/{payment['id']}/attempts/{vietqr['id']}/cancel", headers=channels.auth()
    )
    assert (response.status, (await response.json())["code"]) == (409, "invalid_transition")


async def test_cancel_when_the_pos_cloud_is_down_is_503_and_changes_nothing(
    channels: Channels,
) -> None:
    await _script(channels, "T-HCM-1", "no_answer")
    payment, attempt = await _push(channels)
    await channels.pos.close()  # the cloud goes away
    response = await channels.client.post(
        f"/v1/payments/{payment['id']}/attempts/{attempt['id']}/cancel", headers=channels.auth()
    )
    assert (response.status, (await response.json())["code"]) == (503, "provider_unavailable")
    assert (await channels.payment_attempt(payment["id"], attempt["id"]))["status"] == "pending"


async def test_paid_payments_are_counted_by_channel_in_metrics(channels: Channels) -> None:
    await _script(channels, "T-HCM-1", "approve")
    await _push(channels)
    await channels.pos.app[BACKGROUND].wait()
    metrics = await (await channels.client.get("/metrics", headers=METRICS_AUTH)).text()
    assert 'gateway_payments_paid_total{channel="pos"} 1.0' in metrics
