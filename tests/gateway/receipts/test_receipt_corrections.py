"""Correcting a receipt (TT 91/2026 Điều 20) with maker-checker: a wrong amount is replaced
by a new, signed receipt that names the original; a wrong name or address is notified
(04/SS-CTĐT) without a new receipt; one person proposes, another approves; nothing is issued
twice; bad input changes nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import receipt_support
from conftest import Channels
from lxml import etree
from receipt_support import (
    Identity,
    event_types,
    receipt_xml,
    receipts_of,
    xmlsec1_verifies,
)
from sqlalchemy import func, select
from tests_support import signed_notice

from gateway.core.db.schema import outbox_events, receipt_corrections, receipts
from gateway.keys import DATABASE
from providers.receipts.signer import verify_xml

WRONG_AMOUNT = {
    "reason": "Lệ phí ghi sai số tiền",
    "fields": {
        "items": [
            {"kind": "charge", "description": "Lệ phí cấp đổi GPLX", "amount": 155000},
            {"kind": "fee", "description": "Phí thẩm định hồ sơ", "amount": 30000},
        ]
    },
}
WRONG_NAME = {
    "reason": "Sai tên người nộp",
    "fields": {"payer_name": "Nguyễn Văn Ân", "payer_address": "12 Lý Tự Trọng, Quận 1"},
}


#: The gateway issuing receipts for HCM (the shared fixture).
receipting = receipt_support.receipting


async def paid_receipt(gateway: Channels) -> dict[str, Any]:
    payment = await gateway.create_payment()
    body, headers = signed_notice(payment, int(gateway.clock().timestamp()))
    response = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert response.status == 200, await response.text()
    [receipt] = await receipts_of(gateway, payment["id"])
    return receipt


async def call(
    gateway: Channels, method: str, path: str, who: str, body: Any = None
) -> tuple[int, Any]:
    headers = gateway.auth(who)
    if method == "POST":
        headers["Idempotency-Key"] = uuid.uuid4().hex
    response = await gateway.client.request(method, path, json=body, headers=headers)
    return response.status, await response.json()


async def propose(
    gateway: Channels, receipt_id: str, body: Any, who: str = "finance2"
) -> tuple[int, Any]:
    return await call(gateway, "POST", f"/v1/receipts/{receipt_id}/corrections", who, body)


async def decide(
    gateway: Channels, correction_id: str, decision: str, who: str, body: Any = None
) -> tuple[int, Any]:
    path = f"/v1/receipt-corrections/{correction_id}/{decision}"
    return await call(gateway, "POST", path, who, body)


async def counts(gateway: Channels) -> tuple[int, int, int]:
    async with gateway.client.app[DATABASE].read() as conn:
        return (
            (await conn.execute(select(func.count()).select_from(receipts))).scalar_one(),
            (
                await conn.execute(select(func.count()).select_from(receipt_corrections))
            ).scalar_one(),
            (await conn.execute(select(func.count()).select_from(outbox_events))).scalar_one(),
        )


async def test_a_wrong_amount_is_replaced_by_a_new_signed_receipt_once_another_person_approves(
    receipting: Channels, identity: Identity, tmp_path: Path
) -> None:
    original = await paid_receipt(receipting)
    receipting.clock.advance(minutes=5)

    status, correction = await propose(receipting, original["id"], WRONG_AMOUNT)
    assert status == 201, correction
    assert (correction["kind"], correction["status"]) == ("replace", "proposed")
    # Proposed is not yet done: the receipt is unchanged, no event.
    assert [r["status"] for r in await receipts_of(receipting, original["payment_id"])] == [
        "issued"
    ]

    status, approved = await decide(receipting, correction["id"], "approve", "approver2")

    assert status == 200, approved
    assert approved["status"] == "approved" and approved["decided_by"]
    old, new = await receipts_of(receipting, original["payment_id"])
    assert (old["id"], old["status"]) == (original["id"], "replaced")
    assert (new["id"], new["status"], new["replaces"]) == (
        approved["replacement_id"],
        "issued",
        original["id"],
    )
    assert (new["symbol"], new["number"]) == ("26TAB", 2)  # the next number of the range
    assert new["amount"] == 185_000  # the same money, its lines corrected
    assert [item["amount"] for item in new["items"]] == [155_000, 30_000]
    assert new["amount_in_words"] == "Một trăm tám mươi lăm nghìn đồng"
    assert new["transaction_reference"] == original["transaction_reference"]
    signed = await receipt_xml(receipting, new)
    verify_xml(signed, identity.ca_pem)
    checked = xmlsec1_verifies(signed, identity.ca_file, tmp_path, receipting.clock())
    assert checked.returncode == 0, checked.stderr
    related = etree.fromstring(signed).find(".//TTBLLQuan")  # the receipt it replaces
    assert related is not None
    assert [related.findtext(tag) for tag in ("KHBLLQuan", "SBLLQuan")] == ["26TAB", "1"]
    assert await event_types(receipting, original["payment_id"]) == [
        "payment.paid",
        "receipt.issued",
        "receipt.replaced",
    ]
    event = await last_event(receipting)
    assert event["data"]["receipt"]["id"] == new["id"]
    assert event["data"]["replaced"]["status"] == "replaced"

    # The citizen's old link leads to the replacement, which names the original.
    base = str(receipting.client.make_url("")).rstrip("/")
    old_page = await (await receipting.client.get(old["view_url"].removeprefix(base))).text()
    assert "Đã được thay thế" in old_page and new["view_url"] in old_page
    new_page = await (await receipting.client.get(new["view_url"].removeprefix(base))).text()
    assert "Biên lai thay thế cho biên lai ký hiệu 26TAB số 00000001" in new_page

    # The checkout page lists the valid receipt only, and says what it replaces.
    polled = await (await receipting.client.get(f"/pay/{original['payment_id']}/status")).json()
    assert [(r["number"], r["replaces"]) for r in polled["receipts"]] == [
        ("00000002", "26TAB số 00000001")
    ]
    assert polled["receipts_pending"] is False

    # Nothing is issued twice: a second approval, or a correction of the replaced receipt.
    before = await counts(receipting)
    status, problem = await decide(receipting, correction["id"], "approve", "approver")
    assert (status, problem["code"]) == (409, "invalid_transition")
    status, problem = await propose(receipting, original["id"], WRONG_NAME)
    assert (status, problem["code"]) == (409, "receipt_replaced")
    assert await counts(receipting) == before


async def test_a_wrong_name_is_notified_without_a_new_receipt(receipting: Channels) -> None:
    original = await paid_receipt(receipting)

    with_nulls = {**WRONG_NAME, "fields": {**WRONG_NAME["fields"], "items": None}}
    status, correction = await propose(receipting, original["id"], with_nulls)
    assert (status, correction["kind"]) == (201, "notify")
    status, approved = await decide(receipting, correction["id"], "approve", "approver2")

    assert status == 200, approved
    [receipt] = await receipts_of(receipting, original["payment_id"])
    assert (receipt["status"], receipt["number"]) == ("error_notified", 1)
    notice = approved["notice"]
    assert notice["form"] == "04/SS-CTĐT"
    assert notice["receipt"] == {
        "template_code": "EBL01",
        "symbol": "26TAB",
        "number": 1,
        "issued_on": "2026-11-22",
    }
    assert [(e["field"], e["shown"], e["correct"]) for e in notice["errors"]] == [
        ("payer_name", "Nguyễn Văn An", "Nguyễn Văn Ân"),
        ("payer_address", None, "12 Lý Tự Trọng, Quận 1"),
    ]
    assert await event_types(receipting, original["payment_id"]) == [
        "payment.paid",
        "receipt.issued",
        "receipt.error_notified",
    ]
    assert (await last_event(receipting))["data"]["notice"]["errors"][1]["correct"] == (
        "12 Lý Tự Trọng, Quận 1"
    )
    async with receipting.client.app[DATABASE].read() as conn:
        stored = (await conn.execute(select(receipt_corrections.c.fields))).scalar_one()
    assert "Lý Tự Trọng" not in json.dumps(stored, ensure_ascii=False)  # sealed at rest
    # A notified receipt may still be replaced (another error).
    status, again = await propose(receipting, original["id"], WRONG_AMOUNT)
    assert status == 201
    status, _ = await decide(receipting, again["id"], "approve", "approver2")
    assert status == 200
    statuses = [r["status"] for r in await receipts_of(receipting, original["payment_id"])]
    assert statuses == ["replaced", "issued"]


async def test_the_person_who_proposed_cannot_approve_and_finance_staff_cannot_approve(
    receipting: Channels,
) -> None:
    original = await paid_receipt(receipting)
    status, correction = await propose(receipting, original["id"], WRONG_AMOUNT, who="approver2")
    assert status == 201
    before = await counts(receipting)

    status, problem = await decide(receipting, correction["id"], "approve", "approver2")
    assert (status, problem["code"]) == (409, "self_approval")
    status, problem = await decide(receipting, correction["id"], "approve", "finance2")
    assert (status, problem["code"]) == (403, "forbidden")

    assert await counts(receipting) == before
    [receipt] = await receipts_of(receipting, original["payment_id"])
    assert receipt["status"] == "issued"


async def test_a_rejected_correction_leaves_the_receipt_as_it_was(receipting: Channels) -> None:
    original = await paid_receipt(receipting)
    _, correction = await propose(receipting, original["id"], WRONG_AMOUNT)

    status, problem = await decide(receipting, correction["id"], "reject", "approver2", {})
    assert (status, problem["code"]) == (422, "validation_failed")
    status, rejected = await decide(
        receipting, correction["id"], "reject", "approver2", {"reason": "Số tiền đúng"}
    )

    assert (status, rejected["status"], rejected["decision_reason"]) == (
        200,
        "rejected",
        "Số tiền đúng",
    )
    status, problem = await decide(receipting, correction["id"], "approve", "approver")
    assert (status, problem["code"]) == (409, "invalid_transition")
    [receipt] = await receipts_of(receipting, original["payment_id"])
    assert receipt["status"] == "issued"
    status, listed = await call(
        receipting, "GET", f"/v1/receipts/{original['id']}/corrections", "finance"
    )
    assert status == 200 and [c["status"] for c in listed["data"]] == ["rejected"]


async def test_a_correction_of_an_unknown_or_another_agencys_receipt_is_not_found(
    receipting: Channels,
) -> None:
    original = await paid_receipt(receipting)

    status, problem = await propose(receipting, "rct_aaaaaaaaaaaaaaaaaaaaaaaaaa", WRONG_NAME)
    assert (status, problem["code"]) == (404, "not_found")
    status, problem = await decide(
        receipting, "rcc_aaaaaaaaaaaaaaaaaaaaaaaaaa", "approve", "approver2"
    )
    assert (status, problem["code"]) == (404, "not_found")
    status, problem = await propose(receipting, original["id"], WRONG_NAME, who="portal")
    assert (status, problem["code"]) == (403, "forbidden")
    assert (await counts(receipting))[1] == 0


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"reason": "", "fields": {"payer_name": "A"}}, "reason", "required"),
        ({"reason": "x", "fields": {}}, "fields", "required"),
        ({"reason": "x", "fields": {"tax_code": "0101"}}, "fields.tax_code", "unknown_field"),
        (
            {"reason": "x", "fields": {"amount_in_words": "Một trăm nghìn đồng"}},
            "fields.amount_in_words",
            "does_not_read_the_amount",
        ),
        (
            {
                "reason": "x",
                "fields": {"items": [{"kind": "fee", "description": "P", "amount": 0}]},
            },
            "fields.items.0.amount",
            "invalid",
        ),
        (
            {
                "reason": "x",
                "fields": {"items": [{"kind": "postal", "description": "C", "amount": 1}]},
            },
            "fields.items.0.kind",
            "invalid_choice",
        ),
    ],
)
async def test_a_bad_proposal_is_refused_and_changes_nothing(
    receipting: Channels, body: dict[str, Any], field: str, code: str
) -> None:
    original = await paid_receipt(receipting)
    before = await counts(receipting)

    status, problem = await propose(receipting, original["id"], body)

    assert (status, problem["code"]) == (422, "validation_failed")
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in problem["errors"]
    ]
    assert await counts(receipting) == before


async def last_event(gateway: Channels) -> Any:
    async with gateway.client.app[DATABASE].read() as conn:
        body = (
            await conn.execute(
                select(outbox_events.c.body)
                .order_by(outbox_events.c.created_at.desc(), outbox_events.c.sequence.desc())
                .limit(1)
            )
        ).scalar_one()
    return json.loads(body)


async def test_two_approvals_at_the_same_moment_issue_one_replacement(
    receipting: Channels,
) -> None:
    original = await paid_receipt(receipting)
    _, correction = await propose(receipting, original["id"], WRONG_AMOUNT)

    answers = await asyncio.gather(
        decide(receipting, correction["id"], "approve", "approver"),
        decide(receipting, correction["id"], "approve", "approver2"),
    )

    assert sorted(status for status, _ in answers) == [200, 409]
    [refused] = [body for status, body in answers if status == 409]
    assert refused["code"] == "invalid_transition"
    found = await receipts_of(receipting, original["payment_id"])
    assert [(r["number"], r["status"]) for r in found] == [(1, "replaced"), (2, "issued")]
    assert (await event_types(receipting, original["payment_id"])).count("receipt.replaced") == 1
