"""The passes of the matching engine, as joins and group-bys over two work frames.

A work frame (:func:`prepare`) has one row per line: ``line_id``, the **signed** ``amount``
(credit +, debit −, so a refund never pairs with a payment of the same size), ``day`` (the
booking date as days since 1970, for cheap window arithmetic), the keys, ``outcome`` (True
succeeded, False failed, null unknown) and the grouping columns. Functions here return
candidate pairs, matches and exception rows; :mod:`reconciliation.engine` decides the order
and removes what each pass consumed. Python loops only over small leftover sets: the distinct
text references that are not ours, and the texts where one of them turned out invalid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

import polars as pl

from reconciliation.frame import conform, normalise_text
from reconciliation.results import (
    EXCEPTION_SCHEMA,
    IDS,
    RULE_DTYPE,
    TYPE_DTYPE,
    ExceptionType,
    MatchRule,
)

#: Provider status → outcome. Statuses not listed (``pending``, none at all) never conflict.
STATUS_OUTCOME: Mapping[str, bool] = MappingProxyType(
    {"succeeded": True, "paid": True, "failed": False}
)

#: Key columns compared as equal strings in pass 1, in order of preference.
KEY_KINDS: tuple[tuple[str, MatchRule], ...] = (
    ("reference", MatchRule.REFERENCE),
    ("provider_txn_id", MatchRule.PROVIDER_TXN_ID),
    ("end_to_end_id", MatchRule.END_TO_END_ID),
)

#: Pass 4 lists all candidates of a line that has at most this many; a line with more is
#: listed only beside those of its candidates that have few themselves (its count is exact).
#: This keeps the candidate pairs linear in the number of lines when thousands of leftover
#: lines share one common fee amount and day.
MAX_CANDIDATES = 50

# Categories of a key pair, in order of preference when pairs compete for a line.
EXACT, STATUS, AMOUNT, DATE = 0, 1, 2, 3
_CATEGORY_TYPE = {
    STATUS: ExceptionType.STATUS_MISMATCH.value,
    AMOUNT: ExceptionType.AMOUNT_MISMATCH.value,
    DATE: ExceptionType.DATE_MISMATCH.value,
}
_PAIR_ORDER = ["category", "amount_gap", "day_gap", "rank", "internal_id", "external_id"]

_NO_IDS = pl.lit([], dtype=IDS)

PAIR_SCHEMA = pl.Schema(
    {
        "internal_id": pl.Int64,
        "key": pl.String,
        "amount_i": pl.Int64,
        "day_i": pl.Int32,
        "outcome_i": pl.Boolean,
        "external_id": pl.Int64,
        "amount_e": pl.Int64,
        "day_e": pl.Int32,
        "outcome_e": pl.Boolean,
        "rule": RULE_DTYPE,
        "rank": pl.Int8,
    }
)


def prepare(frame: pl.DataFrame, side: str) -> pl.DataFrame:
    """The work frame of one side; a frame that breaks the line invariants is a ValueError."""
    lines = conform(frame)
    problems = lines.select(
        ids=pl.col("line_id").is_null().any() | (pl.col("line_id").n_unique() < pl.len()),
        amounts=(pl.col("amount").is_null() | (pl.col("amount") <= 0)).any(),
        required=pl.any_horizontal(pl.col("direction", "booking_date").is_null().any()),
    ).row(0, named=True)
    messages = {
        "ids": "line_id must be present and unique",
        "amounts": "amount must be a positive number of VND",
        "required": "direction and booking_date are required",
    }
    bad = [message for name, message in messages.items() if problems[name]]
    if bad:
        raise ValueError(f"{side} lines: {'; '.join(bad)}")
    return lines.select(
        "line_id",
        pl.when(pl.col("direction") == "credit")
        .then(pl.col("amount"))
        .otherwise(-pl.col("amount"))
        .alias("amount"),
        pl.col("booking_date").cast(pl.Int32).alias("day"),
        "reference",
        "provider_txn_id",
        "end_to_end_id",
        "text",
        _outcome(pl.col("status")).alias("outcome"),
        "agency_code",
        "fee_kind",
        "document_no",
    )


def _outcome(status: pl.Expr) -> pl.Expr:
    succeeded = [name for name, outcome in STATUS_OUTCOME.items() if outcome]
    failed = [name for name, outcome in STATUS_OUTCOME.items() if not outcome]
    return (
        pl.when(status.is_in(failed))
        .then(False)
        .when(status.is_in(succeeded))
        .then(True)
        .otherwise(None)
    )


# -- passes 1–3: keys ----------------------------------------------------------------------


def internal_keys(lines: pl.DataFrame, column: str) -> pl.DataFrame:
    return lines.select(
        pl.col("line_id").alias("internal_id"),
        pl.col(column).alias("key"),
        pl.col("amount").alias("amount_i"),
        pl.col("day").alias("day_i"),
        pl.col("outcome").alias("outcome_i"),
    ).filter(pl.col("key").is_not_null())


def _external_columns() -> list[pl.Expr]:
    return [
        pl.col("line_id").alias("external_id"),
        pl.col("amount").alias("amount_e"),
        pl.col("day").alias("day_e"),
        pl.col("outcome").alias("outcome_e"),
    ]


def direct_pairs(internal: pl.DataFrame, external: pl.DataFrame) -> pl.DataFrame:
    """Pass 1/2 candidates: every (internal, external) pair with an equal key column; a pair
    equal on several keys is kept once, under the first key of :data:`KEY_KINDS`."""
    found = []
    for rank, (column, rule) in enumerate(KEY_KINDS):
        left = internal_keys(internal, column)
        right = external.select(pl.col(column).alias("key"), *_external_columns()).filter(
            pl.col("key").is_not_null()
        )
        if left.height and right.height:
            pairs = left.join(right, on="key").with_columns(
                rule=pl.lit(rule.value, RULE_DTYPE), rank=pl.lit(rank, pl.Int8)
            )
            found.append(pairs.select(PAIR_SCHEMA.names()))
    if not found:
        return PAIR_SCHEMA.to_frame()
    if len(found) == 1:
        return found[0]
    return pl.concat(found).unique(["internal_id", "external_id"], keep="first")


def text_references(
    external: pl.DataFrame,
    pattern: str,
    ours: pl.DataFrame,
    is_valid: Callable[[str], bool] | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pass 3: the references found in the external lines' normalised text.

    ``ours`` are the internal side's references (:func:`internal_keys`). Returns every
    ``(external_id, key)`` found, and the key pairs they make with ``ours`` (all of it).

    Matching is leftmost and non-overlapping, so ``…DVC DVC7K3M…`` first yields
    ``DVCDVC7K3M…``, which is not ours (and may even pass the check, 1 time in 32). The few
    texts with a candidate that is not ours are scanned again, in Python, for overlapping
    ones; of those, a text that names one of ours keeps only ours, and otherwise each distinct
    candidate is kept if ``is_valid`` accepts it (a typo is dropped; a valid reference we have
    no record of stays, so the line is known to carry one). Candidates that are ours are
    never checked: they are references we issued.
    """
    joined = (
        external.lazy()
        .select(
            *_external_columns(),
            normalise_text(pl.col("text")).str.extract_all(pattern).alias("key"),
        )
        .explode("key")
        .drop_nulls("key")
        .join(ours.lazy(), on="key", how="left")
        # The in-memory engine runs a string expression on one core; streaming splits it.
        .collect(engine="streaming")
    )
    unsure = joined.filter(pl.col("internal_id").is_null()).get_column("external_id").unique()
    pairs = joined.filter(
        pl.col("internal_id").is_not_null() & ~pl.col("external_id").is_in(unsure.implode())
    )
    if not unsure.is_empty():
        rescanned = (
            _overlapping(external.filter(pl.col("line_id").is_in(unsure.implode())), pattern)
            .unique(["external_id", "key"])
            .join(ours, on="key", how="left")
            .with_columns(ours=pl.col("internal_id").is_not_null())
            .filter(pl.col("ours") | ~pl.col("ours").any().over("external_id"))
        )
        if is_valid is not None:
            others = rescanned.filter(~pl.col("ours")).get_column("key").unique().sort()
            valid = pl.Series([key for key in others.to_list() if is_valid(key)], dtype=pl.String)
            rescanned = rescanned.filter(pl.col("ours") | pl.col("key").is_in(valid.implode()))
        pairs = pl.concat([pairs, rescanned.filter("ours").select(pairs.columns)])
        found = pl.concat([pairs, rescanned.filter(~pl.col("ours")).select(pairs.columns)])
    else:
        found = pairs
    pairs = pairs.with_columns(
        rule=pl.lit(MatchRule.TEXT_REFERENCE.value, RULE_DTYPE), rank=pl.lit(0, pl.Int8)
    )
    return found.select("external_id", "key"), pairs.select(PAIR_SCHEMA.names())


