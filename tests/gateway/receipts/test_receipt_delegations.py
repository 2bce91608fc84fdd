"""Receipts issued by the gateway operator as the agency's delegate (NĐ 254/2026 Điều 4.6 and
Điều 25, spec §8): only inside a recorded agreement in force on the day of issue, notified to
the tax offices 3 days before, whose number range holds the number; the receipt names the
delegate in the API, the signed XML, the page and the PDF. Otherwise the payment is paid and
the receipt waits, no number consumed, until the retry loop can issue it."""

from __future__ import annotations

import asyncio
import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import Channels, FixedClock, make_settings, open_channels
from pypdf import PdfReader
from receipt_support import (
    Identity,
    receipt_settings,
    receipt_xml,
    receipts_of,
    xmlsec1_verifies,
)
from sqlalchemy import select
from structlog.testing import capture_logs
from test_receipt_corrections import WRONG_AMOUNT, decide, propose
from tests_support import signed_notice, staff_login

from config import ConfigError
from gateway.core.db.schema import audit_log
from gateway.core.errors import (
    ReceiptDelegationExists,
    ReceiptDelegationOverlaps,
    ValidationFailed,
)
from gateway.core.roles import Role
from gateway.keys import DATABASE, RECEIPTS, STAFF
from gateway.services.receipts import delegations
from gateway.services.receipts.pdf import find_font
from providers.receipts.signer import verify_xml

DELEGATE = {
    "name": "Công ty Cổ phần Cổng thanh toán Công ích",
    "address": "12 Nguyễn Huệ, Phường Sài Gòn, Thành phố Hồ Chí Minh",
    "tax_code": "0319876543",
}
PASSWORD = "mat-khau-thu-nghiem-2026"
#: The clock's day is 2026-11-22 (09:00 in Asia/Ho_Chi_Minh).
AGREEMENT = {
    "agreement_number": "01/2026/UN-STP",
    "signed_on": date(2026, 11, 1),
    "valid_from": date(2026, 11, 1),
    "valid_until": date(2026, 12, 31),
    "symbol": "26TAB",
    "first": 1,
    "last": 1000,
    "notified_on": date(2026, 11, 18),
}


@pytest.fixture
async def delegate(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
    identity: Identity,
) -> Any:
    """The gateway issuing HCM's receipts as its delegate, with an online range 1..1000 and
    no agreement yet."""
    settings = receipt_settings(identity, issued_as="delegate")
    opened = await open_channels(
        aiohttp_server,
        database_url,
        clock,
        unused_tcp_port_factory(),
        receipts={**settings, "delegate": DELEGATE},
    )
    await opened.client.app[RECEIPTS].add_range("HCM", "26TAB", "online", 1, 1000)
    yield opened
    await opened.client.close()


async def agree(gateway: Channels, **changes: Any) -> dict[str, Any]:
    terms = {**AGREEMENT, **changes}
    added: dict[str, Any] = await gateway.client.app[RECEIPTS].add_delegation(
        "HCM", actor="test", **terms
    )
    return added


async def pay(gateway: Channels) -> dict[str, Any]:
    payment = await gateway.create_payment()
    body, headers = signed_notice(payment, int(gateway.clock().timestamp()))
    response = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert response.status == 200, await response.text()
    [receipt] = await receipts_of(gateway, payment["id"])
    return receipt


async def next_number(gateway: Channels) -> int:
    [online] = await gateway.client.app[RECEIPTS].ranges("HCM")
    return int(online["next_number"])


