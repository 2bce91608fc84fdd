"""``gateway serve --processes N``: N server processes share one port (SO_REUSEPORT) and one
PostgreSQL; what the portal creates through them exists exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
import structlog
from aiohttp import web
from conftest import (
    AGENCY_ACCOUNT,
    AGENCY_BIN,
    PII_KEY,
    VNPAY_SECRET,
    VNPAY_TMN,
    VNPOST_PASSWORD,
    VNPOST_WEBHOOK_KEY,
    payment_body,
    sandbox_vnpay,
)
from sqlalchemy import func, select
from tests_support import messages_sandbox

from gateway.cli import main
from gateway.core.db import Database
from gateway.core.db.schema import (
    attempts,
    deliveries,
    idempotency_keys,
    notifications,
    outbox_events,
    payments,
    provider_events,
)
from gateway.core.ids import system_clock
from gateway.core.roles import Role
from gateway.services.agencies import NewAgency, add_agency
from gateway.services.clients import create_client

ROOT = Path(__file__).resolve().parents[2]
PAYMENTS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(
    path: Path,
    database_url: str,
    port: int,
    extra: str = "",
    tables: str = "",
    host: str = "127.0.0.1",
) -> Path:
    """``extra``: top-level keys; ``tables``: TOML tables, after the others."""
    path.write_text(
        extra + "sandbox = false\n"
        f'database_url = "{database_url}"\n'
        f'host = "{host}"\n'
        f"port = {port}\n"
        f'public_base_url = "http://{host}:{port}"\n'
        'log_level = "warning"\n'
        f'[pii]\ncurrent_key_id = "t1"\nkeys = {{ t1 = "{PII_KEY}" }}\n'
        # No carrier listens here; none is called.
        f'[vnpost]\nbase_url = "http://127.0.0.1:9"\npassword = "{VNPOST_PASSWORD}"\n'
        f'webhook_key = "{VNPOST_WEBHOOK_KEY}"\n' + tables,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def _no_gateway_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)
    yield
    structlog.reset_defaults()  # main() configures logging onto the captured output


async def _portal_key(database_url: str) -> str:
    db = Database(database_url)
    try:
        await add_agency(
            db,
            system_clock,
            NewAgency(
                code="HCM",
                name="Sở Tư pháp TP. Hồ Chí Minh",
                bank_bin=AGENCY_BIN,
                account_number=AGENCY_ACCOUNT,
                account_name="SO TU PHAP HCM",
            ),
        )
        _, key = await create_client(
            db, system_clock, name="portal", role=Role.PORTAL, agency_codes=["HCM"]
        )
    finally:
        await db.close()
    return key


async def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll /readyz until it answers 200 (start-up on a busy machine may take a while)."""
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while time.monotonic() < deadline:
            assert process.poll() is None, _text(log)
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
    pytest.fail(f"{url} never became ready:\n{_text(log)}")


def _text(log: Path) -> str:
    return log.read_text(errors="replace")


def _start_serve(config: Path, log: Path, processes: int) -> subprocess.Popen[bytes]:
    """``gateway serve --processes N`` as a child process, its output in ``log``."""
    return _start(config, log, "serve", "--processes", str(processes))


def _start_group(postgres_url: str, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, int]:
    """``gateway serve --processes 2`` on a free port of its own: the process, its log, the
    port."""
    port = _free_port()
    config = _config(tmp_path / "gateway.toml", postgres_url, port)
    log = tmp_path / "serve.log"
    return _start_serve(config, log, 2), log, port


def _start(config: Path, log: Path, *command: str) -> subprocess.Popen[bytes]:
    """``gateway --config CONFIG COMMAND...`` as a child process, its output in ``log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    argv = [sys.executable, "-m", "gateway.cli", "--config", str(config)]
    with log.open("wb") as output:
        return subprocess.Popen(  # noqa: S603 -- our own CLI, a fixed argument list
            [*argv, *command],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, as a terminal gives it
        )


def _stop(processes: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    """SIGTERM to each: each must stop cleanly (exit status 0)."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process, log in zip(processes, logs, strict=True):
        assert process.wait(timeout=60) == 0, _text(log)