def _overlapping(external: pl.DataFrame, pattern: str) -> pl.DataFrame:
    scan = re.compile(f"(?=({pattern}))")
    texts = external.select(*_external_columns(), normalise_text(pl.col("text")).alias("text"))
    rows = [
        (*row[:-1], match.group(1)) for row in texts.iter_rows() for match in scan.finditer(row[-1])
    ]
    schema = pl.Schema({**texts.drop("text").schema, "key": pl.String()})
    return pl.DataFrame(rows, schema=schema, orient="row")


def classify(pairs: pl.DataFrame, window_days: int) -> pl.DataFrame:
    day_gap = (pl.col("day_i") - pl.col("day_e")).abs()
    conflict = (
        pl.col("outcome_i").is_not_null()
        & pl.col("outcome_e").is_not_null()
        & (pl.col("outcome_i") != pl.col("outcome_e"))
    )
    return pairs.with_columns(
        category=pl.when(conflict)
        .then(STATUS)
        .when(pl.col("amount_i") != pl.col("amount_e"))
        .then(AMOUNT)
        .when(day_gap > window_days)
        .then(DATE)
        .otherwise(EXACT)
        .cast(pl.Int8),
        amount_gap=(pl.col("amount_i") - pl.col("amount_e")).abs(),
        day_gap=day_gap,
    )


