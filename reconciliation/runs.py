"""Running a reconciliation day: the ledger of the day against every counterpart's lines.

A run records its inputs, rule version, counts and VND sums per status; running the day
again **supersedes** the previous run (never edits it): its open exceptions are marked
``superseded``, and a decision already taken on the same exception (same type, same lines,
same amount and candidates) carries over whole to the new run, so finance staff never decide
twice. An exception about the same difference whose lines changed is ``open`` and shows the
earlier decision (``previous_id``); a decision carried by neither is named in the audit log
(``decision_superseded``) — see :func:`_link` and docs/reconciliation.md, "Re-runs".
The write phases of all days' runs are serialised (:meth:`RunService.run`).

**Each difference belongs to one day** (docs/reconciliation.md, "Which day a difference
belongs to"). A statement line that another day's current run matched, or named in an
exception that is decided (resolved or approved) or that names ledger lines of that day, is not
offered to this day at all: a write-off is final. A line named only by another day's *open*
exception without ledger lines (``missing_in_gateway`` …) is offered as **carried**: it may
still match (a late payment), and then that exception is superseded with an audit entry
(``exception_settled_elsewhere``); left over, it is not raised again here. A leftover that
names no ledger line is raised only on its home day: the earliest booking date of its lines
(or the first later day that sees it, when that day is closed or was never run).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import KW_ONLY, asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.db.schema import (
    day_closes,
    recon_exceptions,
    recon_matches,
    recon_runs,
    statement_imports,
    statement_lines,
)
from gateway.core.errors import ConcurrentRun, NotFound
from gateway.core.fields import iso
from gateway.core.ids import Clock, new_id
from gateway.core.statuses import (
    EXCEPTIONS,
    RUNS,
    ExceptionStatus,
    ImportStatus,
    RunStatus,
)
from reconciliation.audit import record
from reconciliation.imports import DayClosed, accepted_lines
from reconciliation.ledger import ledger
from reconciliation.model import Direction, Source, StatementLine
from reconciliation.rules import RULE_VERSION, ExceptionItem, ExceptionType
from reconciliation.scope import exception_agencies
from reconciliation.workflow import Actor, Workflow

log = structlog.get_logger(__name__)
COUNTERPARTS = (Source.BANK, Source.VNPAY, Source.POS, Source.TREASURY, Source.COD)


#: A key pair whose amounts differ by no more than the counterpart's tolerance (stored with
#: the difference); the engine's own rules are :class:`reconciliation.rules.MatchRule`.
WITHIN_TOLERANCE = "amount_within_tolerance"
#: Every day a statement line offered today can have been offered to: windows are at most 31
#: days (config), so an exception naming such a line is at most twice that far away.
_OWNER_HORIZON = timedelta(days=62)
#: An exception that names a line of another day's run for good: decided, or about ledger lines.
_SETTLED = (ExceptionStatus.RESOLVED, ExceptionStatus.APPROVED)


@dataclass(frozen=True)
class SourceRules:
    """How one counterpart is compared (``[reconciliation]`` in the settings)."""

    #: Booking dates of a pair may differ by at most this many days.
    window_days: int = 2
    #: A ledger line of day D is ``expected_in_transit`` until the counterpart has reported
    #: through D + transit_days without it, then ``missing_in_<source>``.
    transit_days: int = 1
    #: A key pair whose amounts differ by at most this many VND is matched
    #: (``amount_within_tolerance``), not an ``amount_mismatch``.
    amount_tolerance: int = 0


@dataclass(frozen=True)
class Offered:
    """A counterpart's statement lines offered to a day's run (same order in both lists)."""

    lines: list[StatementLine]
    ids: list[int]
    imports: list[str]
    #: Line id → the open exception of another day that names it (it may match here, but is
    #: not raised here again).
    carried: dict[int, str]


@dataclass(frozen=True)
class Outcome:
    """One counterpart's result, in storage terms (ledger keys and statement line ids)."""

    source: Source
    matches: list[tuple[str, int, str, int]]  # (internal key, line id, rule, difference)
    exceptions: list[dict[str, Any]]
    matched_amount: int = 0
    #: Leftovers this day does not raise: their lines belong to another day's exception, or
    #: to a day of their own that has not been run yet.
    carried: int = 0
    #: The other day's open exceptions whose line this run matched or raised: exception id →
    #: (line id, the rule or exception type that took it).
    settled: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: Our amount (VND) of each matched ledger key.
    amounts: dict[str, int] = field(default_factory=dict)
    #: The statement line ids of each carried leftover (``carried`` of them).
    carried_lines: list[list[int]] = field(default_factory=list)


