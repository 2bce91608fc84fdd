"""The ``gateway`` command, run in-process on a temporary SQLite database.

``main`` runs its admin commands with ``asyncio.run``, so these tests are plain functions;
the one that needs the HTTP service starts it with its own ``asyncio.run`` afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from config import load_settings
from config.settings import API_KEY_FORMAT
from gateway.app import create_app
from gateway.cli import main
from gateway.core.db import Database
from gateway.core.db.schema import recon_exceptions, recon_runs, statement_imports
from providers.payment.vietqr import notice as wire
from providers.sandbox.statements import Discrepancies, PaidPayment, camt053
from reconciliation.model import BUSINESS_TZ

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


# -- reconciliation: the CLI uses the configured services ----------------------------------

ACCOUNT = "0011009876543"
BANK_SECRET = "cli-test-bank-secret"


def _configure(config: Path, *, top: str = "", tables: str = "") -> None:
    """More settings for the test configuration: top-level keys before its tables, then more
    tables after them."""
    config.write_text(top + config.read_text(encoding="utf-8") + tables, encoding="utf-8")


async def _pay_two_by_transfer(config: Path, key: str) -> list[PaidPayment]:
    """Two equal bills of agency HCM, each paid by a signed bank credit notice."""
    settings = load_settings(config, environ={})
    paid: list[PaidPayment] = []
    async with TestClient(TestServer(create_app(settings, background=False))) as client:
        portal = {"Authorization": f"Bearer {key}"}
        for number in (1, 2):
            created = await client.post(
                "/v1/payments",
                headers={**portal, "Idempotency-Key": f"cli-recon-{number}"},
                json={
                    "agency_code": "HCM",
                    "dossier_code": f"H29-{number}",
                    "payer": {"name": "An"},
                    "items": [{"kind": "charge", "description": "Lệ phí", "amount": 135000}],
                },
            )
            assert created.status == 201, await created.text()
            payment = await created.json()
            booked_at = datetime.now(BUSINESS_TZ)
            raw = json.dumps(
                wire.CreditNotice(
                    transaction_id=f"FT-GATEWAY-{number}",
                    bin="970499",
                    account_number=ACCOUNT,
                    amount=135000,
                    description=f"MBVCB.{payment['reference']}.nop phi",
                    booked_at=booked_at,
                ).to_json()
            ).encode()
            stamp = int(booked_at.timestamp())
            notice = await client.post(
                "/callbacks/bank/sandbox",
                data=raw,
                headers={
                    wire.TIMESTAMP_HEADER: str(stamp),
                    wire.SIGNATURE_HEADER: wire.sign(BANK_SECRET.encode(), stamp, raw),
                },
            )
            assert (await notice.json())["outcome"] == "applied", await notice.text()
            paid.append(
                PaidPayment(
                    reference=payment["reference"],
                    amount=135000,
                    paid_at=booked_at,
                    channel="vietqr",
                    # The statement carries another bank reference than the notice did, so
                    # only our reference in the transfer text can tell the two lines apart.
                    provider_txn_id=f"FT-STATEMENT-{number}",
                    agency_code="HCM",
                    account_number=ACCOUNT,
                )
            )
    return paid


def test_recon_run_finds_the_configured_reference_prefix_in_transfer_texts(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(config, tables='[payments]\nreference_prefix = "SOTP"\n')
    agency = list(AGENCY)
    agency[agency.index("0011001234567")] = ACCOUNT
    assert run(config, *agency) == 0
    assert run(config, "clients", "create", "--agency", "HCM", "--role", "portal") == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    paid = asyncio.run(_pay_two_by_transfer(config, key))
    assert all(payment.reference.startswith("SOTP") for payment in paid)
    day = paid[0].business_day
    statement = tmp_path / "camt053.xml"
    statement.write_bytes(camt053(ACCOUNT, paid, day, opening_balance=0))

    assert run(config, "recon", "import", str(statement), "--source", "camt053") == 0
    assert "accepted" in capsys.readouterr().out
    assert run(config, "recon", "run", "--date", day.isoformat()) == 0
    # Two equal amounts: without the references the lines could not be told apart.
    assert "2 matched, 0 exceptions {}" in capsys.readouterr().out


def _imports(config: Path) -> int:
    async def count() -> int:
        database = Database(load_settings(config, environ={}).database_dsn)
        try:
            async with database.read() as conn:
                return int(
                    (
                        await conn.execute(select(func.count()).select_from(statement_imports))
                    ).scalar_one()
                )
        finally:
            await database.close()

    return asyncio.run(count())


def test_recon_import_refuses_a_file_over_the_configured_upload_limit(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(config, top="max_upload_bytes = 2048\n")
    payments = [
        PaidPayment(
            reference=f"DVC{number:011d}",
            amount=135000,
            paid_at=datetime(2026, 11, 22, 9, number, tzinfo=BUSINESS_TZ),
            channel="vietqr",
            provider_txn_id=f"FT{number:010d}",
            agency_code="HCM",
            account_number=ACCOUNT,
        )
        for number in range(1, 6)
    ]
    statement = tmp_path / "camt053.xml"
    statement.write_bytes(camt053(ACCOUNT, payments, payments[0].business_day, 0))
    assert statement.stat().st_size > 2048  # a well-formed statement, only too large

    assert run(config, "recon", "import", str(statement), "--source", "camt053") == 1
    captured = capsys.readouterr()
    assert "2048 bytes" in captured.err
    assert "accepted" not in captured.out
    assert _imports(config) == 0


def test_recon_import_of_a_missing_file_names_it_in_one_line(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "sao-ke-khong-co.xml"

    assert run(config, "recon", "import", str(missing), "--source", "camt053") == 2

    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"gateway: {missing}: No such file or directory"]
    assert _imports(config) == 0


@pytest.mark.parametrize("day", ["2026-13-01", "9999-12-31", "yesterday"])
def test_recon_run_with_a_date_that_is_not_a_business_day_exits_2_without_a_traceback(
    config: Path, day: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "recon", "run", "--date", day) == 2
    err = capsys.readouterr().err
    assert "not a business day" in err and "Traceback" not in err


def test_recon_import_takes_a_bank_csv_export_with_its_layout(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(config)
    sample = Path(__file__).resolve().parents[2] / "docs/samples/bank_statement_2024-05-15.csv"
    assert run(config, "recon", "import", str(sample), "--source", "bank_csv") == 1
    assert "bank_profile" in capsys.readouterr().err  # no layout: refused, not guessed
    assert _imports(config) == 0
    args = ["--source", "bank_csv", "--bank-profile", "vn_standard"]
    assert run(config, "recon", "import", str(sample), *args) == 0
    assert ": accepted, 3 lines" in capsys.readouterr().out
    assert _imports(config) == 1
    # The same file again: the earlier accepted import, still a success for a script.
    assert run(config, "recon", "import", str(sample), *args) == 0
    assert ": accepted (already imported), 3 lines" in capsys.readouterr().out
    assert _imports(config) == 1


def test_recon_import_of_an_export_whose_header_does_not_fit_names_the_missing_columns(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CSV and XLSX alike: quarantined with a row-0 error naming the columns, no traceback,
    and exit status 1 so a script can tell; importing the same file again is no success
    either."""
    _configure(config)
    header = ["Ngày giao dịch", "Ngày hiệu lực", "Ghi nợ", "Ghi có", "Nội dung"]
    csv_file = tmp_path / "saoke.csv"
    csv_file.write_text(",".join(header) + "\n15/05/2024,,,100,x\n", encoding="utf-8")
    book = openpyxl.Workbook()
    assert book.active is not None
    book.active.append(header)
    book.active.append(["15/05/2024", "", "", 100, "x"])
    xlsx_file = tmp_path / "saoke.xlsx"
    book.save(xlsx_file)

    for path, source in ((csv_file, "bank_csv"), (xlsx_file, "bank_xlsx")):
        args = ["--source", source, "--bank-profile", "vn_standard"]
        assert run(config, "recon", "import", str(path), *args) == 1
        captured = capsys.readouterr()
        assert ": quarantined, 0 lines" in captured.out
        assert "line 0: missing_column:" in captured.out
        assert "'Số bút toán'" in captured.out and "'Mô tả'" in captured.out
        assert "Traceback" not in captured.err
        assert run(config, "recon", "import", str(path), *args) == 1
        assert ": quarantined (already imported), 0 lines" in capsys.readouterr().out