def one_to_one(pairs: pl.DataFrame, order: list[str]) -> pl.DataFrame:
    """The greedy one-to-one choice among candidate pairs, best ``order`` first.

    A pair whose two lines have no other candidate is taken at once (nearly all of them;
    counting per id and probing the few shared ids is cheaper than ``is_unique``).
    The rest go in rounds: take every pair that is the best of both its lines, drop the pairs
    that touch a taken line, repeat. Each round takes at least the overall best pair, and the
    result equals taking pairs one by one in ``order`` — which does not depend on row order,
    since ``order`` ends with both ids.
    """
    shared = [
        pl.col(side).is_in(
            pairs.group_by(side).len().filter(pl.col("len") > 1).get_column(side).implode()
        )
        for side in ("internal_id", "external_id")
    ]
    contested = shared[0] | shared[1]
    taken = [pairs.filter(~contested)]
    rest = pairs.filter(contested).sort(order)
    while rest.height:
        best_internal = rest.unique("internal_id", keep="first", maintain_order=True)
        best_external = rest.unique("external_id", keep="first", maintain_order=True)
        mutual = best_internal.join(
            best_external.select("internal_id", "external_id"),
            on=["internal_id", "external_id"],
            how="semi",
        )
        taken.append(mutual)
        rest = rest.filter(
            ~pl.col("internal_id").is_in(mutual.get_column("internal_id").implode())
            & ~pl.col("external_id").is_in(mutual.get_column("external_id").implode())
        )
    return pl.concat(taken)


