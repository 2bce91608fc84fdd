"""Properties of the engine as a whole: every line lands exactly once, the đồng tie out, and
the result does not depend on the order of the rows."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.references import make_reference
from reconciliation.engine import GROUPED_COUNTERPARTS, Result, reconcile
from reconciliation.frame import to_frame
from reconciliation.model import Direction, Source, StatementLine

D = date(2026, 5, 15)
REFS = [make_reference("DVC", n.to_bytes(7, "big")) for n in range(1, 5)]
TYPO = REFS[0][:-1] + ("0" if REFS[0][-1] != "0" else "1")


def signed(frame: pl.DataFrame) -> int:
    amounts = frame.select(
        pl.when(pl.col("direction") == "credit").then("amount").otherwise(-pl.col("amount"))
    )
    return int(amounts.to_series().sum())


def assert_every_line_once(result: Result, internal: pl.DataFrame, external: pl.DataFrame) -> None:
    exceptions = result.exceptions
    for side, frame, matched, listed in (
        ("internal", internal, "internal_id", "internal_ids"),
        ("external", external, "external_id", "external_ids"),
    ):
        seen = Counter(exceptions.get_column(listed).explode().drop_nulls().to_list())
        ids = result.matches.get_column(matched).to_list()
        if side == "internal":  # an external line may take several internal ones (groups)
            seen.update(ids)
        else:
            seen.update(set(ids))
        assert seen == Counter(frame.get_column("line_id").to_list()), side
    grouped = result.matches.filter(pl.col("external_id").is_duplicated())
    assert grouped.get_column("rule").is_in(["group_document", "group_agency_day"]).all()
    totals = result.summary()
    assert int(totals["internal_amount"].sum()) == signed(internal)
    assert int(totals["external_amount"].sum()) == signed(external)
    assert int(totals["internal_lines"].sum()) == internal.height
    assert int(totals["external_lines"].sum()) == external.height


# -- a day with a bit of everything --------------------------------------------------------


def day_of_everything() -> tuple[pl.DataFrame, pl.DataFrame]:
    def gw(amount: int, days: int = 0, **fields: object) -> StatementLine:
        return StatementLine(
            Source.GATEWAY, 1, amount, Direction.CREDIT, D + timedelta(days=days), **fields
        )  # type: ignore[arg-type]

    def bank(amount: int, days: int = 0, **fields: object) -> StatementLine:
        return StatementLine(
            Source.BANK, 1, amount, Direction.CREDIT, D + timedelta(days=days), **fields
        )  # type: ignore[arg-type]

    r1, r2, r3, r4 = REFS
    internal = [
        gw(100_000, reference=r1),
        gw(50_000, reference=r2),
        gw(50_000, -1, reference=r3),
        gw(70_000, reference=r4, document_no="B"),
        gw(30_000, reference=r4, document_no="B"),
        gw(20_000, -4, provider_txn_id="FT9"),
        gw(60_000, -1),
        gw(60_000, -1),
    ]
    external = [
        bank(100_000, text=f"MBVCB.1.{r1}"),
        bank(100_000, text=f"{r1} lan 2"),
        bank(55_000, text=f"TT {r2}"),
        bank(50_000, text="khong ghi ma"),
        bank(50_000, text=f"{TYPO}"),
        bank(100_000, text="VNPAY B"),
        bank(20_000, provider_txn_id="FT9"),
        bank(60_000, text="?"),
        bank(60_000, text="?"),
    ]
    return to_frame(internal), to_frame(external)


def run(internal: pl.DataFrame, external: pl.DataFrame, counterpart: Source) -> Result:
    return reconcile(
        internal,
        external,
        business_date=D,
        counterpart=counterpart,
        reference_prefix="DVC",
    )


def test_the_same_input_in_any_row_order_gives_the_same_result() -> None:
    internal, external = day_of_everything()
    first = run(internal, external, Source.BANK)
    assert_every_line_once(first, internal, external)
    assert {"amount_mismatch", "duplicate", "ambiguous", "date_mismatch"} <= set(
        first.exceptions.get_column("type").cast(pl.String).to_list()
    )
    for seed in range(5):
        again = run(
            internal.sample(fraction=1.0, shuffle=True, seed=seed),
            external.sample(fraction=1.0, shuffle=True, seed=seed + 100),
            Source.BANK,
        )
        assert again.matches.equals(first.matches)
        assert again.exceptions.equals(first.exceptions)
        assert again.summary().equals(first.summary())


# -- any input -----------------------------------------------------------------------------

AMOUNTS = st.sampled_from([10_000, 20_000, 30_000])
DAYS = st.integers(min_value=-4, max_value=1).map(lambda n: D + timedelta(days=n))
DIRECTIONS = st.sampled_from([Direction.CREDIT, Direction.CREDIT, Direction.DEBIT])
MAYBE_REF = st.sampled_from([None, *REFS])
STATUS = st.sampled_from([None, "succeeded", "failed"])
AGENCY = st.sampled_from([None, "H29.01", "H29.02"])
FEE_KIND = st.sampled_from([None, "fee", "charge"])
DOCUMENT = st.sampled_from([None, None, "B1", "B2"])
TXN = st.sampled_from([None, None, "FT1", "FT2"])
TEXT = st.sampled_from(
    ["", "chuyen tien", f"TT {REFS[0]}", f"DVC {REFS[1]}", f"{REFS[2].lower()} lan 2", TYPO]
)


@st.composite
def lines(draw: st.DrawFn, source: Source) -> StatementLine:
    return StatementLine(
        source=source,
        line_no=1,
        amount=draw(AMOUNTS),
        direction=draw(DIRECTIONS),
        booking_date=draw(DAYS),
        reference=draw(MAYBE_REF),
        provider_txn_id=draw(TXN),
        text=draw(TEXT) if source is not Source.GATEWAY else "",
        status=draw(STATUS),
        fee_kind=draw(FEE_KIND),
        agency_code=draw(AGENCY),
        document_no=draw(DOCUMENT),
    )


@st.composite
def days(draw: st.DrawFn) -> tuple[Source, list[StatementLine], list[StatementLine]]:
    counterpart = draw(st.sampled_from([Source.BANK, Source.VNPAY, Source.TREASURY]))
    internal = draw(st.lists(lines(Source.GATEWAY), max_size=12))
    external = draw(st.lists(lines(counterpart), max_size=12))
    return counterpart, internal, external


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days())
def test_every_line_is_in_exactly_one_match_or_exception_in_any_row_order(
    day: tuple[Source, list[StatementLine], list[StatementLine]],
) -> None:
    counterpart, internal_lines, external_lines = day
    internal, external = to_frame(internal_lines), to_frame(external_lines, first_id=1000)
    result = run(internal, external, counterpart)
    assert_every_line_once(result, internal, external)
    if counterpart in GROUPED_COUNTERPARTS:
        assert "amount_date" not in result.matches.get_column("rule").cast(pl.String).to_list()
    reversed_rows = run(internal.reverse(), external.reverse(), counterpart)
    assert reversed_rows.matches.equals(result.matches)
    assert reversed_rows.exceptions.equals(result.exceptions)
