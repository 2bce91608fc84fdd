"""Shared by the statement-parser tests: the pinned data files and small assertions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reconciliation.model import ParsedFile, ParseError

DATA = Path(__file__).resolve().parent / "data"
SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def text(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def refused(call: Callable[[], object]) -> ParseError:
    """The ParseError ``call`` raises (fails the test if it returns)."""
    with pytest.raises(ParseError) as caught:
        call()
    return caught.value


def row_errors(parsed: ParsedFile) -> list[tuple[int, str]]:
    return [(error.line_no, error.code) for error in parsed.errors]
