"""The matching engine's vocabulary without the engine: the rule version, match rules,
exception types and one exception as a typed value.

What the API models, the stored runs and the maker–checker workflow need from the engine, in
a module that does not load polars: a ``serve`` process that never reconciles does not hold
the engine (docs/performance.md, "Memory"); :mod:`reconciliation.runs` imports the engine
when it runs one. The frames that use these names are in :mod:`reconciliation.results`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

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
