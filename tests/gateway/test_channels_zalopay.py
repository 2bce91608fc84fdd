"""ZaloPay end to end through the real sandbox: create order, callback (success only), query
for failures and lost callbacks, refunds, and every way a callback can be wrong
(``specs/momo-zalopay.md`` §B)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import ZALOPAY_SETTINGS, Wallets
from sqlalchemy import select
from structlog.testing import capture_logs
from tests_support import inbox_refuses_writes

from gateway.core.db.schema import outbox_events, provider_events
from gateway.keys import DATABASE, POLLER
from providers.sandbox.zalopay import CONFIG, ORDERS, REFUNDS, SWITCHES, callback_body

KEY2 = str(ZALOPAY_SETTINGS["key2"])


async def _callback(wallets: Wallets, body: dict[str, Any] | bytes) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await wallets.client.post(
        "/callbacks/zalopay", data=data, headers={"Content-Type": "application/json"}
    )
    return response.status, await response.json()


def _callback_for(wallets: Wallets, attempt: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A callback about ``attempt`` signed with key2 after ``changes`` to its data."""
    sandbox = wallets.zalopay.app
    order = sandbox[ORDERS][attempt["provider_reference"]]
    order.zp_trans_id = order.zp_trans_id or 240000000001
    data = json.loads(callback_body(sandbox[CONFIG], order)["data"])
    data.update(changes)
    text = json.dumps(data, separators=(",", ":"))
    mac = hmac.new(KEY2.encode(), text.encode(), hashlib.sha256).hexdigest()
    return {"data": text, "mac": mac, "type": 1}


async def _stored(wallets: Wallets) -> list[tuple[str, str | None]]:
    async with wallets.client.app[DATABASE].read() as conn:
        rows = (
            await conn.execute(
                select(provider_events)
                .where(provider_events.c.provider == "zalopay")
                .order_by(provider_events.c.id)
            )
        ).all()
    return [(row.outcome, row.reason) for row in rows]


async def _simulate(wallets: Wallets, attempt: dict[str, Any], outcome: str, **extra: Any) -> Any:
    status, order = await wallets.sandbox(
        wallets.zalopay,
        "/simulate",
        app_trans_id=attempt["provider_reference"],
        outcome=outcome,
        **extra,
    )
    assert status == 200, order
    return order


async def test_app_trans_id_starts_with_the_vietnam_date(wallets: Wallets) -> None:
    # 2026-11-22 17:30 UTC is already 2026-11-23 in Vietnam.
    wallets.clock.now = datetime(2026, 11, 22, 17, 30, tzinfo=UTC)
    payment, attempt = await wallets.start("zalopay")

    assert attempt["status"] == "pending"
    assert attempt["provider_reference"].startswith("261123_")
    assert len(attempt["provider_reference"]) <= 40
    assert "/pay?apptransid=" in attempt["next_action"]["url"]
    order = wallets.zalopay.app[ORDERS][attempt["provider_reference"]]
    assert order.amount == payment["amount"]


async def test_successful_zalopay_payment_is_called_back_and_marks_the_bill_paid(
    wallets: Wallets,
) -> None:
    payment, attempt = await wallets.start("zalopay")
    order = await _simulate(wallets, attempt, "success")

    assert order["callback_replies"] == [1]
    assert (await wallets.payment(payment["id"]))["status"] == "paid"
    done = await wallets.payment_attempt(payment["id"], attempt["id"])
    assert (done["status"], done["provider_transaction_id"]) == (
        "succeeded",
        str(order["zp_trans_id"]),
    )


@pytest.mark.parametrize(
    ("outcome", "code"), [("failure", "zalopay_-54"), ("cancel", "zalopay_-329")]
)
async def test_a_failure_has_no_callback_and_is_found_by_the_janitor(
    wallets: Wallets, outcome: str, code: str
) -> None:
    payment, attempt = await wallets.start("zalopay")
    order = await _simulate(wallets, attempt, outcome)
    assert order["callback_replies"] == []  # ZaloPay calls back on success only

    wallets.clock.advance(seconds=61)
    assert await wallets.client.app[POLLER].run_once() == 1
    failed = await wallets.payment_attempt(payment["id"], attempt["id"])
    assert (failed["status"], failed["failure_code"]) == ("failed", code)
    assert (await wallets.payment(payment["id"]))["status"] == "pending"


async def test_lost_callback_is_made_up_for_by_the_janitors_query(wallets: Wallets) -> None:
    payment, attempt = await wallets.start("zalopay")
    await _simulate(wallets, attempt, "success", lose_callback=True)
    poller = wallets.client.app[POLLER]
    assert await poller.run_once() == 0  # inside the callback window
    wallets.clock.advance(seconds=61)
    assert await poller.run_once() == 1
    assert (await wallets.payment(payment["id"]))["status"] == "paid"


