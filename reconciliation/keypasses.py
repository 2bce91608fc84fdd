"""Passes 1–3 of the matching engine: lines paired by an equal key, and duplicates.

Pass 1/2 compare the key columns (reference, provider transaction id, EndToEndId); pass 3
finds our references in the counterpart's normalised transfer text. Both produce candidate
pairs (:data:`PAIR_SCHEMA`), resolved one-to-one by :func:`key_pass`: exact pairs first,
then the conflicts (status, amount, date) as exceptions. Pass 3 settles most of its pairs
(exact, and touching no other pair) as the streaming query finds them, so only the rest
reach :func:`key_pass`. Python loops only over a small leftover set: the texts with a
candidate that is not one of our references.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import polars as pl

from reconciliation.frame import normalise_text, valid_reference
from reconciliation.passes import NO_IDS, exception_rows
from reconciliation.results import RULE_DTYPE, TYPE_DTYPE
from reconciliation.rules import ExceptionType, MatchRule

#: Key columns compared as equal strings in pass 1, in order of preference.
KEY_KINDS: tuple[tuple[str, MatchRule], ...] = (
    ("reference", MatchRule.REFERENCE),
    ("provider_txn_id", MatchRule.PROVIDER_TXN_ID),
    ("end_to_end_id", MatchRule.END_TO_END_ID),
)

# Categories of a key pair, in order of preference when pairs compete for a line.
EXACT, STATUS, AMOUNT, DATE = 0, 1, 2, 3
_CATEGORY_TYPE = {
    STATUS: ExceptionType.STATUS_MISMATCH.value,
    AMOUNT: ExceptionType.AMOUNT_MISMATCH.value,
    DATE: ExceptionType.DATE_MISMATCH.value,
}
_PAIR_ORDER = ["category", "amount_gap", "day_gap", "rank", "internal_id", "external_id"]


PAIR_SCHEMA = pl.Schema(
    {
        "internal_id": pl.Int64(),
        "key": pl.String(),
        "amount_i": pl.Int64(),
        "day_i": pl.Int32(),
        "outcome_i": pl.Boolean(),
        "external_id": pl.Int64(),
        "amount_e": pl.Int64(),
        "day_e": pl.Int32(),
        "outcome_e": pl.Boolean(),
        "rule": RULE_DTYPE,
        "rank": pl.Int8(),
    }
)


MISTYPED_SCHEMA = pl.Schema({"external_id": pl.Int64(), "key": pl.String()})


def internal_keys(lines: pl.DataFrame, column: str) -> pl.DataFrame:
    """Per line of ``lines`` with a ``column`` key: its id, key, amount, day, outcome and
    position in ``lines`` (``row_i``)."""
    keys = lines.with_row_index("row_i").select(
        pl.col("line_id").alias("internal_id"),
        "row_i",
        pl.col(column).alias("key"),
        pl.col("amount").alias("amount_i"),
        pl.col("day").alias("day_i"),
        pl.col("outcome").alias("outcome_i"),
    )
    if not keys.get_column("key").has_nulls():
        return keys  # every line has one: no copy of a million rows
    return keys.filter(pl.col("key").is_not_null())


def _external_columns() -> list[pl.Expr]:
    return [
        pl.col("line_id").alias("external_id"),
        pl.col("amount").alias("amount_e"),
        pl.col("day").alias("day_e"),
        pl.col("outcome").alias("outcome_e"),
    ]


def _any_key(lines: pl.DataFrame, column: str) -> bool:
    return lines.get_column(column).null_count() < lines.height


def direct_pairs(internal: pl.DataFrame, external: pl.DataFrame) -> pl.DataFrame:
    """Pass 1/2 candidates: every (internal, external) pair with an equal key column; a pair
    equal on several keys is kept once, under the first key of :data:`KEY_KINDS`."""
    found = []
    for rank, (column, rule) in enumerate(KEY_KINDS):
        if not _any_key(internal, column) or not _any_key(external, column):
            continue  # null counts are kept with the column: no pass over the lines
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


class TextPairs(NamedTuple):
    """What pass 3 finds in the counterpart's texts (:func:`text_references`)."""

    # MATCH_SCHEMA and each line's position (row_i in the frame ``ours`` came from, row_e in
    # ``external``): the exact pairs no other pair touches, matched as found.
    settled: pl.DataFrame
    pairs: pl.DataFrame  # PAIR_SCHEMA: every other key pair, for key_pass and duplicates
    found: pl.DataFrame  # external_id, key: each reference found in a text not settled
    mistyped: pl.DataFrame  # MISTYPED_SCHEMA


