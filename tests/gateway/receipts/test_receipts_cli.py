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


@pytest.fixture
def delegate_config(config: Path) -> Path:
    """HCM issuing as the gateway operator's delegate."""
    config.write_text(
        config.read_text(encoding="utf-8") + 'issued_as = "delegate"\n'
        "[receipts.delegate]\n"
        'name = "Công ty Cổ phần Cổng thanh toán Công ích"\n'
        'address = "12 Nguyễn Huệ, Phường Sài Gòn, Thành phố Hồ Chí Minh"\n'
        'tax_code = "0319876543"\n',
        encoding="utf-8",
    )
    return config


DELEGATION = (
    *("receipts", "delegations", "add", "--agency", "HCM", "--symbol", "26TAB"),
    *("--signed-on", "2026-07-01", "--valid-from", "2026-07-01"),
    "--notified-on",
    "2026-07-01",
)


def test_delegations_are_added_listed_and_ended(
    delegate_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(delegate_config, *AGENCY) == 0
    capsys.readouterr()
    assert run(delegate_config, *DELEGATION, "--agreement", "01/UN", "--first", "1",
               "--last", "1000") == 0  # fmt: skip
    assert capsys.readouterr().out == (
        "agreement 01/UN recorded for HCM: 1..1000 of EBL01/26TAB, issuing from 2026-07-04 "
        "(active)\n"
    )

    assert run(delegate_config, "receipts", "delegations", "list", "--agency", "HCM") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == ["HCM\t01/UN\t26TAB\t1\t1000\t2026-07-01\t-\t2026-07-01\t-\tactive"]

    end = ("receipts", "delegations", "end", "--agency", "HCM", "--agreement", "01/UN")
    assert run(delegate_config, *end, "--ended-on", "2026-07-10", "--reason", "Thanh lý") == 0
    assert capsys.readouterr().out == "agreement 01/UN of HCM ended on 2026-07-10\n"
    assert run(delegate_config, *end, "--ended-on", "2026-07-11", "--reason", "Lần nữa") == 1
    assert "receipt_delegation_ended" in capsys.readouterr().err
    assert run(delegate_config, "receipts", "delegations", "end", "--agency", "HCM",
               "--agreement", "99/UN", "--ended-on", "2026-07-11", "--reason", "x") == 1  # fmt: skip
    assert "not_found" in capsys.readouterr().err
    assert run(delegate_config, "receipts", "delegations", "list") == 0
    assert capsys.readouterr().out.splitlines()[1].endswith("\t2026-07-10\tended")


def test_bad_delegations_are_refused_with_a_clear_error(
    delegate_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(delegate_config, *AGENCY) == 0
    assert run(delegate_config, *DELEGATION, "--agreement", "01", "--first", "1",
               "--last", "1000") == 0  # fmt: skip
    capsys.readouterr()

    assert run(delegate_config, *DELEGATION, "--agreement", "02", "--first", "900",
               "--last", "2000") == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "receipt_delegation_overlaps" in err and "agreement '01' (1..1000" in err
    assert run(delegate_config, *DELEGATION, "--agreement", "03", "--first", "2000",
               "--last", "1500") == 1  # fmt: skip
    assert "last: before_first" in capsys.readouterr().err
    assert run(delegate_config, *DELEGATION, "--agreement", "01", "--first", "5000",
               "--last", "6000") == 1  # fmt: skip
    assert "receipt_delegation_exists" in capsys.readouterr().err
    assert run(delegate_config, *DELEGATION, "--agreement", "04", "--first", "5000",
               "--last", "6000", "--valid-until", "2026-06-30") == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "valid_until: before_valid_from" in err
    with pytest.raises(SystemExit) as usage:
        run(delegate_config, *DELEGATION, "--agreement", "05", "--first", "5000",
            "--last", "6000", "--valid-until", "2026-13-01")  # fmt: skip
    assert usage.value.code == 2
    assert "not a date YYYY-MM-DD: '2026-13-01'" in capsys.readouterr().err
    assert run(delegate_config, "receipts", "delegations", "list") == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # the header and agreement 01


def test_a_delegate_agency_without_the_delegate_configured_is_refused(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config.write_text(
        config.read_text(encoding="utf-8") + 'issued_as = "delegate"\n', encoding="utf-8"
    )

    assert run(config, "receipts", "delegations", "list") == 2

    assert "[receipts.delegate]" in capsys.readouterr().err


def test_an_agreement_no_point_will_reach_is_recorded_with_a_warning(
    delegate_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(delegate_config, *AGENCY) == 0
    assert run(delegate_config, "receipts", "ranges", "add", "--agency", "HCM", "--symbol",
               "26TAB", "--point", "online", "--first", "1", "--last", "1000") == 0  # fmt: skip
    capsys.readouterr()

    # The online point draws 1..1000 first: numbers 2000..3000 come only after them.
    assert run(delegate_config, *DELEGATION, "--agreement", "01", "--first", "2000",
               "--last", "3000") == 0  # fmt: skip
    printed = capsys.readouterr()
    assert "agreement 01 recorded for HCM: 2000..3000" in printed.out
    assert printed.err == (
        "gateway: warning: no point's next number of EBL01/26TAB is inside 2000..3000 "
        "(next: online 1); the receipts wait delegation_outside_range until a point's next "
        "number is covered: record an agreement covering the next numbers\n"
    )

    assert run(delegate_config, *DELEGATION, "--agreement", "02", "--first", "1",
               "--last", "1000") == 0  # fmt: skip
    assert capsys.readouterr().err == ""  # the online point's next number is inside
