"""The matching engine: the gateway's ledger of a day against one counterpart's lines.

Pure: two frames (:mod:`reconciliation.frame`) and explicit parameters in, a
:class:`~reconciliation.results.Result` out; no database, no clock. Passes run in this order,
and each consumes what it pairs, so no line is matched or reported twice:

1. **keys** — reference, provider transaction id or EndToEndId equal on both sides, equal
   signed amount, booking dates at most ``window_days`` apart → matched;
2. the same key pairs that are not exact → ``status_mismatch`` (one side failed),
   ``amount_mismatch`` or ``date_mismatch`` (consumes both lines);
3. **text** — our reference found in the counterpart's normalised transfer text → as 1 and 2
   (a pair that is exact and touches no other pair settles inside the query that finds it;
   the rest is resolved as in 1 and 2, with the same result as resolving all of it there);
   then ``duplicate``: a leftover line whose key named a line another one already took;
4. **amount** — first a mistyped reference in the text (it fails the check symbol) one
   symbol away from the reference of an unpaired line of ours with an equal amount within
   the window, matched when that pair is the only such one of both lines
   (``near_reference``); then equal amount within the window, matched only when the pair is
   the only candidate of both lines (lines of a multi-line batch, and the lines equal to
   a batch's sum, wait for pass 5a);
5. **groups** — (a) a batch of internal lines sharing ``document_no`` against one external
   line; (b) a day's internal lines per agency per fee kind against one treasury document.

Leftovers: ``ambiguous`` (a line without a reference that still has an equal-amount candidate
without one: amount is all such lines can be paired by), then ``expected_in_transit``
(internal, booked on or after ``business_date − settlement_lag_days``), then
``missing_in_<counterpart>`` / ``missing_in_gateway``. Every leftover lists its equal-amount
candidates: a payment whose reference the counterpart never showed is not called ambiguous
because credits of the same common fee name no reference — it keeps its own type.

Both sides must state ``direction`` from the same account's point of view (credit = money in);
amounts are compared signed, so a refund pairs only with a debit.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from reconciliation import keypasses, passes
from reconciliation.model import Source
from reconciliation.results import (
    EXCEPTION_SCHEMA,
    MATCH_SCHEMA,
    STATUS_DTYPE,
    SUMMARY_SCHEMA,
    Result,
)
from reconciliation.rules import MISSING_IN, RULE_VERSION, ExceptionItem, ExceptionType, MatchRule

__all__ = [
    "DEFAULT_REFERENCE_PATTERN",
    "EXCEPTION_SCHEMA",
    "GROUPED_COUNTERPARTS",
    "MATCH_SCHEMA",
    "RULE_VERSION",
    "SUMMARY_SCHEMA",
    "ExceptionItem",
    "ExceptionType",
    "MatchRule",
    "Result",
    "reconcile",
]

DEFAULT_REFERENCE_PATTERN = r"DVC[0-9A-Z]{11}"

#: Counterparts whose every line is a sum of many of ours (a treasury document per agency,
#: day and fee kind): pairing one of our lines with one of theirs by amount alone (pass 4)
#: would only ever be a coincidence, so it is not tried and nothing is called ambiguous.
GROUPED_COUNTERPARTS = frozenset({Source.TREASURY})

_EPOCH = date(1970, 1, 1)


class _Book:
    """What is left on each side, and what the passes have taken so far.

    Each take must remove exactly as many lines from what is left as it names (so it names
    each line once, and only lines no earlier pass took); with nothing left at the end, every
    input line is in exactly one place. Checked as it goes: the count is free beside the
    filter that removes the taken lines.
    """

    def __init__(self, internal: pl.DataFrame, external: pl.DataFrame) -> None:
        self.internal = internal
        self.external = external
        self.matches: list[pl.DataFrame] = []
        self.exceptions: list[pl.DataFrame] = []
        self.matched_external = 0

    def take(
        self,
        matches: pl.DataFrame | None = None,
        exceptions: pl.DataFrame | None = None,
        *,
        grouped: bool = False,
    ) -> None:
        """Record ``matches`` and ``exceptions`` and remove their lines from what is left;
        ``grouped``: one external line may take several internal ones."""
        taken_i: list[pl.Series] = []
        taken_e: list[pl.Series] = []
        if matches is not None and matches.height:
            self.matches.append(matches.select(MATCH_SCHEMA.names()))
            taken_i.append(matches.get_column("internal_id"))
            external = matches.get_column("external_id")
            taken_e.append(external.unique() if grouped else external)
            self.matched_external += taken_e[-1].len()
        if exceptions is not None and exceptions.height:
            self.exceptions.append(exceptions)
            taken_i.append(exceptions.get_column("internal_ids").explode().drop_nulls())
            taken_e.append(exceptions.get_column("external_ids").explode().drop_nulls())
        if not taken_i and not taken_e:
            return
        before = (self.internal.height, self.external.height)
        # Both sides at once: independent queries collected together run in parallel.
        self.internal, self.external = pl.collect_all(
            [_without(self.internal, taken_i), _without(self.external, taken_e)]
        )
        named = (sum(ids.len() for ids in taken_i), sum(ids.len() for ids in taken_e))
        if (before[0] - self.internal.height, before[1] - self.external.height) != named:
            raise RuntimeError("engine bug: a pass took a line twice, or one already taken")

    def take_rows(self, matches: pl.DataFrame, internal_rows: pl.Series | None) -> None:
        """Record ``matches`` (one line each side) and remove their lines by position: the
        external ones at ``row_e`` of what is left, the internal ones at ``internal_rows``
        (None: by id). Positions are the row index of these very frames, taken before any
        other take: no hash of a million ids, just a mask. Checked as :meth:`take` is."""
        if not matches.height:
            return
        self.matches.append(matches.select(MATCH_SCHEMA.names()))
        self.matched_external += matches.height
        before = (self.internal.height, self.external.height)
        if internal_rows is None:
            self.internal = _without(self.internal, [matches.get_column("internal_id")]).collect()
        else:
            self.internal = _without_rows(self.internal, internal_rows)
        self.external = _without_rows(self.external, matches.get_column("row_e"))
        if (before[0] - self.internal.height, before[1] - self.external.height) != (
            matches.height,
            matches.height,
        ):
            raise RuntimeError("engine bug: a pass took a line twice, or one already taken")


def _without_rows(lines: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
    keep = pl.repeat(True, lines.height, eager=True)
    keep.scatter(rows, False)
    # What is left is a few per cent of the lines: one chunk, so that no later pass pays per
    # chunk of the input (a frame read from CSV comes in dozens).
    return lines.filter(keep).rechunk()


def _without(lines: pl.DataFrame, taken: list[pl.Series]) -> pl.LazyFrame:
    ids = pl.concat(taken) if taken else None
    if ids is None or ids.is_empty():
        return lines.lazy()
    return lines.lazy().filter(~pl.col("line_id").is_in(ids.implode()))


def _exact(chosen: pl.DataFrame) -> pl.DataFrame:
    return chosen.select("internal_id", "external_id", "rule", "category").filter(
        pl.col("category") == keypasses.EXACT
    )


def _counterpart(external: pl.DataFrame, given: Source | None) -> Source:
    if given is None:
        sources = external.get_column("source").drop_nulls().unique().to_list()
        if len(sources) != 1:
            raise ValueError("the external lines do not name one source: pass counterpart=")
        given = Source(sources[0])
    side = Source(given)
    if side is Source.GATEWAY:
        raise ValueError("the counterpart is the other side of the gateway's ledger")
    return side


def reconcile(
    internal: pl.DataFrame,
    external: pl.DataFrame,
    *,
    business_date: date,
    counterpart: Source | None = None,
    window_days: int = 2,
    settlement_lag_days: int = 1,
    reference_pattern: str = DEFAULT_REFERENCE_PATTERN,
    reference_prefix: str | None = None,
) -> Result:
    """Match the gateway's lines (``internal``) against one counterpart's (``external``).

    Both frames have :data:`~reconciliation.frame.FRAME_SCHEMA` (extra columns are ignored),
    ``line_id`` unique within each. ``counterpart`` names the external side (taken from its
    ``source`` column when not given); it names the ``missing_in_…`` type. ``reference_pattern``
    is a regular expression for our references in the normalised text; a candidate it finds
    that is not one of the internal side's references is a reference only if it is a valid
    reference of ``reference_prefix`` (its check symbol, :mod:`gateway.core.references`;
    None: every candidate the pattern finds is a reference).
    """
    if window_days < 0 or settlement_lag_days < 0:
        raise ValueError("window_days and settlement_lag_days must not be negative")
    side = _counterpart(external, counterpart)
    work_i, work_e = pl.collect_all(
        [passes.prepare(internal, "internal").drop("text"), passes.prepare(external, "external")]
    )
    book = _Book(work_i, work_e)

    # 1 and 2: equal keys.
    direct = keypasses.direct_pairs(book.internal, book.external)
    chosen_direct, conflicts = keypasses.key_pass(direct, window_days)
    # No later pass reads the other keys (each take filters every column it carries).
    others = [column for column, _ in keypasses.KEY_KINDS if column != "reference"]
    book.internal, book.external = book.internal.drop(others), book.external.drop(others)
    book.take(_exact(chosen_direct), conflicts)

    # 3: our reference in the transfer text, then what lost a key pair to another line.
    ours = keypasses.internal_keys(work_i, "reference")
    left = book.internal.get_column("line_id") if book.internal.height < work_i.height else None
    found = keypasses.text_references(
        book.external, reference_pattern, ours, reference_prefix, window_days, left
    )
    # The text has been searched: the lines carry no more than their keys from here on
    # (filtering a million texts at each take would copy them).
    book.external = book.external.drop("text")
    text = found.pairs
    offered = text if left is None else text.filter(pl.col("internal_id").is_in(left.implode()))
    chosen_text, conflicts = keypasses.key_pass(offered, window_days)
    # The settled pairs first, by position: nothing else has been taken since the query.
    book.take_rows(found.settled, None if left is not None else found.settled.get_column("row_i"))
    book.take(_exact(chosen_text), conflicts)
    ids = ["internal_id", "external_id"]
    lost = pl.col("internal_id").is_in(book.internal.get_column("line_id").implode()) | pl.col(
        "external_id"
    ).is_in(book.external.get_column("line_id").implode())
    book.take(
        exceptions=keypasses.duplicates(
            pl.concat(
                [direct.select(*ids, "key").filter(lost), text.select(*ids, "key").filter(lost)]
            ),
            # Settled text pairs are no line's rival (their lines have no other pair).
            pl.concat([chosen_direct.select(ids), chosen_text.select(ids)]),
            book.internal,
            book.external,
        )
    )

    # A line's own reference (the smallest found in its text, on the external side) names it in
    # the exceptions; two lines that both carry one never pair by amount (they would have
    # paired by key).
    book.internal = book.internal.with_columns(own_key=pl.col("reference"))
    in_text = (
        found.found.filter(
            pl.col("external_id").is_in(book.external.get_column("line_id").implode())
        )
        .group_by("external_id")
        .agg(pl.col("key").min().alias("text_key"))
    )
    book.external = (
        book.external.join(in_text, left_on="line_id", right_on="external_id", how="left")
        .with_columns(own_key=pl.coalesce("reference", "text_key"))
        .drop("text_key")
    )
    by_amount = side not in GROUPED_COUNTERPARTS

    # 4: a mistyped reference of equal amount, then the only equal amount in the window.
    if by_amount:
        book.take(passes.near_references(book.internal, book.external, found.mistyped, window_days))
        batch = pl.col("document_no").is_not_null() & pl.col("document_no").is_duplicated()
        waiting = passes.batch_credits(book.internal, book.external, window_days)
        book.take(
            passes.unique_amount_matches(
                book.internal.filter(~batch),
                book.external.filter(~pl.col("line_id").is_in(waiting.implode())),
                window_days,
            )
        )

    # 5: group sums.
    book.take(passes.document_groups(book.internal, book.external, window_days), grouped=True)
    book.take(passes.agency_day_groups(book.internal, book.external, window_days), grouped=True)

    # Leftovers, each with its equal-amount candidates (ambiguous only if neither has a key).
    candidates_i = candidates_e = None
    if by_amount:
        pairs, counts_i, counts_e = passes.amount_candidates(
            book.internal, book.external, window_days
        )
        candidates_i = passes.candidate_lists(pairs, counts_i, "internal_id", "external_id")
        candidates_e = passes.candidate_lists(pairs, counts_e, "external_id", "internal_id")
    since = (business_date - timedelta(days=settlement_lag_days) - _EPOCH).days
    in_transit = (
        pl.when(pl.col("day") >= since)
        .then(pl.lit(ExceptionType.EXPECTED_IN_TRANSIT.value))
        .otherwise(pl.lit(MISSING_IN[side].value))
    )
    book.take(exceptions=passes.one_sided(book.internal, in_transit, True, candidates_i))
    missing = pl.lit(ExceptionType.MISSING_IN_GATEWAY.value)
    book.take(exceptions=passes.one_sided(book.external, missing, False, candidates_e))
    return _result(book, work_i, work_e, business_date, side)


def _result(
    book: _Book, internal: pl.DataFrame, external: pl.DataFrame, day: date, side: Source
) -> Result:
    if book.internal.height or book.external.height:
        raise RuntimeError("engine bug: lines left in no match and no exception")
    matches = (
        pl.concat(book.matches).select(
            pl.col(name).cast(dtype) for name, dtype in MATCH_SCHEMA.items()
        )
        if book.matches
        else MATCH_SCHEMA.to_frame()
    ).sort("external_id", maintain_order=True)  # a group's lines come in id order already
    exceptions = passes.exception_rows(book.exceptions).sort(
        pl.col("type"),
        pl.col("internal_ids").list.first(),
        pl.col("external_ids").list.first(),
        nulls_last=True,
    )
    totals = _totals(matches, book.matched_external, exceptions, internal, external)
    return Result(matches, exceptions, totals, day, side)


def _totals(
    matches: pl.DataFrame,
    matched_external: int,
    exceptions: pl.DataFrame,
    internal: pl.DataFrame,
    external: pl.DataFrame,
) -> pl.DataFrame:
    """The summary. Every line is in exactly one place (:class:`_Book` checked it), so the
    matched sums are the inputs' sums less the exceptions', and must agree between the sides
    (every match is amount-exact)."""
    sums: dict[str, int] = {}
    for column, lines in (("internal", internal), ("external", external)):
        sums[column] = int(lines.get_column("amount").sum()) - int(
            exceptions.get_column(f"{column}_amount").sum()
        )
    if sums["internal"] != sums["external"]:
        raise RuntimeError("engine bug: matched sums differ between the sides")
    matched_row = pl.DataFrame(
        {
            "status": ["matched"],
            "items": [matched_external],
            "internal_lines": [matches.height],
            "external_lines": [matched_external],
            "internal_amount": [sums["internal"]],
            "external_amount": [sums["external"]],
        }
    )
    per_type = exceptions.group_by("type").agg(
        pl.len().alias("items"),
        pl.col("internal_ids").list.len().sum().alias("internal_lines"),
        pl.col("external_ids").list.len().sum().alias("external_lines"),
        pl.col("internal_amount").sum(),
        pl.col("external_amount").sum(),
    )
    statuses = pl.DataFrame({"status": STATUS_DTYPE.categories}).cast(STATUS_DTYPE)
    rows = pl.concat(
        [
            matched_row.cast({"status": STATUS_DTYPE}),
            per_type.rename({"type": "status"})
            .cast({"status": pl.String})
            .cast({"status": STATUS_DTYPE}),
        ],
        how="vertical_relaxed",
    )
    return (
        statuses.join(rows, on="status", how="left", maintain_order="left")
        .fill_null(0)
        .with_columns(difference=pl.col("external_amount") - pl.col("internal_amount"))
        .select(pl.col(name).cast(dtype) for name, dtype in SUMMARY_SCHEMA.items())
    )
