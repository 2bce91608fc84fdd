"""Running a reconciliation day: the ledger of the day against every counterpart's lines.

A run records its inputs, rule version, counts and VND sums per status; running the day
again **supersedes** the previous run (never edits it): its open exceptions are marked
``superseded``, and a decision already taken on the same exception (same type, same lines)
carries over to the new run, so finance staff never decide twice.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import KW_ONLY, dataclass
from datetime import date, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.db.schema import (
    recon_exceptions,
    recon_matches,
    recon_runs,
    statement_imports,
    statement_lines,
)
from gateway.core.errors import NotFound
from gateway.core.fields import iso
from gateway.core.ids import Clock, new_id
from gateway.core.references import is_valid_reference
from gateway.core.statuses import (
    EXCEPTIONS,
    RUNS,
    ExceptionStatus,
    ImportStatus,
    RunStatus,
)
from reconciliation import engine, frame
from reconciliation.audit import record
from reconciliation.imports import DayClosed
from reconciliation.ledger import ledger
from reconciliation.model import Direction, Source, StatementLine
from reconciliation.scope import exception_agencies
from reconciliation.workflow import Actor, Workflow

log = structlog.get_logger(__name__)
COUNTERPARTS = (Source.BANK, Source.VNPAY, Source.POS, Source.TREASURY, Source.COD)


@dataclass(frozen=True)
class Outcome:
    """One counterpart's result, in storage terms (ledger keys and statement line ids)."""

    source: Source
    matches: list[tuple[str, int, str]]  # (internal key, line id, rule)
    exceptions: list[dict[str, Any]]
    matched_amount: int = 0


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
    window_days: int = 2
    settlement_lag_days: int = 1

    async def run(self, actor: Actor, day: date) -> dict[str, Any]:
        async with self.db.read() as conn:
            if await self.workflow.is_closed(conn, day):
                raise DayClosed(f"{day.isoformat()} is closed")
            outcomes = []
            inputs: dict[str, Any] = {"imports": [], "window_days": self.window_days}
            for counterpart in COUNTERPARTS:
                external, line_ids, import_ids = await self._external(conn, day, counterpart)
                inputs["imports"] += import_ids
                if not external:
                    continue  # no file from this counterpart yet: nothing to compare
                reported_through = await self._reported_through(conn, day, counterpart, external)
                inputs.setdefault("reported_through", {})[counterpart.value] = (
                    reported_through.isoformat()
                )
                internal, keys = await ledger(conn, day, counterpart)
                outcomes.append(
                    self._compare(
                        day, counterpart, internal, keys, external, line_ids, reported_through
                    )
                )
        summary = _summary(outcomes)
        run_id = new_id("run")
        now = self.clock()
        async with self.db.write() as conn:
            if await self.workflow.is_closed(conn, day):
                raise DayClosed(f"{day.isoformat()} is closed")
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
            await RUNS.insert(
                conn,
                RunStatus.CURRENT,
                id=run_id,
                business_date=day,
                rule_version=engine.RULE_VERSION,
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
                    "rule_version": engine.RULE_VERSION,
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
        self, conn: AsyncConnection, day: date, source: Source
    ) -> tuple[list[StatementLine], list[int], list[str]]:
        """Accepted lines of ``source`` around ``day`` that no other day's run matched."""
        window = timedelta(days=self.window_days)
        taken_elsewhere = (
            select(recon_matches.c.line_id)
            .join(recon_runs, recon_runs.c.id == recon_matches.c.run_id)
            .where(recon_runs.c.status == RunStatus.CURRENT, recon_runs.c.business_date != day)
        )
        rows = (
            await conn.execute(
                select(statement_lines)
                .join(statement_imports, statement_imports.c.id == statement_lines.c.import_id)
                .where(
                    statement_imports.c.status == ImportStatus.ACCEPTED,
                    statement_lines.c.source == source.value,
                    and_(
                        statement_lines.c.booking_date >= day - window,
                        statement_lines.c.booking_date <= day + window,
                    ),
                    statement_lines.c.id.not_in(taken_elsewhere),
                )
                .order_by(statement_lines.c.id)
            )
        ).all()
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
        return lines, [row.id for row in rows], sorted({row.import_id for row in rows})

    async def _reported_through(
        self, conn: AsyncConnection, day: date, source: Source, external: list[StatementLine]
    ) -> date:
        """How far the counterpart has reported: the end of its latest statement period (or
        its latest booking). A ledger line later than that minus the settlement lag may
        simply not have reached it yet (``expected_in_transit``)."""
        ends = (
            (
                await conn.execute(
                    select(statement_imports.c.period_end).where(
                        statement_imports.c.source == source.value,
                        statement_imports.c.status == ImportStatus.ACCEPTED,
                        statement_imports.c.period_end >= day,
                        statement_imports.c.period_end <= day + timedelta(days=self.window_days),
                    )
                )
            )
            .scalars()
            .all()
        )
        dates: list[date] = [line.booking_date for line in external] + list(ends)
        return max(dates)

    def _compare(
        self,
        day: date,
        source: Source,
        internal: list[StatementLine],
        keys: list[str],
        external: list[StatementLine],
        line_ids: list[int],
        reported_through: date,
    ) -> Outcome:
        prefix = self.reference_prefix
        result = engine.reconcile(
            frame.to_frame(internal),
            frame.to_frame(external),
            # The engine's "as of": a line booked on or after (as of − lag) is in transit;
            # as of = the day after the counterpart's last reported day.
            business_date=reported_through + timedelta(days=1),
            window_days=self.window_days,
            settlement_lag_days=self.settlement_lag_days,
            reference_pattern=rf"{prefix}[0-9A-Z]{{11}}",
            is_valid_reference=lambda text: is_valid_reference(text, prefix),
            counterpart=source,
        )
        pairs = list(result.matches.select("internal_id", "external_id", "rule").iter_rows())
        matches = [
            (keys[int(internal_id)], line_ids[int(external_id)], str(rule))
            for internal_id, external_id, rule in pairs
        ]
        matched_amount = sum(internal[int(i)].amount for i in {p[0] for p in pairs})
        exceptions = []
        for item in result.exception_items():
            internal_keys = [keys[int(i)] for i in item.internal_ids]
            ids = [line_ids[int(i)] for i in item.external_ids]
            exceptions.append(
                {
                    "type": item.type,
                    "amount": int(item.amount),
                    "internal_keys": internal_keys,
                    "line_ids": ids,
                    "candidates": [line_ids[int(i)] for i in item.candidates],
                }
            )
        return Outcome(source, matches, exceptions, matched_amount)

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

    async def _store(
        self,
        conn: AsyncConnection,
        run_id: str,
        day: date,
        outcomes: list[Outcome],
        decided: dict[str, Any],
        now: Any,
    ) -> None:
        match_rows = [
            {
                "run_id": run_id,
                "source": o.source.value,
                "rule": rule,
                "internal_key": key,
                "line_id": line_id,
            }
            for o in outcomes
            for key, line_id, rule in o.matches
        ]
        if match_rows:
            await conn.execute(insert(recon_matches), match_rows)
        exception_rows: list[tuple[ExceptionStatus, dict[str, Any]]] = []
        owners = iter(
            await exception_agencies(
                conn, [(i["internal_keys"], i["line_ids"]) for o in outcomes for i in o.exceptions]
            )
        )
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


#: What a maker and a checker decided about an exception: carried over by a re-run.
_DECISION = (
    "resolution",
    "resolution_reason",
    "resolved_by",
    "resolved_at",
    "approved_by",
    "approved_at",
)


def _summary(outcomes: list[Outcome]) -> dict[str, Any]:
    by_type: Counter[str] = Counter()
    sums: Counter[str] = Counter()
    per_source: dict[str, Any] = {}
    for o in outcomes:
        for item in o.exceptions:
            by_type[item["type"]] += 1
            sums[item["type"]] += item["amount"]
        per_source[o.source.value] = {
            "matched": len(o.matches),
            "matched_amount": o.matched_amount,
            "exceptions": len(o.exceptions),
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
