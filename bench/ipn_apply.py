"""VNPAY IPN apply throughput of the gateway on PostgreSQL, beside two floors in the same run.

    .venv/bin/python bench/ipn_apply.py [--ipns N] [--warmup W] [--concurrency C] [--json PATH]

The three servers run as separate processes against one fresh PostgreSQL database:

- the gateway (``gateway serve``, not sandbox, a VNPAY terminal configured), with N pending
  payments written straight into the tables, each with what creation leaves (its pending
  VietQR attempt) and one pending VNPAY attempt, and an inbox already holding 20,000 earlier
  events (``INBOX_HISTORY``, since 2026-12-05: a running gateway's inbox is never empty, and an
  empty one at ANALYZE made the planner scan it);
- the floor: a bare aiohttp handler that reads ``vnp_TxnRef`` and does one asyncpg ``UPDATE``;
- the same-work floor (``bench/same_work_floor.py``): a bare aiohttp + asyncpg handler that
  verifies the HMAC-SHA512 with the same secret and sends, in one transaction, the gateway's
  own statements with the same parameters (5 since branch ``perf6-ipn``: inbox event with the
  payment's lock, the attempts' lock and read, payment paid with the attempt succeeded and the
  VietQR attempt closed, outbox event and notification note, inbox event applied; 8 before), and
  answers as the gateway does. It tells how much of the gap to the floor is that database work
  and how much the gateway's Python.

``--processes N`` runs each as N processes on one port (``gateway serve --processes N``).
Each server runs only for its own phase (started, warmed up, measured, stopped; the next one
starts once its PostgreSQL backends are gone), so no two hold connections at once.

The same closed-loop client sends each server N correctly signed success IPNs (each a
different attempt, each server its own bills; the floor, then the gateway, then the
same-work floor) and records requests/s and p50/p99 latency. The gateway does everything an
IPN needs — verify the HMAC-SHA512, store it in the inbox, lock and update the attempt and the
payment, close the bill's VietQR attempt, write the outbox event and its deliveries — in one
transaction. Each IPN states the time it is sent as ``vnp_PayDate`` (GMT+7), as VNPAY does.
Beside requests/s and latency it records the CPU per request of each server (its process and
any children) and of PostgreSQL for the bench database's backends, and the machine's load
before the run. After the run it counts what the gateway and the same-work floor left: each
of its bills paid, its VietQR attempt closed, one outbox event. Target: ≥ 0.5× the floor.
Exits non-zero only when the benchmark cannot run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil
from processes import (
    ROOT,
    BenchError,
    backends_gone,
    child_env,
    free_port,
    idle_percent,
    machine_busy_seconds,
    on_sigterm,
    spawn,
    stop,
    stop_children,
    tree_cpu_seconds,
    wait_ready,
)

sys.path.insert(0, str(ROOT))

from rss import RssSampler
from seed_rows import copy_payments, insert_agency_and_client, payment_row

from gateway.core.db.migrate import upgrade
from providers.payment.vnpay import GMT7, canonical_query, sign

TMN, SECRET = "BENCHTMN", "bench-vnpay-secret"
SAME_WORK_FLOOR = Path(__file__).resolve().with_name("same_work_floor.py")
#: The gateway's default ``database_pool_size``, which this bench's configuration keeps.
POOL_SIZE = 30

FLOOR = """
import multiprocessing, multiprocessing.connection, os, signal, sys, asyncpg, json
from aiohttp import web
async def ipn(request):
    ref = request.query["vnp_TxnRef"]
    async with request.app["pool"].acquire() as conn:
        await conn.execute("UPDATE floor_attempts SET status = 'succeeded' WHERE ref = $1", ref)
    return web.json_response({"RspCode": "00", "Message": "Confirm Success"})
async def ready(request):
    return web.json_response({"status": "ready"})
async def pool(app):
    app["pool"] = await asyncpg.create_pool(sys.argv[2], min_size=10, max_size=20)
    yield
    await app["pool"].close()
def serve(reuse_port):
    app = web.Application()
    app.cleanup_ctx.append(pool)
    app.router.add_get("/ipn", ipn)
    app.router.add_get("/readyz", ready)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None,
                reuse_port=reuse_port)
processes = int(sys.argv[3])
if processes == 1:
    serve(None)
