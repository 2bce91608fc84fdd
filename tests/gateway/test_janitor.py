"""The janitor (gateway/services/polling.py): every quiet attempt of every channel is asked
about with back-off, shared by workers through the database, and handed to finance once its
channel's horizon passes — never assumed failed. Lost callbacks per channel are covered in
each channel's tests (VNPAY, POS, MoMo, ZaloPay)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta
from itertools import pairwise
from typing import Any

from conftest import METRICS_AUTH, Wallets
from sqlalchemy import func, select
from tests_support import staff_login

from gateway.core.db.schema import attempts, outbox_events
from gateway.core.roles import Role
from gateway.keys import ATTEMPTS, DATABASE, POLLER, SERVICES, STAFF
from gateway.services.polling import Poller, age_bucket
from gateway.services.wiring import janitor_windows
from providers.sandbox.momo import CONFIG as MOMO_CONFIG
from providers.sandbox.momo import ORDERS, ipn_body

PASSWORD = "mật-khẩu-kế-toán-2026"


async def _row(wallets: Wallets, attempt_id: str) -> Any:
    async with wallets.client.app[DATABASE].read() as conn:
        return (await conn.execute(select(attempts).where(attempts.c.id == attempt_id))).one()


async def _pending_at_momo(wallets: Wallets, **payment: Any) -> tuple[dict[str, Any], Any]:
    """A MoMo attempt the citizen left "being processed" (7000: MoMo sends no IPN)."""
    bill = await wallets.create_payment(**payment)
    status, attempt = await wallets.attempt(bill["id"], method="momo")
    assert status == 201, attempt
    await wallets.sandbox(
        wallets.momo, "/simulate", order_id=attempt["provider_reference"], outcome="pending"
    )
    return bill, attempt


async def test_an_attempt_still_pending_is_asked_again_with_a_doubling_wait(
    wallets: Wallets,
) -> None:
    _, attempt = await _pending_at_momo(wallets)
    janitor = wallets.client.app[POLLER]
    asked_at = []
    for _ in range(4 * 60):  # four hours in one-minute steps
        wallets.clock.advance(minutes=1)
        if await janitor.run_once():
            asked_at.append(wallets.clock.now)
    gaps = [later - earlier for earlier, later in pairwise(asked_at)]
    # MoMo's window is 2 minutes: 2, 4, 8, 16, 32, then at most an hour between questions.
    assert gaps[:5] == [timedelta(minutes=m) for m in (2, 4, 8, 16, 32)]
    assert set(gaps[5:]) == {timedelta(hours=1)}
    row = await _row(wallets, attempt["id"])
    assert (row.status, row.query_count) == ("pending", len(asked_at))


async def test_past_its_horizon_an_open_attempt_goes_to_finance_not_to_failed(
    wallets: Wallets,
) -> None:
    bill, attempt = await _pending_at_momo(wallets, expires_in_seconds=7 * 24 * 3600)
    janitor = wallets.client.app[POLLER]
    wallets.clock.advance(hours=47)
    await janitor.run_once()
    assert (await wallets.payment_attempt(bill["id"], attempt["id"]))["flagged_at"] is None

    wallets.clock.advance(hours=2)  # MoMo's horizon (48 h) has passed
    await janitor.run_once()
    flagged = await wallets.payment_attempt(bill["id"], attempt["id"])
    assert flagged["status"] == "pending"  # never assumed failed
    assert flagged["flagged_at"] is not None and flagged["query_count"] >= 1
    assert flagged["next_query_at"] is None  # no longer asked about
    assert (await wallets.payment(bill["id"]))["status"] == "pending"
    async with wallets.client.app[DATABASE].read() as conn:
        types = (await conn.execute(select(outbox_events.c.type))).scalars().all()
    assert types.count("attempt.needs_review") == 1

    # Finance sees it: through the API (their agencies only) and on the console.
    listed = await wallets.client.get("/v1/attempts/flagged", headers=wallets.auth("finance2"))
    assert [item["id"] for item in (await listed.json())["data"]] == [attempt["id"]]
    other = await wallets.client.get("/v1/attempts/flagged", headers=wallets.auth("other"))
    assert other.status == 403  # a portal key is not finance
    await wallets.client.app[STAFF].create_user(
        username="ketoan",
        display_name="Kế toán",
        role=Role.FINANCE,
        password=PASSWORD,
        agency_codes=["HCM"],
    )
    session = await staff_login(wallets.client, "ketoan", PASSWORD, "/console")
    dashboard = await wallets.client.get("/console", headers=session.cookie)
    html = await dashboard.text()
    assert 'data-testid="flagged-attempts"' in html and attempt["provider_reference"] in html
    assert "Ví điện tử MoMo" in html and "Chờ thanh toán" in html  # in words, not codes
    # It leads to the bill, with the attempt among its tries.
    detail = await wallets.client.get(f"/console/payments/{bill['id']}", headers=session.cookie)
    text = await detail.text()
    assert f'href="/console/payments/{bill["id"]}"' in html
    assert "Đã chuyển kế toán kiểm tra" in text and attempt["provider_reference"] in text

    wallets.clock.advance(hours=5)
    assert await janitor.run_once() == 0  # finance has it now: no more questions
    # MoMo's word still counts when it comes: the money is real.
    order = wallets.momo.app[ORDERS][attempt["provider_reference"]]
    order.result_code, order.trans_id = 0, 4100000009
    body = ipn_body(wallets.momo.app[MOMO_CONFIG], order)
    response = await wallets.client.post("/callbacks/momo/ipn", data=json.dumps(body))
    assert response.status == 204
    assert (await wallets.payment(bill["id"]))["status"] == "paid"


async def test_an_attempt_whose_provider_cannot_answer_still_goes_to_finance_at_the_horizon(
    wallets: Wallets,
) -> None:
    bill, attempt = await _pending_at_momo(wallets, expires_in_seconds=7 * 24 * 3600)
    await wallets.momo.close()  # MoMo cannot be reached from now on: every query raises
    janitor = wallets.client.app[POLLER]
    wallets.clock.advance(hours=47)
    await janitor.run_once()
    assert (await wallets.payment_attempt(bill["id"], attempt["id"]))["flagged_at"] is None

    wallets.clock.advance(hours=2)  # past MoMo's horizon (48 h), still no answer
    await janitor.run_once()

    flagged = await wallets.payment_attempt(bill["id"], attempt["id"])
    assert (flagged["status"], flagged["flagged_at"] is not None) == ("pending", True)


async def test_two_workers_never_ask_about_the_same_attempt_twice(wallets: Wallets) -> None:
    started = [await _pending_at_momo(wallets) for _ in range(6)]
    services = wallets.client.app[SERVICES]
    other = Poller(
        services.database,
        wallets.client.app[ATTEMPTS],
        services.attempts.channels,
        janitor_windows(services.settings),
        batch=4,
    )
    mine = wallets.client.app[POLLER]
    mine.batch = 4
    wallets.clock.advance(minutes=3)
    asked = await asyncio.gather(mine.run_once(), other.run_once())
    assert sum(asked) == 6
    counts = [(await _row(wallets, attempt["id"])).query_count for _, attempt in started]
    assert counts == [1] * 6


async def test_a_callback_and_the_janitor_at_once_apply_the_money_once(wallets: Wallets) -> None:
    bill = await wallets.create_payment()
    _, attempt = await wallets.attempt(bill["id"], method="momo")
    await wallets.sandbox(
        wallets.momo,
        "/simulate",
        order_id=attempt["provider_reference"],
        outcome="success",
        lose_ipn=True,
    )
    order = wallets.momo.app[ORDERS][attempt["provider_reference"]]
    body = json.dumps(ipn_body(wallets.momo.app[MOMO_CONFIG], order))
    wallets.clock.advance(minutes=3)

    ipn, _ = await asyncio.gather(
        wallets.client.post("/callbacks/momo/ipn", data=body),
        wallets.client.app[POLLER].run_once(),
    )
    assert ipn.status == 204
    assert (await wallets.payment(bill["id"]))["status"] == "paid"
    async with wallets.client.app[DATABASE].read() as conn:
        paid = (
            await conn.execute(select(func.count()).where(outbox_events.c.type == "payment.paid"))
        ).scalar_one()
    assert paid == 1


async def test_open_attempts_are_gauged_by_channel_and_age(wallets: Wallets) -> None:
    await _pending_at_momo(wallets)
    bill = await wallets.create_payment()
    await wallets.attempt(bill["id"], method="zalopay")
    wallets.clock.advance(minutes=10)
    await wallets.client.app[POLLER].run_once()
    metrics = await (await wallets.client.get("/metrics", headers=METRICS_AUTH)).text()
    assert 'gateway_attempts_open{age="5m_30m",channel="momo"} 1.0' in metrics
    assert 'gateway_attempts_open{age="5m_30m",channel="zalopay"} 1.0' in metrics
    assert 'gateway_attempts_open{age="5m_30m",channel="vietqr"} 2.0' in metrics


async def test_open_attempts_at_a_bucket_bound_are_counted_in_the_older_bucket(
    wallets: Wallets,
) -> None:
    # age < bound is the younger bucket; exactly the bound is the next one (age_bucket).
    poller = wallets.client.app[POLLER]
    await wallets.create_payment()  # a VietQR attempt, exactly 3 days old at the end
    wallets.clock.advance(days=2)
    await wallets.create_payment()  # exactly 24 hours
    wallets.clock.advance(hours=22)
    await wallets.create_payment()  # exactly 2 hours
    wallets.clock.advance(minutes=90)
    await wallets.create_payment()  # exactly 30 minutes
    wallets.clock.advance(minutes=25)
    await wallets.create_payment()  # exactly 5 minutes
    wallets.clock.advance(minutes=5)
    await wallets.create_payment()  # just created
    counted = await poller.open_by_age()

    async with wallets.client.app[DATABASE].read() as conn:
        rows = (await conn.execute(select(attempts.c.channel, attempts.c.created_at))).all()
    now = wallets.clock.now
    assert counted == Counter((row.channel, age_bucket(now - row.created_at)) for row in rows)
    assert counted == {
        ("vietqr", "gt_3d"): 1,
        ("vietqr", "1d_3d"): 1,
        ("vietqr", "2h_24h"): 1,
        ("vietqr", "30m_2h"): 1,
        ("vietqr", "5m_30m"): 1,
        ("vietqr", "lt_5m"): 1,
    }
