"""A refunded payment keeps its receipt, with the refund recorded against it; and the receipt
and the refund agree on which attempt's money paid the bill (one rule,
``gateway.core.money.paying_attempt``)."""

from __future__ import annotations

import uuid
from typing import Any

import receipt_support
from conftest import Channels
from receipt_support import receipts_of
from tests_support import complete_refund, signed_notice

from gateway.core.money import paying_attempt
from gateway.keys import DATABASE

#: The gateway issuing receipts for HCM (the shared fixture).
receipting = receipt_support.receipting


async def transfer(gateway: Channels, payment: dict[str, Any], **notice: Any) -> None:
    body, headers = signed_notice(payment, int(gateway.clock().timestamp()), **notice)
    response = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert response.status == 200, await response.text()


async def refund(gateway: Channels, payment_id: str, amount: int) -> Any:
    response = await gateway.client.post(
        f"/v1/payments/{payment_id}/refunds",
        json={"amount": amount, "reason": "Hồ sơ bị từ chối"},
        headers={**gateway.auth("finance"), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status == 201, await response.text()
    return await response.json()


async def test_a_refunded_payment_keeps_its_receipt_and_shows_the_refund_against_it(
    receipting: Channels,
) -> None:
    payment = await receipting.create_payment()
    await transfer(receipting, payment)
    receipting.clock.advance(hours=1)

    made = await refund(receipting, payment["id"], 185_000)
    await complete_refund(receipting, made["id"], "succeeded", "RF-001")

    assert (await receipting.payment(payment["id"]))["status"] == "refunded"
    [receipt] = await receipts_of(receipting, payment["id"])
    assert (receipt["status"], receipt["number"], receipt["amount"]) == ("issued", 1, 185_000)
    assert [(r["id"], r["amount"], r["status"]) for r in receipt["refunds"]] == [
        (made["id"], 185_000, "succeeded")
    ]
    page = await receipting.client.get(
        receipt["view_url"].removeprefix(str(receipting.client.make_url("")).rstrip("/"))
    )
    html = await page.text()
    assert "Đã hoàn tiền" in html and "185.000" in html


async def test_the_refund_goes_back_through_the_attempt_whose_money_came_first(
    receipting: Channels,
) -> None:
    payment = await receipting.create_payment()
    await transfer(receipting, payment, amount=1_000, transaction_id="FTFIRST0001")
    receipting.clock.advance(minutes=1)
    await transfer(receipting, payment, transaction_id="FTSECOND002")  # both need review

    made = await refund(receipting, payment["id"], 1_000)

    async with receipting.client.app[DATABASE].read() as conn:
        paid_by = await paying_attempt(conn, payment["id"])
    assert paid_by is not None
    assert paid_by.provider_transaction_id == "FTFIRST0001"
    assert made["attempt_id"] == paid_by.id
