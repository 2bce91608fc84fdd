"""Rows of a CSV or XLSX file with their line numbers, and finding the header row.

A :class:`Row` holds raw cells: ``str`` from CSV; from XLSX whatever the cell holds
(``int``, ``float``, ``datetime``, ``str``, ``None``), so amounts and dates are read by
:mod:`.values` either way. Blank rows are dropped (they are not rows of data), and
``line_no`` is the physical line (CSV; where a quoted field spans lines, the first) or the
worksheet row (XLSX), 1-based, so a finance user can find the row in the file.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final, TypedDict

from reconciliation.model import ParseError

from . import codes
from .values import BadValue, date_of, decode, header_key, header_keys

#: An XLSX is a zip: refuse one that would expand beyond this (a zip bomb).
MAX_XLSX_EXPANDED_BYTES: Final = 256 * 1024 * 1024
#: ... or that is compressed more than this (a bomb packs its bulk hundreds of times over;
#: real workbooks are 5–30×), once it expands beyond :data:`RATIO_CHECKED_FROM` bytes.
MAX_XLSX_RATIO: Final = 100
RATIO_CHECKED_FROM: Final = 8 * 1024 * 1024
#: The header row must be among the first rows (a title block may precede it).
HEADER_SCAN_ROWS: Final = 50


@dataclass(frozen=True, slots=True)
class Row:
    line_no: int
    cells: tuple[object, ...]

    def cell(self, index: int) -> object:
        return self.cells[index] if 0 <= index < len(self.cells) else None

    def text(self, index: int) -> str:
        return cell_text(self.cell(index))

    @property
    def first(self) -> str:
        """The first non-empty cell as text ("" for none)."""
        return next((t for t in map(cell_text, self.cells) if t), "")


def cell_text(value: object) -> str:
    """A cell as trimmed text: integral numbers without ``.0``, dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


class CsvOptions(TypedDict, total=False):
    """How a CSV file is written; every CSV parser takes these and hands them to
    :func:`csv_rows`, whose defaults (UTF-8 with or without a BOM, commas) apply."""

    encoding: str
    delimiter: str


