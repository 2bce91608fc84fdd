"""Refunds are never lost (ARCHITECTURE §5, "One janitor"): a pending VNPAY refund is asked
about with querydr until VNPAY's word settles it; a refund still pending past its channel's
refund horizon is handed to finance (``flagged_at``, ``refund.needs_review``, the list, the
gauge) and finance records the result. MoMo's refund query is not in the spec, so a pending
MoMo refund is never asked about and reaches finance at its horizon. VNPAY and MoMo are the
real sandbox servers (specs/vnpay-reference.md §3.4, specs/momo-zalopay.md §A)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import METRICS_AUTH, VNPAY_TMN, FixedClock, Wallets, open_wallets
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text
from tests_support import complete_refund, pay_at_vnpay, staff_login

from gateway.channels.base import AttemptRef, OtherRefund, RefundOutcome, RefundRequest
from gateway.channels.vnpay import about_this_refund
from gateway.core.db import Database
from gateway.core.db.schema import audit_log, outbox_events, refunds
from gateway.core.money import lock_bill
from gateway.core.roles import Role
from gateway.keys import DATABASE, POLLER, STAFF
from gateway.keys import REFUNDS as REFUND_SERVICE
from providers.payment.vnpay import QueryResult
from providers.sandbox.momo import SWITCHES as MOMO_SWITCHES
from providers.sandbox.vnpay import SWITCHES as VNPAY_SWITCHES
from providers.sandbox.vnpay import TRANSACTIONS, Transaction

PASSWORD = "mật-khẩu-kế-toán-2026"

#: VNPAY's callback window in the test settings (the default): the first query's wait.
VNPAY_WINDOW = 301


async def _refund(wallets: Wallets, payment: dict[str, Any], amount: int) -> dict[str, Any]:
    response = await wallets.client.post(
        f"/v1/payments/{payment['id']}/refunds",
        json={"amount": amount, "reason": "Hồ sơ bị từ chối"},
        headers={**wallets.auth(), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def _refund_now(wallets: Wallets, refund: dict[str, Any]) -> dict[str, Any]:
    got = await wallets.client.get(f"/v1/refunds/{refund['id']}", headers=wallets.auth())
    assert got.status == 200
    return dict(await got.json())


async def _events(wallets: Wallets, kind: str) -> int:
    async with wallets.client.app[DATABASE].read() as conn:
        types = (await conn.execute(select(outbox_events.c.type))).scalars().all()
    return types.count(kind)


async def _flagged(wallets: Wallets, who: str = "finance") -> tuple[int, Any]:
    response = await wallets.client.get("/v1/refunds/flagged", headers=wallets.auth(who))
    return response.status, await response.json()


async def _gauge(wallets: Wallets, channel: str) -> float | None:
    response = await wallets.client.get("/metrics", headers=METRICS_AUTH)
    for family in text_string_to_metric_families(await response.text()):
        if family.name == "gateway_refunds_flagged":
            for sample in family.samples:
                if sample.labels.get("channel") == channel:
                    return float(sample.value)
    return None


async def _paid_vnpay(wallets: Wallets) -> tuple[dict[str, Any], Transaction]:
    payment, attempt = await wallets.start("vnpay")
    await pay_at_vnpay(wallets, attempt, "success")
    txn = wallets.vnpay.app[TRANSACTIONS][(VNPAY_TMN, attempt["provider_reference"])]
    return payment, txn


@pytest.mark.parametrize(
    ("vnpay_says", "refund_status", "failure_code", "payment_status", "event"),
    [
        ("06", "succeeded", None, "refunded", "refund.succeeded"),
        ("09", "failed", "vnpay_refund_declined", "paid", "refund.failed"),
    ],
)
async def test_a_vnpay_refund_whose_answer_was_lost_is_settled_by_querydr(
    wallets: Wallets,
    vnpay_says: str,
    refund_status: str,
    failure_code: str | None,
    payment_status: str,
    event: str,
) -> None:
    payment, txn = await _paid_vnpay(wallets)
    wallets.vnpay.app[VNPAY_SWITCHES].lose_refund_answers = 1  # made at VNPAY, answer lost
    refund = await _refund(wallets, payment, payment["amount"])
    assert (refund["status"], refund["failure_code"]) == ("pending", "outcome_unknown")
    assert [(r.kind, r.amount_vnd) for r in txn.refunds] == [("02", payment["amount"])]
    janitor = wallets.client.app[POLLER]

    assert await janitor.run_once() == 0  # inside VNPAY's callback window
    wallets.clock.advance(seconds=VNPAY_WINDOW)
    assert await janitor.run_once() == 1  # querydr: 05, VNPAY is processing it
    assert (await _refund_now(wallets, refund))["status"] == "pending"
    assert await janitor.run_once() == 0  # the back-off

    txn.refunds[-1].status = vnpay_says
    wallets.clock.advance(seconds=2 * VNPAY_WINDOW)
    assert await janitor.run_once() == 1
    settled = await _refund_now(wallets, refund)
    assert (settled["status"], settled["failure_code"]) == (refund_status, failure_code)
    assert settled["query_count"] == 2 and settled["flagged_at"] is None
    assert (await wallets.payment(payment["id"]))["status"] == payment_status
    wallets.clock.advance(hours=100)
    assert await janitor.run_once() == 0  # final: never asked again, never flagged
    assert await _events(wallets, event) == 1
    assert await _events(wallets, "refund.needs_review") == 0


async def test_querydr_about_another_refund_of_the_payment_does_not_settle_this_one(
    wallets: Wallets,
) -> None:
    payment, txn = await _paid_vnpay(wallets)
    first = await _refund(wallets, payment, 50000)
    assert first["status"] == "succeeded"
    wallets.vnpay.app[VNPAY_SWITCHES].drop_refund_requests = 1  # never reaches VNPAY
    second = await _refund(wallets, payment, 135000)
    assert second["status"] == "pending"
    txn.refunds[-1].status = "06"  # VNPAY's latest refund is the first one, sent to the bank

    wallets.clock.advance(seconds=VNPAY_WINDOW)
    assert await wallets.client.app[POLLER].run_once() == 1
    assert (await _refund_now(wallets, second))["status"] == "pending"
    assert (await wallets.payment(payment["id"]))["status"] == "partially_refunded"


async def test_querydr_about_an_equal_refund_of_the_payment_settles_neither(
    wallets: Wallets,
) -> None:
    """Two pending partial refunds of the same amount: VNPAY's answer about one cannot be
    told from an answer about the other, so neither is settled by it; both reach finance."""
    payment, txn = await _paid_vnpay(wallets)
    wallets.vnpay.app[VNPAY_SWITCHES].lose_refund_answers = 1  # made at VNPAY, answer lost
    first = await _refund(wallets, payment, 50000)
    wallets.vnpay.app[VNPAY_SWITCHES].drop_refund_requests = 1  # never reaches VNPAY
    second = await _refund(wallets, payment, 50000)
    assert (first["status"], second["status"]) == ("pending", "pending")
    [made] = txn.refunds
    made.status = "06"  # the first one went to the bank; VNPAY answers about it

    wallets.clock.advance(seconds=VNPAY_WINDOW)
    assert await wallets.client.app[POLLER].run_once() == 2

    assert (await _refund_now(wallets, first))["status"] == "pending"
    assert (await _refund_now(wallets, second))["status"] == "pending"
    assert (await wallets.payment(payment["id"]))["status"] == "paid"
    assert txn.refunded_vnd == 50000  # what VNPAY gave back: only the first
    wallets.clock.advance(hours=72)
    await wallets.client.app[POLLER].run_once()
    assert await _events(wallets, "refund.needs_review") == 2


async def test_querydr_about_an_earlier_settled_refund_does_not_settle_a_new_one(
    wallets: Wallets,
) -> None:
    """VNPAY declined a refund (querydr 09, its transaction number kept); a second refund of
    the same amount never reached VNPAY: querydr still answers about the first one."""
    payment, txn = await _paid_vnpay(wallets)
    wallets.vnpay.app[VNPAY_SWITCHES].lose_refund_answers = 1
    first = await _refund(wallets, payment, 50000)
    txn.refunds[-1].status = "09"
    wallets.clock.advance(seconds=VNPAY_WINDOW)
    assert await wallets.client.app[POLLER].run_once() == 1
    declined = await _refund_now(wallets, first)
    assert (declined["status"], declined["provider_transaction_id"]) == (
        "failed",
        txn.refunds[-1].transaction_no,
    )
    wallets.vnpay.app[VNPAY_SWITCHES].drop_refund_requests = 1
    second = await _refund(wallets, payment, 50000)

    wallets.clock.advance(seconds=VNPAY_WINDOW)
    assert await wallets.client.app[POLLER].run_once() == 1

    assert (await _refund_now(wallets, second))["status"] == "pending"


async def test_querydr_about_a_refund_of_another_kind_does_not_settle_this_one(
    wallets: Wallets,
) -> None:
    payment, txn = await _paid_vnpay(wallets)
    wallets.vnpay.app[VNPAY_SWITCHES].lose_refund_answers = 1
    refund = await _refund(wallets, payment, 50000)  # partial: VNPAY type 03
    [made] = txn.refunds
    made.kind, made.status = "02", "06"  # VNPAY reports a full refund of that amount

    wallets.clock.advance(seconds=VNPAY_WINDOW)
    assert await wallets.client.app[POLLER].run_once() == 1

    assert (await _refund_now(wallets, refund))["status"] == "pending"
    made.kind = "03"  # now it is this refund's own kind: settled
    wallets.clock.advance(seconds=2 * VNPAY_WINDOW)
    assert await wallets.client.app[POLLER].run_once() == 1
    settled = await _refund_now(wallets, refund)
    assert (settled["status"], settled["provider_transaction_id"]) == (
        "succeeded",
        made.transaction_no,
    )


def _answer(**fields: Any) -> QueryResult:
    stated: dict[str, Any] = {
        "response_id": "r",
        "response_code": "00",
        "message": "",
        "tmn_code": VNPAY_TMN,
        "txn_ref": "DVC1",
        "amount_vnd": 50000,
        "order_info": "",
        "bank_code": "NCB",
        "pay_date": None,
        "transaction_no": "20000001",
        "transaction_type": "03",
        "transaction_status": "06",
        "raw": {},
        "promotion_code": None,
        "promotion_amount": None,
    }
    return QueryResult(**(stated | fields))


def _pending_refund(amount: int, *others: OtherRefund) -> RefundRequest:
    at = datetime(2026, 11, 22, 2, tzinfo=UTC)
    attempt = AttemptRef("att_1", "DVC1", "HCM", 185000, None, at)
    return RefundRequest(
        "ref_1", "R1", attempt, "14422574", amount, amount == 185000, "x", "janitor", at, others
    )


@pytest.mark.parametrize(
    ("answer", "others", "tied"),
    [
        ({}, (), True),
        ({"amount_vnd": None}, (), False),  # no vnp_Amount: cannot be tied
        ({"amount_vnd": 60000}, (), False),  # another refund's amount
        ({"transaction_type": "02"}, (), False),  # a full refund, this one is partial
        ({}, (OtherRefund(50000, "pending", None),), False),  # an equal refund pending
        ({}, (OtherRefund(50000, "succeeded", "20000009"),), False),  # or succeeded
        ({}, (OtherRefund(50000, "failed", None),), True),  # a failed one is no candidate
        ({}, (OtherRefund(30000, "failed", "20000001"),), False),  # its number: about it
        ({}, (OtherRefund(30000, "succeeded", "20000002"),), True),
    ],
)
def test_a_querydr_answer_settles_a_refund_only_when_it_is_tied_to_it(
    answer: dict[str, Any], others: tuple[OtherRefund, ...], tied: bool
) -> None:
    assert about_this_refund(_answer(**answer), _pending_refund(50000, *others)) is tied


async def test_a_vnpay_refund_still_pending_at_its_horizon_is_handed_to_finance(
    wallets: Wallets,
) -> None:
    payment, _ = await _paid_vnpay(wallets)
    wallets.vnpay.app[VNPAY_SWITCHES].drop_refund_requests = 1  # VNPAY never saw it
    refund = await _refund(wallets, payment, payment["amount"])
    janitor = wallets.client.app[POLLER]
    wallets.clock.advance(hours=71)
    assert await janitor.run_once() == 1  # querydr answers about the payment: still pending
    assert (await _refund_now(wallets, refund))["flagged_at"] is None
    assert await _flagged(wallets) == (200, {"data": []})

    wallets.clock.advance(hours=1, seconds=1)  # 72 h: VNPAY's refund horizon
    await janitor.run_once()
    flagged = await _refund_now(wallets, refund)
    assert flagged["status"] == "pending" and flagged["flagged_at"] is not None
    status, listed = await _flagged(wallets)
    assert status == 200
    [item] = listed["data"]
    assert (item["id"], item["channel"], item["agency_code"], item["attempt_reference"]) == (
        refund["id"],
        "vnpay",
        "HCM",
        txn_ref(wallets),
    )
    assert (await _flagged(wallets, "other"))[0] == 403  # a portal key does not see it
    assert await _events(wallets, "refund.needs_review") == 1
    assert await _gauge(wallets, "vnpay") == 1

    # Still asked about, at most hourly; flagged once only.
    asked = flagged["query_count"]
    wallets.clock.advance(hours=1)
    await janitor.run_once()
    assert (await _refund_now(wallets, refund))["query_count"] == asked + 1
    assert await _events(wallets, "refund.needs_review") == 1

    # Finance asked VNPAY (the refund never arrived) and records it failed: off the list.
    done = await complete_refund(wallets, refund["id"], "failed")
    assert done["status"] == "failed"
    assert await _flagged(wallets) == (200, {"data": []})
    await janitor.run_once()
    assert await _gauge(wallets, "vnpay") == 0
    assert (await wallets.payment(payment["id"]))["status"] == "paid"  # refundable again


async def _waiting_for_a_lock(conn: Any) -> int:
    found = await conn.execute(
        text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    )
    return int(found.scalar_one())


async def test_the_janitor_never_holds_a_refund_while_it_waits_for_its_bill(
    aiohttp_server: Any, postgres_url: str, clock: FixedClock, unused_tcp_port_factory: Any
) -> None:
    """The one lock order (gateway.core.money): the bill, then the refund. A settlement
    holding the bill takes the refund next; the janitor flagging that refund waits for the
    bill without holding the refund, so the two never deadlock (PostgreSQL: row locks)."""
    wallets = await open_wallets(aiohttp_server, postgres_url, clock, unused_tcp_port_factory())
    settlement = Database(postgres_url)
    try:
        payment, _ = await _paid_vnpay(wallets)
        wallets.vnpay.app[VNPAY_SWITCHES].drop_refund_requests = 1  # VNPAY never saw it
        refund = await _refund(wallets, payment, payment["amount"])
        wallets.clock.advance(hours=71)
        await wallets.client.app[POLLER].run_once()  # the bill's other attempts are done with
        wallets.clock.advance(hours=2)  # past VNPAY's refund horizon

        async with settlement.write() as conn:
            await lock_bill(conn, payment["id"])  # as RefundService.settle does first
            janitor = asyncio.create_task(wallets.client.app[POLLER].run_once())
            async with settlement.read() as watch:
                for _ in range(100_000):  # each look is a query: no sleeping
                    if await _waiting_for_a_lock(watch) or janitor.done():
                        break
                assert await _waiting_for_a_lock(watch) == 1, "the janitor waits for the bill"
            taken = await conn.execute(
                select(refunds.c.id)
                .where(refunds.c.id == refund["id"])
                .with_for_update(nowait=True)
            )
            assert taken.first() is not None  # the refund is free: the settlement goes on
        await janitor

        assert (await _refund_now(wallets, refund))["flagged_at"] is not None
        assert await _events(wallets, "refund.needs_review") == 1
    finally:
        await settlement.close()
        await wallets.client.close()


async def _audited(wallets: Wallets, refund_id: str) -> list[Any]:
    async with wallets.client.app[DATABASE].read() as conn:
        return list(
            (await conn.execute(select(audit_log).where(audit_log.c.object_id == refund_id))).all()
        )


async def test_finance_recording_a_refund_settled_meanwhile_is_refused_and_not_audited(
    aiohttp_server: Any, postgres_url: str, clock: FixedClock, unused_tcp_port_factory: Any
) -> None:
    """VNPAY's word settles the refund while finance records theirs: finance's request waits
    for the bill, then finds the refund settled — 409 ``invalid_transition``, and the audit
    log does not claim a result that was never applied."""
    wallets = await open_wallets(aiohttp_server, postgres_url, clock, unused_tcp_port_factory())
    provider = Database(postgres_url)
    try:
        payment, _ = await _paid_vnpay(wallets)
        wallets.vnpay.app[VNPAY_SWITCHES].drop_refund_requests = 1
        refund = await _refund(wallets, payment, payment["amount"])
        service = wallets.client.app[REFUND_SERVICE]

        async with provider.write() as conn:  # the provider's word, not yet committed
            declined = RefundOutcome("failed", failure_code="vnpay_refund_declined")
            assert await service.settle(conn, refund["id"], declined)
            finance = asyncio.create_task(
                wallets.client.post(
                    f"/v1/refunds/{refund['id']}/complete",
                    json={"status": "succeeded", "provider_transaction_id": "14422999"},
                    headers=wallets.auth("finance"),
                )
            )
            async with provider.read() as watch:
                for _ in range(100_000):  # each look is a query: no sleeping
                    if await _waiting_for_a_lock(watch) or finance.done():
                        break
                assert await _waiting_for_a_lock(watch) == 1, "finance waits for the bill"

        answer = await finance
        assert answer.status == 409, await answer.text()
        assert (await answer.json())["code"] == "invalid_transition"
        settled = await _refund_now(wallets, refund)
        assert (settled["status"], settled["failure_code"]) == ("failed", "vnpay_refund_declined")
        assert await _audited(wallets, refund["id"]) == []
        assert await _events(wallets, "refund.succeeded") == 0
    finally:
        await provider.close()
        await wallets.client.close()


async def test_finance_recording_a_settled_refund_is_refused_and_not_audited(
    wallets: Wallets,
) -> None:
    payment, _ = await _paid_vnpay(wallets)
    refund = await _refund(wallets, payment, 50000)
    assert refund["status"] == "succeeded"

    answer = await wallets.client.post(
        f"/v1/refunds/{refund['id']}/complete",
        json={"status": "failed"},
        headers=wallets.auth("finance"),
    )

    assert answer.status == 409
    assert (await answer.json())["code"] == "invalid_transition"
    assert (await _refund_now(wallets, refund))["status"] == "succeeded"
    assert await _audited(wallets, refund["id"]) == []


def txn_ref(wallets: Wallets) -> str:
    [(_, reference)] = list(wallets.vnpay.app[TRANSACTIONS])
    return reference


async def test_a_momo_refund_is_never_asked_about_and_reaches_finance_at_its_horizon(
    wallets: Wallets,
) -> None:
    payment, attempt = await wallets.start("momo")
    status, body = await wallets.sandbox(
        wallets.momo, "/simulate", order_id=attempt["provider_reference"], outcome="success"
    )
    assert status == 200, body
    assert (await wallets.payment(payment["id"]))["status"] == "paid"
    wallets.momo.app[MOMO_SWITCHES].lose_refund_answers = 1
    refund = await _refund(wallets, payment, payment["amount"])
    assert (refund["status"], refund["failure_code"]) == ("pending", "outcome_unknown")
    janitor = wallets.client.app[POLLER]

    wallets.clock.advance(hours=23)
    assert await janitor.run_once() == 0  # no refund query in MoMo's spec: never asked
    assert (await _refund_now(wallets, refund))["flagged_at"] is None
    wallets.clock.advance(hours=1, seconds=1)  # 24 h: MoMo's refund horizon
    assert await janitor.run_once() == 0
    flagged = await _refund_now(wallets, refund)
    assert (flagged["status"], flagged["query_count"]) == ("pending", 0)
    assert flagged["flagged_at"] is not None
    [item] = (await _flagged(wallets))[1]["data"]
    assert (item["id"], item["channel"]) == (refund["id"], "momo")
    assert await _gauge(wallets, "momo") == 1

    # On the finance console: the dashboard's list, and the bill's refunds.
    await wallets.client.app[STAFF].create_user(
        username="ketoan",
        display_name="Kế toán",
        role=Role.FINANCE,
        password=PASSWORD,
        agency_codes=["HCM"],
    )
    session = await staff_login(wallets.client, "ketoan", PASSWORD, "/console")
    html = await (await wallets.client.get("/console", headers=session.cookie)).text()
    assert 'data-testid="flagged-refunds"' in html and "Ví điện tử MoMo" in html
    assert attempt["provider_reference"] in html and refund["provider_reference"] in html
    detail = await wallets.client.get(f"/console/payments/{payment['id']}", headers=session.cookie)
    assert 'data-testid="refund-flagged"' in await detail.text()

    # Finance confirmed with MoMo that the money went back: proposed by one person, approved
    # by another, the bill refunded.
    await complete_refund(wallets, refund["id"], "succeeded", "4100000001")
    assert (await wallets.payment(payment["id"]))["status"] == "refunded"
    assert await _events(wallets, "refund.succeeded") == 1
    proposed, approved = sorted(await _audited(wallets, refund["id"]), key=lambda a: a.id)
    assert (proposed.action, proposed.details["outcome"]) == (
        "refund_resolution_proposed",
        "succeeded",
    )
    assert proposed.details["flagged_at"] == flagged["flagged_at"]
    assert (approved.action, approved.details["outcome"]) == (
        "refund_resolution_approved",
        "succeeded",
    )
    html = await (await wallets.client.get("/console", headers=session.cookie)).text()
    assert 'data-testid="flagged-refunds"' not in html
