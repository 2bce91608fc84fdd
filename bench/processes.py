"""Child processes of the benchmarks (the servers under test, their floors, receivers): start
them from the tree this folder sits in, wait until they answer, stop them on every exit path.
Shared by the benchmarks, which run as scripts from this folder."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.web
import asyncpg
import psutil

ROOT = Path(__file__).resolve().parents[1]


class BenchError(Exception):
    """The benchmark could not run (as opposed to: it ran and the figures are poor)."""


_children: list[subprocess.Popen[bytes]] = []


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the bench process dies (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(argv: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``argv`` from the repository root, its output appended to ``log_path``; stopped
    by :func:`stop` or :func:`stop_children`."""
    log = log_path.open("ab")
    try:
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the children
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    finally:
        log.close()
    _children.append(process)
    return process


def stop_children() -> None:
    _stop(list(_children))


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop one child of :func:`spawn` (and the processes it started) and wait for it: a
    server started for its own phase of a bench, so that no two servers hold PostgreSQL
    connections at once (three servers of 2 processes with 16 busy connections each would
    pass PostgreSQL's default ``max_connections`` of 100)."""
    _stop([process])


async def backends_gone(dsn: str, limit_seconds: float = 10) -> None:
    """Wait until no other session is connected to ``dsn``'s database: the backends of a
    server just stopped exit a moment after it, and the CPU of exited backends is counted
    into the next phase's PostgreSQL figure otherwise."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + limit_seconds
        while time.monotonic() < deadline:
            others = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if not others:
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise BenchError(
        f"{others} sessions still connected {limit_seconds:.0f}s after the server stopped"
    )


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
    deadline = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            # Its session (spawn's start_new_session): the processes it forked too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        _children.remove(process)


def on_sigterm(_signum: int, _frame: Any) -> None:
    """Install with ``signal.signal(signal.SIGTERM, on_sigterm)``: unwind, stopping children."""
    raise SystemExit(143)


def child_env() -> dict[str, str]:
    """This environment without GATEWAY_* (the generated configuration is the only one), with
    the repository on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


async def wait_ready(
    name: str, url: str, process: subprocess.Popen[bytes], log: Path, limit_seconds: float = 120
) -> None:
    """Poll ``url`` until it answers 200; :class:`BenchError` with the log's tail if the
    process exits first or the limit passes (start-up on a busy machine takes a while)."""
    deadline = time.monotonic() + limit_seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BenchError(
                    f"{name} exited with status {process.returncode} before it was ready:\n"
                    f"{tail(log)}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise BenchError(f"{name} was not ready at {url} after {limit_seconds:.0f}s:\n{tail(log)}")


def tree_cpu_seconds(process: psutil.Process) -> tuple[float, float]:
    """(user + system, system) CPU seconds so far of ``process`` and its live children (the
    workers of ``gateway serve --processes N``)."""
    total = system = 0.0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            total += times.user + times.system
            system += times.system
    return total, system


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, summed over cores."""
    times = psutil.cpu_times()
    total = sum(times)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


def idle_percent(before: tuple[float, float], after: tuple[float, float]) -> float:
    """The machine's idle share between two :func:`machine_busy_seconds` readings, in % of all
    its cores (100 = nothing ran; on a shared machine, what the run could have had more)."""
    busy, total = after[0] - before[0], after[1] - before[1]
    return round(max(0.0, 100 * (1 - busy / max(1e-9, total))), 1)


def serve_on_one_port(make_app: Callable[[], aiohttp.web.Application], args: Any) -> None:
    """Run a floor server as ``gateway serve --processes N`` runs the gateway, with the options
    of :func:`floor_parser`: ``make_app()`` served in this process when ``--processes`` is 1,
    else in that many forked children on one port (SO_REUSEPORT), all stopped on SIGTERM or
    SIGINT, or when one of them exits."""

    def serve(reuse_port: bool) -> None:
        aiohttp.web.run_app(
            make_app(),
            host=args.host,
            port=args.port,
            print=None,
            access_log=None,
            reuse_port=reuse_port or None,
        )

    if args.processes == 1:
        serve(False)
        return
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=serve, args=(True,)) for _ in range(args.processes)]
    for child in children:
        child.start()

    def stop(_signum: int, _frame: object) -> None:
        for child in children:
            if child.exitcode is None and child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    multiprocessing.connection.wait([child.sentinel for child in children])
    stop(signal.SIGTERM, None)
    for child in children:
        child.join()


def floor_parser(description: str) -> argparse.ArgumentParser:
    """The command line every floor server shares (more options may be added): where its
    database is, where it listens, its pool — as the gateway's (``database_pool_size``,
    default 30; the benches pass it): connections opened on demand up to the maximum and kept
    open — and how many processes share the port (:func:`serve_on_one_port`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dsn", required=True, help="postgresql://... (asyncpg form)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool-min", type=int, default=10)
    parser.add_argument("--pool-max", type=int, default=30)
    parser.add_argument("--processes", type=int, default=1, help="servers on the one port")
    return parser