async def test_inside_an_agreement_the_receipt_names_the_delegate_everywhere(
    delegate: Channels, identity: Identity, tmp_path: Path
) -> None:
    await agree(delegate)

    receipt = await pay(delegate)

    assert receipt["status"] == "issued" and receipt["number"] == 1
    assert receipt["delegate"] == {"name": DELEGATE["name"], "address": DELEGATE["address"]}
    assert receipt["tax_code"] == "0301234567"  # the agency stays the collector
    signed = await receipt_xml(delegate, receipt)
    verify_xml(signed, identity.ca_pem)
    checked = xmlsec1_verifies(signed, identity.ca_file, tmp_path, delegate.clock())
    assert checked.returncode == 0, checked.stderr
    for shown in (DELEGATE["name"], DELEGATE["address"], DELEGATE["tax_code"]):
        assert f">{shown}<".encode() in signed
    assert b"<TCNUNhiem>" in signed
    tampered = signed.replace(DELEGATE["name"].encode(), "Công ty khác".encode(), 1)
    assert xmlsec1_verifies(tampered, identity.ca_file, tmp_path, delegate.clock()).returncode

    base = str(delegate.client.make_url("")).rstrip("/")
    page_path = receipt["view_url"].removeprefix(base)
    html = await (await delegate.client.get(page_path)).text()
    assert f'data-testid="delegate-name">{DELEGATE["name"]}<' in html
    assert f'data-testid="delegate-address">{DELEGATE["address"]}<' in html
    assert "Sở Tư pháp" in html
    if find_font() is not None:
        path, _, query = page_path.partition("?")
        pdf = await delegate.client.get(f"{path}.pdf?{query}")
        assert pdf.status == 200
        text = " ".join(
            page.extract_text() for page in PdfReader(io.BytesIO(await pdf.read())).pages
        )
        assert DELEGATE["name"] in text and DELEGATE["address"] in text
    await delegate.client.app[STAFF].create_user(
        username="ketoan",
        display_name="Kế toán",
        role=Role.FINANCE,
        password=PASSWORD,
        agency_codes=["HCM"],
    )
    session = await staff_login(delegate.client, "ketoan", PASSWORD, "/console")
    console = await delegate.client.get(
        f"/console/receipts/{receipt['id']}", headers=session.cookie
    )
    shown = await console.text()
    assert console.status == 200, shown
    assert "Tổ chức nhận ủy nhiệm lập biên lai" in shown
    assert f'data-testid="delegate-name">{DELEGATE["name"]}<' in shown
    assert f'data-testid="delegate-address">{DELEGATE["address"]}<' in shown


async def test_before_three_days_after_the_notification_the_receipt_waits_then_is_issued(
    delegate: Channels, clock: FixedClock
) -> None:
    await agree(delegate, notified_on=date(2026, 11, 20))  # may issue from 23 November

    with capture_logs() as logs:
        receipt = await pay(delegate)

    assert (receipt["status"], receipt["pending_reason"]) == ("pending", "delegation_not_notified")
    assert receipt["number"] is None and receipt["delegate"] is None
    assert await next_number(delegate) == 1
    assert [e["reason"] for e in logs if e["event"] == "receipt_pending"] == [
        "delegation_not_notified"
    ]
    assert await delegate.client.app[RECEIPTS].issue_pending() == 0  # still 22 November

    clock.advance(days=1)
    assert await delegate.client.app[RECEIPTS].issue_pending() == 1
    [issued] = await receipts_of(delegate, receipt["payment_id"])
    assert (issued["status"], issued["number"]) == ("issued", 1)
    assert issued["delegate"]["name"] == DELEGATE["name"]


async def test_a_number_outside_the_agreement_waits_and_consumes_nothing(
    delegate: Channels,
) -> None:
    await agree(delegate, first=1, last=1)
    assert (await pay(delegate))["number"] == 1

    second = await pay(delegate)

    assert (second["status"], second["pending_reason"]) == ("pending", "delegation_outside_range")
    assert await next_number(delegate) == 2  # number 2 was given back
    assert await delegate.client.app[RECEIPTS].issue_pending() == 0
    assert await next_number(delegate) == 2


async def test_an_agreement_added_later_lets_the_retry_loop_issue_the_waiting_receipts(
    delegate: Channels, clock: FixedClock
) -> None:
    first = await pay(delegate)
    clock.advance(seconds=1)  # the loop issues the oldest first
    second = await pay(delegate)
    assert {first["pending_reason"], second["pending_reason"]} == {"delegation_no_agreement"}
    assert await next_number(delegate) == 1

    # Recorded without the service's own retry, so that the loop's step is what issues them.
    async with delegate.client.app[DATABASE].write() as conn:
        await delegations.add_delegation(
            conn,
            delegations.NewDelegation("HCM", "0301234567", "EBL01", **AGREEMENT),
            "test",
            delegate.clock(),
        )
    assert [r["status"] for r in await receipts_of(delegate, first["payment_id"])] == ["pending"]

    assert await delegate.client.app[RECEIPTS].issue_pending() == 2

    numbers = [(await receipts_of(delegate, r["payment_id"]))[0]["number"] for r in (first, second)]
    assert numbers == [1, 2]


