"""Work frames, and the passes after the keys: equal amounts (4), group sums (5), leftovers.

A work frame (:func:`prepare`) has one row per line: ``line_id``, the **signed** ``amount``
(credit +, debit −, so a refund never pairs with a payment of the same size), ``day`` (the
booking date as days since 1970, for cheap window arithmetic), the keys, ``outcome`` (True
succeeded, False failed, null unknown) and the grouping columns. Functions here and in
:mod:`reconciliation.keypasses` return candidate pairs, matches and exception rows;
:mod:`reconciliation.engine` decides the order and removes what each pass consumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import polars as pl

from reconciliation.frame import conform
from reconciliation.results import (
    EXCEPTION_SCHEMA,
    IDS,
    MATCH_SCHEMA,
    RULE_DTYPE,
    TYPE_DTYPE,
)
from reconciliation.rules import ExceptionType, MatchRule

#: Provider status → outcome. Statuses not listed (``pending``, none at all) never conflict.
STATUS_OUTCOME: Mapping[str, bool] = MappingProxyType(
    {"succeeded": True, "paid": True, "failed": False}
)

#: Pass 4 lists all candidates of a line that has at most this many; a line with more is
#: listed only beside those of its candidates that have few themselves (its count is exact).
#: This keeps the candidate pairs linear in the number of lines when thousands of leftover
#: lines share one common fee amount and day.
MAX_CANDIDATES = 50

#: An empty id list, for the side of an exception that names no line.
NO_IDS = pl.lit([], dtype=IDS)


def prepare(frame: pl.DataFrame, side: str) -> pl.LazyFrame:
    """The work frame of one side, to collect (the engine collects both sides at once); a
    frame that breaks the line invariants is a ValueError, raised here."""
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
    return lines.lazy().select(
        "line_id",
        pl.when(pl.col("direction") == "credit")
        .then(pl.col("amount"))
        .otherwise(-pl.col("amount"))
        .alias("amount"),
        pl.col("booking_date").cast(pl.Int32).alias("day"),
        *(_key(lines, column) for column in ("reference", "provider_txn_id", "end_to_end_id")),
        "text",
        _outcome(pl.col("status")).alias("outcome"),
        "agency_code",
        "fee_kind",
        "document_no",
    )


def _key(lines: pl.DataFrame, column: str) -> pl.Expr:
    """An empty key is no key (else every line without one would pair with every other). A
    column without any key (its null count is kept with it) is taken as it is."""
    if lines.get_column(column).null_count() == lines.height:
        return pl.col(column)
    return pl.when(pl.col(column) != "").then(pl.col(column)).alias(column)


def _outcome(status: pl.Expr) -> pl.Expr:
    """Per :data:`STATUS_OUTCOME` (null where not listed), by equality with each status: a
    comparison with a short literal is cheaper than hashing a million statuses."""
    outcome: pl.Expr = pl.lit(None, pl.Boolean)
    for name, value in reversed(list(STATUS_OUTCOME.items())):
        outcome = pl.when(status == name).then(value).otherwise(outcome)
    return outcome


# -- pass 4: equal amount within the window ------------------------------------------------

_BUCKET = ["amount", "day", "agency_code", "fee_kind", "outcome", "has_ref"]
_HAS_REF = pl.col("own_key").is_not_null().alias("has_ref")


def _agree(column: str, suffix: str = "_e") -> pl.Expr:
    """Equal where both sides have a value: nothing that contradicts the pairing."""
    return (
        pl.col(column).is_null()
        | pl.col(f"{column}{suffix}").is_null()
        | (pl.col(column) == pl.col(f"{column}{suffix}"))
    )


def _pairable(window_days: int) -> pl.Expr:
    """Equal signed amounts (the join), booking days within the window, and no agency code,
    fee kind or outcome that contradicts."""
    return (
        ((pl.col("day") - pl.col("day_e")).abs() <= window_days)
        & _agree("agency_code")
        & _agree("fee_kind")
        & _agree("outcome")
    )


def near_references(
    internal: pl.DataFrame, external: pl.DataFrame, mistyped: pl.DataFrame, window_days: int
) -> pl.DataFrame:
    """Pass 4, first: a line whose text holds a mistyped reference (one that fails the check,
    :func:`reconciliation.keypasses.text_references`) that differs from the reference of a
    line still unpaired on our side in exactly one symbol, with an equal amount within the
    window, matched when that pair is the only such one of both lines.

    A one-symbol typo is what the check symbol catches, so the reference alone never pairs
    lines; the equal amount and the uniqueness do (another of our references one symbol
    away from the same typo, of the same amount, is one in 10¹³ or so).
    """
    left = external.select(pl.col("line_id").alias("external_id"), "amount")
    typed = mistyped.join(left, on="external_id")
    # Only lines of an amount the other side has.
    ours = internal.filter(
        pl.col("reference").is_not_null()
        & pl.col("amount").is_in(typed.get_column("amount").unique().implode())
    ).select(pl.col("line_id").alias("internal_id"), pl.col("reference").alias("key"), "amount")
    typed = typed.filter(pl.col("amount").is_in(ours.get_column("amount").unique().implode()))
    if typed.is_empty() or ours.is_empty():
        return MATCH_SCHEMA.to_frame()

    # Two keys of one length that differ in one symbol are equal in their first half or in
    # their second: join on each half, then count the differing symbols of the few pairs.
    def halves(keys: pl.DataFrame) -> pl.LazyFrame:
        length = pl.col("key").str.len_chars()
        return keys.lazy().with_columns(
            length=length,
            head=pl.col("key").str.slice(0, length // 2),
            tail=pl.col("key").str.slice(length // 2),
        )

    ours_halves, typed_halves = halves(ours), halves(typed.select("external_id", "key", "amount"))
    near = pl.concat(
        [
            ours_halves.join(typed_halves, on=["amount", "length", half], suffix="_e").select(
                "internal_id", "external_id", "key", "key_e"
            )
            for half in ("head", "tail")
        ]
    )
    longest = int(ours.select(pl.col("key").str.len_chars().max()).item() or 0)
    differing = pl.sum_horizontal(
        pl.col("key").str.slice(position, 1) != pl.col("key_e").str.slice(position, 1)
        for position in range(longest)
    )
    lines = ["amount", "day", "agency_code", "fee_kind", "outcome"]
    candidates = (
        near.filter(differing == 1)
        .select("internal_id", "external_id")
        .unique()
        .join(
            internal.lazy().select(pl.col("line_id").alias("internal_id"), *lines), on="internal_id"
        )
        .join(
            external.lazy().select(pl.col("line_id").alias("external_id"), *lines),
            on=["external_id", "amount"],
            suffix="_e",
        )
        .filter(_pairable(window_days))
        .select("internal_id", "external_id")
        .filter(pl.col("internal_id").is_unique() & pl.col("external_id").is_unique())
        .collect()
    )
    return candidates.with_columns(rule=pl.lit(MatchRule.NEAR_REFERENCE.value, RULE_DTYPE))


def _amount_links(
    internal: pl.DataFrame, external: pl.DataFrame, window_days: int
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """Pass 4's candidates by buckets of identical lines (see :func:`amount_candidates`): the
    links between an internal and an external bucket that may pair, each with both buckets'
    candidate counts, and each bucket's line ids (``bucket_i, internal_id`` and
    ``bucket_e, external_id``, lists)."""

    def buckets(lines: pl.DataFrame, name: str) -> pl.LazyFrame:
        grouped = lines.lazy().with_columns(_HAS_REF).group_by(_BUCKET)
        return grouped.agg(pl.col("line_id").alias("ids"), pl.len().alias("n")).with_row_index(name)

    # The buckets' id lists stay out of the join and its windows (copying a list per link
    # costs more than the join): they join what is listed and counted, by bucket.
    bucket_i, bucket_e = pl.collect_all(
        [buckets(internal, "bucket_i"), buckets(external, "bucket_e")]
    )
    ids_i = bucket_i.lazy().select("bucket_i", pl.col("ids").alias("internal_id"))
    ids_e = bucket_e.lazy().select("bucket_e", pl.col("ids").alias("external_id"))
    links = (
        bucket_i.lazy()
        .drop("ids")
        .join(bucket_e.lazy().drop("ids"), on="amount", suffix="_e")
        .filter(_pairable(window_days) & ~(pl.col("has_ref") & pl.col("has_ref_e")))
        .select(
            "bucket_i",
            "bucket_e",
            "has_ref",
            "has_ref_e",
            count_i=pl.col("n_e").sum().over("bucket_i"),
            count_e=pl.col("n").sum().over("bucket_e"),
            keyless_i=pl.when(~pl.col("has_ref_e")).then("n_e").otherwise(0).sum().over("bucket_i"),
            keyless_e=pl.when(~pl.col("has_ref")).then("n").otherwise(0).sum().over("bucket_e"),
        )
    )
    return links, ids_i, ids_e


def _link_pairs(links: pl.LazyFrame, ids_i: pl.LazyFrame, ids_e: pl.LazyFrame) -> pl.LazyFrame:
    return (
        links.join(ids_i, on="bucket_i")
        .join(ids_e, on="bucket_e")
        .select("internal_id", "external_id", "count_i", "count_e")
        .explode("internal_id")
        .explode("external_id")
    )


def amount_candidates(
    internal: pl.DataFrame, external: pl.DataFrame, window_days: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Pairs of equal signed amount, days at most ``window_days`` apart, and nothing that
    contradicts (agency code, fee kind, outcome: equal where both sides have one; not both
    carrying a reference, since equal references were paired in passes 1–3).

    Works on buckets of identical lines, so the counts are exact without building every pair:
    returns the pairs (``internal_id, external_id``) listed per :data:`MAX_CANDIDATES`, and
    each line's candidate count (``internal_id, count`` and ``external_id, count``).
    """
    links, ids_i, ids_e = _amount_links(internal, external, window_days)
    few = (pl.col("count_i") <= MAX_CANDIDATES) | (pl.col("count_e") <= MAX_CANDIDATES)
    listed = _link_pairs(links.filter(few), ids_i, ids_e)

    def counts(bucket: str, ids: pl.LazyFrame, suffix: str, name: str) -> pl.LazyFrame:
        """Per line (``name``): its bucket's candidate count, and whether it is ambiguous."""
        has_ref = "has_ref" if suffix == "i" else "has_ref_e"
        return (
            links.group_by(bucket)
            .agg(
                pl.col(f"count_{suffix}").first().cast(pl.Int64).alias("count"),
                # Ambiguous: a line without a reference that has a candidate without one.
                (~pl.col(has_ref).first() & (pl.col(f"keyless_{suffix}").first() > 0)).alias(
                    "ambiguous"
                ),
            )
            .join(ids, on=bucket)
            .select(name, "count", "ambiguous")
            .explode(name)
        )

    pairs, counts_i, counts_e = pl.collect_all(
        [
            listed,
            counts("bucket_i", ids_i, "i", "internal_id"),
            counts("bucket_e", ids_e, "e", "external_id"),
        ]
    )
    return pairs, counts_i, counts_e


