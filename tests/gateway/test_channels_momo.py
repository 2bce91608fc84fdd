"""MoMo end to end through the real sandbox: redirect, IPN (HTTP 204), query, refunds, and
every way an IPN can be wrong (``specs/momo-zalopay.md`` §A)."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import MOMO_SETTINGS, Wallets
from sqlalchemy import select

from gateway.core.db.schema import provider_events
from gateway.keys import DATABASE, POLLER
from providers.payment.momo import SIGNED_FIELDS, raw_signature, sign
from providers.sandbox.momo import CONFIG, ORDERS, ipn_body

SECRET = str(MOMO_SETTINGS["secret_key"])


async def _ipn(wallets: Wallets, body: dict[str, Any] | bytes) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await wallets.client.post(
        "/callbacks/momo/ipn", data=data, headers={"Content-Type": "application/json"}
    )


def _ipn_for(wallets: Wallets, attempt: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A correctly signed IPN about ``attempt`` (success unless changed), re-signed after
    ``changes``."""
    sandbox = wallets.momo.app
    order = sandbox[ORDERS][attempt["provider_reference"]]
    body = ipn_body(sandbox[CONFIG], order)
    body.update({"resultCode": 0, "transId": 4100000001, "message": "Thành công."})
    body.update(changes)
    fields = {**body, "accessKey": MOMO_SETTINGS["access_key"]}
    body["signature"] = sign(SECRET, raw_signature(fields, SIGNED_FIELDS["ipn"]))
    return body


async def _stored(wallets: Wallets) -> list[tuple[str, str | None]]:
    async with wallets.client.app[DATABASE].read() as conn:
        rows = (
            await conn.execute(
                select(provider_events)
                .where(provider_events.c.provider == "momo")
                .order_by(provider_events.c.id)
            )
        ).all()
    return [(row.outcome, row.reason) for row in rows]


async def test_momo_attempt_redirects_to_momos_page_with_a_signed_create(wallets: Wallets) -> None:
    payment, attempt = await wallets.start("momo")

    assert (attempt["status"], attempt["method"]) == ("pending", "momo")
    url = urlsplit(attempt["next_action"]["url"])
    assert url.path.endswith("/pay")
    assert dict(parse_qsl(url.query)) == {"orderId": attempt["provider_reference"]}
    order = wallets.momo.app[ORDERS][attempt["provider_reference"]]
    assert (order.amount, order.request_id) == (payment["amount"], attempt["id"])
    assert order.ipn_url.endswith("/callbacks/momo/ipn") and "?" not in order.ipn_url


async def test_successful_momo_payment_marks_the_bill_paid(wallets: Wallets) -> None:
    payment, attempt = await wallets.start("momo")
    status, order = await wallets.sandbox(
        wallets.momo, "/simulate", order_id=attempt["provider_reference"], outcome="success"
    )

    assert status == 200 and order["ipn_statuses"] == [204]
    assert (await wallets.payment(payment["id"]))["status"] == "paid"
    done = await wallets.payment_attempt(payment["id"], attempt["id"])
    assert done["status"] == "succeeded"
    assert done["provider_transaction_id"] == str(order["trans_id"])


@pytest.mark.parametrize(("outcome", "code"), [("failure", "momo_1001"), ("cancel", "momo_1006")])
async def test_failed_or_cancelled_momo_payment_keeps_the_bill_open(
    wallets: Wallets, outcome: str, code: str
) -> None:
    payment, attempt = await wallets.start("momo")
    await wallets.sandbox(
        wallets.momo, "/simulate", order_id=attempt["provider_reference"], outcome=outcome
    )
    assert (await wallets.payment(payment["id"]))["status"] == "pending"
    failed = await wallets.payment_attempt(payment["id"], attempt["id"])
    assert (failed["status"], failed["failure_code"]) == ("failed", code)


@pytest.mark.parametrize("code", [1000, 7000, 7002, 9000])
async def test_a_pending_code_is_pending_not_a_failure(wallets: Wallets, code: int) -> None:
    payment, attempt = await wallets.start("momo")
    response = await _ipn(wallets, _ipn_for(wallets, attempt, resultCode=code))
    assert response.status == 204
    assert (await wallets.payment_attempt(payment["id"], attempt["id"]))["status"] == "pending"
    assert (await wallets.payment(payment["id"]))["status"] == "pending"


async def test_lost_ipn_is_made_up_for_by_the_janitors_query(wallets: Wallets) -> None:
    payment, attempt = await wallets.start("momo")
    await wallets.sandbox(
        wallets.momo,
        "/simulate",
        order_id=attempt["provider_reference"],
        outcome="success",
        lose_ipn=True,
    )
    assert (await wallets.payment(payment["id"]))["status"] == "pending"
    poller = wallets.client.app[POLLER]
    assert await poller.run_once() == 0  # inside MoMo's callback window
    wallets.clock.advance(seconds=121)
    assert await poller.run_once() == 1
    assert (await wallets.payment(payment["id"]))["status"] == "paid"


async def test_replayed_ipn_is_answered_204_and_applied_once(wallets: Wallets) -> None:
    payment, attempt = await wallets.start("momo")
    await wallets.sandbox(
        wallets.momo, "/simulate", order_id=attempt["provider_reference"], outcome="success"
    )
    _, order = await wallets.sandbox(
        wallets.momo, "/resend_ipn", order_id=attempt["provider_reference"]
    )
    assert order["ipn_statuses"] == [204, 204]
    assert await _stored(wallets) == [("applied", None)]
    assert (await wallets.payment(payment["id"]))["status"] == "paid"