def _kill(processes: list[subprocess.Popen[bytes]]) -> None:
    """Whatever is still running after a failure."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def _listeners(parent: psutil.Process, port: int) -> list[psutil.Process]:
    """The parent's children that listen on ``port``."""
    listening = []
    for child in parent.children():
        if any(
            conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
            for conn in child.net_connections(kind="tcp")
        ):
            listening.append(child)
    return listening


async def test_two_server_processes_on_one_port_create_each_payment_exactly_once(
    postgres_url: str, tmp_path: Path, _no_gateway_environment: None
) -> None:
    key = await _portal_key(postgres_url)
    server, log, port = _start_group(postgres_url, tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_ready(f"{base}/readyz", server, log)
        parent = psutil.Process(server.pid)
        for _ in range(100):  # the second process may bind a moment after the first answers
            if len(_listeners(parent, port)) == 2:
                break
            await asyncio.sleep(0.1)
        assert len(_listeners(parent, port)) == 2, _text(log)

        # A fresh connection per request, so the kernel spreads them over both processes;
        # every payment is sent twice at once with one Idempotency-Key.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def create(number: int, idempotency_key: str) -> tuple[int, Any]:
                body = payment_body(dossier_code=f"000.00.12.H29-241122-{number:04d}")
                headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": idempotency_key}
                async with session.post(f"{base}/v1/payments", json=body, headers=headers) as r:
                    return r.status, await r.json()

            keys = [uuid.uuid4().hex for _ in range(PAYMENTS)]
            answers = await asyncio.gather(
                *(create(number, keys[number]) for number in range(PAYMENTS) for _ in range(2))
            )
        assert [status for status, _ in answers] == [201] * (2 * PAYMENTS), answers
        ids = [body["id"] for _, body in answers]
        assert ids[0::2] == ids[1::2]  # both sends of one key name the same payment
        assert len(set(ids)) == PAYMENTS

        db = Database(postgres_url)
        try:
            async with db.read() as conn:
                stored = (await conn.execute(select(payments.c.id))).scalars().all()
                stored_keys = await conn.scalar(select(func.count()).select_from(idempotency_keys))
        finally:
            await db.close()
        assert sorted(stored) == sorted(set(ids))
        assert stored_keys == PAYMENTS

        _stop([server], [log])
    finally:
        _kill([server])


async def test_ctrl_c_to_the_whole_group_stops_every_process_cleanly(
    postgres_url: str, tmp_path: Path, _no_gateway_environment: None
) -> None:
    """Ctrl-C in a terminal (or systemd's stop) signals every process of the group, and the
    supervisor passes its own signal on: each server is told twice and must still finish its
    clean-up — exit status 0, no traceback."""
    await _portal_key(postgres_url)
    server, log, port = _start_group(postgres_url, tmp_path)
    try:
        await _wait_ready(f"http://127.0.0.1:{port}/readyz", server, log)
        parent = psutil.Process(server.pid)
        for _ in range(100):  # the second process may bind a moment after the first answers
            if len(_listeners(parent, port)) == 2:
                break
            await asyncio.sleep(0.1)
        os.killpg(server.pid, signal.SIGINT)
        assert server.wait(timeout=60) == 0, _text(log)
        assert "Traceback" not in _text(log)
    finally:
        _kill([server])


async def test_a_group_stopped_while_its_processes_start_exits_cleanly(
    postgres_url: str, tmp_path: Path, _no_gateway_environment: None
) -> None:
    """systemd may stop the service while it starts: the signal reaches the server processes
    before they serve (here: as soon as both are forked). Each still starts, cleans up and
    exits 0 — not killed by the signal, which made the whole group exit 1."""
    await _portal_key(postgres_url)
    server, log, _port = _start_group(postgres_url, tmp_path)
    try:
        parent = psutil.Process(server.pid)
        for _ in range(600):
            if len(parent.children()) == 2:
                break
            await asyncio.sleep(0.01)
        assert len(parent.children()) == 2, _text(log)
        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(timeout=60) == 0, _text(log)
        assert "Traceback" not in _text(log)
    finally:
        _kill([server])


@pytest.mark.parametrize(
    "config_text",
    [
        'sandbox = true\n[banks.sandbox]\nsecret = "s"\n',
        f'sandbox = false\n[pii]\ncurrent_key_id = "t1"\nkeys = {{ t1 = "{PII_KEY}" }}\n'
        f'[vnpost]\nbase_url = "http://127.0.0.1:9"\npassword = "{VNPOST_PASSWORD}"\n'
        f'webhook_key = "{VNPOST_WEBHOOK_KEY}"\n',
    ],
    ids=["sandbox", "sqlite"],
)
def test_several_processes_are_refused_in_sandbox_mode_and_on_sqlite(
    config_text: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    _no_gateway_environment: None,
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n{config_text}', encoding="utf-8")
    assert main(["--config", str(config), "serve", "--processes", "2"]) == 2
    assert "needs PostgreSQL" in capsys.readouterr().err


def test_zero_processes_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_gateway_environment: None
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\nsandbox = true\n[banks.sandbox]\nsecret = "s"\n',
        encoding="utf-8",
    )
    assert main(["--config", str(config), "serve", "--processes", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


async def test_when_one_server_process_dies_the_group_stops_with_status_1(
    postgres_url: str, tmp_path: Path, _no_gateway_environment: None
) -> None:
    server, log, port = _start_group(postgres_url, tmp_path)
    try:
        await _wait_ready(f"http://127.0.0.1:{port}/readyz", server, log)
        parent = psutil.Process(server.pid)
        children = parent.children()
        assert len(children) == 2, _text(log)
        children[0].kill()
        assert server.wait(timeout=60) == 1, _text(log)
        assert "exited (-9); stopping all" in _text(log)
        _, alive = psutil.wait_procs(children, timeout=30)
        assert alive == []  # the sibling was stopped, not left serving alone
    finally:
        _kill([server])


# -- a second group, or a second instance, on a busy port ------------------------------------

UNREACHABLE_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:9/nowhere"


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines  # one line, no traceback
    return lines[0]


async def test_a_second_group_or_instance_on_the_busy_port_exits_2_before_reading_the_database(
    postgres_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    _no_gateway_environment: None,
) -> None:
    port, metrics = _free_port(), _free_port()
    # The metrics port of process i is metrics_port + i; both must be free.
    while not _free(metrics + 1):
        metrics = _free_port()
    extra = f'metrics_host = "127.0.0.1"\nmetrics_port = {metrics}\n'
    config = _config(tmp_path / "gateway.toml", postgres_url, port, extra)
    log = tmp_path / "serve.log"
    server = _start_serve(config, log, 2)
    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_ready(f"{base}/readyz", server, log)
        # Each server process serves its own /metrics, on metrics_port + its index.
        async with aiohttp.ClientSession() as session:
            for metrics_port in (metrics, metrics + 1):
                deadline = time.monotonic() + 60
                while True:
                    try:
                        async with session.get(f"http://127.0.0.1:{metrics_port}/metrics") as r:
                            assert r.status == 200
                            assert "gateway_http_requests_total" in await r.text()
                            break
                    except aiohttp.ClientConnectionError:
                        assert time.monotonic() < deadline, _text(log)
                        await asyncio.sleep(0.1)
        listening = len(_listeners(psutil.Process(server.pid), port))

        # A second group, and a single instance, on the same port: one line, exit 2, and
        # the database (unreachable here) is not even looked at: the port is checked first.
        elsewhere = _config(tmp_path / "second.toml", UNREACHABLE_DATABASE, port)
        for processes in ("2", "1"):
            argv = ["--config", str(elsewhere), "serve", "--processes", processes]
            assert main(argv) == 2
            line = _one_line(capsys)
            assert f"cannot listen on 127.0.0.1:{port}" in line, line

        async with aiohttp.ClientSession() as session, session.get(f"{base}/readyz") as r:
            assert r.status == 200  # the first group still serves, with as many processes
        assert len(_listeners(psutil.Process(server.pid), port)) == listening
        _stop([server], [log])
    finally:
        _kill([server])


def _free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def test_a_group_starting_while_another_takes_the_port_exits_2(
    postgres_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    _no_gateway_environment: None,
) -> None:
    """Two groups started at the same moment: both could pass the plain bind before either
    binds its SO_REUSEPORT sockets; the port's lock lets only one through."""
    port = _free_port()
    held = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The other group, between its lock and bind: the lock names the address and the port.
    held.bind(f"\0gateway-serve-port-127.0.0.1:{port}")
    try:
        config = _config(tmp_path / "gateway.toml", postgres_url, port)
        assert main(["--config", str(config), "serve", "--processes", "2"]) == 2
        assert "a group of gateway processes holds the port" in _one_line(capsys)
    finally:
        held.close()
    assert _free(port)  # nothing was left bound


async def test_two_groups_on_two_addresses_with_the_same_port_both_start(
    postgres_url: str, tmp_path: Path, _no_gateway_environment: None
) -> None:
    """The port lock names the address too: a group on 127.0.0.2 is not refused because
    another group holds the same port on 127.0.0.1 (two listeners, not one port taken)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.2", 0))
        except OSError:
            pytest.skip("127.0.0.2 cannot be bound on this machine")
    port = _free_port()
    while not _free(port, "127.0.0.2"):
        port = _free_port()
    started, logs = [], []
    try:
        for host in ("127.0.0.1", "127.0.0.2"):
            config = _config(tmp_path / f"{host}.toml", postgres_url, port, host=host)
            logs.append(tmp_path / f"{host}.log")
            started.append(_start_serve(config, logs[-1], 2))
        for host, server, log in zip(("127.0.0.1", "127.0.0.2"), started, logs, strict=True):
            await _wait_ready(f"http://{host}:{port}/readyz", server, log)
            parent = psutil.Process(server.pid)
            for _ in range(100):  # the second process may bind a moment after the first answers
                if len(_listeners(parent, port)) == 2:
                    break
                await asyncio.sleep(0.1)
            assert len(_listeners(parent, port)) == 2, _text(log)
        _stop(started, logs)
    finally:
        _kill(started)


def test_a_group_whose_database_is_unreachable_exits_2_before_starting_a_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _no_gateway_environment: None
) -> None:
    port = _free_port()
    config = _config(tmp_path / "gateway.toml", UNREACHABLE_DATABASE, port)
    assert main(["--config", str(config), "serve", "--processes", "2"]) == 2
    assert _one_line(capsys).startswith("gateway: database_url: cannot use the database")
    assert psutil.Process().children() == []  # nothing was forked
    assert _free(port)  # and the port is free again


# -- two server processes and two workers under load: everything exactly once ----------------

LOAD_PAYMENTS = 160


class _Portal:
    """The portal's webhook receiver: counts each ``webhook-id`` it is sent."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.received[request.headers["webhook-id"]] += 1
        return web.Response(status=204)


#: The agency tells the payer of a new bill by SMS and of its payment by Zalo ZNS
#: (docs/notifications.md): both sandboxes of providers/sandbox/messages.py are used.
NOTIFY_AGENCY = {
    "channels": ["zns", "sms"],
    "events": {
        "payment_created": {
            "zns": False,
            "sms_text": "Hồ sơ {dossier_code}: nộp {amount} đồng tại {checkout_url}",
        },
        "payment_paid": {
            "zns_template_id": "HCM_PAID",
            "zns_data": {"ma_ho_so": "{dossier_code}", "so_tien": "{amount}"},
            "sms": False,
        },
    },
}


def _toml_table(name: str, table: dict[str, Any]) -> str:
    """``table`` as TOML: its plain values (JSON's strings, numbers, booleans and lists are
    TOML's too), then each nested table under its dotted name."""
    text = f"[{name}]\n" + "".join(
        f"{json.dumps(key)} = {json.dumps(value)}\n"
        for key, value in table.items()
        if not isinstance(value, dict)
    )
    for key, value in table.items():
        if isinstance(value, dict):
            text += _toml_table(f"{name}.{json.dumps(key)}", value)
    return text


async def _wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while text not in _text(log):
        assert process.poll() is None, _text(log)
        assert time.monotonic() < deadline, _text(log)
        await asyncio.sleep(0.1)


async def test_two_servers_and_two_workers_pay_deliver_and_notify_each_payment_exactly_once(
    postgres_url: str, tmp_path: Path, aiohttp_server: Any, _no_gateway_environment: None
) -> None:
    """``gateway serve --processes 2`` (whose processes run their claiming loops too) and two
    ``gateway worker`` processes share one PostgreSQL while the portal creates payments, the
    sandbox VNPAY pays each one (some IPNs sent twice) and the portal's endpoint receives
    the webhooks: every payment is paid once, every outbox event and delivery exists once
    and reaches the portal once, the payer is told of each bill once by SMS and of each
    payment once by Zalo ZNS (the messages sandbox), and nothing answers 5xx."""
    key = await _portal_key(postgres_url)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    # max_ipn_attempts=1: a refused IPN stays refused, so the test sees it.
    vnpay = await sandbox_vnpay(aiohttp_server, f"{base}/callbacks/vnpay/ipn", max_ipn_attempts=1)
    portal = _Portal()
    receiver = web.Application()
    receiver.router.add_post("/hooks", portal.handle)
    hooks = await aiohttp_server(receiver)
    messages, notify = await messages_sandbox(
        aiohttp_server, system_clock, base, {"HCM": NOTIFY_AGENCY}
    )
    tables = (
        f'[vnpay]\npayment_url = "{vnpay.make_url("/paymentv2/vpcpay.html")}"\n'
        f'api_url = "{vnpay.make_url("/merchant_webapi/api/transaction")}"\n'
        f'tmn_code = "{VNPAY_TMN}"\nhash_secret = "{VNPAY_SECRET}"\n'
        "[webhooks]\nallow_private_urls = true\npoll_seconds = 0.2\n"
        + _toml_table("notifications", {**notify, "poll_seconds": 0.2})
    )
    config = _config(tmp_path / "gateway.toml", postgres_url, port, tables=tables)
    logs = [tmp_path / name for name in ("serve.log", "worker-1.log", "worker-2.log")]
    started = [
        _start_serve(config, logs[0], 2),
        _start(config, logs[1], "worker"),
        _start(config, logs[2], "worker"),
    ]
    try:
        await _wait_ready(f"{base}/readyz", started[0], logs[0])
        for worker, log in zip(started[1:], logs[1:], strict=True):
            await _wait_for_line(log, "gateway worker running", worker)
        statuses: Counter[int] = Counter()
        auth = {"Authorization": f"Bearer {key}"}
        # A fresh connection per request: the kernel spreads them over both server processes.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def post(url: str, body: dict[str, Any], gateway: bool = True) -> Any:
                headers = {**auth, "Idempotency-Key": uuid.uuid4().hex} if gateway else {}
                async with session.post(url, json=body, headers=headers) as response:
                    statuses[response.status] += 1
                    assert response.status < 300, await response.text()
                    return await response.json()

            endpoint = await post(
                f"{base}/v1/webhook-endpoints",
                {"url": str(hooks.make_url("/hooks")), "events": ["*"]},
            )
            assert endpoint["url"].endswith("/hooks")
            queue = list(range(LOAD_PAYMENTS))

            async def citizen() -> None:
                while queue:
                    number = queue.pop()
                    dossier = f"000.00.12.H29-241204-{number:04d}"
                    payment = await post(f"{base}/v1/payments", payment_body(dossier_code=dossier))
                    attempt = await post(
                        f"{base}/v1/payments/{payment['id']}/attempts", {"method": "vnpay"}
                    )
                    async with session.get(attempt["next_action"]["url"]) as page:
                        assert page.status == 200, await page.text()
                    txn = {"txn_ref": attempt["provider_reference"]}
                    # The sandbox sends the IPN to the servers before it answers.
                    await post(
                        str(vnpay.make_url("/paymentv2/simulate")),
                        {**txn, "outcome": "success"},
                        gateway=False,
                    )
                    if number % 4 == 0:  # VNPAY sends some IPNs twice
                        await post(str(vnpay.make_url("/paymentv2/resend_ipn")), txn, False)

            await asyncio.gather(*(citizen() for _ in range(12)))
            async with session.get(vnpay.make_url("/transactions")) as response:
                transactions = await response.json()

        # Every IPN was answered 200 with a JSON RspCode (00 first, 02 for a repeat).
        answers = [ipn for txn in transactions for ipn in txn["ipn_attempts"]]
        assert len(transactions) == LOAD_PAYMENTS
        assert len(answers) == LOAD_PAYMENTS + LOAD_PAYMENTS // 4
        assert {ipn["http_status"] for ipn in answers} == {200}, answers
        assert all(txn["ipn_attempts"][0]["rsp_code"] == "00" for txn in transactions)
        assert max(statuses) < 500, statuses

        db = Database(postgres_url)
        try:
            deadline = time.monotonic() + 60
            while True:  # the workers deliver and notify in the background: poll until done
                async with db.read() as conn:
                    open_deliveries = await conn.scalar(
                        select(func.count())
                        .select_from(deliveries)
                        .where(deliveries.c.status != "succeeded")
                    )
                    told = Counter(
                        (
                            await conn.execute(
                                select(notifications.c.status).where(
                                    notifications.c.status != "queued"
                                )
                            )
                        ).scalars()
                    )
                if open_deliveries == 0 and told.total() >= 2 * LOAD_PAYMENTS:
                    break
                assert time.monotonic() < deadline, (open_deliveries, told)
                await asyncio.sleep(0.2)
            async with db.read() as conn:
                paid = (await conn.execute(select(payments.c.status))).scalars().all()
                tries = (
                    await conn.execute(
                        select(attempts.c.payment_id, attempts.c.status).where(
                            attempts.c.status == "succeeded"
                        )
                    )
                ).all()
                ipns = await conn.scalar(
                    select(func.count())
                    .select_from(provider_events)
                    .where(provider_events.c.provider == "vnpay")
                )
                events = (
                    await conn.execute(
                        select(outbox_events.c.id, outbox_events.c.payment_id, outbox_events.c.type)
                    )
                ).all()
                sent = (
                    await conn.execute(select(deliveries.c.event_id, deliveries.c.attempt_count))
                ).all()
                notified = (
                    await conn.execute(
                        select(
                            notifications.c.id,
                            notifications.c.payment_id,
                            notifications.c.kind,
                            notifications.c.channel,
                            notifications.c.status,
                        )
                    )
                ).all()
        finally:
            await db.close()

        assert paid == ["paid"] * LOAD_PAYMENTS
        # One succeeded attempt per payment (its VietQR attempt was closed, not paid).
        assert len(tries) == len({payment for payment, _ in tries}) == LOAD_PAYMENTS
        assert ipns == LOAD_PAYMENTS  # a repeated IPN is stored once
        per_payment = Counter((payment, kind) for _, payment, kind in events)
        assert max(per_payment.values()) == 1, per_payment.most_common(3)
        assert Counter(kind for _, kind in per_payment)["payment.paid"] == LOAD_PAYMENTS
        assert sorted(event for event, _ in sent) == sorted(event for event, _, _ in events)
        assert {count for _, count in sent} == {1}  # no delivery was tried twice
        assert portal.received == Counter({event: 1 for event, _, _ in events})

        # One notification per payment and event, each sent once: the bill by SMS, the
        # payment by ZNS; the sandbox counts a repeated send (same tracking id) in ``sends``.
        assert Counter((kind, channel, status) for _, _, kind, channel, status in notified) == {
            ("payment_created", "sms", "sent"): LOAD_PAYMENTS,
            ("payment_paid", "zns", "sent"): LOAD_PAYMENTS,
        }
        assert len({(payment, kind) for _, payment, kind, _, _ in notified}) == len(notified)
        async with aiohttp.ClientSession() as session:
            async with session.get(messages.make_url("/list")) as response:
                received = await response.json()
        assert sorted(m["tracking_id"] for m in received) == sorted(row[0] for row in notified)
        assert {m["sends"] for m in received} == {1}

        _stop(started, logs)
    finally:
        _kill(started)