async def test_an_abandoned_order_stays_pending_then_expires(wallets: Wallets) -> None:
    payment, attempt = await wallets.start("zalopay")  # the citizen never pays
    poller = wallets.client.app[POLLER]
    wallets.clock.advance(seconds=61)
    await poller.run_once()
    assert (await wallets.payment_attempt(payment["id"], attempt["id"]))["status"] == "pending"
    wallets.clock.advance(minutes=25)
    await poller.run_once()
    assert (await wallets.payment_attempt(payment["id"], attempt["id"]))["status"] == "expired"


async def test_replayed_callback_is_answered_2_and_applied_once(wallets: Wallets) -> None:
    payment, attempt = await wallets.start("zalopay")
    await _simulate(wallets, attempt, "success")
    order = wallets.zalopay.app[ORDERS][attempt["provider_reference"]]
    again = callback_body(wallets.zalopay.app[CONFIG], order)
    assert await _callback(wallets, again) == (
        200,
        {"return_code": 2, "return_message": "duplicate"},
    )
    assert await _stored(wallets) == [("applied", None)]
    assert (await wallets.payment(payment["id"]))["status"] == "paid"


async def test_a_success_callback_for_an_attempt_zalopay_called_failed_is_put_up_for_review(
    wallets: Wallets,
) -> None:
    """ZaloPay's query said cancelled, then its signed callback says paid: the money is
    real, so the attempt moves to ``succeeded``, once, for a person
    (``succeeded_after_failure``)."""
    payment, attempt = await wallets.start("zalopay")
    await _simulate(wallets, attempt, "cancel")
    wallets.clock.advance(seconds=61)
    await wallets.client.app[POLLER].run_once()
    assert (await wallets.payment_attempt(payment["id"], attempt["id"]))["status"] == "failed"

    status, reply = await _callback(wallets, _callback_for(wallets, attempt))
    assert (status, reply["return_code"]) == (200, 1)
    paid = await wallets.payment_attempt(payment["id"], attempt["id"])
    assert (paid["status"], paid["review_reason"]) == ("succeeded", "succeeded_after_failure")
    bill = await wallets.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "succeeded_after_failure")
    assert await _stored(wallets) == [("needs_review", None)]
    status, reply = await _callback(wallets, _callback_for(wallets, attempt))  # ZaloPay retries
    assert (status, reply["return_code"]) == (200, 2)


@pytest.mark.parametrize(
    ("tamper", "return_code", "message"),
    [
        ("data_changed", -1, "mac_invalid"),
        ("upper_case_mac", -1, "mac_invalid"),
        ("key1_instead_of_key2", -1, "mac_invalid"),
        ("missing_mac", -1, "mac_invalid"),
        ("unknown_app", -1, "unknown_app"),
        ("data_not_a_string", -1, "malformed"),
        ("not_json", -1, "malformed"),
        ("deeply_nested_data", -1, "malformed"),
        ("nul_character", -1, "malformed"),
        ("unknown_order", 2, "not_found"),
        ("another_amount", 2, "amount_mismatch"),
    ],
)
async def test_bad_callback_gets_a_stable_code_and_pays_nothing(
    wallets: Wallets, tamper: str, return_code: int, message: str
) -> None:
    payment, attempt = await wallets.start("zalopay")
    body: dict[str, Any] | bytes = _callback_for(wallets, attempt)
    assert isinstance(body, dict)
    if tamper == "data_changed":
        body["data"] = body["data"].replace(f'"amount":{attempt["amount"]}', '"amount":1000')
    elif tamper == "upper_case_mac":
        body["mac"] = body["mac"].upper()
    elif tamper == "key1_instead_of_key2":
        key1 = str(ZALOPAY_SETTINGS["key1"]).encode()
        body["mac"] = hmac.new(key1, body["data"].encode(), hashlib.sha256).hexdigest()
    elif tamper == "missing_mac":
        del body["mac"]
    elif tamper == "unknown_app":
        body = _callback_for(wallets, attempt, app_id=9999)
    elif tamper == "data_not_a_string":
        body["data"] = json.loads(body["data"])
    elif tamper == "not_json":
        body = b"data=1&mac=2"
    elif tamper == "deeply_nested_data":
        body["data"] = "[" * 2000 + "]" * 2000
    elif tamper == "nul_character":
        body = _callback_for(wallets, attempt, item='["\x00"]')
    elif tamper == "unknown_order":
        body = _callback_for(wallets, attempt, app_trans_id="261122_NOSUCHORDER")
    elif tamper == "another_amount":
        body = _callback_for(wallets, attempt, amount=attempt["amount"] - 1000)

    status, reply = await _callback(wallets, body)
    assert (status, reply) == (200, {"return_code": return_code, "return_message": message})
    bill = await wallets.payment(payment["id"])
    assert bill["status"] == ("needs_review" if tamper == "another_amount" else "pending")


async def test_oversized_callback_is_refused_in_zalopays_shape(wallets: Wallets) -> None:
    """Refused while read (nothing stored) and answered as ZaloPay reads answers: -1, no retry."""
    _, attempt = await wallets.start("zalopay")
    body = _callback_for(wallets, attempt, embed_data="x" * 70_000)
    status, answer = await _callback(wallets, body)
    assert (status, answer) == (200, {"return_code": -1, "return_message": "payload_too_large"})
    assert await _stored(wallets) == []


