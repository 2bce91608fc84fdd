"""In split mode (a receipt for the phí, one for the lệ phí) each refund is recorded against
the receipt whose money it gives back, and a receipt lists only those (docs/receipts.md,
"Refunds"): by the lines the refund names, or without lines when that is unambiguous; a part
of money held on two receipts without lines is accepted, as the API always accepted it, and
recorded unattributed (listed on every receipt)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import receipt_support
from conftest import Channels
from receipt_support import Identity, open_receipting, receipts_of
from sqlalchemy import func, insert, select, update
from test_receipt_corrections import decide, propose
from tests_support import complete_refund, signed_notice

from gateway.core.db.schema import payment_items, payments, refunds
from gateway.keys import DATABASE

receipting = receipt_support.receipting


@pytest.fixture
async def split(
    aiohttp_server: Any,
    database_url: str,
    clock: Any,
    unused_tcp_port_factory: Any,
    identity: Identity,
) -> AsyncIterator[Channels]:
    gateway = await open_receipting(
        aiohttp_server, database_url, clock, unused_tcp_port_factory(), identity, split="split"
    )
    yield gateway
    await gateway.client.close()


async def paid(gateway: Channels, **overrides: Any) -> dict[str, Any]:
    """A payment (by default 135,000 lệ phí + 50,000 phí), paid by transfer: two receipts in
    split mode."""
    payment = await gateway.create_payment(**overrides)
    body, headers = signed_notice(payment, int(gateway.clock().timestamp()))
    response = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert response.status == 200, await response.text()
    return dict(payment)


async def refund(gateway: Channels, payment_id: str, amount: int, **more: Any) -> tuple[int, Any]:
    response = await gateway.client.post(
        f"/v1/payments/{payment_id}/refunds",
        json={"amount": amount, "reason": "Hồ sơ bị từ chối một phần", **more},
        headers={**gateway.auth("finance"), "Idempotency-Key": uuid.uuid4().hex},
    )
    return response.status, await response.json()


async def listed(
    gateway: Channels, payment_id: str
) -> dict[str, list[tuple[str, int | None, int]]]:
    """Per receipt (kind, number): the refunds it lists (id, its part, the whole refund)."""
    return {
        f"{r['kind']}#{r['number']}": [(f["id"], f["share"], f["amount"]) for f in r["refunds"]]
        for r in await receipts_of(gateway, payment_id)
    }


async def refund_count(gateway: Channels) -> int:
    async with gateway.client.app[DATABASE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(refunds))).scalar_one())


async def test_a_refund_of_the_phi_is_listed_on_the_phi_receipt_only(split: Channels) -> None:
    payment = await paid(split)

    status, phi = await refund(
        split, payment["id"], 50_000, items=[{"kind": "fee", "amount": 50_000}]
    )
    assert status == 201, phi
    # Then the rest, without lines: only the lệ phí receipt still holds money.
    status, rest = await refund(split, payment["id"], 135_000)
    assert status == 201, rest

    assert await listed(split, payment["id"]) == {
        "charge#2": [(rest["id"], 135_000, 135_000)],
        "fee#1": [(phi["id"], 50_000, 50_000)],
    }


async def test_a_refund_of_everything_is_listed_on_each_receipt_with_its_own_part(
    split: Channels,
) -> None:
    payment = await paid(split)

    status, made = await refund(split, payment["id"], 185_000)

    assert status == 201, made
    assert await listed(split, payment["id"]) == {
        "charge#2": [(made["id"], 135_000, 185_000)],
        "fee#1": [(made["id"], 50_000, 185_000)],
    }


async def test_a_part_without_lines_is_accepted_unattributed_and_listed_on_every_receipt(
    split: Channels,
) -> None:
    payment = await paid(split)

    status, made = await refund(split, payment["id"], 100_000)

    assert status == 201, made
    assert made["amount"] == 100_000
    assert await listed(split, payment["id"]) == {
        "charge#2": [(made["id"], None, 100_000)],
        "fee#1": [(made["id"], None, 100_000)],
    }


async def test_the_rest_after_a_refund_without_shares_is_accepted(split: Channels) -> None:
    """A refund made before shares were recorded counts against no receipt; refunding the
    rest compares with what the payment can still refund, not the receipts' total."""
    payment = await paid(
        split,
        items=[
            {"kind": "fee", "description": "Phí thẩm định hồ sơ", "amount": 100_000},
            {"kind": "charge", "description": "Lệ phí cấp giấy phép", "amount": 200_000},
        ],
    )
    status, old = await refund(
        split, payment["id"], 100_000, items=[{"kind": "fee", "amount": 100_000}]
    )
    assert status == 201, old
    async with split.client.app[DATABASE].write() as conn:  # as before migration 0023
        await conn.execute(
            update(refunds).where(refunds.c.id == old["id"]).values(receipt_shares=None)
        )

    split.clock.advance(minutes=1)
    status, rest = await refund(split, payment["id"], 200_000)

    assert status == 201, rest
    assert await refund_count(split) == 2
    assert await listed(split, payment["id"]) == {
        "charge#2": [(old["id"], None, 100_000), (rest["id"], None, 200_000)],
        "fee#1": [(old["id"], None, 100_000), (rest["id"], None, 200_000)],
    }


