"""Webhook delivery throughput to a loopback receiver, on PostgreSQL.

    .venv/bin/python bench/webhook_delivery.py [--events N] [--per-payment K] [--batch B]
                                               [--concurrency C] [--json PATH]

Creates a fresh database, applies the migrations, writes N outbox events about N/K payments
(K events per payment, ``sequence`` 1..K) with one pending delivery each (straight into the
tables: this measures delivery, not event creation), starts a receiver in its own process
(aiohttp, answers 204, counts, and counts an event that arrives before an earlier one of its
payment as out of order), and times one ``DeliveryWorker.run_until_idle()`` — claim the head of
each payment's queue with ``FOR UPDATE SKIP LOCKED``, sign, POST, record — until every delivery
is done. With K > 1 a batch holds at most one event per payment, so the worker needs at least K
batches. Target: at least 1,000 deliveries/s. Exits non-zero only when the benchmark cannot run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processes import (
    BenchError,
    child_env,
    free_port,
    idle_percent,
    machine_busy_seconds,
    on_sigterm,
    spawn,
    stop_children,
    wait_ready,
)
from rss import RssSampler
from seed_rows import copy_payments, insert_agency_and_client, payment_row

from gateway.core.db import Database
from gateway.core.db.migrate import upgrade
from gateway.core.ids import system_clock
from gateway.observability import configure_logging
from webhooks.delivery import DeliveryOptions, DeliveryWorker
from webhooks.endpoints import EndpointService

RECEIVER = """
import json, sys
from aiohttp import web
count = 0
out_of_order = 0
last = {}
async def hook(request):
    global count, out_of_order
    event = json.loads(await request.read())
    count += 1
    payment, sequence = event["data"]["payment"]["id"], event["data"]["sequence"]
    if sequence != last.get(payment, 0) + 1:
        out_of_order += 1
    last[payment] = max(sequence, last.get(payment, 0))
    return web.Response(status=204)
async def total(request):
    return web.json_response({"count": count, "out_of_order": out_of_order})
app = web.Application()
app.router.add_post("/hooks", hook)
app.router.add_get("/count", total)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


async def seed(dsn: str, events: int, per_payment: int, url: str) -> None:
    conn = await asyncpg.connect(dsn)
    now = datetime.now(UTC)
    payments = -(-events // per_payment)
    try:
        agency = await insert_agency_and_client(conn, "970436", "0011001234567", now)
        await copy_payments(
            conn,
            [
                payment_row(
                    p,
                    agency,
                    f"B{p:020d}",
                    status="paid",
                    amount=1000,
                    expires_at=now + timedelta(minutes=15),
                    now=now,
                    sequence=min(per_payment, events - p * per_payment),
                )
                for p in range(payments)
            ],
        )
        await conn.execute(
            "INSERT INTO webhook_endpoints (id, client_id, url, events, secret, created_at) "
            """VALUES ('we_bench', 'benchclient', $1, '["*"]', $2, $3)""",
            url,
            "whsec_" + "A" * 43 + "=",
            now,
        )

        def event(i: int) -> tuple[object, ...]:
            payment, sequence = f"pay_{i // per_payment:026d}", i % per_payment + 1
            data = {"payment": {"id": payment}, "sequence": sequence}
            body = json.dumps({"id": f"evt_{i:026d}", "type": "payment.paid", "data": data})
            return (f"evt_{i:026d}", "payment.paid", "benchclient", payment, sequence, body, now)

        await conn.copy_records_to_table(
            "outbox_events",
            records=[event(i) for i in range(events)],
            columns=["id", "type", "client_id", "payment_id", "sequence", "body", "created_at"],
        )
        await conn.copy_records_to_table(
            "deliveries",
            records=[
                (f"evt_{i:026d}", "we_bench", "pending", 0, now, now, now) for i in range(events)
            ],
            columns=[
                "event_id",
                "endpoint_id",
                "status",
                "attempt_count",
                "next_attempt_at",
                "created_at",
                "updated_at",
            ],
        )
        # A live table has statistics (autovacuum); a freshly copied one has none, and without
        # them the planner may probe the ordering check per row over the whole endpoint.
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    name = f"gateway_bench_wh_{os.getpid()}"
    try:
        admin = await asyncpg.connect(args.pg)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(f"PostgreSQL is not reachable at {args.pg}: {exc}") from exc
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = args.pg.rsplit("/", 1)[0] + f"/{name}"
    port = free_port()
    log = workdir / "receiver.log"
    receiver = spawn([sys.executable, "-c", RECEIVER, str(port)], log, child_env())
    db = Database(dsn.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        await asyncio.to_thread(upgrade, db.url)
        await seed(dsn, args.events, args.per_payment, f"http://127.0.0.1:{port}/hooks")
        await wait_ready("receiver", f"http://127.0.0.1:{port}/count", receiver, log)
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            endpoints = EndpointService(
                db, system_clock, allow_private=True, secret_overlap=timedelta(hours=1)
            )
            worker = DeliveryWorker(
                db,
                system_clock,
                session,
                endpoints,
                DeliveryOptions(batch_size=args.batch, concurrency=args.concurrency),
            )
            me = psutil.Process()
            with RssSampler(me.pid) as sampler:
                cpu_before, machine_before = me.cpu_times(), machine_busy_seconds()
                started = time.perf_counter()
                delivered = await worker.run_until_idle()
                elapsed = time.perf_counter() - started
                cpu_after, machine_after = me.cpu_times(), machine_busy_seconds()
            counts = await (await session.get(f"http://127.0.0.1:{port}/count")).json()
        cpu_seconds = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        return {
            "events": args.events,
            "per_payment": args.per_payment,
            "delivered": delivered,
            "received": counts["count"],
            "out_of_order": counts["out_of_order"],
            "seconds": round(elapsed, 3),
            "deliveries_per_second": round(delivered / elapsed, 1),
            "worker_cpu_seconds": round(cpu_seconds, 2),
            "worker_cpu_ms_per_delivery": round(1000 * cpu_seconds / max(1, delivered), 3),
            # The worker runs in this process (with the load's set-up, not the receiver).
            "worker_rss_peak_mb": round(sampler.peak / 2**20, 1),
            "machine_idle_percent": idle_percent(machine_before, machine_after),
        }
    finally:
        await db.close()
        stop_children()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument(
        "--per-payment", type=int, default=1, help="events per payment (sequence 1..K)"
    )
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    configure_logging("json", "warning")
    signal.signal(signal.SIGTERM, on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-wh-"))
    try:
        result = asyncio.run(run(args, workdir))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        stop_children()
        shutil.rmtree(workdir, ignore_errors=True)
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    verdict = "meets" if result["deliveries_per_second"] >= 1000 else "misses"
    print(f"{'target':>24}: >= 1000 deliveries/s — {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