def fingerprint(source: str, type: str, keys: list[str], line_ids: list[int]) -> str:
    text = json.dumps([source, type, sorted(keys), sorted(line_ids)])
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class RunService:
    db: Database
    clock: Clock
    workflow: Workflow
    _: KW_ONLY
    reference_prefix: str = "DVC"
    #: Per counterpart; one not named uses :class:`SourceRules`' defaults.
    rules: Mapping[Source, SourceRules] = field(default_factory=dict)

    def rules_of(self, source: Source) -> SourceRules:
        return self.rules.get(source) or SourceRules()

    async def run(self, actor: Actor, day: date) -> dict[str, Any]:
        """Reconcile ``day``: a read phase computes the outcomes, a write phase stores them.
        Write phases of all days are serialised (:func:`_serialise_runs`); one that finds a
        statement line it matched or raised taken by another day's run since its read phase
        (a concurrent run of a neighbouring day) is rolled back and the whole run computed
        again, at most :data:`_ATTEMPTS` times, then :class:`ConcurrentRun` (409
        ``conflict``, retryable)."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await self._run_once(actor, day)
            except _Taken as taken:
                log.info(
                    "reconciliation_run_recomputed",
                    business_date=day.isoformat(),
                    attempt=attempt,
                    lines=sorted(taken.lines),
                )
        raise ConcurrentRun(
            f"statement lines of {day.isoformat()} kept being taken by runs of other days; "
            "run the day again"
        )

    async def _run_once(self, actor: Actor, day: date) -> dict[str, Any]:
        read_carried: dict[int, str] = {}
        async with self.db.read() as conn:
            if await self.workflow.is_closed(conn, day):
                raise DayClosed(f"{day.isoformat()} is closed")
            outcomes = []
            inputs: dict[str, Any] = {"imports": [], "rules": {}}
            for counterpart in COUNTERPARTS:
                rules = self.rules_of(counterpart)
                inputs["rules"][counterpart.value] = asdict(rules)
                offered = await self._external(conn, day, counterpart, rules)
                read_carried.update(offered.carried)
                inputs["imports"] += offered.imports
                reported_through = await self._reported_through(
                    conn, day, counterpart, offered.lines, rules
                )
                if reported_through is None:
                    continue  # no file from this counterpart yet: nothing to compare
                inputs.setdefault("reported_through", {})[counterpart.value] = (
                    reported_through.isoformat()
                )
                internal, keys = await ledger(conn, day, counterpart)
                closed = await self._closed_days(conn, day, offered.lines)
                outcomes.append(
                    self._compare(
                        day, counterpart, internal, keys, offered, reported_through, rules, closed
                    )
                )
        inputs["window_days"] = max(r["window_days"] for r in inputs["rules"].values())
        summary = _summary(outcomes)
        run_id = new_id("run")
        now = self.clock()
        async with self.db.write() as conn:
            await _serialise_runs(conn)
            if await self.workflow.is_closed(conn, day):
                raise DayClosed(f"{day.isoformat()} is closed")
            await self._check_untaken(conn, day, outcomes, read_carried)
            previous = (
                (
                    await conn.execute(
                        select(recon_runs.c.id)
                        .where(
                            recon_runs.c.business_date == day,
                            recon_runs.c.status == RunStatus.CURRENT,
                        )
                        .with_for_update()
                    )
                )
                .scalars()
                .all()
            )
            decided = await self._decisions(conn, list(previous))
            links = _link(outcomes, decided, await self._linked(conn, list(previous)))
            decided = links.carried
            await RUNS.insert(
                conn,
                RunStatus.CURRENT,
                id=run_id,
                business_date=day,
                rule_version=RULE_VERSION,
                inputs=inputs,
                summary=summary,
                created_by=actor.id,
                created_at=now,
            )
            if previous:
                await RUNS.move_all(
                    conn,
                    recon_runs.c.id.in_(previous),
                    [RunStatus.CURRENT],
                    RunStatus.SUPERSEDED,
                    superseded_by=run_id,
                )
                await EXCEPTIONS.move_all(
                    conn,
                    recon_exceptions.c.run_id.in_(previous),
                    [ExceptionStatus.OPEN, ExceptionStatus.RESOLVED, ExceptionStatus.APPROVED],
                    ExceptionStatus.SUPERSEDED,
                )
            await self._store(conn, run_id, day, outcomes, decided, now)
            await self._relink(conn, actor, run_id, day, links, now)
            await self._settle_elsewhere(conn, actor, run_id, day, outcomes, now)
            await record(
                conn,
                now,
                actor.id,
                "reconciliation_run",
                "recon_run",
                run_id,
                {
                    "business_date": day.isoformat(),
                    "superseded": previous,
                    "rule_version": RULE_VERSION,
                },
            )
        log.info(
            "reconciliation_run",
            run_id=run_id,
            business_date=day.isoformat(),
            exceptions=summary["exceptions"]["count"],
        )
        return await self.current(day)

    async def current(self, day: date) -> dict[str, Any]:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(recon_runs).where(
                        recon_runs.c.business_date == day,
                        recon_runs.c.status == RunStatus.CURRENT,
                    )
                )
            ).first()
            if row is None:
                raise NotFound(f"{day.isoformat()} has not been reconciled")
            closed = await self.workflow.is_closed(conn, day)
        return {
            "id": row.id,
            "business_date": row.business_date.isoformat(),
            "rule_version": row.rule_version,
            "status": row.status,
            "inputs": row.inputs,
            "summary": row.summary,
            "day_closed": closed,
            "created_by": row.created_by,
            "created_at": iso(row.created_at),
        }

    # -- pieces --------------------------------------------------------------------------

    async def _external(
        self, conn: AsyncConnection, day: date, source: Source, rules: SourceRules
    ) -> Offered:
        """Accepted lines of ``source`` within the window of ``day`` that no other day holds:
        none another day's current run matched, none another day's exception settled (see the
        module docstring); the lines of another day's open exception come marked as carried."""
        window = timedelta(days=rules.window_days)
        taken_elsewhere = (
            select(recon_matches.c.line_id)
            .join(recon_runs, recon_runs.c.id == recon_matches.c.run_id)
            .where(recon_runs.c.status == RunStatus.CURRENT, recon_runs.c.business_date != day)
        )
        counted = accepted_lines(source, day - window, day + window)
        rows = (
            await conn.execute(counted.where(statement_lines.c.id.not_in(taken_elsewhere)))
        ).all()
        held, carried = await self._owners(conn, day, source)
        rows = [row for row in rows if row.id not in held]
        lines = [
            StatementLine(
                source=source,
                line_no=row.line_no,
                amount=row.amount,
                direction=Direction(row.direction),
                booking_date=row.booking_date,
                value_date=row.value_date,
                reference=row.reference,
                provider_txn_id=row.provider_txn_id,
                end_to_end_id=row.end_to_end_id,
                text=row.text,
                account=row.account,
                status=row.status,
                fee_kind=row.fee_kind,
                agency_code=row.agency_code,
                document_no=row.document_no,
            )
            for row in rows
        ]
        ids = [row.id for row in rows]
        return Offered(
            lines,
            ids,
            sorted({row.import_id for row in rows}),
            {line_id: carried[line_id] for line_id in ids if line_id in carried},
        )

    async def _owners(
        self, conn: AsyncConnection, day: date, source: Source
    ) -> tuple[set[int], dict[int, str]]:
        """The statement lines other days' current exceptions name: those held for good
        (decided, or paired with that day's ledger lines) and those of an open exception
        naming no ledger line (line id → exception id)."""
        rows = (
            await conn.execute(
                select(
                    recon_exceptions.c.id,
                    recon_exceptions.c.status,
                    recon_exceptions.c.internal_keys,
                    recon_exceptions.c.line_ids,
                )
                .join(recon_runs, recon_runs.c.id == recon_exceptions.c.run_id)
                .where(
                    recon_runs.c.status == RunStatus.CURRENT,
                    recon_exceptions.c.source == source.value,
                    recon_exceptions.c.business_date != day,
                    recon_exceptions.c.business_date >= day - _OWNER_HORIZON,
                    recon_exceptions.c.business_date <= day + _OWNER_HORIZON,
                    recon_exceptions.c.status.in_([ExceptionStatus.OPEN, *_SETTLED]),
                )
                .order_by(recon_exceptions.c.business_date, recon_exceptions.c.id)
            )
        ).all()
        held: set[int] = set()
        carried: dict[int, str] = {}
        for row in rows:
            if row.status in _SETTLED or row.internal_keys:
                held.update(row.line_ids)
            else:
                for line_id in row.line_ids:
                    carried.setdefault(line_id, row.id)
        return held, carried

    async def _reported_through(
        self,
        conn: AsyncConnection,
        day: date,
        source: Source,
        external: list[StatementLine],
        rules: SourceRules,
    ) -> date | None:
        """How far the counterpart has reported: the end of its latest statement period (or
        its latest booking). A ledger line of day D is in transit while that is before
        D + transit_days (``expected_in_transit``), missing from then on. None when nothing of
        the counterpart reaches this day (no line offered, no period ending on or after it):
        then there is nothing to compare yet. A file without lines (a day without credits)
        still counts as reported."""
        ahead = timedelta(days=max(rules.window_days, rules.transit_days))
        ends = (
            (
                await conn.execute(
                    select(statement_imports.c.period_end).where(
                        statement_imports.c.source == source.value,
                        statement_imports.c.status == ImportStatus.ACCEPTED,
                        statement_imports.c.period_end >= day,
                        statement_imports.c.period_end <= day + ahead,
                    )
                )
            )
            .scalars()
            .all()
        )
        dates: list[date] = [line.booking_date for line in external] + list(ends)
        return max(dates, default=None)

    async def _closed_days(
        self, conn: AsyncConnection, day: date, lines: list[StatementLine]
    ) -> set[date]:
        """The days among the lines' booking dates that will not raise their own differences:
        closed days, and days before ``day`` that have never been run (a weekend, a holiday,
        a day before go-live) — a line of such a day is raised by the run that sees it."""
        days = {line.booking_date for line in lines}
        closed = await conn.execute(
            select(day_closes.c.business_date).where(day_closes.c.business_date.in_(days))
        )
        run = await conn.execute(
            select(recon_runs.c.business_date).where(
                recon_runs.c.business_date.in_(days), recon_runs.c.status == RunStatus.CURRENT
            )
        )
        never_run = {d for d in days if d < day} - set(run.scalars().all())
        return set(closed.scalars().all()) | never_run

    def _compare(
        self,
        day: date,
        source: Source,
        internal: list[StatementLine],
        keys: list[str],
        offered: Offered,
        reported_through: date,
        rules: SourceRules,
        closed: set[date],
    ) -> Outcome:
        # The engine (polars, ~38 MiB) is loaded by the first run, not by every process that
        # imports this module (docs/performance.md, "Memory"); `gateway serve` checks at start
        # that it imports (gateway.cli.LAZY_MODULES).
        from reconciliation import engine, frame

        prefix = self.reference_prefix
        external, line_ids = offered.lines, offered.ids
        result = engine.reconcile(
            frame.to_frame(internal),
            frame.to_frame(external),
            # The engine's "as of": a line booked on or after (as of − lag) is in transit;
            # as of = the day after the counterpart's last reported day, lag = transit_days.
            business_date=reported_through + timedelta(days=1),
            window_days=rules.window_days,
            settlement_lag_days=rules.transit_days,
            reference_pattern=rf"{prefix}[0-9A-Z]{{11}}",
            reference_prefix=prefix,
            counterpart=source,
        )
        pairs = list(result.matches.select("internal_id", "external_id", "rule").iter_rows())
        matches = [
            (keys[int(internal_id)], line_ids[int(external_id)], str(rule), 0)
            for internal_id, external_id, rule in pairs
        ]
        matched = {int(p[0]) for p in pairs}
        settled: dict[str, tuple[int, str]] = {}
        for _, line_id, rule, _ in matches:
            if line_id in offered.carried:
                settled[offered.carried[line_id]] = (line_id, rule)
        exceptions = []
        carried = 0
        carried_lines: list[list[int]] = []
        for item in result.exception_items():
            if _within_tolerance(item, rules.amount_tolerance):
                [i], [e] = item.internal_ids, item.external_ids
                difference = item.external_amount - item.internal_amount
                matches.append((keys[i], line_ids[e], WITHIN_TOLERANCE, difference))
                matched.add(i)
                if line_ids[e] in offered.carried:
                    settled[offered.carried[line_ids[e]]] = (line_ids[e], WITHIN_TOLERANCE)
                continue
            ids = [line_ids[int(i)] for i in item.external_ids]
            home = min((external[int(i)].booking_date for i in item.external_ids), default=day)
            fresh = not any(line_id in offered.carried for line_id in ids)
            if not item.internal_ids and not (fresh and (home == day or home in closed)):
                carried += 1  # another day's difference: raised there, or already
                carried_lines.append(ids)
                continue
            for line_id in ids:
                if line_id in offered.carried:
                    settled[offered.carried[line_id]] = (line_id, str(item.type))
            exceptions.append(
                {
                    "type": item.type,
                    "amount": int(item.amount),
                    "internal_keys": [keys[int(i)] for i in item.internal_ids],
                    "line_ids": ids,
                    "candidates": [line_ids[int(i)] for i in item.candidates],
                }
            )
        matched_amount = sum(internal[i].amount for i in matched)
        amounts = {keys[i]: internal[i].amount for i in matched}
        return Outcome(
            source, matches, exceptions, matched_amount, carried, settled, amounts, carried_lines
        )

    async def _decisions(self, conn: AsyncConnection, runs: list[str]) -> dict[str, Any]:
        if not runs:
            return {}
        rows = (
            await conn.execute(
                select(recon_exceptions).where(
                    recon_exceptions.c.run_id.in_(runs),
                    recon_exceptions.c.status.in_(
                        [ExceptionStatus.RESOLVED, ExceptionStatus.APPROVED]
                    ),
                )
            )
        ).all()
        return {row.fingerprint: row for row in rows}

    async def _check_untaken(
        self,
        conn: AsyncConnection,
        day: date,
        outcomes: list[Outcome],
        read_carried: dict[int, str],
    ) -> None:
        """Under the run lock: raise :class:`_Taken` if a statement line this run matched or
        raised has been taken by another day since the read phase: matched by its current
        run, named by its decided (or ledger-paired) exception, or named by an open
        exception other than the one the read phase saw (a re-run of that day)."""
        used = {
            line_id: o.source
            for o in outcomes
            for line_id in [
                *(m[1] for m in o.matches),
                *(line for item in o.exceptions for line in item["line_ids"]),
            ]
        }
        if not used:
            return
        matched = (
            await conn.execute(
                select(recon_matches.c.line_id)
                .join(recon_runs, recon_runs.c.id == recon_matches.c.run_id)
                .where(
                    recon_runs.c.status == RunStatus.CURRENT,
                    recon_runs.c.business_date != day,
                    recon_matches.c.line_id.in_(sorted(used)),
                )
            )
        ).scalars()
        taken = set(matched)
        for source in sorted({*used.values()}):
            held, carried = await self._owners(conn, day, source)
            for line_id, of in used.items():
                if of == source and (
                    line_id in held or carried.get(line_id) != read_carried.get(line_id)
                ):
                    taken.add(line_id)
        if taken:
            raise _Taken(taken)

    async def _linked(self, conn: AsyncConnection, runs: list[str]) -> dict[str, Any]:
        """The open exceptions of ``runs`` that show an earlier decision (``previous_id``),
        by fingerprint: a re-run keeps showing it."""
        if not runs:
            return {}
        rows = (
            await conn.execute(
                select(recon_exceptions).where(
                    recon_exceptions.c.run_id.in_(runs),
                    recon_exceptions.c.status == ExceptionStatus.OPEN,
                    recon_exceptions.c.previous_id.is_not(None),
                )
            )
        ).all()
        return {row.fingerprint: row for row in rows}

    async def _relink(
        self,
        conn: AsyncConnection,
        actor: Actor,
        run_id: str,
        day: date,
        links: Links,
        now: datetime,
    ) -> None:
        """Store which earlier decision each new exception shows, and write
        ``decision_superseded`` for every decision this run did not carry whole: naming the
        new exception about the same difference (its lines changed: it is open), or none
        (the difference no longer exists on this day)."""
        new_ids: dict[str, str] = {}
        marks = sorted({*links.previous, *(m for _, m in links.superseded if m is not None)})
        if marks:
            found = await conn.execute(
                select(recon_exceptions.c.fingerprint, recon_exceptions.c.id).where(
                    recon_exceptions.c.run_id == run_id,
                    recon_exceptions.c.fingerprint.in_(marks),
                )
            )
            new_ids = {mark: exception_id for mark, exception_id in found.all()}
        for mark, previous_id in sorted(links.previous.items()):
            await conn.execute(
                update(recon_exceptions)
                .where(recon_exceptions.c.id == new_ids[mark])
                .values(previous_id=previous_id)
            )
        for row, successor in links.superseded:
            await record(
                conn,
                now,
                actor.id,
                "decision_superseded",
                "recon_exception",
                row.id,
                {
                    "run_id": run_id,
                    "business_date": day.isoformat(),
                    "new_exception_id": None if successor is None else new_ids[successor],
                    "why": "difference_gone" if successor is None else "lines_changed",
                    "status": row.status,
                    "resolution": row.resolution,
                    "resolution_reason": row.resolution_reason,
                    "resolved_by": row.resolved_by,
                    "approved_by": row.approved_by,
                },
            )

    async def _store(
        self,
        conn: AsyncConnection,
        run_id: str,
        day: date,
        outcomes: list[Outcome],
        decided: dict[str, Any],
        now: Any,
    ) -> None:
        # Who owns each match, exception and carried leftover (reconciliation.scope): the
        # same look-up for all three, so a scope's figures add up to the run's.
        owned = iter(
            await exception_agencies(
                conn,
                [
                    *(([key], [line_id]) for o in outcomes for key, line_id, _, _ in o.matches),
                    *((i["internal_keys"], i["line_ids"]) for o in outcomes for i in o.exceptions),
                    *(([], lines) for o in outcomes for lines in o.carried_lines),
                ],
            )
        )
        agencies_of = [
            _Owners(
                [next(owned) for _ in o.matches],
                [next(owned) for _ in o.exceptions],
                [next(owned) for _ in o.carried_lines],
            )
            for o in outcomes
        ]
        match_rows = [
            {
                "run_id": run_id,
                "source": o.source.value,
                "rule": rule,
                "internal_key": key,
                "line_id": line_id,
                "difference": difference,
                "agency_id": agency_id,
                "amount": o.amounts[key],
            }
            for o, of in zip(outcomes, agencies_of, strict=True)
            for (key, line_id, rule, difference), agency_id in zip(
                o.matches, of.matches, strict=True
            )
        ]
        if match_rows:
            await conn.execute(insert(recon_matches), match_rows)
        await conn.execute(
            update(recon_runs)
            .where(recon_runs.c.id == run_id)
            .values(summary=_summary(outcomes, agencies_of))
        )
        exception_rows: list[tuple[ExceptionStatus, dict[str, Any]]] = []
        owners = iter(agency for of in agencies_of for agency in of.exceptions)
        for o in outcomes:
            for item in o.exceptions:
                mark = fingerprint(
                    o.source.value, item["type"], item["internal_keys"], item["line_ids"]
                )
                earlier = decided.get(mark)
                row = {
                    "id": new_id("exc"),
                    "run_id": run_id,
                    "business_date": day,
                    "source": o.source.value,
                    "fingerprint": mark,
                    "agency_id": next(owners),  # who may see it (reconciliation.scope)
                    "created_at": now,
                    **item,
                }
                # Every row names the same columns (one executemany): a decision already
                # taken on the same exception carries over, the others are undecided.
                row.update({column: getattr(earlier, column, None) for column in _DECISION})
                status = (
                    ExceptionStatus.OPEN if earlier is None else ExceptionStatus(earlier.status)
                )
                exception_rows.append((status, row))
        await EXCEPTIONS.insert_many(conn, exception_rows)

    async def _settle_elsewhere(
        self,
        conn: AsyncConnection,
        actor: Actor,
        run_id: str,
        day: date,
        outcomes: list[Outcome],
        now: datetime,
    ) -> None:
        """Another day's open exception whose line this run matched (a late payment) or
        raised with this day's ledger lines is superseded, never left open beside it; the
        audit log says which run took the line and how. One no longer open (decided since
        this run read it) stops the run: :class:`StaleStatus`, try again."""
        for o in outcomes:
            for exception_id, (line_id, how) in sorted(o.settled.items()):
                await EXCEPTIONS.move(
                    conn, exception_id, ExceptionStatus.OPEN, ExceptionStatus.SUPERSEDED
                )
                await record(
                    conn,
                    now,
                    actor.id,
                    "exception_settled_elsewhere",
                    "recon_exception",
                    exception_id,
                    {
                        "run_id": run_id,
                        "business_date": day.isoformat(),
                        "source": o.source.value,
                        "line_id": line_id,
                        "by": how,
                    },
                )


