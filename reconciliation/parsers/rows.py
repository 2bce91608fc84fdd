"""What the row-based parsers share: reading rows into lines, and a table closed by a total row.

A bad row never stops a file: :func:`read_lines` turns its :class:`BadValue` into a
:class:`RowError` with the row's line number and goes on, so a finance user sees every bad
row at once. What cannot be accepted as a whole (no header, no total row) is a
:class:`ParseError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from reconciliation.model import ParseError, RowError, StatementLine

from . import codes
from .sheets import Column, Row, locate_header
from .values import BadValue, Tally, header_key


def read_lines(
    rows: Iterable[Row], read: Callable[[Row], StatementLine], tally: Tally | None = None
) -> tuple[list[StatementLine], list[RowError]]:
    """Each row through ``read``: the lines it gave and the errors of the rows it refused.

    With a ``tally``, every row is counted in it as the file would count it
    (:meth:`~.values.Tally.add_line`); a refused row makes the tally incomplete.
    """
    lines: list[StatementLine] = []
    errors: list[RowError] = []
    for row in rows:
        try:
            line = read(row)
        except BadValue as problem:
            errors.append(RowError(row.line_no, problem.code, problem.message))
            if tally is not None:
                tally.add(None)
            continue
        if tally is not None:
            tally.add_line(line)
        lines.append(line)
    return lines, errors


@dataclass(frozen=True, slots=True)
class TotalledTable:
    """A table found by its header and closed by a total row (``Tổng cộng``)."""

    #: The rows above the header: a title and labelled values (``Ngày …,15/05/2024``).
    preamble: list[Row]
    #: Column name → index, from :func:`~.sheets.locate_header`.
    where: dict[str, int]
    #: The data rows between the header and the total row.
    body: list[Row]
    trailer: Row
    #: Rows after the total row, each an error: nothing may follow the total.
    stray: list[RowError]


def totalled_table(
    rows: Sequence[Row], columns: Sequence[Column], trailer_label: str, *, what: str
) -> TotalledTable:
    """Split ``rows`` at the header and at the first row whose first cell starts with
    ``trailer_label`` (folded); ``what`` names the data rows in the error for a missing one."""
    header_at, where = locate_header(rows, columns)
    after_header = list(rows[header_at + 1 :])
    trailer_at = next(
        (
            i
            for i, row in enumerate(after_header)
            if header_key(row.first).startswith(trailer_label)
        ),
        None,
    )
    if trailer_at is None:
        raise ParseError(codes.MISSING_TOTAL, f"no {trailer_label!r} row after the {what}")
    return TotalledTable(
        preamble=list(rows[:header_at]),
        where=where,
        body=after_header[:trailer_at],
        trailer=after_header[trailer_at],
        stray=[
            RowError(row.line_no, codes.BAD_RECORD, f"row after the {trailer_label!r} row")
            for row in after_header[trailer_at + 1 :]
        ],
    )