async def test_zalopay_refund_is_confirmed_by_the_refund_query(wallets: Wallets) -> None:
    payment, attempt = await wallets.start("zalopay")
    await _simulate(wallets, attempt, "success")
    response = await wallets.client.post(
        f"/v1/payments/{payment['id']}/refunds",
        json={"amount": payment["amount"], "reason": "Hồ sơ bị từ chối"},
        headers={**wallets.auth(), "Idempotency-Key": uuid.uuid4().hex},
    )
    refund = await response.json()
    assert (response.status, refund["status"]) == (201, "succeeded")
    assert (await wallets.payment(payment["id"]))["status"] == "refunded"
    assert wallets.zalopay.app[ORDERS][attempt["provider_reference"]].refunded == payment["amount"]


async def test_a_refund_still_processing_is_asked_about_by_the_janitor_until_final(
    wallets: Wallets,
) -> None:
    payment, attempt = await wallets.start("zalopay")
    await _simulate(wallets, attempt, "success")
    wallets.zalopay.app[SWITCHES].processing_refund_queries = 2  # the bank takes its time
    response = await wallets.client.post(
        f"/v1/payments/{payment['id']}/refunds",
        json={"amount": payment["amount"], "reason": "Hồ sơ bị từ chối"},
        headers={**wallets.auth(), "Idempotency-Key": uuid.uuid4().hex},
    )
    refund = await response.json()
    assert (response.status, refund["status"]) == (201, "pending")
    janitor = wallets.client.app[POLLER]

    async def refund_now() -> dict[str, Any]:
        got = await wallets.client.get(f"/v1/refunds/{refund['id']}", headers=wallets.auth())
        return dict(await got.json())

    assert await janitor.run_once() == 0  # inside ZaloPay's callback window: not yet
    wallets.clock.advance(seconds=61)
    assert await janitor.run_once() == 1  # asked: still processing
    assert (await refund_now())["status"] == "pending"
    assert await janitor.run_once() == 0  # the back-off: not asked again at once
    wallets.clock.advance(seconds=61)
    assert await janitor.run_once() == 1  # asked again: refunded

    assert (await refund_now())["status"] == "succeeded"
    assert (await wallets.payment(payment["id"]))["status"] == "refunded"
    wallets.clock.advance(hours=2)
    assert await janitor.run_once() == 0  # final: never asked again
    async with wallets.client.app[DATABASE].read() as conn:
        types = (await conn.execute(select(outbox_events.c.type))).scalars().all()
    assert types.count("refund.succeeded") == 1


async def test_a_retried_refund_request_is_not_sent_to_zalopay_again(wallets: Wallets) -> None:
    """The portal retries with the same key (our answer timed out): the pending refund is
    shown as it stands, never sent a second time — the next day it would carry another
    m_refund_id and ZaloPay would refund twice."""
    payment, attempt = await wallets.start("zalopay")
    await _simulate(wallets, attempt, "success")
    wallets.zalopay.app[SWITCHES].processing_refund_queries = 1
    key = uuid.uuid4().hex
    body = {"amount": 50000, "reason": "Hoàn một phần lệ phí"}
    url = f"/v1/payments/{payment['id']}/refunds"
    first = await wallets.client.post(
        url, json=body, headers={**wallets.auth(), "Idempotency-Key": key}
    )
    assert (first.status, (await first.json())["status"]) == (201, "pending")
    wallets.clock.advance(days=1)  # the retry lands after midnight in Vietnam
    again = await wallets.client.post(
        url, json=body, headers={**wallets.auth(), "Idempotency-Key": key}
    )
    assert again.status == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert (await again.json())["id"] == (await first.json())["id"]
    assert len(wallets.zalopay.app[REFUNDS]) == 1


async def test_a_database_failure_is_answered_0_so_zalopay_sends_it_again(
    wallets: Wallets,
) -> None:
    """§B.4: 0 asks ZaloPay to retry (never a 500); its next try pays the bill once."""
    payment, attempt = await wallets.start("zalopay")
    body = _callback_for(wallets, attempt)

    with capture_logs() as logs:
        async with inbox_refuses_writes(wallets.client.app[DATABASE]):
            status, reply = await _callback(wallets, body)

    assert (status, reply) == (200, {"return_code": 0, "return_message": "internal_error"})
    assert [e["code"] for e in logs if e["event"] == "callback_failed"] == ["internal_error"]
    assert await _stored(wallets) == []
    assert (await wallets.payment(payment["id"]))["status"] == "pending"

    status, reply = await _callback(wallets, body)  # ZaloPay's next try

    assert (status, reply) == (200, {"return_code": 1, "return_message": "success"})
    assert (await wallets.payment(payment["id"]))["status"] == "paid"
    assert await _stored(wallets) == [("applied", None)]