def unique_amount_matches(
    internal: pl.DataFrame, external: pl.DataFrame, window_days: int
) -> pl.DataFrame:
    """Pass 4, then: the pairs of :func:`amount_candidates` that are the only candidate of
    both their lines (only those links are listed; the counts are not needed)."""
    links, ids_i, ids_e = _amount_links(internal, external, window_days)
    unique = links.filter((pl.col("count_i") == 1) & (pl.col("count_e") == 1))
    return (
        _link_pairs(unique, ids_i, ids_e)
        .select("internal_id", "external_id", rule=pl.lit(MatchRule.AMOUNT_DATE.value, RULE_DTYPE))
        .collect()
    )


def candidate_lists(
    pairs: pl.DataFrame, counts: pl.DataFrame, own: str, other: str
) -> pl.DataFrame:
    """Per line that has amount candidates (``own`` is ``internal_id`` or ``external_id``):
    ``line_id``, ``listed`` (its candidates' ids, sorted; cut short per
    :data:`MAX_CANDIDATES`), ``count`` (all of them) and ``ambiguous``."""
    listed = pairs.group_by(own).agg(pl.col(other).sort().alias("listed"))
    return counts.join(listed, on=own, how="left").select(
        pl.col(own).alias("line_id"),
        pl.col("listed").fill_null(pl.lit([], dtype=IDS)),
        "count",
        "ambiguous",
    )