#: How many times a run is computed again when another day's run took one of its lines.
_ATTEMPTS = 3
#: The PostgreSQL advisory lock (transaction-scoped) that serialises the write phase of runs
#: of every day; SQLite serialises writers already (``BEGIN IMMEDIATE``).
RUN_WRITE_LOCK = 0x7265636F6E72756E  # "reconrun"


async def _serialise_runs(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(RUN_WRITE_LOCK)))


class _Taken(Exception):  # a signal to compute the run again, not an error
    """Statement lines of this run taken by another day's run since the read phase."""

    def __init__(self, lines: set[int]) -> None:
        super().__init__(sorted(lines))
        self.lines = lines


@dataclass(frozen=True)
class Links:
    """How a re-run treats the decisions of the run it supersedes (:func:`_link`)."""

    #: Fingerprint → the decided exception carried whole (same lines, amount, candidates).
    carried: dict[str, Any]
    #: Fingerprint of a new (open) exception → the id of the decided exception it shows.
    previous: dict[str, str]
    #: Decided exceptions not carried → the fingerprint of the new exception about the same
    #: difference (lines changed), or None (gone from this day).
    superseded: list[tuple[Any, str | None]]


def _link(outcomes: list[Outcome], decided: dict[str, Any], linked: dict[str, Any]) -> Links:
    """Match the superseded run's decisions to the new exceptions. A decision carries over
    whole only to the same exception with the same content; an exception about the same
    difference (same source, sharing a ledger key or a statement line: one's line, the
    other's line or candidate; preferably of the same type) whose lines, amount or candidates
    changed is ``open`` and shows the decision; a decision with no such exception is
    superseded. Every decision not carried whole is named in the audit log
    (``decision_superseded``), never dropped silently."""
    items = [
        (
            o.source.value,
            item,
            fingerprint(o.source.value, item["type"], item["internal_keys"], item["line_ids"]),
        )
        for o in outcomes
        for item in o.exceptions
    ]
    carried: dict[str, Any] = {}
    previous: dict[str, str] = {}
    used: set[str] = set()
    for _, item, mark in items:
        earlier = decided.get(mark)
        if earlier is not None and _same_content(earlier, item):
            carried[mark] = earlier
            used.add(earlier.id)
        elif earlier is None and mark in linked:
            previous[mark] = linked[mark].previous_id
            used.add(linked[mark].id)

    def about_the_same(row: Any) -> str | None:
        best: tuple[bool, int] | None = None
        found = None
        for source, item, mark in items:
            if mark in carried or source != row.source:
                continue
            keys = len(set(row.internal_keys) & set(item["internal_keys"]))
            # A line of one that is a line or a candidate of the other; two exceptions that
            # only share a candidate (a common amount) are not about the same difference.
            lines = len(
                ({*row.line_ids} & {*item["line_ids"], *item["candidates"]})
                | ({*row.candidates} & {*item["line_ids"]})
            )
            if keys + lines == 0:
                continue
            score = (row.type == item["type"], keys + lines)
            if best is None or score > best:
                best, found = score, mark
        return found

    superseded: list[tuple[Any, str | None]] = []
    for row in sorted(decided.values(), key=lambda row: row.id):
        if row.id in used:
            continue
        successor = about_the_same(row)
        if successor is not None:
            previous.setdefault(successor, row.id)
        superseded.append((row, successor))
    for row in sorted(linked.values(), key=lambda row: row.id):
        if row.id not in used and (again := about_the_same(row)) is not None:
            previous.setdefault(again, row.previous_id)  # its decision was recorded as superseded
    return Links(carried, previous, superseded)


