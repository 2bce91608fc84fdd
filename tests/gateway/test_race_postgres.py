"""Two gateway processes on one PostgreSQL: a bank credit notice and a VNPAY success IPN for
the same bill arrive at the same moment, at different processes.

Both paths lock the payment and its attempts; if they took them in different orders,
PostgreSQL would break the deadlock by failing one transaction, and that provider would be
answered 500. The gateway locks in one order and retries a deadlock that still happens, so
every answer is a real one, the bill is paid once, and the second money is flagged.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import (
    VNPAY_SECRET,
    VNPAY_TMN,
    FixedClock,
    make_settings,
    payment_body,
    seed,
)
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from tests_support import signed_ipn, signed_notice

from gateway.app import create_app
from gateway.core.db import Database
from gateway.core.db.database import DatabaseBusy
from gateway.core.db.schema import attempts, outbox_events, payments, provider_events
from gateway.keys import DATABASE

ROUNDS = 30


@pytest.fixture
async def two_gateways(
    postgres_url: str, clock: FixedClock
) -> AsyncIterator[tuple[TestClient, TestClient, dict[str, str]]]:  # type: ignore[type-arg]
    settings = make_settings(
        postgres_url,
        vnpay={
            # Starting a VNPAY attempt only builds the redirect URL: nothing listens here.
            "payment_url": "http://127.0.0.1:9/paymentv2/vpcpay.html",
            "api_url": "http://127.0.0.1:9/merchant_webapi/api/transaction",
            "tmn_code": VNPAY_TMN,
            "hash_secret": VNPAY_SECRET,
        },
    )
    first = TestClient(TestServer(create_app(settings, clock=clock, background=False)))
    second = TestClient(TestServer(create_app(settings, clock=clock, background=False)))
    await first.start_server()
    await second.start_server()
    assert first.app[DATABASE] is not second.app[DATABASE]
    keys = await seed(first)
    yield first, second, keys
    await first.close()
    await second.close()


async def _create(client: TestClient, auth: dict[str, str], dossier_code: str) -> Any:  # type: ignore[type-arg]
    created = await client.post(
        "/v1/payments",
        json=payment_body(dossier_code=dossier_code),
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert created.status == 201, await created.text()
    return await created.json()


async def _paid_events(conn: AsyncConnection, payment_id: str) -> int:
    """How many ``payment.paid`` events the payment has in the outbox."""
    count = await conn.execute(
        select(func.count())
        .select_from(outbox_events)
        .where(outbox_events.c.payment_id == payment_id, outbox_events.c.type == "payment.paid")
    )
    return int(count.scalar_one())


async def test_bank_notice_and_vnpay_ipn_racing_on_two_processes_pay_the_bill_once(
    two_gateways: tuple[TestClient, TestClient, dict[str, str]],  # type: ignore[type-arg]
    clock: FixedClock,
) -> None:
    first, second, keys = two_gateways
    auth = {"Authorization": f"Bearer {keys['portal']}"}
    failures: list[str] = []
    for round_ in range(ROUNDS):
        payment = await _create(first, auth, f"000.00.12.H29-241122-{round_:04d}")
        started = await first.post(
            f"/v1/payments/{payment['id']}/attempts",
            json={"method": "vnpay"},
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert started.status == 201, await started.text()
        attempt = await started.json()

        # Alternate which process hears which provider.
        bank_side, vnpay_side = (first, second) if round_ % 2 == 0 else (second, first)
        body, headers = signed_notice(payment, int(clock().timestamp()))
        bank_answer, ipn_answer = await asyncio.gather(
            bank_side.post("/callbacks/bank/testbank", data=body, headers=headers),
            vnpay_side.get("/callbacks/vnpay/ipn", params=signed_ipn(attempt)),
        )
        answers = (bank_answer.status, ipn_answer.status)
        ipn_body = await ipn_answer.text()
        await bank_answer.text()

        async with first.app[DATABASE].read() as conn:
            bill = (
                await conn.execute(select(payments.c.status).where(payments.c.id == payment["id"]))
            ).scalar_one()
            money = (
                await conn.execute(
                    select(attempts.c.channel, attempts.c.status, attempts.c.review_reason)
                    .where(attempts.c.payment_id == payment["id"])
                    .order_by(attempts.c.channel)
                )
            ).all()
            paid_events = await _paid_events(conn, payment["id"])
        reasons = sorted(str(row.review_reason) for row in money)
        problems = []
        if max(answers) >= 500:
            problems.append(f"answers {answers}")
        if bill != "paid" or paid_events != 1:
            problems.append(f"bill {bill} with {paid_events} payment.paid events")
        if [row.status for row in money] != ["succeeded", "succeeded"] or reasons != [
            "None",
            "duplicate_payment",
        ]:
            problems.append(f"attempts {[tuple(row) for row in money]}")
        if ipn_answer.status == 200 and json.loads(ipn_body)["RspCode"] != "00":
            problems.append(f"IPN answered {ipn_body}")
        if problems:
            failures.append(f"round {round_}: " + "; ".join(problems))

    async with first.app[DATABASE].read() as conn:
        stored = (
            await conn.execute(select(func.count()).select_from(provider_events))
        ).scalar_one()
    assert not failures, f"{len(failures)} of {ROUNDS} rounds went wrong:\n" + "\n".join(failures)
    assert stored == 2 * ROUNDS  # every notice and IPN kept, none twice


async def test_a_deadlock_is_retried_and_each_unit_of_work_lands_once(postgres_url: str) -> None:
    """Two transactions lock two rows in opposite orders — a real deadlock. PostgreSQL aborts
    one; :meth:`Database.transaction` runs it again, and each unit's change lands once."""
    first, second = Database(postgres_url), Database(postgres_url)
    async with first.write() as conn:
        await conn.execute(text("CREATE TABLE race_probe (id int PRIMARY KEY, n int NOT NULL)"))
        await conn.execute(text("INSERT INTO race_probe VALUES (1, 0), (2, 0)"))
    tries = {"a": 0, "b": 0}
    holding = {"a": asyncio.Event(), "b": asyncio.Event()}

    def unit(name: str, rows: tuple[int, int], other: str) -> Any:
        async def work(conn: AsyncConnection) -> None:
            tries[name] += 1
            bump = text("UPDATE race_probe SET n = n + 1 WHERE id = :id")
            await conn.execute(bump, {"id": rows[0]})
            holding[name].set()
            await holding[other].wait()  # both now hold one row and want the other
            await conn.execute(bump, {"id": rows[1]})

        return work

    try:
        await asyncio.gather(
            first.transaction(unit("a", (1, 2), "b")),
            second.transaction(unit("b", (2, 1), "a")),
        )
        async with first.read() as conn:
            counts = (await conn.execute(text("SELECT n FROM race_probe ORDER BY id"))).all()
        assert [row.n for row in counts] == [2, 2]  # each unit applied exactly once
        assert sorted(tries.values()) == [1, 2]  # the deadlock victim ran again
    finally:
        async with first.write() as conn:
            await conn.execute(text("DROP TABLE race_probe"))
        await first.close()
        await second.close()