def key_pass(pairs: pl.DataFrame, window_days: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Passes 1+2 (or 3): the chosen pairs (all columns), and the exception rows of those that
    are not exact. Exact pairs are preferred, so a line with an exact partner is matched."""
    chosen = one_to_one(classify(pairs, window_days), _PAIR_ORDER)
    conflicts = chosen.filter(pl.col("category") != EXACT).select(
        pl.col("category").replace_strict(_CATEGORY_TYPE, return_dtype=TYPE_DTYPE).alias("type"),
        pl.concat_list("internal_id").alias("internal_ids"),
        pl.concat_list("external_id").alias("external_ids"),
        pl.col("amount_i").alias("internal_amount"),
        pl.col("amount_e").alias("external_amount"),
        "key",
        candidates=_NO_IDS,
        internal_candidates=_NO_IDS,
        candidate_count=pl.lit(0, pl.Int64),
    )
    return chosen, conflicts


def duplicates(
    participants: pl.DataFrame,
    taken: pl.DataFrame,
    internal_left: pl.DataFrame,
    external_left: pl.DataFrame,
) -> pl.DataFrame:
    """Leftover lines that had a key pair: the line their key names was taken by another line
    of their own side (the same key twice on one side, or one payment under two of its keys).

    ``participants`` are all key pairs of passes 1–3 (``internal_id, external_id, key``);
    ``taken`` the pairs chosen from them. Candidates: the counterpart lines the key named,
    and the same-side lines that took them.
    """
    found = []
    for own, other, left, own_list, other_list in (
        ("external_id", "internal_id", external_left, "candidates", "internal_candidates"),
        ("internal_id", "external_id", internal_left, "internal_candidates", "candidates"),
    ):
        ids = left.get_column("line_id").implode()
        lost = participants.filter(pl.col(own).is_in(ids))
        if lost.is_empty():
            continue
        winners = taken.select(pl.col(other), pl.col(own).alias("winner"))
        rows = (
            lost.join(winners, on=other, how="left")
            .group_by(own)
            .agg(
                pl.col("key").min(),
                pl.col(other).unique().sort().alias(other_list),
                pl.col("winner").drop_nulls().unique().sort().alias(own_list),
            )
            .join(left.select(pl.col("line_id").alias(own), "amount"), on=own)
        )
        amount, nothing = pl.col("amount"), pl.lit(0, pl.Int64)
        internal = own == "internal_id"
        found.append(
            rows.select(
                type=pl.lit(ExceptionType.DUPLICATE.value, TYPE_DTYPE),
                internal_ids=pl.concat_list(own) if internal else _NO_IDS,
                external_ids=_NO_IDS if internal else pl.concat_list(own),
                internal_amount=amount if internal else nothing,
                external_amount=nothing if internal else amount,
                key=pl.col("key"),
                candidates=pl.col("candidates"),
                internal_candidates=pl.col("internal_candidates"),
                candidate_count=pl.col(other_list).list.len().cast(pl.Int64),
            )
        )
    return exception_rows(found)


# -- pass 4: equal amount within the window ------------------------------------------------

_BUCKET = ["amount", "day", "agency_code", "fee_kind", "has_ref"]
_HAS_REF = pl.col("own_key").is_not_null().alias("has_ref")


def amount_candidates(
    internal: pl.DataFrame, external: pl.DataFrame, window_days: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Pairs of equal signed amount, days at most ``window_days`` apart, and nothing that
    contradicts (agency code, fee kind: equal where both sides have one; not both carrying
    a reference, since equal references were paired in passes 1–3).

    Works on buckets of identical lines, so the counts are exact without building every pair:
    returns the pairs (``internal_id, external_id``) listed per :data:`MAX_CANDIDATES`, and
    each line's candidate count (``internal_id, count`` and ``external_id, count``).
    """
    buckets_i = (
        internal.with_columns(_HAS_REF)
        .group_by(_BUCKET)
        .agg(pl.col("line_id").alias("ids"), pl.len().alias("n"))
    ).with_row_index("bucket_i")
    buckets_e = (
        external.with_columns(_HAS_REF)
        .group_by(_BUCKET)
        .agg(pl.col("line_id").alias("ids"), pl.len().alias("n"))
    ).with_row_index("bucket_e")

    def either(column: str) -> pl.Expr:
        return (
            pl.col(column).is_null()
            | pl.col(f"{column}_e").is_null()
            | (pl.col(column) == pl.col(f"{column}_e"))
        )

    links = buckets_i.join(buckets_e, on="amount", suffix="_e").filter(
        ((pl.col("day") - pl.col("day_e")).abs() <= window_days)
        & either("agency_code")
        & either("fee_kind")
        & ~(pl.col("has_ref") & pl.col("has_ref_e"))
    )
    links = links.with_columns(
        count_i=pl.col("n_e").sum().over("bucket_i"),
        count_e=pl.col("n").sum().over("bucket_e"),
    )
    pairs = (
        links.filter((pl.col("count_i") <= MAX_CANDIDATES) | (pl.col("count_e") <= MAX_CANDIDATES))
        .select(
            pl.col("ids").alias("internal_id"),
            pl.col("ids_e").alias("external_id"),
            "count_i",
            "count_e",
        )
        .explode("internal_id")
        .explode("external_id")
    )
    counts_i = (
        links.group_by("bucket_i")
        .agg(pl.col("ids").first().alias("internal_id"), pl.col("count_i").first())
        .explode("internal_id")
        .select("internal_id", pl.col("count_i").cast(pl.Int64).alias("count"))
    )
    counts_e = (
        links.group_by("bucket_e")
        .agg(pl.col("ids_e").first().alias("external_id"), pl.col("count_e").first())
        .explode("external_id")
        .select("external_id", pl.col("count_e").cast(pl.Int64).alias("count"))
    )
    return pairs, counts_i, counts_e


def unique_amount_matches(pairs: pl.DataFrame) -> pl.DataFrame:
    return pairs.filter((pl.col("count_i") == 1) & (pl.col("count_e") == 1)).select(
        "internal_id", "external_id", rule=pl.lit(MatchRule.AMOUNT_DATE.value, RULE_DTYPE)
    )


def ambiguous(
    internal: pl.DataFrame,
    external: pl.DataFrame,
    pairs: pl.DataFrame,
    counts_i: pl.DataFrame,
    counts_e: pl.DataFrame,
) -> pl.DataFrame:
    """One exception per line that has amount candidates: the line, its candidate ids."""
    found = []
    for own, other, lines, counts in (
        ("internal_id", "external_id", internal, counts_i),
        ("external_id", "internal_id", external, counts_e),
    ):
        listed = pairs.group_by(own).agg(pl.col(other).sort().alias("listed"))
        rows = (
            counts.join(lines.select(pl.col("line_id").alias(own), "amount", "own_key"), on=own)
            .join(listed, on=own, how="left")
            .with_columns(pl.col("listed").fill_null(pl.lit([], dtype=IDS)))
        )
        internal_side = own == "internal_id"
        amount, nothing = pl.col("amount"), pl.lit(0, pl.Int64)
        found.append(
            rows.select(
                type=pl.lit(ExceptionType.AMBIGUOUS.value, TYPE_DTYPE),
                internal_ids=pl.concat_list(own) if internal_side else _NO_IDS,
                external_ids=_NO_IDS if internal_side else pl.concat_list(own),
                internal_amount=amount if internal_side else nothing,
                external_amount=nothing if internal_side else amount,
                key=pl.col("own_key"),
                candidates=pl.col("listed") if internal_side else _NO_IDS,
                internal_candidates=_NO_IDS if internal_side else pl.col("listed"),
                candidate_count=pl.col("count"),
            )
        )
    return exception_rows(found)


# -- pass 5: group sums --------------------------------------------------------------------


def _unique_groups(candidates: pl.DataFrame, group: str, rule: MatchRule) -> pl.DataFrame:
    """Matches of the groups that have exactly one candidate line which has no other group."""
    unique = candidates.filter(pl.col(group).is_unique() & pl.col("external_id").is_unique())
    return (
        unique.select(pl.col("ids").alias("internal_id"), "external_id")
        .explode("internal_id")
        .with_columns(rule=pl.lit(rule.value, RULE_DTYPE))
    )


def document_groups(
    internal: pl.DataFrame, external: pl.DataFrame, window_days: int
) -> pl.DataFrame:
    """Pass 5a: a batch (≥ 2 internal lines sharing ``document_no``) whose signed sum equals
    one external line whose day is within the window of every line of the batch (and whose
    own ``document_no``, when it has one, is the batch's)."""
    groups = (
        internal.filter(pl.col("document_no").is_not_null())
        .group_by("document_no")
        .agg(
            pl.col("line_id").alias("ids"),
            pl.len().alias("n"),
            pl.col("amount").sum(),
            pl.col("day").min().alias("first"),
            pl.col("day").max().alias("last"),
        )
        .filter(pl.col("n") >= 2)
    )
    lines = external.select(
        pl.col("line_id").alias("external_id"),
        "amount",
        "day",
        pl.col("document_no").alias("document_e"),
    )
    candidates = groups.join(lines, on="amount").filter(
        (pl.col("first") >= pl.col("day") - window_days)
        & (pl.col("last") <= pl.col("day") + window_days)
        & (pl.col("document_e").is_null() | (pl.col("document_e") == pl.col("document_no")))
    )
    return _unique_groups(candidates, "document_no", MatchRule.GROUP_DOCUMENT)


def agency_day_groups(
    internal: pl.DataFrame, external: pl.DataFrame, window_days: int
) -> pl.DataFrame:
    """Pass 5b: one external document (treasury) against the internal lines of one day, one
    agency and one fee kind (``fee`` phí / ``charge`` lệ phí), by signed sum."""
    groups = (
        internal.filter(pl.col("agency_code").is_not_null())
        .group_by("agency_code", "fee_kind", "day")
        .agg(pl.col("line_id").alias("ids"), pl.col("amount").sum())
        .with_columns(group=pl.col("ids").list.min())
    )
    lines = external.filter(pl.col("agency_code").is_not_null()).select(
        pl.col("line_id").alias("external_id"),
        "agency_code",
        "amount",
        pl.col("day").alias("day_e"),
        pl.col("fee_kind").alias("fee_kind_e"),
    )
    candidates = groups.join(lines, on=["agency_code", "amount"]).filter(
        ((pl.col("day") - pl.col("day_e")).abs() <= window_days)
        & (
            pl.col("fee_kind").is_null()
            | pl.col("fee_kind_e").is_null()
            | (pl.col("fee_kind") == pl.col("fee_kind_e"))
        )
    )
    return _unique_groups(candidates, "group", MatchRule.GROUP_AGENCY_DAY)


# -- leftovers -----------------------------------------------------------------------------


def one_sided(lines: pl.DataFrame, kind: pl.Expr, internal: bool) -> pl.DataFrame:
    """One exception per line, typed by ``kind`` (an expression over the work frame)."""
    amount, nothing = pl.col("amount"), pl.lit(0, pl.Int64)
    return exception_rows(
        [
            lines.select(
                type=kind.cast(TYPE_DTYPE),
                internal_ids=pl.concat_list("line_id") if internal else _NO_IDS,
                external_ids=_NO_IDS if internal else pl.concat_list("line_id"),
                internal_amount=amount if internal else nothing,
                external_amount=nothing if internal else amount,
                key=pl.col("own_key"),
                candidates=_NO_IDS,
                internal_candidates=_NO_IDS,
                candidate_count=pl.lit(0, pl.Int64),
            )
        ]
    )


def exception_rows(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Exception rows in :data:`EXCEPTION_SCHEMA` (``amount`` derived from the two sums)."""
    columns = [name for name in EXCEPTION_SCHEMA.names() if name != "amount"]
    present = [part.select(columns) for part in parts if part.height]
    rows = pl.concat(present) if present else EXCEPTION_SCHEMA.to_frame().select(columns)
    concerned = pl.max_horizontal(pl.col("internal_amount").abs(), pl.col("external_amount").abs())
    return rows.with_columns(amount=concerned).select(
        pl.col(name).cast(dtype) for name, dtype in EXCEPTION_SCHEMA.items()
    )
