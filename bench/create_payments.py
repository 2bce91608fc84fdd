"""Payment creation throughput of the gateway on PostgreSQL, beside a floor and a same-work
floor measured in the same run.

    .venv/bin/python bench/create_payments.py [--requests N] [--concurrency C] [--json out.json]

What it does, in order:

1. creates a fresh database ``gateway_bench_<pid>`` on the PostgreSQL server at ``--pg``
   and applies the gateway's migrations (``gateway.core.db.migrate.upgrade``);
2. writes a TOML configuration (``sandbox = false``, that database, a free loopback port,
   ``log_level = "warning"``), seeds one agency and one portal API key with the ``gateway``
   CLI, and starts ``gateway serve`` as a separate process (``python -m gateway.cli``, run
   from the source tree this script sits in);
3. starts ``bench/floor_server.py`` as a separate process on the same database (its own
   table): parse the same body, one asyncpg ``INSERT``, answer 201; and
   ``bench/same_work_floor.py``, the same-work floor: a bare aiohttp + asyncpg handler that
   sends the gateway's own creation statement with the same parameters (the idempotency
   look-up and 6 rows in 5 tables: payment, 2 lines, VietQR attempt, notification intake
   note, idempotency key), for a second portal client of the same agency so its rows can be
   counted apart; servers are measured in turn (odd rounds gateway, same-work floor, floor;
   even rounds the reverse), each started for its own phase and stopped after it, and the
   next one starts when the stopped one's backends are gone (three servers of 2 processes
   holding 16 connections each would pass PostgreSQL's default ``max_connections``);
4. drives each server with the same closed-loop load from this process: ``C`` aiohttp
   workers, a warm-up (``--warmup`` requests, not counted), then ``N`` requests, each one a
   realistic create-payment body with a fresh ``Idempotency-Key`` and the bearer key.
   It records requests/s, p50/p90/p99 latency, non-201 answers (errors), the server's peak
   RSS (sampled every 50 ms, and VmHWM), the CPU time per request used by the server, by
   PostgreSQL and by this load generator, how busy the machine was (other processes
   included), and with ``--pg-stats`` the PostgreSQL sessions opened and transactions
   committed/rolled back per request;
5. counts the rows each of the gateway and the same-work floor wrote per request (6 each:
   the same database work; the intake notes, which the gateway's notification worker takes
   as they come, by their id sequence around each server's runs), prints a table, the
   ratio gateway/floor (target >= 0.5x) and the ratios gateway/same-work floor (how much
   of the gap is the gateway's Python) and same-work floor/floor (how much is the database
   work), writes ``--json`` if asked, and drops the database. Child processes are stopped
   on every exit path.

The exit status is non-zero only when the benchmark could not run; missing the target is a
result, not a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
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
    tail,
    tree_cpu_seconds,
    wait_ready,
)
from rss import RssSampler

FLOOR_SERVER = Path(__file__).resolve().with_name("floor_server.py")
SAME_WORK_FLOOR = Path(__file__).resolve().with_name("same_work_floor.py")
#: The servers, in the order of the table; odd rounds run them in this order, even ones reversed.
SERVERS = ("gateway", "same_work_floor", "floor")
TARGET_RATIO = 0.5
#: An idle PostgreSQL 15 backend may hold its statistics back for up to 10 s
#: (PGSTAT_IDLE_INTERVAL), so exact pg_stat_database deltas need this long a pause.
STATS_SETTLE_SECONDS = 11.0
API_KEY = re.compile(r"gw_[a-z0-9]{10}_[A-Za-z0-9_-]{32,64}")
AGENCY_CODE = "BENCH"
#: PostgreSQL connections per process of both servers: the gateway's documented default
#: ``database_pool_size`` (docs/deployment.md, connection budget) and the floor's pool maximum.
POOL_SIZE = 30


# -- the database ------------------------------------------------------------------------


@dataclass(frozen=True)
class Postgres:
    base: str  # postgresql://user@host:port (no database)

    def dsn(self, database: str) -> str:
        return f"{self.base}/{database}"

    def sqlalchemy_url(self, database: str) -> str:
        return self.dsn(database).replace("postgresql://", "postgresql+asyncpg://", 1)

    async def admin(self, statement: str) -> None:
        conn = await asyncpg.connect(self.dsn("postgres"))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    async def version(self) -> str:
        conn = await asyncpg.connect(self.dsn("postgres"))
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    async def settings(self) -> dict[str, str]:
        conn = await asyncpg.connect(self.dsn("postgres"))
        try:
            rows = await conn.fetch(
                "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])",
                ["synchronous_commit", "fsync", "max_connections", "shared_buffers"],
            )
        finally:
            await conn.close()
        return {row["name"]: row["setting"] for row in rows}


async def db_counters(pg: Postgres, database: str, enabled: bool) -> dict[str, int] | None:
    """Sessions opened and transactions ended in ``database`` so far (pg_stat_database), after
    a pause that lets idle backends publish theirs; None unless ``enabled``."""
    if not enabled:
        return None
    await asyncio.sleep(STATS_SETTLE_SECONDS)
    conn = await asyncpg.connect(pg.dsn("postgres"))
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        row = await conn.fetchrow(
            "SELECT sessions, xact_commit, xact_rollback FROM pg_stat_database WHERE datname = $1",
            database,
        )
    finally:
        await conn.close()
    return {key: int(row[key] or 0) for key in ("sessions", "xact_commit", "xact_rollback")}


def postgres_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of the PostgreSQL processes that work for ``database``: its client
    backends and the server's own processes (postmaster, WAL writer, checkpointer, ...).
    Backends of other databases (other clients of the same server) are left out."""
    seconds: dict[int, float] = {}
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] != "postgres":
            continue
        title = " ".join(process.info["cmdline"] or ())
        is_client_backend = "(" in title or "[local]" in title
        if is_client_backend and f" {database} " not in f" {title} ":
            continue
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
    return seconds