def _same_content(row: Any, item: Mapping[str, Any]) -> bool:
    return row.amount == item["amount"] and sorted(row.candidates) == sorted(item["candidates"])


def _within_tolerance(item: ExceptionItem, tolerance: int) -> bool:
    """An ``amount_mismatch`` of one line against one, the amounts at most ``tolerance`` VND
    apart (same direction): a match, recorded with its difference."""
    return (
        tolerance > 0
        and item.type == ExceptionType.AMOUNT_MISMATCH
        and len(item.internal_ids) == 1
        and len(item.external_ids) == 1
        and item.internal_amount * item.external_amount > 0
        and abs(item.external_amount - item.internal_amount) <= tolerance
    )


#: What a maker and a checker decided about an exception: carried over by a re-run.
_DECISION = (
    "resolution",
    "resolution_reason",
    "resolved_by",
    "resolved_at",
    "approved_by",
    "approved_at",
)


@dataclass(frozen=True)
class _Owners:
    """The agency of each match, exception and carried leftover of one :class:`Outcome` (same
    order; ``None``: no single agency)."""

    matches: list[int | None]
    exceptions: list[int | None]
    carried: list[int | None]


def _of_agency(outcome: Outcome, owners: _Owners, agency: int) -> Outcome:
    """The part of ``outcome`` that belongs to ``agency``."""
    matches = [m for m, a in zip(outcome.matches, owners.matches, strict=True) if a == agency]
    keys = {key for key, _, _, _ in matches}
    return Outcome(
        outcome.source,
        matches,
        [e for e, a in zip(outcome.exceptions, owners.exceptions, strict=True) if a == agency],
        sum(outcome.amounts[key] for key in keys),
        sum(1 for a in owners.carried if a == agency),
    )


