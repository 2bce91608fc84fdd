"""Starting the service: a second instance never harms the first, sandbox demo credentials
can stay the same across restarts, start-up errors are one line with exit code 2, and
``/metrics`` is kept off the public port outside sandbox mode unless a token protects it."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from conftest import IN_CI, METRICS_AUTH, POSTGRES_ADMIN_URL, FixedClock, make_settings

from config import Settings, load_settings
from gateway.app import create_app
from gateway.cli import main
from gateway.core.errors import AccountLocked, Unauthenticated
from gateway.services.wiring import build_services

_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')
OPERATOR_KEY = "gw_demooper01_" + "o" * 40
CONSOLE_PASSWORD = "mat-khau-demo-co-dinh-2026"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)
    yield
    structlog.reset_defaults()  # main() configures logging onto the captured stdout


def sandbox_config(tmp_path: Path, port: int, extra: str = "") -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'sandbox = true\nhost = "127.0.0.1"\nport = {port}\n'
        f'data_dir = "{tmp_path / "data"}"\nlog_level = "warning"\n{extra}'
        f'[banks.sandbox]\nsecret = "startup-test-bank-secret"\n',
        encoding="utf-8",
    )
    return path


async def serving(settings: Settings, *ports: int) -> web.AppRunner:
    """The app running as ``gateway serve`` runs it: one runner, a site per port."""
    runner = web.AppRunner(create_app(settings, background=False))
    await runner.setup()
    for port in ports:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def console_sign_in(base: str, username: str, password: str) -> int:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        form = await session.get(f"{base}/console/login")
        token = _LOGIN_TOKEN.search(await form.text())
        assert token is not None
        response = await session.post(
            f"{base}/console/login",
            data={"username": username, "password": password, "login_token": token.group(1)},
            headers={"Cookie": f"gw_login={token.group(1)}"},
            allow_redirects=False,
        )
        return response.status


async def status_with_key(base: str, path: str, key: str) -> int:
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"{base}{path}", headers={"Authorization": f"Bearer {key}"})
        return response.status


# -- a second instance ---------------------------------------------------------------------


async def test_a_second_serve_on_the_same_port_and_data_exits_2_and_leaves_the_first_working(
    tmp_path: Path, unused_tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    config = sandbox_config(tmp_path, unused_tcp_port)
    runner = await serving(load_settings(config, environ={}), unused_tcp_port)
    base = f"http://127.0.0.1:{unused_tcp_port}"
    try:
        printed = capsys.readouterr().err
        password = re.search(r"ketoan / (\S+)", printed)
        operator_key = re.search(r"Demo post office API key: (\S+)", printed)
        assert password and operator_key, printed

        environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli",
            "--config",
            str(config),
            "serve",
            env=environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(second.communicate(), timeout=120)

        assert second.returncode == 2
        lines = err.decode().strip().splitlines()
        assert len(lines) == 1, lines  # one line, no traceback
        assert f"127.0.0.1:{unused_tcp_port}" in lines[0]
        assert await console_sign_in(base, "ketoan", password.group(1)) == 303
        assert await status_with_key(base, "/v1/operator/orders", operator_key.group(1)) == 200
    finally:
        await runner.cleanup()


async def test_configured_demo_credentials_survive_a_restart(
    tmp_path: Path, unused_tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = f'[demo]\nconsole_password = "{CONSOLE_PASSWORD}"\noperator_key = "{OPERATOR_KEY}"\n'
    settings = load_settings(sandbox_config(tmp_path, unused_tcp_port, extra), environ={})
    base = f"http://127.0.0.1:{unused_tcp_port}"
    for _start in range(2):
        runner = await serving(settings, unused_tcp_port)
        try:
            printed = capsys.readouterr().err
            assert f"buucuc / {CONSOLE_PASSWORD}" in printed
            assert OPERATOR_KEY in printed
            for username in ("ketoan", "truongphong", "buucuc"):
                assert await console_sign_in(base, username, CONSOLE_PASSWORD) == 303
            assert await status_with_key(base, "/v1/operator/orders", OPERATOR_KEY) == 200
        finally:
            await runner.cleanup()


# -- clear start-up errors ---------------------------------------------------------------------


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    "url",
    ["not a database url", "postgres://user@host/db", "postgresql+asyncpg://u@host:port/db"],
)
@pytest.mark.parametrize("command", [["migrate"], ["serve"], ["agencies", "list"]])
def test_a_malformed_database_url_stops_any_command_naming_the_key(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str,
    command: list[str],
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    assert main(command) == 2
    line = one_line_error(capsys)
    assert "database_url" in line


@pytest.mark.parametrize(
    "command", [["migrate"], ["serve", "--port", "0"], ["agencies", "list"], ["worker"]]
)
def test_an_unreachable_database_stops_the_command_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # Nothing listens on port 1.
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql+asyncpg://gw:secret@127.0.0.1:1/gw")
    assert main(command) == 2
    line = one_line_error(capsys)
    assert line.startswith("gateway: database_url: cannot use the database")
    assert "127.0.0.1:1" in line
    assert "secret" not in line  # the password is never printed


def test_a_missing_postgresql_database_stops_the_command_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"{server}/gateway_no_such_database")
    code = main(["migrate"])
    line = one_line_error(capsys)
    if code == 2 and "does not exist" not in line and not IN_CI:
        pytest.skip(f"PostgreSQL is not reachable at {server}: {line}")
    assert code == 2
    assert 'database "gateway_no_such_database" does not exist' in line


def test_a_missing_sqlite_database_outside_sandbox_mode_asks_for_migrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "production.toml"
    config.write_text(
        f'database_url = "sqlite+aiosqlite:///{tmp_path / "missing" / "gateway.db"}"\n'
        'metrics_token = "a-metrics-token-of-some-length"\n'
        "[pii.keys]\n"
        'k1 = "dGVzdC1rZXktMzItYnl0ZXMtZm9yLXRoZS1zdWl0ZSE="\n'
        "[vnpost]\n"
        'base_url = "https://vnpost.example"\npassword = "p"\nwebhook_key = "k"\n',
        encoding="utf-8",
    )
    assert main(["--config", str(config), "agencies", "list"]) == 2
    line = one_line_error(capsys)
    assert "does not exist" in line and "gateway migrate" in line
    assert not (tmp_path / "missing").exists()  # nothing was created


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    return sandbox_config(tmp_path, 8080)


def test_creating_a_user_without_a_terminal_asks_for_password_stdin(
    cli_config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    create = ["--config", str(cli_config), "users", "create", "--username", "ketoan2"]
    code = main([*create, "--name", "Kế toán", "--role", "finance", "--all-agencies"])
    assert code == 2
    assert "--password-stdin" in one_line_error(capsys)


async def test_a_user_created_with_password_stdin_signs_in_and_an_administrator_unlocks_them(
    cli_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("mat-khau-qua-stdin-2026\n"))
    create = ["--config", str(cli_config), "users", "create", "--username", "ketoan2"]
    create += ["--name", "Kế toán", "--role", "finance", "--all-agencies", "--password-stdin"]
    assert await asyncio.to_thread(main, create) == 0
    assert "user ketoan2 created" in capsys.readouterr().out

    settings = load_settings(cli_config, environ={})
    clock = FixedClock(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))
    async with build_services(settings, clock=clock) as services:
        await services.staff.login("ketoan2", "mat-khau-qua-stdin-2026")  # the password works
        for _ in range(settings.console_login.lock_after):
            with pytest.raises(Unauthenticated):
                await services.staff.login("ketoan2", "sai-mat-khau", "10.0.0.1")
            clock.advance(seconds=settings.console_login.max_delay_seconds)
        with pytest.raises(AccountLocked):
            await services.staff.login("ketoan2", "mat-khau-qua-stdin-2026", "10.0.0.2")

    unlock = ["--config", str(cli_config), "users", "unlock", "ketoan2"]
    assert await asyncio.to_thread(main, unlock) == 0
    assert "user ketoan2 unlocked" in capsys.readouterr().out
    assert await asyncio.to_thread(main, unlock) == 0
    assert "user ketoan2 was not locked" in capsys.readouterr().out
    assert await asyncio.to_thread(main, [*unlock[:-1], "nobody"]) == 1
    assert "nobody" in one_line_error(capsys)


# -- /metrics ----------------------------------------------------------------------------------


@pytest.fixture
def unmigrated(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"  # /metrics reads no table


@pytest.fixture
async def metrics_listener(
    unmigrated: str, unused_tcp_port_factory: Any
) -> AsyncIterator[tuple[str, str]]:
    public, private = unused_tcp_port_factory(), unused_tcp_port_factory()
    settings = make_settings(
        unmigrated, metrics_token=None, metrics_host="127.0.0.1", metrics_port=private
    )
    runner = await serving(settings, public, private)
    yield f"http://127.0.0.1:{public}", f"http://127.0.0.1:{private}"
    await runner.cleanup()


async def test_metrics_on_their_own_listener_are_not_served_on_the_public_port(
    metrics_listener: tuple[str, str],
) -> None:
    public, private = metrics_listener
    async with aiohttp.ClientSession() as session:
        hidden = await session.get(f"{public}/metrics", headers=METRICS_AUTH)
        assert hidden.status == 404
        assert (await hidden.json())["code"] == "not_found"
        served = await session.get(f"{private}/metrics")
        assert served.status == 200
        assert "gateway_http_requests_total" in await served.text()


async def test_metrics_need_the_token_on_the_public_port(
    unmigrated: str, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(make_settings(unmigrated), background=False))
    for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}):
        refused = await client.get("/metrics", headers=headers)
        assert refused.status == 401
        assert (await refused.json())["code"] == "unauthenticated"
    assert (await client.get("/metrics", headers=METRICS_AUTH)).status == 200


async def test_outside_sandbox_mode_without_token_or_listener_metrics_are_not_served(
    unmigrated: str, aiohttp_client: Any
) -> None:
    settings = make_settings(unmigrated, metrics_token=None)
    client = await aiohttp_client(create_app(settings, background=False))
    assert (await client.get("/metrics")).status == 404


# -- libraries imported where they are used, checked at start ----------------------------------


def test_serve_holds_none_of_the_libraries_it_imports_only_where_they_are_used() -> None:
    """polars, openpyxl, alembic and fpdf2 cost about 70 MiB per process (docs/performance.md,
    "Memory"): importing what `gateway serve` imports loads none of them."""
    program = (
        "import sys, gateway.cli, gateway.app\n"
        "loaded = {name.split('.')[0] for name in sys.modules}\n"
        "print(sorted({m.split('.')[0] for m in gateway.cli.LAZY_MODULES} & loaded))"
    )
    checked = subprocess.run(  # noqa: S603 -- this interpreter, a fixed program
        [sys.executable, "-c", program],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert checked.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_library_that_does_not_import_stops_serve_and_worker_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    unused_tcp_port: int,
    command: str,
) -> None:
    """A broken installation (here an fpdf that fails to import, first on the path) stops
    start-up, not the first receipt PDF hours later."""
    broken = tmp_path / "site" / "fpdf"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text('raise ImportError("built for another CPU")\n')
    monkeypatch.setenv("PYTHONPATH", str(broken.parent))
    config = sandbox_config(tmp_path, unused_tcp_port)
    assert main(["--config", str(config), command]) == 2
    line = one_line_error(capsys)
    assert line == (
        "gateway: a library the gateway needs does not import: "
        "fpdf (ImportError: built for another CPU)"
    )
