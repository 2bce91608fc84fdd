"""Refunds are never lost (ARCHITECTURE §5, "One janitor"): a pending VNPAY refund is asked
about with querydr until VNPAY's word settles it; a refund still pending past its channel's
refund horizon is handed to finance (``flagged_at``, ``refund.needs_review``, the list, the
gauge) and finance records the result. MoMo's refund query is not in the spec, so a pending
MoMo refund is never asked about and reaches finance at its horizon. VNPAY and MoMo are the
real sandbox servers (specs/vnpay-reference.md §3.4, specs/momo-zalopay.md §A)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from conftest import METRICS_AUTH, VNPAY_TMN, Wallets
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from tests_support import pay_at_vnpay, staff_login

from gateway.core.db.schema import audit_log, outbox_events
from gateway.core.roles import Role
from gateway.keys import DATABASE, POLLER, STAFF
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
    done = await wallets.client.post(
        f"/v1/refunds/{refund['id']}/complete",
        json={"status": "failed"},
        headers=wallets.auth("finance"),
    )
    assert done.status == 200, await done.text()
    assert (await done.json())["status"] == "failed"
    assert await _flagged(wallets) == (200, {"data": []})
    await janitor.run_once()
    assert await _gauge(wallets, "vnpay") == 0
    assert (await wallets.payment(payment["id"]))["status"] == "paid"  # refundable again


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

    # Finance confirmed with MoMo that the money went back: recorded, the bill refunded.
    done = await wallets.client.post(
        f"/v1/refunds/{refund['id']}/complete",
        json={"status": "succeeded", "provider_transaction_id": "4100000001"},
        headers=wallets.auth("finance"),
    )
    assert done.status == 200, await done.text()
    assert (await wallets.payment(payment["id"]))["status"] == "refunded"
    assert await _events(wallets, "refund.succeeded") == 1
    async with wallets.client.app[DATABASE].read() as conn:
        [audit] = (
            await conn.execute(select(audit_log).where(audit_log.c.object_id == refund["id"]))
        ).all()
    assert (audit.action, audit.details["status"]) == ("refund_completed", "succeeded")
    assert audit.details["flagged_at"] == flagged["flagged_at"]
    html = await (await wallets.client.get("/console", headers=session.cookie)).text()
    assert 'data-testid="flagged-refunds"' not in html
