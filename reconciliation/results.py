"""What the matching engine produces: match rules, exception types, the result frames.

Amount columns are **signed** VND (credit +, debit −) summed over the lines an item names, so
for every run ``Σ external_amount − Σ internal_amount`` over all statuses equals the same sum
over the inputs: every đồng is in exactly one row of :meth:`Result.summary`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import MappingProxyType

import polars as pl

from reconciliation.model import Source

#: Stored with every run; change it whenever a pass, its order or a tolerance changes, so a
#: re-run of an old day can tell which rules produced the stored result.
RULE_VERSION = "recon-engine/2"


class MatchRule(StrEnum):
    REFERENCE = "reference"  # pass 1: our reference on both sides
    PROVIDER_TXN_ID = "provider_txn_id"  # pass 1: the provider's transaction id on both sides
    END_TO_END_ID = "end_to_end_id"  # pass 1: ISO 20022 EndToEndId on both sides
    TEXT_REFERENCE = "text_reference"  # pass 3: our reference found in the transfer text
    NEAR_REFERENCE = "near_reference"  # pass 4: a mistyped reference + equal amount, both ways
    AMOUNT_DATE = "amount_date"  # pass 4: the only equal amount in the window, both ways
    GROUP_DOCUMENT = "group_document"  # pass 5a: a batch (document_no) against one credit
    GROUP_AGENCY_DAY = "group_agency_day"  # pass 5b: a day per agency per fee kind, one document


class ExceptionType(StrEnum):
    """In the order the report lists them."""

    STATUS_MISMATCH = "status_mismatch"  # same key; one side failed, the other succeeded
    AMOUNT_MISMATCH = "amount_mismatch"  # same key; signed amounts differ
    DATE_MISMATCH = "date_mismatch"  # same key and amount; booking dates beyond the window
    DUPLICATE = "duplicate"  # its key names a line already taken by another line of its side
    AMBIGUOUS = "ambiguous"  # no reference; equal amounts in the window, not one-to-one
    EXPECTED_IN_TRANSIT = "expected_in_transit"  # internal, inside the settlement lag
    MISSING_IN_GATEWAY = "missing_in_gateway"
    MISSING_IN_BANK = "missing_in_bank"
    MISSING_IN_TREASURY = "missing_in_treasury"
    MISSING_IN_VNPAY = "missing_in_vnpay"
    MISSING_IN_POS = "missing_in_pos"
    MISSING_IN_COD = "missing_in_cod"


#: The type of an internal line that the counterpart does not have.
MISSING_IN: Mapping[Source, ExceptionType] = MappingProxyType(
    {
        Source.BANK: ExceptionType.MISSING_IN_BANK,
        Source.TREASURY: ExceptionType.MISSING_IN_TREASURY,
        Source.VNPAY: ExceptionType.MISSING_IN_VNPAY,
        Source.POS: ExceptionType.MISSING_IN_POS,
        Source.COD: ExceptionType.MISSING_IN_COD,
    }
)

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


@dataclass(frozen=True, slots=True)
class ExceptionItem:
    """One row of :attr:`Result.exceptions` as a typed value (see :data:`EXCEPTION_SCHEMA`)."""

    type: ExceptionType
    internal_ids: tuple[int, ...]
    external_ids: tuple[int, ...]
    amount: int
    internal_amount: int
    external_amount: int
    key: str | None
    candidates: tuple[int, ...]
    internal_candidates: tuple[int, ...]
    candidate_count: int


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