async def test_an_expired_or_ended_agreement_issues_nothing(
    delegate: Channels, clock: FixedClock
) -> None:
    await agree(delegate, agreement_number="CU-01", valid_until=date(2026, 11, 21))
    expired = await pay(delegate)
    assert expired["pending_reason"] == "delegation_no_agreement"

    await agree(delegate, agreement_number="MOI-02", valid_from=date(2026, 11, 22))
    [issued] = await receipts_of(delegate, expired["payment_id"])  # issued at once
    assert (issued["status"], issued["number"]) == ("issued", 1)
    service = delegate.client.app[RECEIPTS]
    with pytest.raises(ValidationFailed) as refused:  # a receipt was issued under it today
        await service.end_delegation("HCM", "MOI-02", date(2026, 11, 22), "Chấm dứt", "test")
    assert refused.value.errors[0].code == "receipts_issued_after"
    ended = await service.end_delegation(
        "HCM", "MOI-02", date(2026, 11, 23), "Hai bên thỏa thuận chấm dứt trước hạn", "test"
    )
    assert (ended["ended_on"], ended["state"]) == (date(2026, 11, 23), "active")

    clock.advance(days=1)
    after_end = await pay(delegate)

    assert (after_end["status"], after_end["pending_reason"]) == (
        "pending",
        "delegation_no_agreement",
    )
    assert await next_number(delegate) == 2
    [listed_old, listed_new] = await service.delegations("HCM")
    assert (listed_old["state"], listed_new["state"]) == ("expired", "ended")
    async with delegate.client.app[DATABASE].read() as conn:
        actions = (
            await conn.execute(
                select(audit_log.c.action, audit_log.c.actor).where(
                    audit_log.c.object_type == "receipt_delegation"
                )
            )
        ).all()
    assert sorted(actions) == [
        ("receipt_delegation_ended", "test"),
        ("receipt_delegation_recorded", "test"),
        ("receipt_delegation_recorded", "test"),
    ]


async def test_agreements_that_meet_in_numbers_and_term_are_refused(delegate: Channels) -> None:
    await agree(delegate, first=1, last=500)

    with pytest.raises(ReceiptDelegationOverlaps):
        await agree(delegate, agreement_number="02", first=400, last=900)
    with pytest.raises(ValidationFailed) as refused:
        await agree(delegate, agreement_number="03", first=900, last=800)
    assert [e.code for e in refused.value.errors] == ["before_first"]
    # The same numbers after the first agreement's term are another agreement's to cover.
    later = await agree(
        delegate,
        agreement_number="04",
        signed_on=date(2026, 11, 20),
        valid_from=date(2027, 1, 1),
        valid_until=None,
        notified_on=date(2026, 11, 21),
    )
    assert later["state"] == "not_yet_valid"


async def test_the_api_lists_only_the_callers_agencies_agreements(delegate: Channels) -> None:
    await agree(delegate)
    async with delegate.client.app[DATABASE].write() as conn:
        await delegations.add_delegation(
            conn,
            delegations.NewDelegation(
                "HN",
                "0101234567",
                "EBL01",
                "HN-01",
                date(2026, 11, 1),
                date(2026, 11, 1),
                None,
                "26TAB",
                1,
                100,
                date(2026, 11, 2),
            ),
            "test",
            delegate.clock(),
        )

    own = await delegate.client.get("/v1/receipts/delegations", headers=delegate.auth("finance2"))
    everyone = await delegate.client.get(
        "/v1/receipts/delegations", headers=delegate.auth("finance")
    )
    portal = await delegate.client.get("/v1/receipts/delegations", headers=delegate.auth())

    assert own.status == 200
    [hcm] = (await own.json())["data"]
    assert (hcm["agency_code"], hcm["agreement_number"]) == ("HCM", "01/2026/UN-STP")
    assert hcm["state"] == "active" and hcm["may_issue_from"] == "2026-11-21"
    assert {d["agency_code"] for d in (await everyone.json())["data"]} == {"HCM", "HN"}
    assert portal.status == 403


