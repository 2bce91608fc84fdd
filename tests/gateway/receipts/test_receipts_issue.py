"""Receipts issued the moment a payment becomes paid, through every channel: one per payment
(or one for phí and one for lệ phí), numbered from the point of collection's range, signed,
announced, and never twice for the same bill."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import receipt_support
from conftest import Channels, FixedClock
from receipt_support import (
    TAX_CODE,
    Identity,
    event_types,
    open_receipting,
    receipt_xml,
    receipts_of,
    xmlsec1_verifies,
)
from structlog.testing import capture_logs
from tests_support import pay_at_vnpay, signed_notice

from gateway.core.errors import ReceiptRangeNotAscending, ReceiptRangeOverlaps, ValidationFailed
from gateway.keys import METRICS, RECEIPTS
from providers.receipts.errors import InvalidSignature
from providers.receipts.signer import verify_xml
from providers.sandbox.pos import BACKGROUND

#: The gateway issuing receipts for HCM (the shared fixture).
receipting = receipt_support.receipting


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
    receipting: Channels,
    identity: Identity,
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


async def test_split_mode_issues_a_phi_and_a_le_phi_receipt_each_with_its_number(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
    identity: Identity,
    tmp_path: Path,
) -> None:
    gateway = await open_receipting(
        aiohttp_server, database_url, clock, unused_tcp_port_factory(), identity, split="split"
    )
    try:
        payment = await gateway.create_payment()
        await pay_by_transfer(gateway, payment)

        receipts = await receipts_of(gateway, payment["id"])
        assert [(r["kind"], r["number"], r["amount"]) for r in receipts] == [
            ("fee", 1, 50_000),
            ("charge", 2, 135_000),
        ]
        assert receipts[0]["amount_in_words"] == "Năm mươi nghìn đồng"
        assert await event_types(gateway, payment["id"]) == [
            "payment.paid",
            "receipt.issued",
            "receipt.issued",
        ]
        for receipt in receipts:
            signed = await receipt_xml(gateway, receipt)
            verify_xml(signed, identity.ca_pem)
            checked = xmlsec1_verifies(signed, identity.ca_file, tmp_path, clock())
            assert checked.returncode == 0, checked.stderr
    finally:
        await gateway.client.close()


async def test_every_receipt_verifies_with_xmlsec1_and_a_changed_one_does_not(
    receipting: Channels,
    identity: Identity,
    tmp_path: Path,
) -> None:
    payment = await receipting.create_payment()
    await pay_by_transfer(receipting, payment)
    [receipt] = await receipts_of(receipting, payment["id"])
    signed = await receipt_xml(receipting, receipt)

    checked = xmlsec1_verifies(signed, identity.ca_file, tmp_path, receipting.clock())
    assert checked.returncode == 0, checked.stderr
    tampered = signed.replace(b"<SBLai>1<", b"<SBLai>2<", 1)
    assert tampered != signed
    with pytest.raises(InvalidSignature):
        verify_xml(tampered, identity.ca_pem)
    assert (
        xmlsec1_verifies(tampered, identity.ca_file, tmp_path, receipting.clock()).returncode != 0
    )


async def test_an_exhausted_range_leaves_the_payment_paid_and_the_receipt_pending_until_a_range_is_added(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
    identity: Identity,
) -> None:
    gateway = await open_receipting(
        aiohttp_server,
        database_url,
        clock,
        unused_tcp_port_factory(),
        identity,
        ranges=(("online", 1, 2),),
    )
    try:
        paid = []
        with capture_logs() as logs:
            for _ in range(3):
                payment = await gateway.create_payment()
                await pay_by_transfer(gateway, payment)
                paid.append(payment["id"])

        assert [(await gateway.payment(p))["status"] for p in paid] == ["paid"] * 3
        [waiting] = await receipts_of(gateway, paid[2])
        assert (waiting["status"], waiting["pending_reason"]) == (
            "pending",
            "receipt_range_exhausted",
        )
        assert (waiting["number"], waiting["symbol"], waiting["xml_url"]) == (None, None, None)
        alerts = [e for e in logs if e["event"] == "receipt_pending"]
        assert [(a["reason"], a["point"], a["log_level"]) for a in alerts] == [
            ("receipt_range_exhausted", "online", "error")
        ]
        metrics = gateway.client.app[METRICS]
        assert metrics.receipt_ranges_exhausted.labels("HCM")._value.get() == 1
        assert await event_types(gateway, paid[2]) == ["payment.paid"]
        response = await gateway.client.get(
            f"/v1/receipts/{waiting['id']}.xml", headers=gateway.auth()
        )
        assert response.status == 404

        service = gateway.client.app[RECEIPTS]
        assert await service.issue_pending() == 0  # the background retry: still no range
        assert metrics.receipt_ranges_exhausted.labels("HCM")._value.get() == 1  # alerted once
        with pytest.raises(ReceiptRangeOverlaps):
            await service.add_range("HCM", "26TAB", "counter", 2, 10)
        await service.add_range("HCM", "26TAB", "online", 3, 10)

        [issued] = await receipts_of(gateway, paid[2])
        assert (issued["status"], issued["number"], issued["pending_reason"]) == ("issued", 3, None)
        assert await event_types(gateway, paid[2]) == ["payment.paid", "receipt.issued"]
        numbers = [(await receipts_of(gateway, p))[0]["number"] for p in paid]
        assert numbers == [1, 2, 3]
    finally:
        await gateway.client.close()


async def test_a_range_below_the_points_earlier_range_is_refused(receipting: Channels) -> None:
    service = receipting.client.app[RECEIPTS]

    with pytest.raises(ReceiptRangeNotAscending) as lower:
        await service.add_range("HCM", "26TAB", "counter", 2000, 3000)
    with pytest.raises(ReceiptRangeOverlaps) as overlapping:
        await service.add_range("HCM", "26TAB", "postal", 900, 1100)
    with pytest.raises(ValidationFailed) as invalid:
        await service.add_range("HCM", "26TAB", "postal", 7000, 100_000_000)
    with pytest.raises(ValidationFailed) as unknown_symbol:
        await service.add_range("HCM", "27TAB", "postal", 1, 10)

    assert lower.value.code == "receipt_range_not_ascending"
    assert overlapping.value.code == "receipt_range_overlaps"
    assert [e.code for e in invalid.value.errors] == ["out_of_range"]
    assert [e.code for e in unknown_symbol.value.errors] == ["unknown_symbol"]
    ranges = await service.ranges("HCM")
    assert [(r["point"], r["first_number"], r["last_number"]) for r in ranges] == [
        ("counter", 5001, 6000),
        ("online", 1, 1000),
    ]


async def test_paid_on_new_years_day_without_the_new_symbol_is_paid_with_a_pending_receipt(
    receipting: Channels,
) -> None:
    # 1 January 2027, 00:30 in Vietnam: only the 2026 symbol is configured.
    receipting.clock.now = datetime(2026, 12, 31, 17, 30, tzinfo=UTC)
    payment = await receipting.create_payment()

    await pay_by_transfer(receipting, payment)

    assert (await receipting.payment(payment["id"]))["status"] == "paid"
    [receipt] = await receipts_of(receipting, payment["id"])
    assert (receipt["status"], receipt["pending_reason"], receipt["symbol"]) == (
        "pending",
        "no_symbol_for_year",
        None,
    )


async def test_a_certificate_that_expired_while_running_queues_the_receipt(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
    identity: Identity,
) -> None:
    gateway = await open_receipting(
        aiohttp_server,
        database_url,
        clock,
        unused_tcp_port_factory(),
        identity,
        symbols={"2026": "26TAB", "2028": "28TAB"},
        symbol="28TAB",
    )
    try:
        gateway.clock.now = datetime(2028, 2, 1, 3, 0, tzinfo=UTC)  # the certificate ended
        payment = await gateway.create_payment()

        await pay_by_transfer(gateway, payment)

        assert (await gateway.payment(payment["id"]))["status"] == "paid"
        [receipt] = await receipts_of(gateway, payment["id"])
        assert (receipt["status"], receipt["pending_reason"]) == ("pending", "certificate_expired")
        ranges = await gateway.client.app[RECEIPTS].ranges("HCM")
        assert [r["next_number"] for r in ranges if r["point"] == "online"] == [1]  # not used
    finally:
        await gateway.client.close()