def text_references(
    external: pl.DataFrame,
    pattern: str,
    ours: pl.DataFrame,
    prefix: str | None,
    window_days: int,
    offered: pl.Series | None = None,
) -> TextPairs:
    """Pass 3: the references found in the external lines' normalised text.

    ``ours`` are the internal side's references (:func:`internal_keys`); ``offered`` the
    internal lines passes 1 and 2 left (None: all of them). The key pairs that settle
    themselves — exact (:func:`key_pass` would call them :data:`EXACT`), of an offered line,
    and each of their two lines in no other pair, so that :func:`one_to_one` would take them
    first whatever else it takes — are told apart as they are found (the streaming query
    that finds them checks the pair and the text; whether another text names the same line
    is checked by position right after it), and come back as ``settled`` matches; only the
    rest (a few per cent) go through :func:`key_pass`. A settled pair's lines have no other
    key pair, so no leftover line names them and :func:`duplicates` never needs them.

    Returns the settled matches, every other key pair (``pairs``, not limited to ``offered``),
    every ``(external_id, key)`` found in a text that did not settle, and the mistyped
    candidates (``external_id, key``: not ours, not a valid reference of ``prefix``) of the
    texts that name neither one of ours nor a valid reference, for pass 4 to recognise.

    Matching is leftmost and non-overlapping, so ``…DVC DVC7K3M…`` first yields
    ``DVCDVC7K3M…``, which is not ours (and may even pass the check, 1 time in 32). The few
    texts with a candidate that is not ours are scanned again, in Python, for overlapping
    ones; of those, a text that names one of ours keeps only ours, and otherwise each distinct
    candidate is kept if it is a valid reference of ``prefix`` (a typo is dropped; a valid
    reference we have no record of stays, so the line is known to carry one; None: every
    candidate is kept). Candidates that are ours are references we issued, whatever their
    check symbol says. A pair that settled in the query but whose
    payment the rescan finds in another text too is taken back among the pairs.
    """
    # Settled: the text names one candidate, ours, and no other text names that line. (The
    # text's count is its list length, which counts its rows only while no key found is the
    # reference of two lines of ours: checked below; the line's is found after the query,
    # by position: :func:`_named_once`.)
    settles = (
        pl.col("internal_id").is_not_null() & (pl.col("candidates") == 1) & _is_exact(window_days)
    )
    if offered is not None:
        settles = settles & pl.col("internal_id").is_in(offered.implode())
    joined = (
        external.lazy()
        .with_row_index("row_e")
        .select(
            *_external_columns(),
            "row_e",
            normalise_text(pl.col("text")).str.extract_all(pattern).alias("key"),
        )
        .with_columns(candidates=pl.col("key").list.len())
        .explode("key")
        .drop_nulls("key")
        .with_row_index("found")
        .join(ours.lazy(), on="key", how="left")
        .with_columns(settled=settles)
        # The in-memory engine runs a string expression on one core; streaming splits it.
        .collect(engine="streaming")
        .drop("candidates")
    )
    # The texts with a candidate that is not ours (never a settled row: those name ours) are
    # scanned again (:func:`_rescan`).
    texts = (
        joined.select("external_id", "row_e", "internal_id")
        .filter(pl.col("internal_id").is_null())
        .select("external_id", "row_e")
        .unique()
    )
    unsure = texts.get_column("external_id")
    if joined.height and joined.get_column("found").max() != joined.height - 1:
        # A key found is the reference of several lines of ours: no text's list length
        # counts its rows, so nothing settles in the query; key_pass sorts it all out.
        joined = joined.with_columns(settled=pl.lit(False))
    else:
        joined = joined.with_columns(settled=pl.col("settled") & _named_once(joined["row_i"]))
    joined = joined.drop("found")
    settling = joined.get_column("settled")
    unsettled = joined.filter(~pl.col("settled"))
    rest = unsettled.drop("settled", "row_i")
    pairs = rest.drop("row_e").filter(
        pl.col("internal_id").is_not_null() & ~pl.col("external_id").is_in(unsure.implode())
    )
    mistyped = MISTYPED_SCHEMA.to_frame()
    if texts.height:
        # What the query found in these texts (none of their rows settled: each names a
        # candidate that is not ours) and, by its join, which of it is ours.
        seen = unsettled.filter(pl.col("external_id").is_in(unsure.implode()))
        rescanned, mistyped = _rescan(external, texts, pattern, ours, prefix, seen)
        named_again = rescanned.filter("ours").get_column("internal_id")
        if not named_again.is_empty():  # contested after all: back among the pairs
            again = joined.select(pl.col("internal_id").is_in(named_again.implode())).to_series()
            back = joined.filter(settling & again).drop("settled", "row_i", "row_e")
            pairs = pl.concat([pairs, back])
            settling = settling & ~again
        pairs = pl.concat([pairs, rescanned.filter("ours").select(pairs.columns)])
        found = pl.concat([pairs, rescanned.filter(~pl.col("ours")).select(pairs.columns)])
    else:
        found = pairs
    pairs = pairs.with_columns(
        rule=pl.lit(MatchRule.TEXT_REFERENCE.value, RULE_DTYPE), rank=pl.lit(0, pl.Int8)
    )
    # The settled pairs are taken out once, when the rescan has said which are contested.
    settled = joined.select("internal_id", "external_id", "row_i", "row_e").filter(settling)
    return TextPairs(
        settled.with_columns(rule=pl.lit(MatchRule.TEXT_REFERENCE.value, RULE_DTYPE)),
        pairs.select(PAIR_SCHEMA.names()),
        found.select("external_id", "key"),
        mistyped,
    )


