"""Shared by the statement-parser tests: the pinned data files, the bank lines and mapping of
the published samples, and small assertions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from reconciliation.bank_layouts import PROFILES
from reconciliation.model import Direction, ParsedFile, ParseError, Source, StatementLine

DATA = Path(__file__).resolve().parent / "data"
SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
#: The day and the bank account of the published samples.
D = date(2024, 5, 15)
ACCOUNT = "0011001234567"
#: The columns of ``bank_statement_2024-05-15.csv`` (debit and credit in two columns): the
#: shipped layout that names them.
BANK_MAPPING = PROFILES["vn_standard"]


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def text(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def edited(name: str, *edits: tuple[str, str]) -> bytes:
    """The pinned file with each ``(old, new)`` replaced in turn; each ``old`` must be there."""
    content = text(name)
    for old, new in edits:
        assert old in content, old
        content = content.replace(old, new)
    return content.encode()


def bank_line(
    line_no: int, amount: int, direction: Direction = Direction.CREDIT, **fields: object
) -> StatementLine:
    """A line of the sample account booked and valued on the sample day."""
    sample_day = {"source": Source.BANK, "booking_date": D, "value_date": D, "account": ACCOUNT}
    return StatementLine(
        line_no=line_no,
        amount=amount,
        direction=direction,
        **{**sample_day, **fields},  # type: ignore[arg-type]
    )


def refused(call: Callable[[], object]) -> ParseError:
    """The ParseError ``call`` raises (fails the test if it returns)."""
    with pytest.raises(ParseError) as caught:
        call()
    return caught.value


def row_errors(parsed: ParsedFile) -> list[tuple[int, str]]:
    return [(error.line_no, error.code) for error in parsed.errors]
