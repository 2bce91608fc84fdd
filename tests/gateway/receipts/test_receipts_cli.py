"""``gateway receipts ranges add|list``, run in-process on a temporary SQLite database in
sandbox mode (the agency's throwaway certificate is made in the data directory)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from gateway.cli import main

AGENCY = [
    *("agencies", "add", "--code", "HCM", "--name", "Sở Tư pháp TP. Hồ Chí Minh"),
    *("--bank-bin", "970499", "--account-number", "0011001234567"),
    *("--account-name", "SO TU PHAP HCM"),
]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)
    yield
    structlog.reset_defaults()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        "sandbox = true\n"
        f'data_dir = "{tmp_path / "data"}"\n'
        'log_level = "warning"\n'
        "[banks.sandbox]\n"
        'secret = "cli-test-bank-secret"\n'
        "[receipts.agencies.HCM]\n"
        'tax_code = "0301234567"\n'
        'legal_name = "Sở Tư pháp Thành phố Hồ Chí Minh"\n'
        'symbols = { "2026" = "26TAB", "2027" = "27TAB" }\n',
        encoding="utf-8",
    )
    return path


def run(config: Path, *argv: str) -> int:
    return main(["--config", str(config), *argv])


def test_ranges_are_added_listed_and_an_overlap_is_refused(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, *AGENCY) == 0
    add = ("receipts", "ranges", "add", "--agency", "HCM", "--symbol", "26TAB")
    assert run(config, *add, "--point", "online", "--first", "1", "--last", "1000") == 0
    assert "range 1..1000 of EBL01/26TAB added for HCM (online)" in capsys.readouterr().out

    assert run(config, *add, "--point", "counter", "--first", "900", "--last", "2000") == 1
    assert "overlaps 1..1000 (online)" in capsys.readouterr().err
    assert run(config, *add, "--point", "counter", "--first", "1", "--last", "0") == 1
    assert "last" in capsys.readouterr().err
    assert run(config, "receipts", "ranges", "add", "--agency", "HCM", "--symbol", "25TAB",
               "--point", "postal", "--first", "1", "--last", "9") == 1  # fmt: skip
    assert "symbol" in capsys.readouterr().err

    assert run(config, "receipts", "ranges", "list", "--agency", "HCM") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == ["HCM\tEBL01\t26TAB\tonline\t1\t1000\t1\t1000"]


def test_a_summary_of_a_day_without_receipts_is_shown_and_not_sent(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, *AGENCY) == 0
    capsys.readouterr()
    summary = ("receipts", "summary", "--agency", "HCM")

    assert run(config, *summary, "--date", "2020-01-06") == 0
    assert capsys.readouterr().out == "HCM\t2020-01-06\tkhông có biên lai nào trong ngày\n"
    assert run(config, *summary, "--date", "2020-01-06", "--send") == 1
    assert "receipt_summary_empty" in capsys.readouterr().err
    assert run(config, *summary, "--date", "2099-01-01", "--send") == 1
    assert "receipt_summary_day_not_over" in capsys.readouterr().err
