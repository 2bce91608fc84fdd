"""What the matching engine produces: the result frames (their vocabulary, the match rules
and exception types, is :mod:`reconciliation.rules`).

Amount columns are **signed** VND (credit +, debit −) summed over the lines an item names, so
for every run ``Σ external_amount − Σ internal_amount`` over all statuses equals the same sum
over the inputs: every đồng is in exactly one row of :meth:`Result.summary`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from reconciliation.model import Source
from reconciliation.rules import RULE_VERSION, ExceptionItem, ExceptionType, MatchRule

RULE_DTYPE = pl.Enum([rule.value for rule in MatchRule])
TYPE_DTYPE = pl.Enum([kind.value for kind in ExceptionType])
STATUS_DTYPE = pl.Enum(["matched", *(kind.value for kind in ExceptionType)])
IDS = pl.List(pl.Int64())

MATCH_SCHEMA = pl.Schema({"internal_id": pl.Int64(), "external_id": pl.Int64(), "rule": RULE_DTYPE})

EXCEPTION_SCHEMA = pl.Schema(
    {
        "type": TYPE_DTYPE,
        "internal_ids": IDS,  # the lines this exception is about, on each side
        "external_ids": IDS,
        "amount": pl.Int64(),  # VND concerned: the larger of |internal_amount|, |external_amount|
        "internal_amount": pl.Int64(),  # signed sums of the named lines
        "external_amount": pl.Int64(),
        "key": pl.String(),  # the reference/transaction id that tied the lines, if any
        "candidates": IDS,  # external lines that could be this one's partner (or its twin)
        "internal_candidates": IDS,  # internal lines likewise
        "candidate_count": pl.Int64(),  # all candidates, even where the lists are cut short
    }
)

SUMMARY_SCHEMA = pl.Schema(
    {
        "status": STATUS_DTYPE,
        "items": pl.Int64(),  # matched: external lines matched; else: exceptions
        "internal_lines": pl.Int64(),
        "external_lines": pl.Int64(),
        "internal_amount": pl.Int64(),
        "external_amount": pl.Int64(),
        "difference": pl.Int64(),  # external − internal
    }
)


@dataclass(frozen=True)
class Result:
    """Every input line is in exactly one place: a row of ``matches`` (one external line may
    take several internal ones in the group passes) or one exception's ids."""

    matches: pl.DataFrame  # MATCH_SCHEMA, sorted by external_id, internal_id
    exceptions: pl.DataFrame  # EXCEPTION_SCHEMA, sorted by type, then first ids
    totals: pl.DataFrame  # SUMMARY_SCHEMA, one row per status, zeros included
    business_date: date
    counterpart: Source
    rule_version: str = RULE_VERSION

    def summary(self) -> pl.DataFrame:
        """Counts and signed VND sums per status (``matched`` and every exception type)."""
        return self.totals

    def exception_items(self) -> list[ExceptionItem]:
        return [
            ExceptionItem(
                type=ExceptionType(row["type"]),
                internal_ids=tuple(row["internal_ids"]),
                external_ids=tuple(row["external_ids"]),
                amount=row["amount"],
                internal_amount=row["internal_amount"],
                external_amount=row["external_amount"],
                key=row["key"],
                candidates=tuple(row["candidates"]),
                internal_candidates=tuple(row["internal_candidates"]),
                candidate_count=row["candidate_count"],
            )
            for row in self.exceptions.iter_rows(named=True)
        ]
