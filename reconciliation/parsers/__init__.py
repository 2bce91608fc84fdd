"""Statement parsers: bytes of a provider, bank, treasury or COD file → :class:`ParsedFile`.

Each parser is a pure function ``parse_<format>(data: bytes, **options) -> ParsedFile``: no
clock, no database, no file system. A file that cannot be accepted as a whole raises
:class:`~reconciliation.model.ParseError`; each bad row becomes a
:class:`~reconciliation.model.RowError` with its line number. Error codes:
:mod:`reconciliation.parsers.codes`; formats: ``docs/reconciliation-formats.md``.

>>> parse("vnpay_day", data, as_of=date(2024, 5, 15))      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from reconciliation.model import ParsedFile, ParseError

from . import codes
from .camt import parse_camt053, parse_camt054
from .mt940 import parse_mt940
from .pos_settlement import parse_pos_settlement
from .tabular import ColumnMapping, parse_bank_csv, parse_bank_xlsx
from .treasury import parse_treasury_csv, parse_treasury_xlsx
from .vnpay_dayfile import parse_vnpay_day
from .vnpost_cod import parse_vnpost_cod

#: Files above this are refused before parsing (``too_large``); override with ``max_bytes``.
DEFAULT_MAX_BYTES: Final = 50 * 1024 * 1024

PARSERS: dict[str, Callable[..., ParsedFile]] = {
    "camt053": parse_camt053,
    "camt054": parse_camt054,
    "mt940": parse_mt940,
    "bank_csv": parse_bank_csv,
    "bank_xlsx": parse_bank_xlsx,
    "vnpay_day": parse_vnpay_day,
    "pos_settlement": parse_pos_settlement,
    "treasury_csv": parse_treasury_csv,
    "treasury_xlsx": parse_treasury_xlsx,
    "vnpost_cod": parse_vnpost_cod,
}


def parse(
    format: str,
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    **options: Any,
) -> ParsedFile:
    """Parse ``data`` as ``format`` (a key of :data:`PARSERS`), passing ``options`` on
    (``as_of``, ``mapping`` for bank files, ``thousands``…)."""
    parser = PARSERS.get(format)
    if parser is None:
        raise ParseError(
            codes.UNKNOWN_FORMAT, f"unknown format {format!r}; known: {', '.join(PARSERS)}"
        )
    if len(data) > max_bytes:
        raise ParseError(codes.TOO_LARGE, f"{len(data)} bytes, the limit is {max_bytes}")
    return parser(data, **options)


__all__ = [
    "DEFAULT_MAX_BYTES",
    "PARSERS",
    "ColumnMapping",
    "parse",
    "parse_bank_csv",
    "parse_bank_xlsx",
    "parse_camt053",
    "parse_camt054",
    "parse_mt940",
    "parse_pos_settlement",
    "parse_treasury_csv",
    "parse_treasury_xlsx",
    "parse_vnpay_day",
    "parse_vnpost_cod",
]
