"""The PostgreSQL benchmarks keep running, at a tiny size: each script starts its servers (the
gateway, its floor and its same-work floor, or a receiver), drives them, reports its figures
and cleans up. The figures are not judged here (no timings asserted); what is asserted is what
a run must have done: every request answered, every IPN applied, every delivery received once
and in order, and the same-work floor leaving the rows the gateway leaves.
The reconciliation benchmark has its own (tests/reconciliation/test_recon_bench.py).

A run that cannot start exits non-zero and fails here, with the script's output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import POSTGRES_ADMIN_URL

BENCH = Path(__file__).resolve().parents[2] / "bench"
#: The server the fixtures use, in the scripts' asyncpg form.
SERVER = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0]


@pytest.fixture
def postgres(postgres_database: str) -> str:
    """The PostgreSQL server (skips locally, fails under CI=true, when it is not there)."""
    return SERVER


def run_bench(script: str, tmp_path: Path, *arguments: str) -> dict[str, Any]:
    figures = tmp_path / f"{script}.json"
    done = subprocess.run(  # noqa: S603 -- our own script, a fixed argument list
        [sys.executable, str(BENCH / script), *arguments, "--json", str(figures)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(figures.read_text())
    return result


def test_create_payments_runs_two_processes_of_gateway_and_floors_and_reports_them(
    postgres: str, tmp_path: Path
) -> None:
    report = run_bench(
        "create_payments.py",
        tmp_path,
        *("--requests", "100", "--warmup", "10", "--concurrency", "8", "--processes", "2"),
        *("--pg", postgres),
    )
    assert report["parameters"]["processes"] == 2
    for name in ("gateway", "floor", "same_work_floor"):
        figures = report["summary"][name]
        assert figures["requests"] == 100
        assert figures["errors"] == 0, figures["error_samples"]
        assert figures["rps"] > 0
        assert figures["server_cpu_ms_per_request"] > 0
        assert figures["rss_peak_mb"] > 0
        assert 0 < figures["pss_peak_mb"] <= figures["rss_peak_mb"]
        assert 0 <= figures["machine_idle_percent"] <= 100
        assert figures["postgres_cpu_ms_per_request"] >= 0
    assert report["summary"]["ratio"] > 0
    assert report["summary"]["ratio_gateway_same_work_floor"] > 0
    assert report["summary"]["ratio_same_work_floor_floor"] > 0
    # The same database work: per creation a payment, its 2 lines, its VietQR attempt, the
    # notification intake note and the idempotency key, for the gateway and the same-work floor.
    rows = {"payments": 1, "payment_items": 2, "attempts": 1, "notification_intake": 1}
    expected = {**rows, "idempotency_keys": 1, "total": 6}
    assert report["rows_per_request"] == {"gateway": expected, "same_work_floor": expected}


def test_create_counts_reports_one_statement_and_one_round_trip_per_creation(
    postgres: str, tmp_path: Path
) -> None:
    report = run_bench(
        "create_counts.py", tmp_path, *("--requests", "20", "--warmup", "5", "--pg", postgres)
    )
    assert report["requests"] == 20
    assert (report["statements"], report["round_trips"]) == (1, 1)
    assert report["python_calls"] > 0 and report["process_cpu_ms"] > 0


def test_ipn_apply_with_two_processes_pays_every_bill_it_sends_an_ipn_for(
    postgres: str, tmp_path: Path
) -> None:
    report = run_bench(
        "ipn_apply.py",
        tmp_path,
        *("--ipns", "100", "--warmup", "10", "--concurrency", "8", "--processes", "2"),
        *("--pg", f"{postgres}/postgres"),
    )
    assert report["parameters"]["processes"] == 2
    for name in ("gateway", "floor", "same_work_floor"):
        assert report[name]["requests"] == 100
        assert report[name]["errors"] == 0
        assert report[name]["server_cpu_ms_per_request"] > 0
        assert 0 < report[name]["pss_peak_mb"] <= report[name]["rss_peak_mb"]
        assert 0 <= report[name]["machine_idle_percent"] <= 100
    assert report["paid"] == 110  # the warm-up's and the measured IPNs' bills, nothing else
    assert report["vietqr_closed"] == 110  # each paid bill's VietQR attempt, as in production
    assert report["outbox_events"] == 110  # one payment.paid event per IPN
    # The same-work floor's IPNs leave its own bills as the gateway's leave theirs.
    assert report["same_work_floor_left"] == {
        "paid": 110,
        "vietqr_closed": 110,
        "outbox_events": 110,
        "inbox_applied": 110,
    }
    assert report["ratio"] > 0
    assert report["ratio_gateway_same_work_floor"] > 0
    assert report["ratio_same_work_floor_floor"] > 0


def test_same_work_floor_sends_the_statements_the_gateway_sends(postgres: str) -> None:
    """The same-work floor's copy of the gateway's SQL (bench/same_work_floor.py) is current."""
    done = subprocess.run(  # noqa: S603 -- our own script, a fixed argument list
        [sys.executable, str(BENCH / "same_work_check.py"), "--pg", postgres],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}"


def test_webhook_delivery_delivers_every_event_once_in_order(postgres: str, tmp_path: Path) -> None:
    report = run_bench(
        "webhook_delivery.py",
        tmp_path,
        *("--events", "200", "--per-payment", "2", "--pg", f"{postgres}/postgres"),
    )
    assert report["delivered"] == report["received"] == 200
    assert report["out_of_order"] == 0
    assert report["deliveries_per_second"] > 0
    assert report["worker_cpu_ms_per_delivery"] > 0
    assert report["worker_rss_peak_mb"] > 0
