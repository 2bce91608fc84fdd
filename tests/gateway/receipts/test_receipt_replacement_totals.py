"""A replacement receipt totals the money the payment collected for what the receipt covers
(docs/receipts.md, "Corrections"): its lines may be corrected, merged or dropped, but a
replacement never claims more (or less) money than was collected for it; a refusal is
``replacement_total_mismatch`` and changes nothing, at proposal and again at approval."""

from __future__ import annotations

from typing import Any

import receipt_support
from conftest import Channels
from receipt_support import Identity, open_receipting, receipts_of
from sqlalchemy import update
from test_receipt_corrections import call, counts, decide, paid_receipt, propose
from tests_support import signed_notice

from gateway.core.db.schema import receipt_corrections
from gateway.keys import DATABASE

receipting = receipt_support.receipting

FEE = {"kind": "fee", "description": "Phí thẩm định hồ sơ", "amount": 50_000}
CHARGE = {"kind": "charge", "description": "Lệ phí cấp đổi GPLX", "amount": 135_000}


def lines(*items: dict[str, Any]) -> dict[str, Any]:
    return {"reason": "Khoản thu ghi sai", "fields": {"items": list(items)}}


async def test_a_replacement_claiming_more_or_less_than_was_collected_is_refused(
    receipting: Channels,
) -> None:
    original = await paid_receipt(receipting)  # 135,000 lệ phí + 50,000 phí, paid in full
    before = await counts(receipting)

    more = await propose(receipting, original["id"], lines(CHARGE, {**FEE, "amount": 60_000}))
    dropped = await propose(receipting, original["id"], lines(CHARGE))  # 50,000 gone

    for status, problem in (more, dropped):
        assert (status, problem["code"]) == (422, "replacement_total_mismatch")
        assert problem["expected"] == 185_000
    assert more[1]["total"] == 195_000 and dropped[1]["total"] == 135_000
    assert await counts(receipting) == before
    [receipt] = await receipts_of(receipting, original["payment_id"])
    assert receipt["status"] == "issued"


async def test_a_line_that_does_not_belong_is_dropped_and_its_money_written_where_it_belongs(
    receipting: Channels,
) -> None:
    original = await paid_receipt(receipting)
    merged = {**CHARGE, "amount": 185_000}

    status, correction = await propose(receipting, original["id"], lines(merged))
    assert status == 201, correction
    status, approved = await decide(receipting, correction["id"], "approve", "approver2")

    assert status == 200, approved
    _, new = await receipts_of(receipting, original["payment_id"])
    assert [(i["kind"], i["amount"]) for i in new["items"]] == [("charge", 185_000)]
    assert new["amount"] == 185_000


async def test_a_proposal_made_before_the_rule_is_held_to_it_at_approval(
    receipting: Channels,
) -> None:
    original = await paid_receipt(receipting)
    _, correction = await propose(receipting, original["id"], lines(CHARGE, FEE))
    # A proposal stored before the rule existed (or by an older version) claimed 165,000.
    async with receipting.client.app[DATABASE].write() as conn:
        await conn.execute(
            update(receipt_corrections)
            .where(receipt_corrections.c.id == correction["id"])
            .values(fields={"items": [CHARGE, {**FEE, "amount": 30_000}]})
        )
    before = await counts(receipting)

    status, problem = await decide(receipting, correction["id"], "approve", "approver2")

    assert (status, problem["code"], problem["expected"]) == (
        422,
        "replacement_total_mismatch",
        185_000,
    )
    assert await counts(receipting) == before
    [receipt] = await receipts_of(receipting, original["payment_id"])
    assert receipt["status"] == "issued"
    status, still = await call(
        receipting, "GET", f"/v1/receipt-corrections/{correction['id']}", "finance"
    )
    assert (status, still["status"]) == (200, "proposed")


async def test_in_split_mode_each_receipt_totals_its_own_share(
    aiohttp_server: Any,
    database_url: str,
    clock: Any,
    unused_tcp_port_factory: Any,
    identity: Identity,
) -> None:
    gateway = await open_receipting(
        aiohttp_server, database_url, clock, unused_tcp_port_factory(), identity, split="split"
    )
    try:
        payment = await gateway.create_payment()
        body, headers = signed_notice(payment, int(clock().timestamp()))
        await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
        phi = next(r for r in await receipts_of(gateway, payment["id"]) if r["kind"] == "fee")

        status, problem = await propose(gateway, phi["id"], lines({**FEE, "amount": 185_000}))
        assert (status, problem["code"], problem["expected"]) == (
            422,
            "replacement_total_mismatch",
            50_000,
        )
        renamed = {**FEE, "description": "Phí thẩm định hồ sơ cấp đổi GPLX"}
        status, correction = await propose(gateway, phi["id"], lines(renamed))
        assert status == 201, correction
        status, approved = await decide(gateway, correction["id"], "approve", "approver2")
        assert status == 200, approved
    finally:
        await gateway.client.close()