# -- pass 5: group sums --------------------------------------------------------------------


def _unique_groups(candidates: pl.DataFrame, group: str, rule: MatchRule) -> pl.DataFrame:
    """Matches of the groups that have exactly one candidate line which has no other group."""
    unique = candidates.filter(pl.col(group).is_unique() & pl.col("external_id").is_unique())
    return (
        unique.select(pl.col("ids").alias("internal_id"), "external_id")
        .explode("internal_id")
        .with_columns(rule=pl.lit(rule.value, RULE_DTYPE))
    )


def _document_candidates(
    internal: pl.DataFrame, external: pl.DataFrame, window_days: int
) -> pl.DataFrame:
    """Each batch (≥ 2 internal lines sharing ``document_no``) beside every external line
    equal to its signed sum whose day is within the window of every line of the batch (and
    whose own ``document_no``, when it has one, is the batch's)."""
    groups = (
        internal.filter(pl.col("document_no").is_not_null())
        .group_by("document_no")
        .agg(
            pl.col("line_id").sort().alias("ids"),
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
    return groups.join(lines, on="amount").filter(
        (pl.col("first") >= pl.col("day") - window_days)
        & (pl.col("last") <= pl.col("day") + window_days)
        & (pl.col("document_e").is_null() | (pl.col("document_e") == pl.col("document_no")))
    )


def batch_credits(internal: pl.DataFrame, external: pl.DataFrame, window_days: int) -> pl.Series:
    """The external lines equal to the sum of a batch of ours (see :func:`document_groups`):
    they wait for pass 5a, as the batch's own lines do, rather than pair by amount with a
    single payment that happens to be as large."""
    return _document_candidates(internal, external, window_days).get_column("external_id")


def document_groups(
    internal: pl.DataFrame, external: pl.DataFrame, window_days: int
) -> pl.DataFrame:
    """Pass 5a: a batch (≥ 2 internal lines sharing ``document_no``) whose signed sum equals
    one external line whose day is within the window of every line of the batch (and whose
    own ``document_no``, when it has one, is the batch's)."""
    candidates = _document_candidates(internal, external, window_days)
    return _unique_groups(candidates, "document_no", MatchRule.GROUP_DOCUMENT)


def agency_day_groups(
    internal: pl.DataFrame, external: pl.DataFrame, window_days: int
) -> pl.DataFrame:
    """Pass 5b: one external document (treasury) against the internal lines of one day, one
    agency and one fee kind (``fee`` phí / ``charge`` lệ phí), by signed sum."""
    groups = (
        internal.filter(pl.col("agency_code").is_not_null())
        .group_by("agency_code", "fee_kind", "day")
        .agg(pl.col("line_id").sort().alias("ids"), pl.col("amount").sum())
        .with_columns(group=pl.col("ids").list.first())
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


def one_sided(
    lines: pl.DataFrame, kind: pl.Expr, internal: bool, candidates: pl.DataFrame | None = None
) -> pl.DataFrame:
    """One exception per line: ``ambiguous`` where ``candidates`` (:func:`candidate_lists`)
    says so, else typed by ``kind`` (an expression over the work frame); either way with its
    equal-amount candidates listed and counted.

    Only a line without a reference that has a candidate without one is ambiguous: amount is
    all two such lines can ever be paired by. A line that carries a reference (a payment whose
    credit did not show it, or a credit naming a reference we do not have) is not made
    ambiguous by credits of the same common fee; it keeps its own type, and its candidates
    are there for whoever looks into it.
    """
    if candidates is None:
        candidates = pl.DataFrame(
            schema={"line_id": pl.Int64, "listed": IDS, "count": pl.Int64, "ambiguous": pl.Boolean}
        )
    amount, nothing = pl.col("amount"), pl.lit(0, pl.Int64)
    listed = pl.col("listed").fill_null(pl.lit([], dtype=IDS))
    return exception_rows(
        [
            lines.join(candidates, on="line_id", how="left").select(
                type=pl.when(pl.col("ambiguous").fill_null(False))
                .then(pl.lit(ExceptionType.AMBIGUOUS.value))
                .otherwise(kind)
                .cast(TYPE_DTYPE),
                internal_ids=pl.concat_list("line_id") if internal else NO_IDS,
                external_ids=NO_IDS if internal else pl.concat_list("line_id"),
                internal_amount=amount if internal else nothing,
                external_amount=nothing if internal else amount,
                key=pl.col("own_key"),
                candidates=listed if internal else NO_IDS,
                internal_candidates=NO_IDS if internal else listed,
                candidate_count=pl.col("count").fill_null(0),
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