async def test_a_replacement_is_issued_under_the_agreement_or_refused_outside_it(
    delegate: Channels,
) -> None:
    await agree(delegate, first=1, last=2)
    original = await pay(delegate)
    second = await pay(delegate)
    assert (original["number"], second["number"]) == (1, 2)

    status, correction = await propose(delegate, original["id"], WRONG_AMOUNT)
    assert status == 201, correction
    status, refused = await decide(delegate, correction["id"], "approve", "approver2")

    # Number 3 is outside the agreement: nothing is issued, the correction waits.
    assert status == 409 and refused["code"] == "receipt_not_issuable", refused
    assert refused["reason"] == "delegation_outside_range"
    assert await next_number(delegate) == 3
    await agree(delegate, agreement_number="02", first=3, last=1000)
    status, approved = await decide(delegate, correction["id"], "approve", "approver2")
    assert status == 200, approved
    old, new = await receipts_of(delegate, original["payment_id"])
    assert (old["status"], new["status"], new["number"]) == ("replaced", "issued", 3)
    assert new["delegate"] == {"name": DELEGATE["name"], "address": DELEGATE["address"]}


@pytest.mark.parametrize(
    ("receipts", "message"),
    [
        ({}, 'issued_as = "delegate" needs [receipts.delegate]'),
        ({"delegate": DELEGATE, "issuer": "vnpt"}, 'issued_as = "delegate" needs issuer'),
    ],
)
def test_a_delegate_agency_needs_the_delegate_and_the_gateways_signer(
    identity: Identity, receipts: dict[str, Any], message: str
) -> None:
    delegate = receipts.pop("delegate", None)
    settings = receipt_settings(identity, issued_as="delegate", **receipts)
    if delegate is not None:
        settings["delegate"] = delegate

    with pytest.raises(ConfigError) as refused:
        make_settings("sqlite+aiosqlite://", receipts=settings)

    assert message in str(refused.value)


async def test_an_agreement_of_the_agencys_former_tax_code_covers_none_of_its_receipts(
    delegate: Channels,
) -> None:
    # Recorded while the agency had another tax code; its config names 0301234567 now.
    async with delegate.client.app[DATABASE].write() as conn:
        await delegations.add_delegation(
            conn,
            delegations.NewDelegation("HCM", "0309999999", "EBL01", **AGREEMENT),
            "test",
            delegate.clock(),
        )

    receipt = await pay(delegate)

    assert (receipt["status"], receipt["pending_reason"]) == ("pending", "delegation_no_agreement")
    assert receipt["number"] is None and await next_number(delegate) == 1
    assert await delegate.client.app[RECEIPTS].issue_pending() == 0
    await agree(delegate, agreement_number="02/2026/UN-STP")  # under the current tax code
    [issued] = await receipts_of(delegate, receipt["payment_id"])
    assert (issued["status"], issued["number"]) == ("issued", 1)


@pytest.mark.parametrize(
    ("second", "refusal"),
    [
        ({"first": 501, "last": 1000}, ReceiptDelegationExists),  # the same agreement number
        ({"agreement_number": "02", "first": 400, "last": 900}, ReceiptDelegationOverlaps),
    ],
)
async def test_two_agreements_recorded_at_once_cannot_both_pass_the_checks(
    delegate: Channels, second: dict[str, Any], refusal: type[Exception]
) -> None:
    results = await asyncio.gather(
        agree(delegate, first=1, last=500),
        agree(delegate, **second),
        return_exceptions=True,
    )

    added = [result for result in results if isinstance(result, dict)]
    refused = [result for result in results if isinstance(result, BaseException)]
    assert len(added) == 1 and [type(error) for error in refused] == [refusal], results
    assert [d["id"] for d in await delegate.client.app[RECEIPTS].delegations("HCM")] == [
        added[0]["id"]
    ]
