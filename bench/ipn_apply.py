"""VNPAY IPN apply throughput of the gateway on PostgreSQL, beside a floor in the same run.

    .venv/bin/python bench/ipn_apply.py [--ipns N] [--concurrency C]

Both servers run as separate processes against one fresh PostgreSQL database:

- the gateway (``gateway serve``, not sandbox, a VNPAY terminal configured), with N pending
  payments and one pending VNPAY attempt each written straight into the tables;
- the floor: a bare aiohttp handler that reads ``vnp_TxnRef`` and does one asyncpg ``UPDATE``.

The same closed-loop client sends each server N correctly signed success IPNs (each a
different attempt) and records requests/s and p50/p99 latency. The gateway does everything an
IPN needs — verify the HMAC-SHA512, store it in the inbox, lock and update the attempt and the
payment, write the outbox event and its deliveries — in one transaction. Target: ≥ 0.5× the
floor. Exits non-zero only when the benchmark cannot run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seed_rows import copy_payments, free_port, insert_agency_and_client, payment_row

from gateway.core.db.migrate import upgrade
from providers.payment.vnpay import canonical_query, sign

TMN, SECRET = "BENCHTMN", "bench-vnpay-secret"

FLOOR = """
import sys, asyncpg, json
from aiohttp import web
async def ipn(request):
    ref = request.query["vnp_TxnRef"]
    async with request.app["pool"].acquire() as conn:
        await conn.execute("UPDATE floor_attempts SET status = 'succeeded' WHERE ref = $1", ref)
    return web.json_response({"RspCode": "00", "Message": "Confirm Success"})
async def pool(app):
    app["pool"] = await asyncpg.create_pool(sys.argv[2], min_size=10, max_size=20)
    yield
    await app["pool"].close()
app = web.Application()
app.cleanup_ctx.append(pool)
app.router.add_get("/ipn", ipn)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def ipn_params(ref: str, amount: int) -> dict[str, str]:
    params = {
        "vnp_Amount": str(amount * 100),
        "vnp_BankCode": "NCB",
        "vnp_OrderInfo": "Bench",
        "vnp_PayDate": "20261122091500",
        "vnp_ResponseCode": "00",
        "vnp_TmnCode": TMN,
        "vnp_TransactionNo": ref[-8:],
        "vnp_TransactionStatus": "00",
        "vnp_TxnRef": ref,
    }
    return {**params, "vnp_SecureHash": sign(SECRET, canonical_query(params))}


async def seed(dsn: str, count: int) -> list[str]:
    conn = await asyncpg.connect(dsn)
    now = datetime.now(UTC)
    later = now + timedelta(days=1)
    refs = [f"BENCH{i:015d}" for i in range(count)]
    try:
        agency = await insert_agency_and_client(conn, "970499", "001", now)
        await copy_payments(
            conn,
            [
                payment_row(
                    i,
                    agency,
                    f"DVCB{i:010d}",
                    status="pending",
                    amount=50000,
                    payer='{"name": "A"}',
                    vietqr_payload="000201",
                    expires_at=later,
                    now=now,
                    sequence=0,
                )
                for i in range(count)
            ],
        )
        await conn.copy_records_to_table(
            "attempts",
            records=[
                (
                    f"att_{i:026d}",
                    f"pay_{i:026d}",
                    "vnpay",
                    "pending",
                    refs[i],
                    50000,
                    later,
                    now,
                    now,
                )
                for i in range(count)
            ],
            columns=[
                "id",
                "payment_id",
                "channel",
                "status",
                "provider_reference",
                "amount",
                "expires_at",
                "created_at",
                "updated_at",
            ],
        )
        await conn.execute(
            "CREATE TABLE floor_attempts (ref text PRIMARY KEY, status text, amount bigint)"
        )
        await conn.copy_records_to_table(
            "floor_attempts", records=[(ref, "pending", 50000) for ref in refs]
        )
    finally:
        await conn.close()
    return refs


async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def drive(url: str, refs: list[str], concurrency: int) -> dict[str, Any]:
    queue = list(refs)
    latencies: list[float] = []
    errors = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while queue:
            ref = queue.pop()
            started = time.perf_counter()
            async with session.get(url, params=ipn_params(ref, 50000)) as response:
                body = await response.json(content_type=None)
            latencies.append(time.perf_counter() - started)
            if response.status != 200 or body.get("RspCode") != "00":
                errors += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    name = f"gateway_bench_ipn_{os.getpid()}"
    admin = await asyncpg.connect(args.pg)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = args.pg.rsplit("/", 1)[0] + f"/{name}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await asyncio.to_thread(upgrade, dsn.replace("postgresql://", "postgresql+asyncpg://"))
        total = args.ipns + args.warmup
        refs = await seed(dsn, total * 2)
        gateway_port, floor_port = free_port(), free_port()
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as config:
            config.write(
                f'sandbox = false\nport = {gateway_port}\nlog_level = "warning"\n'
                f'database_url = "{dsn.replace("postgresql://", "postgresql+asyncpg://")}"\n'
                f"workers_in_process = false\n"
                f'[vnpay]\npayment_url = "http://127.0.0.1:9/pay"\n'
                f'api_url = "http://127.0.0.1:9/api"\ntmn_code = "{TMN}"\n'
                f'hash_secret = "{SECRET}"\n'
                # Outside sandbox mode VNPost must be configured; nothing listens here either.
                '[vnpost]\nbase_url = "http://127.0.0.1:9"\n'
                'password = "bench-vnpost-password"\nwebhook_key = "bench-vnpost-key"\n'
                '[pii]\ncurrent_key_id = "bench"\n'  # a throwaway key: the data is not real
                'keys = { bench = "YmVuY2gtb25seS1rZXktMzItYnl0ZXMtbG9uZyEhISE=" }\n'
            )
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "--config", config.name, "serve"],
                cwd=ROOT,
            )
        )
        processes.append(subprocess.Popen([sys.executable, "-c", FLOOR, str(floor_port), dsn]))
        gateway_url = f"http://127.0.0.1:{gateway_port}/callbacks/vnpay/ipn"
        floor_url = f"http://127.0.0.1:{floor_port}/ipn"
        await wait_ready(f"http://127.0.0.1:{gateway_port}/healthz")
        await wait_ready(f"http://127.0.0.1:{floor_port}/ipn?vnp_TxnRef=none")
        gateway_refs, floor_refs = refs[:total], refs[total:]
        await drive(floor_url, floor_refs[: args.warmup], args.concurrency)
        floor = await drive(floor_url, floor_refs[args.warmup :], args.concurrency)
        await drive(gateway_url, gateway_refs[: args.warmup], args.concurrency)
        gateway = await drive(gateway_url, gateway_refs[args.warmup :], args.concurrency)
        conn = await asyncpg.connect(dsn)
        paid = await conn.fetchval("SELECT count(*) FROM payments WHERE status = 'paid'")
        await conn.close()
        return {
            "gateway": gateway,
            "floor": floor,
            "paid": paid,
            "ratio": round(gateway["rps"] / floor["rps"], 2),
        }
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ipns", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(f"{'':10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for side in ("floor", "gateway"):
        r = result[side]
        print(f"{side:10}{r['rps']:>10}{r['p50_ms']:>10}{r['p99_ms']:>10}{r['errors']:>8}")
    print(f"payments paid by the gateway run: {result['paid']}")
    verdict = "meets" if result["ratio"] >= 0.5 else "misses"
    print(f"ratio gateway/floor: {result['ratio']}x (target >= 0.5x) — {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