def test_recon_import_help_states_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["recon", "import", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "0 when the file is accepted" in text and "1 when it is quarantined" in text


async def _close_a_day(config: Path, key: str) -> tuple[int, str]:
    """Serve the CLI's database and try to close a day that has not been reconciled."""
    app = create_app(load_settings(config, environ={}), background=False)
    async with TestClient(TestServer(app)) as client:
        response = await client.post(
            "/v1/reconciliation/days/2026-11-22/close",
            headers={"Authorization": f"Bearer {key}"},
        )
        return response.status, (await response.json(content_type=None))["code"]


def test_a_deployment_wide_finance_key_is_explicit(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--all-agencies`` makes a finance key deployment-wide; no agency is not all agencies."""
    assert run(config, *AGENCY) == 0
    assert run(config, "clients", "create", "--role", "finance_approver") == 1
    assert run(config, "clients", "create", "--role", "portal", "--all-agencies") == 1
    capsys.readouterr()
    keys = {}
    for scope in (["--agency", "HCM"], ["--all-agencies"]):
        assert run(config, "clients", "create", "--role", "finance_approver", *scope) == 0
        out = capsys.readouterr().out
        [keys[scope[0]]] = [word for word in out.split() if API_KEY_FORMAT.match(word)]
    # A day closes for every agency: only the deployment-wide key gets as far as the day.
    assert asyncio.run(_close_a_day(config, keys["--agency"])) == (403, "deployment_wide_only")
    assert asyncio.run(_close_a_day(config, keys["--all-agencies"])) == (
        409,
        "invalid_transition",
    )


# -- re-running a day with decided exceptions ----------------------------------------------

RERUN_DAY = date(2026, 11, 20)
#: Five unknown credits in this order on the statement: the run raises them in this order.
CREDITS = (41000, 42000, 43000, 44000, 45000)
#: Decided first, middle and last in the run's order; the others stay open.
DECIDED = {41000: "approved", 43000: "resolved", 45000: "approved"}


async def _decide_through_the_service(config: Path, finance: str, approver: str) -> None:
    """Resolve (finance key) and approve (approver key) through the served API."""
    app = create_app(load_settings(config, environ={}), background=False)
    async with TestClient(TestServer(app)) as client:
        listed = await client.get(
            "/v1/reconciliation/exceptions",
            params={"business_date": RERUN_DAY.isoformat()},
            headers={"Authorization": f"Bearer {finance}"},
        )
        by_amount = {item["amount"]: item["id"] for item in (await listed.json())["data"]}
        assert sorted(by_amount) == list(CREDITS)
        for amount, status in DECIDED.items():
            resolved = await client.post(
                f"/v1/reconciliation/exceptions/{by_amount[amount]}/resolve",
                json={"resolution": "refund_requested", "reason": f"Hoàn trả khoản {amount}"},
                headers={"Authorization": f"Bearer {finance}"},
            )
            assert resolved.status == 200, await resolved.text()
            if status == "approved":
                approved = await client.post(
                    f"/v1/reconciliation/exceptions/{by_amount[amount]}/approve",
                    headers={"Authorization": f"Bearer {approver}"},
                )
                assert approved.status == 200, await approved.text()


def _current_exceptions(config: Path) -> list[Any]:
    """The current run's exceptions, in the statement's order of their lines."""

    async def rows() -> list[Any]:
        database = Database(load_settings(config, environ={}).database_dsn)
        try:
            async with database.read() as conn:
                found = await conn.execute(
                    select(recon_exceptions)
                    .join(recon_runs, recon_runs.c.id == recon_exceptions.c.run_id)
                    .where(
                        recon_runs.c.business_date == RERUN_DAY,
                        recon_runs.c.status == "current",
                    )
                )
                return sorted(found.all(), key=lambda row: row.line_ids)
        finally:
            await database.close()

    return asyncio.run(rows())


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_recon_run_again_keeps_decisions_taken_first_middle_and_last(
    database: str,
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """Issue 10 item 1 through the CLI: `recon run` of a day with decided exceptions failed
    (500-style traceback) or wiped the decisions."""
    if database == "postgresql":
        url = request.getfixturevalue("postgres_url")
        _configure(config, top=f'database_url = "{url}"\n')
    assert run(config, *AGENCY) == 0
    keys = {}
    for role in ("finance", "finance_approver"):
        assert run(config, "clients", "create", "--role", role, "--agency", "HCM") == 0
        [keys[role]] = [
            word for word in capsys.readouterr().out.split() if API_KEY_FORMAT.match(word)
        ]
    statement = tmp_path / "camt053.xml"
    statement.write_bytes(
        camt053(
            "0011001234567",
            [],
            RERUN_DAY,
            opening_balance=0,
            problems=Discrepancies(unknown_credits=CREDITS),
        )
    )
    assert run(config, "recon", "import", str(statement), "--source", "camt053") == 0
    assert run(config, "recon", "run", "--date", RERUN_DAY.isoformat()) == 0
    asyncio.run(_decide_through_the_service(config, keys["finance"], keys["finance_approver"]))
    decided = {row.amount: row for row in _current_exceptions(config)}
    capsys.readouterr()

    for _ in range(2):  # a second re-run carries what the first carried
        assert run(config, "recon", "run", "--date", RERUN_DAY.isoformat()) == 0
        out = capsys.readouterr()
        assert "5 exceptions" in out.out and "Traceback" not in out.err
        carried = _current_exceptions(config)
        assert [(row.amount, row.status) for row in carried] == [
            (amount, DECIDED.get(amount, "open")) for amount in CREDITS
        ]
        for row in carried:
            before = decided[row.amount]
            assert row.id != before.id and row.run_id != before.run_id
            assert (
                row.resolution,
                row.resolution_reason,
                row.resolved_by,
                row.resolved_at,
                row.approved_by,
                row.approved_at,
            ) == (
                before.resolution,
                before.resolution_reason,
                before.resolved_by,
                before.resolved_at,
                before.approved_by,
                before.approved_at,
            )
        assert all(decided[amount].resolved_by for amount in DECIDED)