class _Deadlock(Exception):
    """What asyncpg reports for a deadlock: an error carrying its SQLSTATE."""

    sqlstate = "40P01"


async def test_a_deadlock_that_keeps_happening_is_answered_database_busy(
    postgres_url: str,
) -> None:
    db = Database(postgres_url)
    tries = 0

    async def work(conn: AsyncConnection) -> None:
        nonlocal tries
        tries += 1
        raise DBAPIError("UPDATE payments", {}, _Deadlock())

    try:
        with pytest.raises(DatabaseBusy) as raised:
            await db.transaction(work, tries=3, max_wait_seconds=0.01)
    finally:
        await db.close()
    assert tries == 3
    assert (raised.value.code, raised.value.http_status) == ("database_busy", 503)


async def test_the_same_notice_at_both_processes_at_once_is_applied_once(
    two_gateways: tuple[TestClient, TestClient, dict[str, str]],  # type: ignore[type-arg]
    clock: FixedClock,
) -> None:
    """The bank delivers one notice twice, to both processes at the same moment: one copy
    is applied; the other waits for it and is answered from it as a duplicate."""
    first, second, keys = two_gateways
    auth = {"Authorization": f"Bearer {keys['portal']}"}
    for round_ in range(10):
        payment = await _create(first, auth, f"000.00.12.H29-241122-9{round_:03d}")
        body, headers = signed_notice(payment, int(clock().timestamp()))
        answers = await asyncio.gather(
            first.post("/callbacks/bank/testbank", data=body, headers=headers),
            second.post("/callbacks/bank/testbank", data=body, headers=headers),
        )
        assert [answer.status for answer in answers] == [200, 200]
        bodies = [await answer.json() for answer in answers]
        acknowledged = sorted([body["status"], body["outcome"]] for body in bodies)
        assert acknowledged == [["accepted", "applied"], ["duplicate", "applied"]]
        async with first.app[DATABASE].read() as conn:
            paid = await _paid_events(conn, payment["id"])
        assert paid == 1


async def test_the_same_ipn_at_both_processes_at_once_is_applied_once(
    two_gateways: tuple[TestClient, TestClient, dict[str, str]],  # type: ignore[type-arg]
) -> None:
    """VNPAY delivers one IPN twice, to both processes at the same moment. On PostgreSQL the
    inbox's store and the bill's lock are one statement: one copy is applied (``00``); the
    other waits for it and, as a replay, is answered from the attempt as it is now (``02``).
    The bill is paid once, its VietQR attempt closed once, one ``payment.paid`` event."""
    first, second, keys = two_gateways
    auth = {"Authorization": f"Bearer {keys['portal']}"}
    for round_ in range(10):
        payment = await _create(first, auth, f"000.00.12.H29-241122-8{round_:03d}")
        started = await first.post(
            f"/v1/payments/{payment['id']}/attempts",
            json={"method": "vnpay"},
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        attempt = await started.json()
        params = signed_ipn(attempt)
        answers = await asyncio.gather(
            first.get("/callbacks/vnpay/ipn", params=params),
            second.get("/callbacks/vnpay/ipn", params=params),
        )
        assert [answer.status for answer in answers] == [200, 200]
        codes = sorted([(await answer.json())["RspCode"] for answer in answers])
        assert codes == ["00", "02"], f"round {round_}"
        async with first.app[DATABASE].read() as conn:
            statuses = (
                await conn.execute(
                    select(attempts.c.channel, attempts.c.status)
                    .where(attempts.c.payment_id == payment["id"])
                    .order_by(attempts.c.channel)
                )
            ).all()
            bill = (
                await conn.execute(select(payments.c.status).where(payments.c.id == payment["id"]))
            ).scalar_one()
            paid = await _paid_events(conn, payment["id"])
            outcomes = (
                (
                    await conn.execute(
                        select(provider_events.c.outcome).where(
                            provider_events.c.payment_id == payment["id"]
                        )
                    )
                )
                .scalars()
                .all()
            )
        assert [tuple(row) for row in statuses] == [("vietqr", "cancelled"), ("vnpay", "succeeded")]
        assert (bill, paid) == ("paid", 1)
        assert outcomes == ["applied"]  # stored once