def postgres_reaped_cpu() -> float:
    """CPU seconds of the postmaster's exited children so far: backends that closed, of any
    database (PostgreSQL cannot tell whose they were)."""
    processes = {
        process.pid: process
        for process in psutil.process_iter(["name", "ppid"])
        if process.info["name"] == "postgres"
    }
    total = 0.0
    for process in processes.values():
        if process.info["ppid"] in processes:
            continue  # a backend or helper; the postmaster is the one whose parent is not
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.children_user + times.children_system
    return total


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two :func:`postgres_cpu` snapshots by the processes alive at the end.
    A backend that exits in between shows up in :func:`postgres_reaped_cpu` instead."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


# -- load --------------------------------------------------------------------------------


def payment_body(number: int) -> bytes:
    """A create-payment body as a public-service portal sends it (cf. tests/conftest.py)."""
    body = {
        "agency_code": AGENCY_CODE,
        "dossier_code": f"000.00.12.H29-241122-{number % 10000:04d}",
        "procedure_code": "1.001234",
        "procedure_name": "Cấp đổi giấy phép lái xe",
        "payer": {"name": "Nguyễn Văn An", "phone": "0912345678"},
        "items": [
            {"kind": "charge", "description": "Lệ phí cấp đổi GPLX", "amount": 135000},
            {"kind": "fee", "description": "Phí thẩm định hồ sơ", "amount": 50000},
        ],
        "metadata": {"portal": "dvc", "ma_ho_so": f"H29-{number}"},
    }
    return json.dumps(body, ensure_ascii=False).encode()


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)