async def with_postage(gateway: Channels, postage: int, **overrides: Any) -> dict[str, Any]:
    """A paid payment that also carries a postal line of ``postage`` VND (cước bưu chính, on
    no receipt). No API creates one yet: the line is added to the stored payment."""
    payment = await paid(gateway, **overrides)
    async with gateway.client.app[DATABASE].write() as conn:
        await conn.execute(
            insert(payment_items).values(
                payment_id=payment["id"],
                position=len(overrides.get("items", [])) + 10,
                kind="postal",
                description="Cước chuyển phát kết quả",
                amount=postage,
            )
        )
        await conn.execute(
            update(payments)
            .where(payments.c.id == payment["id"])
            .values(amount=payments.c.amount + postage)
        )
    return payment


async def test_postage_refunded_without_lines_in_single_mode_is_accepted(
    receipting: Channels,
) -> None:
    fee_only = [{"kind": "fee", "description": "Phí thẩm định hồ sơ", "amount": 100_000}]
    payment = await with_postage(receipting, 30_000, items=fee_only)

    status, made = await refund(receipting, payment["id"], 30_000)

    assert status == 201, made
    [receipt] = await receipts_of(receipting, payment["id"])
    assert [(r["id"], r["amount"], r["share"]) for r in receipt["refunds"]] == [
        (made["id"], 30_000, None)
    ]


async def test_a_line_kind_the_payment_does_not_have_is_refused(receipting: Channels) -> None:
    fee_only = [{"kind": "fee", "description": "Phí thẩm định hồ sơ", "amount": 100_000}]
    payment = await with_postage(receipting, 30_000, items=fee_only)

    status, problem = await refund(
        receipting, payment["id"], 30_000, items=[{"kind": "charge", "amount": 30_000}]
    )

    assert (status, problem["code"]) == (422, "validation_failed")
    assert {"field": "items", "code": "no_such_lines"} in [
        {"field": e["field"], "code": e["code"]} for e in problem["errors"]
    ]
    assert await refund_count(receipting) == 0
    # The postage named as postage is recorded as postage: not on the receipt.
    status, made = await refund(
        receipting, payment["id"], 30_000, items=[{"kind": "postal", "amount": 30_000}]
    )
    assert status == 201, made
    [receipt] = await receipts_of(receipting, payment["id"])
    assert receipt["refunds"] == []


@pytest.mark.parametrize(
    ("items", "code"),
    [
        ([{"kind": "fee", "amount": 60_000}], "exceeds_refundable"),  # the phí is 50,000
        (
            [{"kind": "fee", "amount": 20_000}, {"kind": "charge", "amount": 20_000}],
            "does_not_add_up",
        ),
    ],
)
async def test_lines_that_do_not_fit_are_refused_and_change_nothing(
    split: Channels, items: list[dict[str, Any]], code: str
) -> None:
    payment = await paid(split)

    status, problem = await refund(split, payment["id"], 60_000, items=items)

    assert (status, problem["code"]) == (422, "validation_failed")
    assert {"field": "items", "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in problem["errors"]
    ]
    assert await refund_count(split) == 0


async def test_a_failed_refund_gives_its_part_back_and_a_replacement_lists_the_same_refunds(
    split: Channels,
) -> None:
    payment = await paid(split)
    status, failed = await refund(
        split, payment["id"], 50_000, items=[{"kind": "fee", "amount": 50_000}]
    )
    assert status == 201, failed
    await complete_refund(split, failed["id"], "failed")
    split.clock.advance(minutes=1)
    status, again = await refund(
        split, payment["id"], 50_000, items=[{"kind": "fee", "amount": 50_000}]
    )
    assert status == 201, again  # the failed refund no longer holds the phí
    phi = next(r for r in await receipts_of(split, payment["id"]) if r["kind"] == "fee")

    body = {
        "reason": "Sai tên phí",
        "fields": {"items": [{"kind": "fee", "description": "Phí thẩm định", "amount": 50_000}]},
    }
    _, correction = await propose(split, phi["id"], body)
    status, approved = await decide(split, correction["id"], "approve", "approver2")
    assert status == 200, approved

    assert await listed(split, payment["id"]) == {
        "charge#2": [],
        "fee#1": [(failed["id"], 50_000, 50_000), (again["id"], 50_000, 50_000)],
        "fee#3": [(failed["id"], 50_000, 50_000), (again["id"], 50_000, 50_000)],
    }