def _named_once(rows: pl.Series) -> pl.Series:
    """Per found key, whether no other found key names the same line of ours (``rows``: its
    position among our lines, null where the key is not ours: false there).

    By position rather than by hash (a window over a million ids hashes each one): each key
    writes its own position at its line's slot; one that does not read its own position back
    shares the line with a later one. The keys naming a shared line are those and the last
    writer of each such line (few): only their positions are marked, no million-row look-up.
    """
    present = rows.is_not_null()
    named = rows.drop_nulls()
    if named.is_empty():
        return present
    size = int(named.max()) + 1  # type: ignore[arg-type]
    index = pl.int_range(0, rows.len(), dtype=pl.UInt32, eager=True)
    if named.len() < rows.len():
        index = index.filter(present)
    owner = pl.repeat(0, size, dtype=pl.UInt32, eager=True).scatter(named, index)
    overwritten = owner.gather(named) != index
    if not overwritten.any():
        return present
    sharing = pl.concat([index.filter(overwritten), owner.gather(named.filter(overwritten))])
    return present & pl.repeat(True, rows.len(), eager=True).scatter(sharing, False)


def _rescan(
    external: pl.DataFrame,
    texts: pl.DataFrame,
    pattern: str,
    ours: pl.DataFrame,
    prefix: str | None,
    seen: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The texts (``external_id, row_e``) with a candidate that is not ours, scanned again for
    overlapping candidates (:func:`text_references`): the references kept per text (a column
    ``ours`` telling ours apart) and the mistyped candidates (:data:`MISTYPED_SCHEMA`).
    ``seen``: the text query's rows for these texts (their keys joined to ``ours``)."""
    # By position: a gather, not a look-up of each of a million ids; only what the scan reads.
    lines = external.select(
        pl.col("line_id", "amount", "day", "outcome", "text").gather(
            texts.get_column("row_e").sort()
        )
    )
    scanned = _overlapping(lines, pattern)
    ids = ["external_id", "key"]
    if scanned.height <= seen.height and scanned.join(seen, on=ids, how="anti").is_empty():
        # Nothing the query had not found (no overlapping candidate): its join told which
        # keys are ours, and a million keys of ours need not be hashed again.
        named = seen.filter(pl.col("internal_id").is_not_null()).select(ours.columns).unique()
    else:
        # Hashing a million keys of ours: on the streaming engine, which splits it over cores.
        named = (
            ours.lazy()
            .filter(pl.col("key").is_in(scanned.get_column("key").implode()))
            .collect(engine="streaming")
        )
    rescanned = (
        scanned.unique(["external_id", "key"])
        .join(named, on="key", how="left")  # not all of ours: hashing them costs more
        .with_columns(ours=pl.col("internal_id").is_not_null())
        .filter(pl.col("ours") | ~pl.col("ours").any().over("external_id"))
    )
    mistyped = MISTYPED_SCHEMA.to_frame()
    if prefix is not None:
        # A text left with one of ours has only ours: the check symbols are read only in the
        # others (a column first: an expression inside a window is evaluated once per group).
        theirs = rescanned.filter(~pl.col("ours")).with_columns(
            known=valid_reference(pl.col("key"), prefix)
        )
        mistyped = (
            theirs.filter(~pl.col("known").any().over("external_id"))
            .select(MISTYPED_SCHEMA.names())
            .unique()
        )
        rescanned = pl.concat([rescanned.filter("ours"), theirs.filter("known").drop("known")])
    return rescanned, mistyped


def _overlapping(external: pl.DataFrame, pattern: str) -> pl.DataFrame:
    """Every match of ``pattern`` in each line's normalised text, overlapping ones included
    (polars' regex engine cannot look ahead): at each position where it matches, the match
    that starts there — ``re`` searching again from one past the start of the last match,
    which skips to the next candidate as fast as ``re`` can find one."""
    search = re.compile(pattern).search
    # On the streaming engine: the in-memory one runs a string expression on one core (the
    # normalisation is most of this function's polars time).
    texts = (
        external.lazy()
        .select("line_id", normalise_text(pl.col("text")))
        .collect(engine="streaming")
    )
    ids: list[int] = []
    keys: list[str] = []
    for line_id, text in zip(texts["line_id"].to_list(), texts["text"].to_list(), strict=True):
        match = search(text or "")
        while match is not None:
            ids.append(line_id)
            keys.append(match.group())
            match = search(text or "", match.start() + 1)
    found = pl.DataFrame(
        {"external_id": ids, "key": keys}, schema={"external_id": pl.Int64, "key": pl.String}
    )
    return external.select(_external_columns()).join(found, on="external_id")


def _conflicts(window_days: int) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """What tells a key pair's conflict, in order (:data:`STATUS`, :data:`AMOUNT`,
    :data:`DATE`), from its two sides' ``amount_*``, ``day_*`` and ``outcome_*``."""
    status = (
        pl.col("outcome_i").is_not_null()
        & pl.col("outcome_e").is_not_null()
        & (pl.col("outcome_i") != pl.col("outcome_e"))
    )
    amount = pl.col("amount_i") != pl.col("amount_e")
    date = (pl.col("day_i") - pl.col("day_e")).abs() > window_days
    return status, amount, date


def _category(window_days: int) -> pl.Expr:
    """A key pair's category (:data:`EXACT` or the first conflict it shows)."""
    status, amount, date = _conflicts(window_days)
    return (
        pl.when(status)
        .then(STATUS)
        .when(amount)
        .then(AMOUNT)
        .when(date)
        .then(DATE)
        .otherwise(EXACT)
        .cast(pl.Int8)
    )


def _is_exact(window_days: int) -> pl.Expr:
    """Whether :func:`_category` is :data:`EXACT`: no conflict holds (a null one does not,
    as in ``when``), without building the category column."""
    status, amount, date = _conflicts(window_days)
    return ~(status.fill_null(False) | amount.fill_null(False) | date.fill_null(False))


def classify(pairs: pl.DataFrame, window_days: int) -> pl.DataFrame:
    return pairs.with_columns(
        category=_category(window_days),
        amount_gap=(pl.col("amount_i") - pl.col("amount_e")).abs(),
        day_gap=(pl.col("day_i") - pl.col("day_e")).abs(),
    )


def one_to_one(pairs: pl.DataFrame, order: list[str]) -> pl.DataFrame:
    """The greedy one-to-one choice among candidate pairs, best ``order`` first.

    A pair whose two lines have no other candidate is taken at once (nearly all of them).
    The rest go in rounds: take every pair that is the best of both its lines, drop the pairs
    that touch a taken line, repeat. Each round takes at least the overall best pair, and the
    result equals taking pairs one by one in ``order`` — which does not depend on row order,
    since ``order`` ends with both ids.
    """
    repeated_i, repeated_e = pl.collect_all(
        [_repeated(pairs, "internal_id"), _repeated(pairs, "external_id")]
    )
    contested = pl.col("internal_id").is_in(repeated_i.to_series().implode()) | pl.col(
        "external_id"
    ).is_in(repeated_e.to_series().implode())
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


def _repeated(pairs: pl.DataFrame, column: str) -> pl.LazyFrame:
    """The ids of ``column`` that occur more than once (sorting integers is cheaper than
    hashing them)."""
    ordered = pairs.lazy().select(pl.col(column).sort())
    return ordered.filter(pl.col(column).diff() == 0)


def key_pass(pairs: pl.DataFrame, window_days: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Passes 1+2 (or 3): the chosen pairs (all columns), and the exception rows of those that
    are not exact. Exact pairs are preferred, so a line with an exact partner is matched."""
    needed = ["internal_id", "external_id", "key", "amount_i", "amount_e", "rule", *_PAIR_ORDER]
    chosen = one_to_one(
        classify(pairs, window_days).select(list(dict.fromkeys(needed))), _PAIR_ORDER
    )
    conflicts = chosen.filter(pl.col("category") != EXACT).select(
        pl.col("category").replace_strict(_CATEGORY_TYPE, return_dtype=TYPE_DTYPE).alias("type"),
        pl.concat_list("internal_id").alias("internal_ids"),
        pl.concat_list("external_id").alias("external_ids"),
        pl.col("amount_i").alias("internal_amount"),
        pl.col("amount_e").alias("external_amount"),
        "key",
        candidates=NO_IDS,
        internal_candidates=NO_IDS,
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
        named = lost.get_column(other).unique().implode()
        winners = taken.filter(pl.col(other).is_in(named)).select(
            pl.col(other), pl.col(own).alias("winner")
        )
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
                internal_ids=pl.concat_list(own) if internal else NO_IDS,
                external_ids=NO_IDS if internal else pl.concat_list(own),
                internal_amount=amount if internal else nothing,
                external_amount=nothing if internal else amount,
                key=pl.col("key"),
                candidates=pl.col("candidates"),
                internal_candidates=pl.col("internal_candidates"),
                candidate_count=pl.col(other_list).list.len().cast(pl.Int64),
            )
        )
    return exception_rows(found)