def csv_rows(data: bytes, *, encoding: str = "utf-8-sig", delimiter: str = ",") -> list[Row]:
    text = decode(data, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[Row] = []
    start = 1
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                rows.append(Row(start, tuple(record)))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ParseError(codes.MALFORMED_CSV, f"line {start}: not readable CSV: {exc}") from None
    return rows


def xlsx_rows(data: bytes, *, sheet: str | None = None) -> list[Row]:
    """Rows of one worksheet: ``sheet`` by name, else the only one (a workbook of several
    sheets without ``sheet`` is refused, ``multiple_sheets``); a formula cell refuses the
    file (``formula_cell``)."""
    # Imported here: only XLSX needs it, and it is slow to import.
    from openpyxl import load_workbook

    buffer = io.BytesIO(data)
    try:
        with zipfile.ZipFile(buffer) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        raise ParseError(codes.MALFORMED_XLSX, "not an XLSX workbook (not a zip)") from None
    expanded = sum(info.file_size for info in members)
    packed = max(1, sum(info.compress_size for info in members))
    if expanded > MAX_XLSX_EXPANDED_BYTES:
        raise ParseError(
            codes.TOO_LARGE, f"workbook expands to {expanded} bytes, max {MAX_XLSX_EXPANDED_BYTES}"
        )
    if expanded > RATIO_CHECKED_FROM and expanded > MAX_XLSX_RATIO * packed:
        raise ParseError(
            codes.TOO_LARGE,
            f"workbook expands {expanded // packed}× (to {expanded} bytes), max {MAX_XLSX_RATIO}×",
        )
    try:
        # Not ``data_only``: a formula must be seen to be refused (its cached value may be
        # stale or absent, and a bank's export holds values only).
        workbook = load_workbook(buffer, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise ParseError(codes.MALFORMED_XLSX, f"not an XLSX workbook: {exc}") from None
    try:
        if sheet is None:
            if len(workbook.sheetnames) > 1:
                named = ", ".join(repr(name) for name in workbook.sheetnames)
                raise ParseError(
                    codes.MULTIPLE_SHEETS,
                    f"the workbook has {len(workbook.sheetnames)} worksheets ({named}); "
                    "name the one to read (sheet)",
                )
            worksheet = workbook.worksheets[0]
        elif sheet in workbook.sheetnames:
            worksheet = workbook[sheet]
        else:
            raise ParseError(codes.MALFORMED_XLSX, f"no worksheet named {sheet!r}")
        # Some writers store a wrong <dimension>; without it openpyxl reads every row.
        worksheet.reset_dimensions()
        rows = []
        for number, cells in enumerate(worksheet.iter_rows(min_row=1), 1):
            values = []
            for cell in cells:
                if cell.data_type == "f":
                    raise ParseError(
                        codes.FORMULA_CELL,
                        f"cell {getattr(cell, 'coordinate', f'in row {number}')} holds a "
                        "formula; upload the bank's export as it came, values only",
                    )
                values.append(cell.value)
            if any(cell_text(value) for value in values):
                rows.append(Row(number, tuple(values)))
    finally:
        workbook.close()
    return rows


@dataclass(frozen=True, slots=True)
class Column:
    """A field of a format and the header names it answers to (compared by
    :func:`~.values.header_key`)."""

    field: str
    names: tuple[str, ...]
    required: bool = True

    @property
    def label(self) -> str:
        return self.names[0]


def locate_header(rows: Sequence[Row], columns: Sequence[Column]) -> tuple[int, dict[str, int]]:
    """Index in ``rows`` of the header row, and each found field's cell index.

    The header is the first of the first :data:`HEADER_SCAN_ROWS` rows that has every
    required column. None has → ``ParseError("missing_column")`` naming what the closest
    row lacks; a field matched by two cells → ``ParseError("duplicate_column")``.
    """
    best: tuple[int, list[str]] | None = None
    for index, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        keys = [header_keys(cell_text(cell)) for cell in row.cells]
        found: dict[str, list[int]] = {}
        for column in columns:
            wanted = {header_key(name) for name in column.names}
            found[column.field] = [i for i, k in enumerate(keys) if k & wanted]
        missing = [c.label for c in columns if c.required and not found[c.field]]
        if not missing:
            for column in columns:
                if len(found[column.field]) > 1:
                    raise ParseError(
                        codes.DUPLICATE_COLUMN,
                        f"line {row.line_no}: {len(found[column.field])} columns answer to "
                        f"{column.label!r}",
                    )
            return index, {field: cells[0] for field, cells in found.items() if cells}
        if best is None or len(missing) < len(best[1]):
            best = (row.line_no, missing)
    if best is None:
        required = ", ".join(c.label for c in columns if c.required)
        raise ParseError(codes.MISSING_COLUMN, f"the file is empty; expected columns {required}")
    line_no, missing = best
    raise ParseError(
        codes.MISSING_COLUMN,
        f"missing column(s) {', '.join(repr(m) for m in missing)} (closest header: line {line_no})",
    )


def labelled_values(rows: Sequence[Row]) -> dict[str, tuple[int, object]]:
    """``label → (line_no, value)`` from ``Label,value`` rows (a header block or preamble).

    The label is compared by :func:`~.values.header_key` without a trailing colon; the value
    is the first non-empty cell after it. A row with one cell ``"Label: value"`` works too.
    """
    found: dict[str, tuple[int, object]] = {}
    for row in rows:
        texts = [cell_text(cell) for cell in row.cells]
        filled = [i for i, text in enumerate(texts) if text]
        if not filled:
            continue
        first = filled[0]
        label = texts[first]
        value: object = next((row.cells[i] for i in filled[1:]), None)
        if value is None and ":" in label:
            label, _, rest = label.partition(":")
            value = rest.strip() or None
        key = header_key(label).rstrip(":").strip()
        if key and key not in found:
            found[key] = (row.line_no, value)
    return found


def declared_date(
    rows: Sequence[Row], labels: Collection[str], fmt: str, *, what: str
) -> date | None:
    """The date written beside the first of ``labels`` (folded, as :func:`labelled_values`
    gives them) in ``rows``, or None if no row carries one of them: text in ``fmt`` or, in
    XLSX, a date cell. One that cannot be read refuses the whole file (``bad_date``): every
    line depends on it."""
    for label, (line_no, value) in labelled_values(rows).items():
        if label in labels:
            try:
                return date_of(value, fmt, what=what)
            except BadValue as problem:
                raise ParseError(codes.BAD_DATE, f"line {line_no}: {problem.message}") from None
    return None
