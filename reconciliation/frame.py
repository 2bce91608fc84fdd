"""Statement lines in columnar form, for the matching engine.

One polars DataFrame per side with the fixed :data:`FRAME_SCHEMA`; ``line_id`` identifies a
line within its side (the engine's results name lines by it). Amounts stay positive ``Int64``
VND with a ``direction``, exactly as in :class:`~reconciliation.model.StatementLine`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from itertools import chain

import polars as pl

from gateway.core.references import ALPHABET, BODY_LENGTH, check_symbol
from reconciliation.model import Direction, Source, StatementLine

SOURCE_DTYPE = pl.Enum([source.value for source in Source])
DIRECTION_DTYPE = pl.Enum([direction.value for direction in Direction])

FRAME_SCHEMA = pl.Schema(
    {
        "line_id": pl.Int64(),
        "source": SOURCE_DTYPE,
        "line_no": pl.Int64(),
        "amount": pl.Int64(),
        "direction": DIRECTION_DTYPE,
        "booking_date": pl.Date(),
        "value_date": pl.Date(),
        "reference": pl.String(),
        "provider_txn_id": pl.String(),
        "end_to_end_id": pl.String(),
        "text": pl.String(),
        "account": pl.String(),
        "status": pl.String(),
        "fee_kind": pl.String(),
        "agency_code": pl.String(),
        "document_no": pl.String(),
    }
)


def to_frame(lines: Iterable[StatementLine], first_id: int = 0) -> pl.DataFrame:
    """The lines as a frame with :data:`FRAME_SCHEMA`, ``line_id`` counting from
    ``first_id`` in the order given (``extra`` is not carried: no pass reads it)."""
    rows = list(lines)
    columns: dict[str, list[object]] = {
        "line_id": list(range(first_id, first_id + len(rows))),
        "source": [line.source.value for line in rows],
        "line_no": [line.line_no for line in rows],
        "amount": [line.amount for line in rows],
        "direction": [line.direction.value for line in rows],
        "booking_date": [line.booking_date for line in rows],
        "value_date": [line.value_date for line in rows],
        "reference": [line.reference for line in rows],
        "provider_txn_id": [line.provider_txn_id for line in rows],
        "end_to_end_id": [line.end_to_end_id for line in rows],
        "text": [line.text for line in rows],
        "account": [line.account for line in rows],
        "status": [line.status for line in rows],
        "fee_kind": [line.fee_kind for line in rows],
        "agency_code": [line.agency_code for line in rows],
        "document_no": [line.document_no for line in rows],
    }
    return pl.DataFrame(columns, schema=FRAME_SCHEMA)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with exactly the columns of :data:`FRAME_SCHEMA`, in order and cast to its
    types (strictly: a value that does not fit raises). Columns it lacks, or a float or
    decimal where the schema has integers (amounts are whole VND), are a ValueError."""
    missing = [name for name in FRAME_SCHEMA if name not in frame.columns]
    if missing:
        raise ValueError(f"statement frame lacks columns: {', '.join(missing)}")
    inexact = [
        name
        for name, dtype in FRAME_SCHEMA.items()
        if dtype.is_integer() and (frame.schema[name].is_float() or frame.schema[name].is_decimal())
    ]
    if inexact:  # a cast would round 1.5 down without a word
        raise ValueError(f"statement frame has non-integer {', '.join(inexact)}")
    return frame.select(
        pl.col(name).cast(dtype, strict=True) for name, dtype in FRAME_SCHEMA.items()
    )


def _fold_table() -> dict[str, str]:
    """Every precomposed Latin letter with marks (Vietnamese ones included) → its upper-case
    ASCII base letter, taken from Unicode's own decomposition rather than typed by hand.

    Latin-1 Supplement, Latin Extended-A/B and Latin Extended Additional (where Vietnamese
    letters with two marks, ``ệ``, ``ự``…, live). ``đ``/``Đ`` have no decomposition, so they
    are added explicitly. A combining mark left in the text (decomposed input) is dropped
    with the other non-alphanumerics, so NFD text folds the same as NFC text.
    """
    table = {"đ": "D", "Đ": "D"}
    for code_point in chain(range(0x00C0, 0x0250), range(0x1E00, 0x1F00)):
        char = chr(code_point)
        base = unicodedata.normalize("NFD", char)[0]
        if base != char and base.isascii() and base.isalpha():
            table[char] = base.upper()
    return table


FOLD_TABLE = _fold_table()


def normalise_text(text: pl.Expr) -> pl.Expr:
    """Transfer text as the engine searches it: diacritics folded (``đ`` → ``D``), upper-case,
    nothing but ``A–Z`` and ``0–9`` left. ``"Lệ phí: DVC-7K3M…"`` → ``"LEPHIDVC7K3M…"``.

    The vectorised twin of ``gateway.core.references.normalise_transfer_text`` (the tests
    compare the two). Folding comes first so that upper-casing sees mostly ASCII.
    """
    return text.str.replace_many(FOLD_TABLE).str.to_uppercase().str.replace_all("[^A-Z0-9]+", "")


def valid_reference(candidate: pl.Expr, prefix: str) -> pl.Expr:
    """True where ``candidate`` is a well-formed reference of ``prefix``: the length, the
    prefix, a body of Crockford symbols and its Damm check symbol.

    The vectorised twin of ``gateway.core.references.is_valid_reference`` (the tests compare
    the two). Each step of the check doubles the interim in GF(32) and adds a symbol, and
    doubling is linear, so the final value is the sum (XOR) of each symbol's value doubled
    once per symbol after it, plus the prefix's share: one table look-up per position,
    each table taken from :func:`~gateway.core.references.check_symbol` itself (a symbol
    followed by ``k − 1`` zeros is checked by that symbol doubled ``k`` times).
    """
    size = len(prefix) + BODY_LENGTH + 1
    total = pl.lit(ALPHABET.index(check_symbol(prefix + "0" * BODY_LENGTH)), pl.Int32)
    for position in range(BODY_LENGTH):
        doublings = BODY_LENGTH - position
        table = {
            symbol: ALPHABET.index(check_symbol(symbol + "0" * (doublings - 1)))
            for symbol in ALPHABET
        }
        total = total.xor(_symbol(candidate, len(prefix) + position, table))
    check = _symbol(candidate, size - 1, {symbol: ALPHABET.index(symbol) for symbol in ALPHABET})
    return (
        (candidate.str.len_bytes() == size) & candidate.str.starts_with(prefix) & (total == check)
    ).fill_null(False)


def _symbol(candidate: pl.Expr, position: int, table: dict[str, int]) -> pl.Expr:
    """``table``'s value of the symbol at ``position`` (null if it is not a Crockford one)."""
    return candidate.str.slice(position, 1).replace_strict(
        table, default=None, return_dtype=pl.Int32
    )