async def test_a_late_failure_for_a_paid_attempt_changes_nothing(wallets: Wallets) -> None:
    payment, attempt = await wallets.start("momo")
    await wallets.sandbox(
        wallets.momo, "/simulate", order_id=attempt["provider_reference"], outcome="success"
    )
    late = _ipn_for(wallets, attempt, resultCode=1006, transId=0)
    assert (await _ipn(wallets, late)).status == 204
    assert (await wallets.payment(payment["id"]))["status"] == "paid"
    assert (await _stored(wallets))[-1] == ("already_final", None)


def _reordered(wallets: Wallets, attempt: dict[str, Any]) -> dict[str, Any]:
    body = _ipn_for(wallets, attempt)
    fields = {**body, "accessKey": MOMO_SETTINGS["access_key"]}
    names = list(reversed(SIGNED_FIELDS["ipn"]))  # not MoMo's alphabetical order
    raw = "&".join(f"{name}={fields.get(name, '')}" for name in names)
    return {**body, "signature": sign(SECRET, raw)}


@pytest.mark.parametrize(
    ("tamper", "status", "code"),
    [
        ("amount", 401, "signature_invalid"),
        ("wrong_secret", 401, "signature_invalid"),
        ("upper_case_signature", 401, "signature_invalid"),
        ("reordered_signature", 401, "signature_invalid"),
        ("missing_signature", 401, "signature_invalid"),
        ("unknown_partner", 401, "unknown_partner"),
        ("not_json", 400, "malformed"),
        ("amount_as_text", 400, "malformed"),
        ("deeply_nested", 400, "malformed"),
        ("nul_character", 400, "malformed"),
        ("unknown_order", 404, "not_found"),
    ],
)
async def test_bad_ipn_is_refused_with_a_stable_code_and_changes_nothing(
    wallets: Wallets, tamper: str, status: int, code: str
) -> None:
    payment, attempt = await wallets.start("momo")
    body: dict[str, Any] | bytes = _ipn_for(wallets, attempt)
    assert isinstance(body, dict)
    if tamper == "amount":
        body["amount"] = 1000
    elif tamper == "wrong_secret":
        fields = {**body, "accessKey": MOMO_SETTINGS["access_key"]}
        body["signature"] = sign("guessed", raw_signature(fields, SIGNED_FIELDS["ipn"]))
    elif tamper == "upper_case_signature":
        body["signature"] = body["signature"].upper()
    elif tamper == "reordered_signature":
        body = _reordered(wallets, attempt)
    elif tamper == "missing_signature":
        del body["signature"]
    elif tamper == "unknown_partner":
        body["partnerCode"] = "SOMEONEELSE"
    elif tamper == "not_json":
        body = b"partnerCode=TESTMOMO&amount=1"
    elif tamper == "deeply_nested":
        body = b'{"partnerCode": "TESTMOMO", "x": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    elif tamper == "nul_character":
        body = _ipn_for(wallets, attempt, orderInfo="Thanh to\x00n")
    elif tamper == "amount_as_text":
        body = _ipn_for(wallets, attempt, amount=str(attempt["amount"]))
    elif tamper == "unknown_order":
        body = _ipn_for(wallets, attempt, orderId="NOSUCHORDER")

    response = await _ipn(wallets, body)
    assert response.status == status
    assert response.content_type == "application/problem+json"
    assert (await response.json())["code"] == code
    assert (await wallets.payment(payment["id"]))["status"] == "pending"
    assert (await wallets.payment_attempt(payment["id"], attempt["id"]))["status"] == "pending"


async def test_oversized_ipn_is_refused_413(wallets: Wallets) -> None:
    _, attempt = await wallets.start("momo")
    body = _ipn_for(wallets, attempt, extraData="x" * 70_000)
    response = await _ipn(wallets, body)
    assert (response.status, (await response.json())["code"]) == (413, "payload_too_large")
    assert await _stored(wallets) == []


async def test_another_amount_is_kept_for_review_and_refused_409_also_on_replay(
    wallets: Wallets,
) -> None:
    payment, attempt = await wallets.start("momo")
    short = _ipn_for(wallets, attempt, amount=attempt["amount"] - 1000)
    for _ in range(2):
        response = await _ipn(wallets, short)
        assert (response.status, (await response.json())["code"]) == (409, "amount_mismatch")
    bill = await wallets.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "amount_mismatch")
    assert await _stored(wallets) == [("needs_review", "amount_mismatch")]


async def test_momo_refunds_through_the_refund_api(wallets: Wallets) -> None:
    payment, attempt = await wallets.start("momo")
    await wallets.sandbox(
        wallets.momo, "/simulate", order_id=attempt["provider_reference"], outcome="success"
    )

    async def refund(amount: int) -> tuple[int, dict[str, Any]]:
        response = await wallets.client.post(
            f"/v1/payments/{payment['id']}/refunds",
            json={"amount": amount, "reason": "Nộp thừa"},
            headers={**wallets.auth(), "Idempotency-Key": uuid.uuid4().hex},
        )
        return response.status, await response.json()

    status, first = await refund(50000)
    assert (status, first["status"]) == (201, "succeeded")
    assert (await wallets.payment(payment["id"]))["status"] == "partially_refunded"
    status, rest = await refund(135000)
    assert (status, rest["status"]) == (201, "succeeded")
    assert (await wallets.payment(payment["id"]))["status"] == "refunded"
    order = wallets.momo.app[ORDERS][attempt["provider_reference"]]
    assert order.refunded == payment["amount"]