else:  # N servers on one port, as gateway serve --processes N
    children = [multiprocessing.get_context("fork").Process(target=serve, args=(True,))
                for _ in range(processes)]
    for child in children:
        child.start()
    def stop(*_):
        for child in children:
            if child.exitcode is None:
                os.kill(child.pid, signal.SIGTERM)
    signal.signal(signal.SIGTERM, stop)
    multiprocessing.connection.wait([child.sentinel for child in children])
    stop()
    for child in children:
        child.join()
"""


def ipn_params(ref: str, amount: int) -> dict[str, str]:
    params = {
        "vnp_Amount": str(amount * 100),
        "vnp_BankCode": "NCB",
        "vnp_OrderInfo": "Bench",
        # Sent now, as VNPAY does: a stale date is logged as implausible on every IPN.
        "vnp_PayDate": datetime.now(GMT7).strftime("%Y%m%d%H%M%S"),
        "vnp_ResponseCode": "00",
        "vnp_TmnCode": TMN,
        "vnp_TransactionNo": ref[-8:],
        "vnp_TransactionStatus": "00",
        "vnp_TxnRef": ref,
    }
    return {**params, "vnp_SecureHash": sign(SECRET, canonical_query(params))}


#: Events already in the inbox before the run (see :func:`seed`).
INBOX_HISTORY = 20_000


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
        # Each bill's VietQR attempt, as creation writes it (born pending, the bill's
        # reference, no expiry of its own), then its VNPAY attempt: a real VNPAY IPN closes
        # the VietQR one in its transaction, so the bench runs that statement too.
        await conn.copy_records_to_table(
            "attempts",
            records=[
                *(
                    (
                        f"att_q{i:025d}",
                        f"pay_{i:026d}",
                        "vietqr",
                        "pending",
                        f"DVCB{i:010d}",
                        50000,
                        None,
                        now,
                        now,
                    )
                    for i in range(count)
                ),
                *(
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
                ),
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
        # The inbox of a gateway that has run a while: earlier providers' events, all
        # applied. With an empty inbox at ANALYZE, the pooled connections kept a sequential
        # scan for the update that marks an event applied as the run filled the table
        # (0.21 against 0.04 ms a call; docs/performance.md, fifth IPN round).
        await conn.copy_records_to_table(
            "provider_events",
            records=[
                ("vnpay", f"HIST{i:016d}", now - timedelta(days=1), "{}", "applied")
                for i in range(INBOX_HISTORY)
            ],
            columns=["provider", "event_key", "received_at", "payload", "outcome"],
        )
        # Statistics, as autovacuum keeps them in a running database: without them the
        # planner may find a payment by the status index (every seeded payment is pending)
        # instead of its key, and scan all of them per UPDATE (docs/performance.md).
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return refs


def postgres_backend_cpu(database: str) -> float:
    """CPU seconds so far of the PostgreSQL backends connected to ``database``."""
    total = 0.0
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] != "postgres":
            continue
        if f" {database} " not in f" {' '.join(process.info['cmdline'] or ())} ":
            continue
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


async def measure(
    url: str, refs: list[str], concurrency: int, server: psutil.Process, database: str
) -> dict[str, Any]:
    """:func:`drive` with the CPU the server and the database's backends used meanwhile, the
    server's peak RSS and PSS (summed over its processes) and the machine's idle share."""
    with RssSampler(server.pid, with_children=True) as sampler:
        server_before, pg_before = tree_cpu_seconds(server)[0], postgres_backend_cpu(database)
        machine_before = machine_busy_seconds()
        result = await drive(url, refs, concurrency)
        server_after, pg_after = tree_cpu_seconds(server)[0], postgres_backend_cpu(database)
        result["machine_idle_percent"] = idle_percent(machine_before, machine_busy_seconds())
    result["rss_peak_mb"] = round(sampler.peak / 2**20, 1)
    result["pss_peak_mb"] = round(sampler.peak_pss / 2**20, 1)
    per_request = 1000 / max(1, result["requests"])
    result["server_cpu_ms_per_request"] = round((server_after - server_before) * per_request, 3)
    # Backends alive at the end only (the pools keep theirs): a lower bound under churn.
    result["postgres_cpu_ms_per_request"] = round(max(0.0, pg_after - pg_before) * per_request, 3)
    return result


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
                text = await response.text()
            latencies.append(time.perf_counter() - started)
            try:
                code = json.loads(text).get("RspCode")
            except (ValueError, AttributeError):  # not VNPAY's JSON: e.g. a plain-text 500
                code = None
            if response.status != 200 or code != "00":
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


async def left_by(conn: asyncpg.Connection, numbers: range) -> dict[str, int]:
    """What the IPNs of the bills ``pay_<number>`` left: bills paid, VietQR attempts closed,
    outbox events, inbox events applied."""
    ids = [f"pay_{number:026d}" for number in numbers]
    row = await conn.fetchrow(
        """
        SELECT
          (SELECT count(*) FROM payments WHERE id = ANY($1) AND status = 'paid') AS paid,
          (SELECT count(*) FROM attempts WHERE payment_id = ANY($1) AND channel = 'vietqr'
            AND status <> 'pending') AS vietqr_closed,
          (SELECT count(*) FROM outbox_events WHERE payment_id = ANY($1)) AS outbox_events,
          (SELECT count(*) FROM provider_events WHERE payment_id = ANY($1)
            AND outcome = 'applied') AS inbox_applied
        """,
        ids,
    )
    return {key: int(value) for key, value in row.items()}


def write_config(path: Path, database_url: str, port: int) -> None:
    path.write_text(
        f'sandbox = false\nport = {port}\nlog_level = "warning"\n'
        f'database_url = "{database_url}"\n'
        f"workers_in_process = false\n"
        f'[vnpay]\npayment_url = "http://127.0.0.1:9/pay"\n'
        f'api_url = "http://127.0.0.1:9/api"\ntmn_code = "{TMN}"\n'
        f'hash_secret = "{SECRET}"\n'
        # Outside sandbox mode VNPost must be configured; nothing listens here either.
        '[vnpost]\nbase_url = "http://127.0.0.1:9"\n'
        'password = "bench-vnpost-password"\nwebhook_key = "bench-vnpost-key"\n'
        '[pii]\ncurrent_key_id = "bench"\n'  # a throwaway key: the data is not real
        'keys = { bench = "YmVuY2gtb25seS1rZXktMzItYnl0ZXMtbG9uZyEhISE=" }\n',
        encoding="utf-8",
    )


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    name = f"gateway_bench_ipn_{os.getpid()}"
    try:
        admin = await asyncpg.connect(args.pg)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(f"PostgreSQL is not reachable at {args.pg}: {exc}") from exc
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = args.pg.rsplit("/", 1)[0] + f"/{name}"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://")
    try:
        await asyncio.to_thread(upgrade, url)
        total = args.ipns + args.warmup
        refs = await seed(dsn, total * 3)
        gateway_port, floor_port, same_work_port = free_port(), free_port(), free_port()
        config = workdir / "gateway.toml"
        write_config(config, url, gateway_port)
        env = child_env()
        gateway_log, floor_log = workdir / "gateway.log", workdir / "floor.log"
        same_work_log = workdir / "same-work-floor.log"
        base = f"http://127.0.0.1:{gateway_port}"
        same_work_base = f"http://127.0.0.1:{same_work_port}"
        floor_base = f"http://127.0.0.1:{floor_port}"
        # name → (command, log, base URL, IPN path); each server runs for its own phase only
        # (processes.stop), so no two hold PostgreSQL connections at once.
        servers = {
            "floor": (
                [sys.executable, "-c", FLOOR, str(floor_port), dsn, str(args.processes)],
                floor_log,
                floor_base,
                "/ipn",
            ),
            "gateway": (
                [
                    *(sys.executable, "-m", "gateway.cli", "--config", str(config), "serve"),
                    *("--processes", str(args.processes)),
                ],
                gateway_log,
                base,
                "/callbacks/vnpay/ipn",
            ),
            "same-work floor": (
                [
                    *(sys.executable, str(SAME_WORK_FLOOR), "--dsn", dsn),
                    *("--port", str(same_work_port), "--processes", str(args.processes)),
                    *("--pool-max", str(POOL_SIZE), "--vnpay-tmn", TMN, "--vnpay-secret", SECRET),
                ],
                same_work_log,
                same_work_base,
                "/ipn",
            ),
        }
        load_before = os.getloadavg()[0]
        refs_of = {
            "floor": refs[total : 2 * total],
            "gateway": refs[:total],
            "same-work floor": refs[2 * total :],
        }
        results: dict[str, dict[str, Any]] = {}
        for label, (command, log, url, path) in servers.items():
            process = spawn(command, log, env)
            try:
                await wait_ready(label, f"{url}/readyz", process, log)
                print(f"  {label} pid {process.pid} on :{url.rsplit(':', 1)[1]}", flush=True)
                await drive(url + path, refs_of[label][: args.warmup], args.concurrency)
                results[label] = await measure(
                    url + path,
                    refs_of[label][args.warmup :],
                    args.concurrency,
                    psutil.Process(process.pid),
                    name,
                )
                if process.poll() is not None:
                    raise BenchError(f"{label} exited during the run ({process.returncode})")
            finally:
                stop(process)
            await backends_gone(dsn)
            print(f"  {label:15s} {results[label]['rps']:8.1f} req/s", flush=True)
        gateway_result, floor_result = results["gateway"], results["floor"]
        same_work_result = results["same-work floor"]
        conn = await asyncpg.connect(dsn)
        try:
            gateway_left = await left_by(conn, range(total))
            same_work_left = await left_by(conn, range(2 * total, 3 * total))
        finally:
            await conn.close()
        return {
            "benchmark": "ipn_apply",
            "parameters": {
                "ipns": args.ipns,
                "warmup": args.warmup,
                "concurrency": args.concurrency,
                "processes": args.processes,
            },
            "load_average_before": round(load_before, 2),
            "load_average_after": round(os.getloadavg()[0], 2),
            "gateway": gateway_result,
            "floor": floor_result,
            "same_work_floor": same_work_result,
            "paid": gateway_left["paid"],
            "vietqr_closed": gateway_left["vietqr_closed"],
            "outbox_events": gateway_left["outbox_events"],
            "same_work_floor_left": same_work_left,
            "ratio": round(gateway_result["rps"] / floor_result["rps"], 3),
            "ratio_gateway_same_work_floor": round(
                gateway_result["rps"] / same_work_result["rps"], 3
            ),
            "ratio_same_work_floor_floor": round(same_work_result["rps"] / floor_result["rps"], 3),
        }
    finally:
        stop_children()  # before the drop: they hold connections
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ipns", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--processes", type=int, default=1, help="server processes of the gateway and the floor"
    )
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    args = parser.parse_args(argv)
    if min(args.ipns, args.concurrency, args.processes) < 1 or args.warmup < 0:
        parser.error("--ipns, --concurrency and --processes must be >= 1, --warmup >= 0")
    signal.signal(signal.SIGTERM, on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-ipn-"))
    try:
        result = asyncio.run(run(args, workdir))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        stop_children()
        if args.keep_logs:
            print(f"logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average before the run: {result['load_average_before']}")
    header = f"{'':10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}"
    print(f"{header}{'CPU ms/req':>12}{'PG ms/req':>11}{'RSS MiB':>9}{'PSS MiB':>9}{'idle %':>8}")
    for side in ("floor", "gateway", "same_work_floor"):
        r = result[side]
        label = "same-work" if side == "same_work_floor" else side
        print(
            f"{label:10}{r['rps']:>10}{r['p50_ms']:>10}{r['p99_ms']:>10}{r['errors']:>8}"
            f"{r['server_cpu_ms_per_request']:>12}{r['postgres_cpu_ms_per_request']:>11}"
            f"{r['rss_peak_mb']:>9}{r['pss_peak_mb']:>9}{r['machine_idle_percent']:>8}"
        )
    print(f"payments paid by the gateway run: {result['paid']}")
    print(f"VietQR attempts closed by those IPNs: {result['vietqr_closed']}")
    left = result["same_work_floor_left"]
    print(
        f"same-work floor run: {left['paid']} paid, {left['vietqr_closed']} VietQR closed, "
        f"{left['outbox_events']} outbox events, {left['inbox_applied']} inbox events applied"
    )
    verdict = "meets" if result["ratio"] >= 0.5 else "misses"
    print(f"ratio gateway/floor: {result['ratio']}x (target >= 0.5x) — {verdict}")
    print(
        f"ratio gateway/same-work floor: {result['ratio_gateway_same_work_floor']}x, "
        f"same-work floor/floor: {result['ratio_same_work_floor_floor']}x"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