async def drive(url: str, api_key: str, count: int, concurrency: int, first: int) -> LoadResult:
    """Send ``count`` create-payment requests with ``concurrency`` closed-loop workers."""
    bodies = [payment_body(first + index) for index in range(count)]
    keys = [uuid.uuid4().hex for _ in range(count)]
    result = LoadResult(requests=count, seconds=0.0)
    next_index = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            nonlocal next_index
            while next_index < count:
                index = next_index
                next_index += 1
                headers = {
                    "Authorization": f"Bearer {api_key}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": keys[index],
                }
                started = time.perf_counter()
                try:
                    async with session.post(url, data=bodies[index], headers=headers) as resp:
                        payload = await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status, payload = -1, f"{type(exc).__name__}: {exc}".encode()
                result.latencies.append(time.perf_counter() - started)
                if status != 201:
                    label = str(status) if status > 0 else "connection_error"
                    result.errors[label] = result.errors.get(label, 0) + 1
                    if len(result.error_samples) < 5:
                        text = payload[:300].decode(errors="replace")
                        result.error_samples.append(f"{label}: {text}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result


def vm_hwm(pid: int) -> int:
    """Peak resident set size over the process's life (bytes), from /proc/<pid>/status."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def tree_pids(process: psutil.Process) -> list[int]:
    """The process and its children (the servers of ``--processes N``)."""
    with contextlib.suppress(psutil.Error):
        return [process.pid, *(child.pid for child in process.children(recursive=True))]
    return [process.pid]


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for pid in tree_pids(process):
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return total


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Measurement:
    name: str
    requests: int
    concurrency: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    error_kinds: dict[str, int]
    error_samples: list[str]
    rss_idle_mb: float
    rss_peak_mb: float
    pss_peak_mb: float
    vm_hwm_mb: float
    server_cpu_ms_per_request: float
    server_cpu_system_ms_per_request: float
    postgres_cpu_ms_per_request: float
    postgres_exited_backends_cpu_ms_per_request: float
    loadgen_cpu_ms_per_request: float
    machine_busy_percent: float
    machine_idle_percent: float
    other_processes_percent: float
    pg_sessions_opened: int | None
    pg_commits_per_request: float | None
    pg_rollbacks_per_request: float | None


async def measure(
    name: str,
    process: subprocess.Popen[bytes],
    url: str,
    api_key: str,
    args: argparse.Namespace,
    pg: Postgres,
    database: str,
    first: int,
) -> Measurement:
    server = psutil.Process(process.pid)
    me = psutil.Process()
    idle_rss = tree_rss(server)
    with RssSampler(process.pid, with_children=True) as sampler:
        if args.warmup:
            warm = await drive(url, api_key, args.warmup, args.concurrency, first)
            if warm.errors:
                print(f"  {name}: warm-up errors {warm.errors}", file=sys.stderr)
        before_db = await db_counters(pg, database, args.pg_stats)
        before_server, before_me = tree_cpu_seconds(server), me.cpu_times()
        before_pg, before_machine = postgres_cpu(database), machine_busy_seconds()
        before_reaped = postgres_reaped_cpu()
        load = await drive(url, api_key, args.requests, args.concurrency, first + args.warmup)
        after_server, after_me = tree_cpu_seconds(server), me.cpu_times()
        after_pg, after_machine = postgres_cpu(database), machine_busy_seconds()
        # Backends of this database alive at the end, the server's own processes, and the
        # backends that exited meanwhile (pool churn; possibly other databases' too).
        reaped_seconds = postgres_reaped_cpu() - before_reaped
        pg_seconds = cpu_delta(before_pg, after_pg) + reaped_seconds
        after_db = await db_counters(pg, database, args.pg_stats)
    if process.poll() is not None:
        raise BenchError(f"{name} exited during the run (status {process.returncode})")
    latencies = sorted(load.latencies)
    per_request = 1000 / load.requests

    def cpu(after: Any, before: Any) -> float:
        return (after.user + after.system - before.user - before.system) * per_request

    def delta(key: str) -> float | None:
        if after_db is None or before_db is None:
            return None
        return round((after_db[key] - before_db[key]) / load.requests, 2)

    # Everything the machine did during the run, as % of one core; minus what the server,
    # PostgreSQL and this load generator used = other processes (noise from elsewhere).
    cores = os.cpu_count() or 1
    busy = (after_machine[0] - before_machine[0]) / max(1e-9, after_machine[1] - before_machine[1])
    busy_percent = 100 * busy * cores
    ours_seconds = (
        after_server[0]
        - before_server[0]
        + after_me.user
        + after_me.system
        - before_me.user
        - before_me.system
        + pg_seconds
    )
    other_percent = max(0.0, busy_percent - 100 * ours_seconds / load.seconds)

    return Measurement(
        name=name,
        requests=load.requests,
        concurrency=args.concurrency,
        seconds=round(load.seconds, 3),
        rps=round(load.requests / load.seconds, 1),
        p50_ms=round(percentile(latencies, 0.50) * 1000, 2),
        p90_ms=round(percentile(latencies, 0.90) * 1000, 2),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
        max_ms=round(latencies[-1] * 1000, 2),
        errors=sum(load.errors.values()),
        error_kinds=load.errors,
        error_samples=load.error_samples,
        rss_idle_mb=round(idle_rss / 2**20, 1),
        rss_peak_mb=round(sampler.peak / 2**20, 1),
        pss_peak_mb=round(sampler.peak_pss / 2**20, 1),
        vm_hwm_mb=round(sum(vm_hwm(pid) for pid in tree_pids(server)) / 2**20, 1),
        server_cpu_ms_per_request=round((after_server[0] - before_server[0]) * per_request, 3),
        server_cpu_system_ms_per_request=round(
            (after_server[1] - before_server[1]) * per_request, 3
        ),
        postgres_cpu_ms_per_request=round(pg_seconds * per_request, 3),
        postgres_exited_backends_cpu_ms_per_request=round(reaped_seconds * per_request, 3),
        loadgen_cpu_ms_per_request=round(cpu(after_me, before_me), 3),
        machine_busy_percent=round(busy_percent, 1),
        machine_idle_percent=idle_percent(before_machine, after_machine),
        other_processes_percent=round(other_percent, 1),
        pg_sessions_opened=(
            None
            if after_db is None or before_db is None
            else after_db["sessions"] - before_db["sessions"]
        ),
        pg_commits_per_request=delta("xact_commit"),
        pg_rollbacks_per_request=delta("xact_rollback"),
    )


# -- set-up ------------------------------------------------------------------------------


def run_cli(config: Path, *arguments: str) -> str:
    argv = [sys.executable, "-m", "gateway.cli", "--config", str(config), *arguments]
    done = subprocess.run(argv, cwd=ROOT, env=child_env(), capture_output=True, timeout=60)
    output = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        raise BenchError(
            f"gateway {' '.join(arguments[:2])} failed ({done.returncode}):\n"
            f"{output}{done.stderr.decode(errors='replace')}"
        )
    return output


def write_config(path: Path, database_url: str, port: int) -> None:
    path.write_text(
        "# written by bench/create_payments.py\n"
        "sandbox = false\n"
        f'database_url = "{database_url}"\n'
        f"database_pool_size = {POOL_SIZE}\n"
        'host = "127.0.0.1"\n'
        f"port = {port}\n"
        f'public_base_url = "http://127.0.0.1:{port}"\n'
        'log_format = "json"\n'
        'log_level = "warning"\n'
        "\n[banks.sandbox]\n"
        'secret = "bench-bank-notice-secret"\n'
        "\n[pii]\n"  # a throwaway key: benchmark data is not real
        'current_key_id = "bench"\n'
        'keys = { bench = "YmVuY2gtb25seS1rZXktMzItYnl0ZXMtbG9uZyEhISE=" }\n'
        "\n[vnpost]\n"  # required outside sandbox mode; no carrier listens, none is called
        'base_url = "http://127.0.0.1:9"\n'
        'password = "bench-vnpost-password"\n'
        'webhook_key = "bench-vnpost-key"\n',
        encoding="utf-8",
    )


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "asyncpg": asyncpg.__version__,
        "platform": platform.platform(),
    }


def source_revision() -> dict[str, Any]:
    """The commit of the gateway tree and whether its code differs from it (read-only git)."""

    def git(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "--no-optional-locks", "-C", str(ROOT), *arguments],
            capture_output=True,
            text=True,
            timeout=10,
        )

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode == 0:
            changed = git("status", "--porcelain", "--", "gateway", "config", "providers")
            return {"commit": head.stdout.strip(), "code_modified": bool(changed.stdout.strip())}
    return {"commit": None, "code_modified": None}


async def background_cpu_percent(seconds: float = 2.0) -> float:
    """How busy the machine is before the load starts (servers idle), as % of one core."""
    before = machine_busy_seconds()
    await asyncio.sleep(seconds)
    after = machine_busy_seconds()
    share = (after[0] - before[0]) / max(1e-9, after[1] - before[1])
    return round(100 * share * (os.cpu_count() or 1), 1)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    pg = Postgres(args.pg.rstrip("/"))
    database = f"gateway_bench_{os.getpid()}"
    try:
        pg_version = await pg.version()
        pg_settings = await pg.settings()
    except (OSError, asyncpg.PostgresError) as exc:
        raise BenchError(f"PostgreSQL is not reachable at {pg.base}: {exc}") from exc
    await pg.admin(f'CREATE DATABASE "{database}"')
    try:
        return await _run_on(args, workdir, pg, database, pg_version, pg_settings)
    finally:
        stop_children()  # before the drop: they hold connections
        with contextlib.suppress(Exception):
            await pg.admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def _run_on(
    args: argparse.Namespace,
    workdir: Path,
    pg: Postgres,
    database: str,
    pg_version: str,
    pg_settings: dict[str, str],
) -> dict[str, Any]:
    from gateway.core.db.migrate import upgrade  # the tree this script sits in (see main)

    url = pg.sqlalchemy_url(database)
    print(f"database {database}: applying migrations", flush=True)
    await asyncio.to_thread(upgrade, url)

    gateway_port, floor_port, same_work_port = free_port(), free_port(), free_port()
    config = workdir / "gateway.toml"
    write_config(config, url, gateway_port)
    run_cli(
        config, "agencies", "add", "--code", AGENCY_CODE, "--name", "Sở Tài chính (bench)",
        "--bank-bin", "970499", "--account-number", "0011001234567",
        "--account-name", "SO TAI CHINH BENCH",
    )  # fmt: skip
    printed = run_cli(config, "clients", "create", "--agency", AGENCY_CODE, "--role", "portal")
    match = API_KEY.search(printed)
    if match is None:
        raise BenchError(f"no API key in the output of 'gateway clients create':\n{printed}")
    api_key = match.group(0)
    # The same-work floor writes its rows as a second portal client of the same agency.
    printed = run_cli(config, "clients", "create", "--agency", AGENCY_CODE, "--role", "portal")
    match = API_KEY.search(printed)
    if match is None:
        raise BenchError(f"no API key in the output of 'gateway clients create':\n{printed}")
    same_work_client = match.group(0).split("_")[1]

    env = child_env()
    gateway_log, floor_log = workdir / "gateway.log", workdir / "floor.log"
    same_work_log = workdir / "same-work-floor.log"
    gateway_base, floor_base = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{floor_port}"
    same_work_base = f"http://127.0.0.1:{same_work_port}"
    # name → (command, log, base URL); each server runs for its own phase of each round only
    # (processes.stop), so no two hold PostgreSQL connections at once.
    servers = {
        "floor": (
            [
                *(sys.executable, str(FLOOR_SERVER), "--dsn", pg.dsn(database)),
                *("--port", str(floor_port), "--processes", str(args.processes)),
                *("--pool-max", str(POOL_SIZE)),
            ],
            floor_log,
            floor_base,
        ),
        "gateway": (
            [
                *(sys.executable, "-m", "gateway.cli", "--config", str(config), "serve"),
                *("--processes", str(args.processes)),
            ],
            gateway_log,
            gateway_base,
        ),
        "same_work_floor": (
            [
                *(sys.executable, str(SAME_WORK_FLOOR), "--dsn", pg.dsn(database)),
                *("--port", str(same_work_port), "--processes", str(args.processes)),
                *("--pool-max", str(POOL_SIZE), "--agency-code", AGENCY_CODE),
                *("--client-id", same_work_client),
            ],
            same_work_log,
            same_work_base,
        ),
    }
    print(
        f"{args.rounds} round(s) of {args.warmup} warm-up + {args.requests} requests, "
        f"concurrency {args.concurrency}, {args.processes} process(es) each; each server "
        "started for its own phase",
        flush=True,
    )

    background = await background_cpu_percent()
    if background > 25:
        print(
            f"  warning: the machine is already {background:.0f}% busy (of one core) before the"
            " load; other processes will compete with the servers",
            flush=True,
        )

    rounds: list[dict[str, Measurement]] = []
    # Notification intake notes written by each server: the gateway's notification worker
    # takes (deletes) them as they come, so they are counted by their id sequence, read
    # around each server's runs (one server runs at a time).
    notes = dict.fromkeys(servers, 0)
    first = 0
    for number in range(1, args.rounds + 1):
        measured: dict[str, Measurement] = {}
        # Alternate the order so neither server always runs on a table the other just grew.
        order = SERVERS if number % 2 else SERVERS[::-1]
        for name in order:
            command, log, base = servers[name]
            process = spawn(command, log, env)
            try:
                await wait_ready(name, f"{base}/readyz", process, log)
                notes_before = await notes_so_far(pg, database)
                measured[name] = await measure(
                    name, process, f"{base}/v1/payments", api_key, args, pg, database, first
                )
                notes[name] += await notes_so_far(pg, database) - notes_before
            except BenchError as exc:
                raise BenchError(f"{exc}\n{tail(log)}") from exc
            finally:
                stop(process)
            await backends_gone(pg.dsn(database))
            if name == "same_work_floor":
                await drop_notes(pg, database)
            first += args.warmup + args.requests
            m = measured[name]
            print(
                f"  round {number} {name:15s} {m.rps:8.1f} req/s  p50 {m.p50_ms:7.2f} ms  "
                f"p99 {m.p99_ms:7.2f} ms  errors {m.errors}",
                flush=True,
            )
        rounds.append(measured)
    sent = args.rounds * (args.warmup + args.requests)
    rows = {
        "gateway": await rows_written(pg, database, api_key.split("_")[1], notes["gateway"], sent),
        "same_work_floor": await rows_written(
            pg, database, same_work_client, notes["same_work_floor"], sent
        ),
    }

    return {
        "benchmark": "create_payments",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "postgres": {"version": pg_version, **pg_settings},
        "gateway_source": {"path": str(ROOT), **source_revision()},
        "background_cpu_percent": background,
        "parameters": {
            "requests": args.requests,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "processes": args.processes,
            "rounds": args.rounds,
            "pg_stats": args.pg_stats,
        },
        "rounds": [{name: asdict(m) for name, m in measured.items()} for measured in rounds],
        "summary": summarise(rounds),
        "rows_per_request": rows,
    }


async def notes_so_far(pg: Postgres, database: str) -> int:
    """Notification intake notes ever written in ``database`` (their id sequence's value)."""
    conn = await asyncpg.connect(pg.dsn(database))
    try:
        value = await conn.fetchval(
            "SELECT coalesce(max(last_value), 0) FROM pg_sequences"
            " WHERE format('%I.%I', schemaname, sequencename)"
            " = pg_get_serial_sequence('notification_intake', 'id')"
        )
    finally:
        await conn.close()
    return int(value)


async def drop_notes(pg: Postgres, database: str) -> None:
    """Delete the waiting intake notes after the same-work floor's phase (all are counted
    already, by their sequence): nothing takes the same-work floor's notes, and the gateway's
    notification worker would otherwise take them during the gateway's next phase, work the
    gateway's figures should not carry."""
    conn = await asyncpg.connect(pg.dsn(database))
    try:
        await conn.execute("DELETE FROM notification_intake")
    finally:
        await conn.close()


async def rows_written(
    pg: Postgres, database: str, client_id: str, notes: int, sent: int
) -> dict[str, float]:
    """Rows per request (warm-up included) that ``client_id``'s creations wrote, per table
    (``notes``: the intake notes its server wrote, counted by :func:`notes_so_far`)."""
    conn = await asyncpg.connect(pg.dsn(database))
    try:
        row = await conn.fetchrow(
            """
            SELECT
              (SELECT count(*) FROM payments WHERE client_id = $1) AS payments,
              (SELECT count(*) FROM payment_items JOIN payments p ON p.id = payment_id
                WHERE p.client_id = $1) AS payment_items,
              (SELECT count(*) FROM attempts JOIN payments p ON p.id = payment_id
                WHERE p.client_id = $1 AND channel = 'vietqr') AS attempts,
              $2::bigint AS notification_intake,
              (SELECT count(*) FROM idempotency_keys WHERE client_id = $1) AS idempotency_keys
            """,
            client_id,
            notes,
        )
    finally:
        await conn.close()
    counts = {name: round(int(row[name]) / sent, 3) for name in row.keys()}
    return {**counts, "total": round(sum(counts.values()), 3)}


def summarise(rounds: list[dict[str, Measurement]]) -> dict[str, Any]:
    """Per server, the median round by requests/s (with an even number of rounds, the lower
    of the two middle ones); the ratio is taken between those."""

    def pick(name: str) -> Measurement:
        ordered = sorted((measured[name] for measured in rounds), key=lambda m: m.rps)
        return ordered[(len(ordered) - 1) // 2]

    gateway, floor, same_work = pick("gateway"), pick("floor"), pick("same_work_floor")
    ratio = gateway.rps / floor.rps if floor.rps else math.nan
    return {
        "gateway": asdict(gateway),
        "floor": asdict(floor),
        "same_work_floor": asdict(same_work),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        # How much of the gap is the gateway's Python, and how much the database work.
        "ratio_gateway_same_work_floor": round(gateway.rps / same_work.rps, 3)
        if same_work.rps
        else math.nan,
        "ratio_same_work_floor_floor": round(same_work.rps / floor.rps, 3)
        if floor.rps
        else math.nan,
    }


def print_table(report: dict[str, Any]) -> None:
    summary = report["summary"]
    rows = [
        ("requests/s", "rps", "{:.1f}"),
        ("p50 latency (ms)", "p50_ms", "{:.2f}"),
        ("p90 latency (ms)", "p90_ms", "{:.2f}"),
        ("p99 latency (ms)", "p99_ms", "{:.2f}"),
        ("errors (non-201)", "errors", "{}"),
        ("RSS idle (MiB)", "rss_idle_mb", "{:.1f}"),
        ("RSS peak, sampled (MiB)", "rss_peak_mb", "{:.1f}"),
        ("PSS peak, sampled (MiB)", "pss_peak_mb", "{:.1f}"),
        ("VmHWM (MiB)", "vm_hwm_mb", "{:.1f}"),
        ("server CPU ms/request", "server_cpu_ms_per_request", "{:.2f}"),
        ("  of which in the kernel", "server_cpu_system_ms_per_request", "{:.2f}"),
        ("PostgreSQL CPU ms/request", "postgres_cpu_ms_per_request", "{:.2f}"),
        (
            "  of which backends that exited",
            "postgres_exited_backends_cpu_ms_per_request",
            "{:.2f}",
        ),
        ("load generator CPU ms/request", "loadgen_cpu_ms_per_request", "{:.2f}"),
        ("machine CPU busy (% of 1 core)", "machine_busy_percent", "{:.0f}"),
        ("  of which other processes (%)", "other_processes_percent", "{:.0f}"),
        ("machine idle (% of all cores)", "machine_idle_percent", "{:.0f}"),
        ("PG sessions opened", "pg_sessions_opened", "{}"),
        ("PG commits/request", "pg_commits_per_request", "{:.2f}"),
        ("PG rollbacks/request", "pg_rollbacks_per_request", "{:.2f}"),
    ]
    params = report["parameters"]
    print()
    print(
        f"create payment, {params['requests']} requests x {params['rounds']} round(s), "
        f"concurrency {params['concurrency']} (median round shown)"
    )
    print(f"machine busy before the load: {report['background_cpu_percent']:.0f}% of one core")
    print(f"{'':32s}{'gateway':>12s}{'floor':>12s}{'same-work floor':>17s}")
    for label, key, fmt in rows:
        values = [
            "-" if summary[name][key] is None else fmt.format(summary[name][key])
            for name in ("gateway", "floor", "same_work_floor")
        ]
        print(f"{label:32s}{values[0]:>12s}{values[1]:>12s}{values[2]:>17s}")
    verdict = "meets" if summary["meets_target"] else "MISSES"
    print(
        f"\nratio gateway/floor = {summary['ratio']:.3f}x "
        f"(target >= {summary['target_ratio']}x: {verdict})"
    )
    print(
        f"ratio gateway/same-work floor = {summary['ratio_gateway_same_work_floor']:.3f}x, "
        f"same-work floor/floor = {summary['ratio_same_work_floor_floor']:.3f}x"
    )
    written = report["rows_per_request"]
    print(
        f"rows written per request: gateway {written['gateway']['total']}, "
        f"same-work floor {written['same_work_floor']['total']}"
    )
    for name in ("gateway", "floor", "same_work_floor"):
        for sample in summary[name]["error_samples"]:
            print(f"  {name} error: {sample}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] + "..")
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per run")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent workers")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes of the gateway (serve --processes N) and of the floor",
    )
    parser.add_argument("--warmup", type=int, default=200, help="uncounted requests first")
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs per server, alternating which goes first"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--pg",
        default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server, without a database name (env BENCH_POSTGRES)",
    )
    parser.add_argument(
        "--pg-stats",
        action="store_true",
        help=f"also count PostgreSQL sessions and transactions per request (pg_stat_database;"
        f" adds a {STATS_SETTLE_SECONDS:.0f} s pause before and after each measured run)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    args = parser.parse_args(argv)
    if min(args.requests, args.concurrency, args.rounds, args.processes) < 1 or args.warmup < 0:
        parser.error(
            "--requests, --concurrency, --rounds and --processes must be >= 1, --warmup >= 0"
        )

    # Import the gateway from the tree this script belongs to (also for a scratch copy).
    sys.path.insert(0, str(ROOT))
    signal.signal(signal.SIGTERM, on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    try:
        report = asyncio.run(run(args, workdir))
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
    print_table(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