def _summary(outcomes: list[Outcome], owners: list[_Owners] | None = None) -> dict[str, Any]:
    """A run's figures; with the ``owners`` of its items, also each agency's figures (in the
    same shape) under ``agencies``, agency id → figures, which a scoped view adds up
    (:func:`reconciliation.scope.summary_in_scope`). Items of no single agency are counted
    only in the run's own figures."""
    summary = _figures(outcomes)
    if owners is not None:
        found = {a for of in owners for a in (*of.matches, *of.exceptions, *of.carried)}
        summary["agencies"] = {
            str(agency): _figures(
                [_of_agency(o, of, agency) for o, of in zip(outcomes, owners, strict=True)]
            )
            for agency in sorted(a for a in found if a is not None)
        }
    return summary


def _figures(outcomes: list[Outcome]) -> dict[str, Any]:
    by_type: Counter[str] = Counter()
    sums: Counter[str] = Counter()
    per_source: dict[str, Any] = {}
    for o in outcomes:
        for item in o.exceptions:
            by_type[item["type"]] += 1
            sums[item["type"]] += item["amount"]
        tolerated = [m[3] for m in o.matches if m[2] == WITHIN_TOLERANCE]
        per_source[o.source.value] = {
            "matched": len(o.matches),
            "matched_amount": o.matched_amount,
            "exceptions": len(o.exceptions),
            "carried": o.carried,
            "within_tolerance": len(tolerated),
            "tolerated_difference": sum(tolerated),
        }
    return {
        "matched": {
            "count": sum(len(o.matches) for o in outcomes),
            "amount": sum(o.matched_amount for o in outcomes),
        },
        "exceptions": {
            "count": sum(by_type.values()),
            "by_type": dict(by_type),
            "amount_by_type": dict(sums),
        },
        "sources": per_source,
    }
