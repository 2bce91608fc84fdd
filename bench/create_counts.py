"""What one ``POST /v1/payments`` costs, counted rather than timed: SQL statements, PostgreSQL
round trips and Python function calls per creation — figures that other tenants of a busy
machine cannot move (docs/performance.md).

    .venv/bin/python bench/create_counts.py [--requests N] [--warmup W] [--json out.json]

In one process, on PostgreSQL at ``--pg`` (database ``gateway_counts_<pid>``, migrated, one
agency and one portal key, dropped at the end): the gateway app (the configuration of
``create_payments.py``, ``log_level = "warning"``, no background loops) on a loopback port,
driven one request at a time over one keep-alive connection with the same bodies as
``create_payments.py``. After ``W`` warm-up requests, ``N`` measured ones count:

- ``statements``: statements the gateway's engine sent (SQLAlchemy ``before_cursor_execute``);
- ``round_trips``: writes to a PostgreSQL socket (a statement whose prepared form is cached is
  one write; ``BEGIN`` and ``COMMIT`` are one each);
- ``python_calls``: function calls under cProfile (a second pass of ``N`` requests), the load
  generator's few included;
- ``process_cpu_ms``: CPU time of this process per request in the first pass (server and its
  tiny client together; noisy on a shared machine, unlike the counts).

Every answer must be 201, else the script exits non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
import uuid
from asyncio import selector_events
from pathlib import Path
from typing import Any

from create_payments import AGENCY_CODE, Postgres, payment_body, write_config
from processes import ROOT, BenchError


class _RoundTrips:
    """Counts writes to PostgreSQL sockets (asyncio's selector transport, the default loop)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.count = 0
        self._original = selector_events._SelectorSocketTransport.write

    def __enter__(self) -> _RoundTrips:
        original, counter = self._original, self

        def write(transport: Any, data: Any) -> None:
            peer = transport.get_extra_info("peername")
            if peer and peer[1] == counter.port:
                counter.count += 1
            original(transport, data)

        selector_events._SelectorSocketTransport.write = write  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        selector_events._SelectorSocketTransport.write = self._original  # type: ignore[method-assign]


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from aiohttp.test_utils import TestServer
    from sqlalchemy import event

    from config import load_settings
    from gateway.app import create_app
    from gateway.core.db.migrate import upgrade
    from gateway.core.roles import Role
    from gateway.keys import CLOCK, DATABASE
    from gateway.observability import configure_logging
    from gateway.services.agencies import NewAgency, add_agency
    from gateway.services.clients import create_client

    pg = Postgres(args.pg)
    database = f"gateway_counts_{os.getpid()}"
    await pg.admin(f'CREATE DATABASE "{database}"')
    try:
        url = pg.sqlalchemy_url(database)
        await asyncio.to_thread(upgrade, url)
        config = workdir / "gateway.toml"
        write_config(config, url, 0)
        settings = load_settings(config, environ={})
        configure_logging(settings.log_format, settings.log_level)
        app = create_app(settings, background=False)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            db, clock = app[DATABASE], app[CLOCK]
            await add_agency(
                db,
                clock,
                NewAgency(
                    code=AGENCY_CODE,
                    name="Sở Tư pháp (bench)",
                    bank_bin="970499",
                    account_number="0011001234567",
                    account_name="SO TU PHAP BENCH",
                ),
            )
            _, key = await create_client(
                db, clock, name="bench", role=Role.PORTAL, agency_codes=[AGENCY_CODE]
            )
            statements = 0

            def seen(*_: object) -> None:
                nonlocal statements
                statements += 1

            event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)

            async def create(number: int) -> None:
                body = payment_body(number)
                writer.write(
                    b"POST /v1/payments HTTP/1.1\r\nHost: bench\r\n"
                    b"Content-Type: application/json\r\n"
                    + f"Authorization: Bearer {key}\r\nIdempotency-Key: {uuid.uuid4().hex}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                answer = await reader.readexactly(length)
                if status != 201:
                    raise BenchError(f"answered {status}: {answer[:300]!r}")

            port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
            for number in range(args.warmup):
                await create(number)
            statements = 0
            with _RoundTrips(port) as trips:
                started = time.process_time()
                for number in range(args.requests):
                    await create(10_000 + number)
                cpu = time.process_time() - started
            counted = statements
            profile = cProfile.Profile()
            profile.enable()
            for number in range(args.requests):
                await create(20_000 + number)
            profile.disable()
            writer.close()
            calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
        finally:
            await server.close()
    finally:
        await pg.admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    n = args.requests
    return {
        "benchmark": "create_counts",
        "requests": n,
        "warmup": args.warmup,
        "statements": round(counted / n, 3),
        "round_trips": round(trips.count / n, 3),
        "python_calls": round(calls / n, 1),
        "process_cpu_ms": round(1000 * cpu / n, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="measured requests")
    parser.add_argument("--warmup", type=int, default=100, help="uncounted requests first")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--pg",
        default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server, without a database name (env BENCH_POSTGRES)",
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 1:
        parser.error("--requests and --warmup must be >= 1")
    sys.path.insert(0, str(ROOT))  # the gateway of the tree this script belongs to
    with tempfile.TemporaryDirectory(prefix="gateway-counts-") as workdir:
        try:
            report = asyncio.run(run(args, Path(workdir)))
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
    for name in ("statements", "round_trips", "python_calls", "process_cpu_ms"):
        print(f"{name:>15} per creation: {report[name]}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
