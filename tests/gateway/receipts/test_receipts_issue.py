"""Receipts issued the moment a payment becomes paid, through every channel: one per payment
(or one for phí and one for lệ phí), numbered from the point of collection's range, signed,
announced, and never twice for the same bill."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from conftest import Channels, FixedClock
from receipt_support import (
    TAX_CODE,
    Identity,
    event_types,
    identity,  # noqa: F401 — a fixture
    open_receipting,
    receipt_xml,
    receipts_of,
)
from tests_support import pay_at_vnpay, signed_notice

from gateway.keys import METRICS
from providers.receipts.signer import verify_xml
from providers.sandbox.pos import BACKGROUND

__all__ = ["identity"]


@pytest.fixture
async def receipting(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
    identity: Identity,  # noqa: F811
) -> Any:
    opened = await open_receipting(
        aiohttp_server, database_url, clock, unused_tcp_port_factory(), identity
    )
    yield opened
    await opened.client.close()


async def pay_by_transfer(gateway: Channels, payment: dict[str, Any], **notice: Any) -> Any:
    body, headers = signed_notice(payment, int(gateway.clock().timestamp()), **notice)
    response = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def pos_cloud(gateway: Channels, path: str, body: dict[str, Any]) -> None:
    async with gateway.client.session.post(gateway.pos.make_url(path), json=body) as response:
        assert response.status == 200, await response.text()
    await gateway.pos.app[BACKGROUND].wait()  # the cardholder and the callback, no sleeping


async def test_a_bank_transfer_pays_the_bill_and_issues_one_signed_receipt(
    receipting: Channels, identity: Identity  # noqa: F811
) -> None:
    payment = await receipting.create_payment()

    await pay_by_transfer(receipting, payment)

    [receipt] = await receipts_of(receipting, payment["id"])
    assert receipt["status"] == "issued"
    assert (receipt["template_code"], receipt["symbol"], receipt["number"]) == ("EBL01", "26TAB", 1)
    assert (receipt["kind"], receipt["point"], receipt["channel"]) == ("all", "online", "vietqr")
    assert receipt["amount"] == 185_000 == payment["amount"]
    assert receipt["amount_in_words"] == "Một trăm tám mươi lăm nghìn đồng"
    assert [item["amount"] for item in receipt["items"]] == [135_000, 50_000]
    assert receipt["tax_code"] == TAX_CODE and receipt["agency_code"] == "HCM"
    assert receipt["payer"] == {"name": "Nguyễn Văn An", "id_number": None}
    assert receipt["issued_at"] == "2026-11-22T02:00:00Z"
    assert receipt["transaction_reference"].startswith("FT")
    assert receipt["xml_url"].endswith(f"/v1/receipts/{receipt['id']}.xml")
    signed = await receipt_xml(receipting, receipt)
    verify_xml(signed, identity.ca_pem)
    assert "Một trăm tám mươi lăm nghìn đồng".encode() in signed
    assert await event_types(receipting, payment["id"]) == ["payment.paid", "receipt.issued"]
    issued = receipting.client.app[METRICS].receipts_issued.labels("HCM")._value.get()
    assert issued == 1


async def test_paid_through_vnpay_gets_one_receipt(receipting: Channels) -> None:
    payment, attempt = await receipting.start("vnpay")

    await pay_at_vnpay(receipting, attempt, "success")

    [receipt] = await receipts_of(receipting, payment["id"])
    assert (receipt["channel"], receipt["point"], receipt["number"]) == ("vnpay", "online", 1)


async def test_paid_at_the_counter_terminal_numbers_from_the_counter_range(
    receipting: Channels,
) -> None:
    # The card is presented on the terminal (as in tests/gateway/test_channels_pos.py).
    await pos_cloud(receipting, "/sandbox/terminals/T-HCM-1/script", {"outcome": "no_answer"})
    payment, _ = await receipting.start("pos", terminal_id="T-HCM-1")
    await pos_cloud(receipting, "/sandbox/terminals/T-HCM-1/complete", {"outcome": "approve"})

    [receipt] = await receipts_of(receipting, payment["id"])
    assert (receipt["channel"], receipt["point"], receipt["number"]) == ("pos", "counter", 5001)


async def test_money_arriving_again_for_a_paid_bill_gets_no_second_receipt(
    receipting: Channels,
) -> None:
    payment = await receipting.create_payment()
    await pay_by_transfer(receipting, payment)

    answer = await pay_by_transfer(receipting, payment)  # the citizen transfers a second time

    assert answer["outcome"] == "duplicate_payment"
    receipts = await receipts_of(receipting, payment["id"])
    assert [r["number"] for r in receipts] == [1]
    second = await receipting.create_payment(key=uuid.uuid4().hex)
    await pay_by_transfer(receipting, second)
    assert [r["number"] for r in await receipts_of(receipting, second["id"])] == [2]


async def test_money_that_does_not_fit_gets_no_receipt_until_the_bill_is_paid(
    receipting: Channels,
) -> None:
    payment = await receipting.create_payment()

    await pay_by_transfer(receipting, payment, amount=1000)

    assert (await receipting.payment(payment["id"]))["status"] == "needs_review"
    assert await receipts_of(receipting, payment["id"]) == []


async def test_a_receipt_of_another_agency_is_not_found(receipting: Channels) -> None:
    payment = await receipting.create_payment()
    await pay_by_transfer(receipting, payment)
    [receipt] = await receipts_of(receipting, payment["id"])

    for path in (f"/v1/receipts/{receipt['id']}", f"/v1/receipts/{receipt['id']}.xml"):
        response = await receipting.client.get(path, headers=receipting.auth("other"))
        assert response.status == 404, path
        assert (await response.json())["code"] == "not_found"
    response = await receipting.client.get(
        f"/v1/payments/{payment['id']}/receipts", headers=receipting.auth("other")
    )
    assert response.status == 404
