"""The ``gateway`` command, run in-process on a temporary SQLite database.

``main`` runs its admin commands with ``asyncio.run``, so these tests are plain functions;
the one that needs the HTTP service starts it with its own ``asyncio.run`` afterwards.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from config import load_settings
from config.settings import API_KEY_FORMAT
from gateway.app import create_app
from gateway.cli import main

AGENCY = [
    *("agencies", "add", "--code", "HCM", "--name", "Sở Tư pháp TP. Hồ Chí Minh"),
    *("--bank-bin", "970499", "--account-number", "0011001234567"),
    *("--account-name", "SO TU PHAP HCM"),
]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The CLI reads GATEWAY_* from the real environment: keep the caller's out of it.
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)
    yield
    structlog.reset_defaults()  # main() configures logging onto the captured stdout


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f"sandbox = true\n"
        f'data_dir = "{tmp_path / "data"}"\n'
        f'log_level = "warning"\n'
        f"[banks.sandbox]\n"
        f'secret = "cli-test-bank-secret"\n',
        encoding="utf-8",
    )
    return path


def run(config: Path, *argv: str) -> int:
    return main(["--config", str(config), *argv])


def test_migrate_reports_an_up_to_date_database(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "migrate") == 0
    assert "up to date" in capsys.readouterr().out
    assert (tmp_path / "data" / "gateway.db").is_file()

    assert run(config, "migrate") == 0  # a second run changes nothing and says so
    assert "up to date" in capsys.readouterr().out


def test_an_added_agency_is_listed(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "migrate") == 0
    assert run(config, *AGENCY) == 0
    assert "HCM" in capsys.readouterr().out

    assert run(config, "agencies", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("HCM\t")] == [
        "HCM\tSở Tư pháp TP. Hồ Chí Minh\t970499/0011001234567"
    ]


def test_adding_an_agency_twice_fails(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, *AGENCY) == 0
    capsys.readouterr()
    assert run(config, *AGENCY) != 0
    assert "HCM" in capsys.readouterr().err


def test_a_bad_bin_is_refused_naming_the_field(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = list(AGENCY)
    argv[argv.index("970499")] = "97049"
    assert run(config, *argv) != 0
    captured = capsys.readouterr()
    assert "bank_bin" in captured.err

    assert run(config, "agencies", "list") == 0
    assert "HCM" not in capsys.readouterr().out


def test_an_unknown_config_key_stops_the_command_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "typo.toml"
    path.write_text("sandbox = true\n[payments]\nmax_amout = 5000\n", encoding="utf-8")

    assert main(["--config", str(path), "migrate"]) == 2
    captured = capsys.readouterr()
    assert "payments.max_amout" in captured.err
    assert "up to date" not in captured.out


def test_an_unknown_environment_variable_stops_the_command(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_PAYMENTS_MAX_AMOUT", "5000")
    assert run(config, "agencies", "list") == 2
    assert "GATEWAY_PAYMENTS_MAX_AMOUT" in capsys.readouterr().err


def test_a_created_key_is_shown_once_and_authenticates_against_the_service(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, *AGENCY) == 0
    capsys.readouterr()

    assert run(config, "clients", "create", "--agency", "HCM", "--role", "portal") == 0
    out = capsys.readouterr().out
    keys = [word for word in out.split() if API_KEY_FORMAT.match(word)]
    assert len(keys) == 1, out
    key = keys[0]
    assert out.count(key) == 1

    assert run(config, "agencies", "list") == 0
    assert key not in capsys.readouterr().out

    statuses = asyncio.run(_call_service(config, key))
    assert statuses["right key"] == (200, None)
    assert statuses["wrong key"] == (401, "unauthenticated")
    assert statuses["no key"] == (401, "unauthenticated")


def test_a_key_for_an_unknown_agency_is_refused(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "clients", "create", "--agency", "NOPE", "--role", "portal") != 0
    captured = capsys.readouterr()
    assert "NOPE" in captured.err
    assert not any(API_KEY_FORMAT.match(word) for word in captured.out.split())


async def _call_service(config: Path, key: str) -> dict[str, tuple[int, str | None]]:
    """Serve the same database as the CLI (same config file) and try the key."""
    settings = load_settings(config, environ={})
    app = create_app(settings, background=False)
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    results: dict[str, tuple[int, str | None]] = {}
    async with TestClient(TestServer(app)) as client:
        for label, headers in (
            ("right key", {"Authorization": f"Bearer {key}"}),
            ("wrong key", {"Authorization": f"Bearer {wrong}"}),
            ("no key", {}),
        ):
            response = await client.get("/v1/payments", headers=headers)
            body = await response.json(content_type=None)
            results[label] = (response.status, None if response.status == 200 else body["code"])
    return results


def test_post_offices_route_an_agencys_orders_and_scope_an_operator_key(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, *AGENCY) == 0
    office = ("--code", "BC-700000", "--name", "Bưu cục Sài Gòn", "--province", "79")
    assert run(config, "post-offices", "add", *office) == 0
    assert run(config, "post-offices", "serve", "--office", "BC-700000", "--agency", "HCM") == 0
    capsys.readouterr()
    assert run(config, "post-offices", "list") == 0
    assert capsys.readouterr().out.strip() == "BC-700000\tBưu cục Sài Gòn\t79"
    assert run(config, "clients", "create", "--role", "postal_operator") == 1
    assert "needs at least one --post-office" in capsys.readouterr().err
    assert (
        run(config, "clients", "create", "--role", "postal_operator", "--post-office", "BC-700000")
        == 0
    )
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert API_KEY_FORMAT.match(key)
    assert run(config, "post-offices", "serve", "--office", "BC-999", "--agency", "HCM") == 1
    assert "unknown post office: BC-999" in capsys.readouterr().err
