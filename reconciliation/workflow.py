"""Finance workflow on a reconciliation day: the exception queue, maker-checker resolution,
and closing the day.

- A ``finance`` or ``finance_approver`` user resolves an open exception with a resolution
  (``manual_match``, ``write_off``, ``refund_requested``) and a reason (maker); a
  ``finance_approver`` who is not the maker approves it (checker).
- A checker may instead reject the resolution, with a reason: the exception is ``open``
  again (its resolution cleared, the rejection kept in the audit log) for a maker to
  resolve anew.
- Everyone sees and decides only the exceptions of their agencies (``Actor.scope``); another
  agency's exception is "not found". A day closes for every agency at once, so closing needs
  a deployment-wide checker.
- A day closes only when its current run has no exception that is open or awaiting approval,
  and no statement accepted after that run could change it (``stale_run``: re-run first);
  a closed day is immutable: no import, run, resolution or approval touches it again.
Everything is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.db.schema import (
    agencies,
    api_clients,
    day_closes,
    recon_exceptions,
    recon_runs,
    staff_users,
    statement_imports,
    statement_lines,
)
from gateway.core.errors import (
    FieldError,
    Forbidden,
    InvalidTransition,
    NotFound,
    OpenExceptions,
    SelfApproval,
    StaleRun,
    ValidationFailed,
)
from gateway.core.fields import iso
from gateway.core.ids import Clock
from gateway.core.roles import Role
from gateway.core.statuses import EXCEPTIONS, ExceptionStatus, ImportStatus, RunStatus
from reconciliation import labels
from reconciliation.audit import record
from reconciliation.imports import DayClosed
from reconciliation.model import BUSINESS_TZ
from reconciliation.scope import (
    Scope,
    figures_by_agency,
    line_agencies,
    require_deployment_wide,
    summary_in_scope,
    with_agency,
)

#: The decisions staff can take on an exception (their Vietnamese names: ``labels``).
RESOLUTIONS = tuple(labels.RESOLUTIONS)
MAKERS = (Role.FINANCE, Role.FINANCE_APPROVER, Role.ADMIN)
CHECKERS = (Role.FINANCE_APPROVER, Role.ADMIN)
#: What keeps a day from closing: an exception no one has decided, or one awaiting a checker.
UNDECIDED = (ExceptionStatus.OPEN, ExceptionStatus.RESOLVED)
#: The audit action of each decision on an exception, by the status it moves the exception to.
DECISIONS: Mapping[ExceptionStatus, str] = {
    ExceptionStatus.RESOLVED: "exception_resolved",
    ExceptionStatus.APPROVED: "exception_approved",
    ExceptionStatus.OPEN: "exception_rejected",
}


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff user or an API client, with the role that decides what they may do
    and the agencies whose exceptions they may see and decide (:mod:`reconciliation.scope`)."""

    id: str
    role: Role
    scope: Scope


def exception_view(
    row: Any, today: date | None = None, previous: Any | None = None
) -> dict[str, Any]:
    """The API's view of an exception; ``previous`` is the decided exception of an earlier run
    it replaces (``previous_id``: same difference, lines changed), shown as
    ``previous_decision``."""
    return {
        "id": row.id,
        "run_id": row.run_id,
        "business_date": row.business_date.isoformat(),
        "agency": row.agency,
        "agency_name": row.agency_name,
        "source": row.source,
        "type": row.type,
        "status": row.status,
        "amount": row.amount,
        "internal_keys": row.internal_keys,
        "line_ids": row.line_ids,
        "candidates": row.candidates,
        "resolution": row.resolution,
        "resolution_reason": row.resolution_reason,
        "resolved_by": row.resolved_by,
        "resolved_at": iso(row.resolved_at),
        "approved_by": row.approved_by,
        "approved_at": iso(row.approved_at),
        "age_days": (today - row.business_date).days if today else None,
        "previous_decision": None if previous is None else decision_view(previous),
    }


def decision_view(row: Any) -> dict[str, Any]:
    """What a maker and a checker decided on an (earlier) exception."""
    return {
        "exception_id": row.id,
        "run_id": row.run_id,
        "type": row.type,
        "amount": row.amount,
        "line_ids": row.line_ids,
        "status": row.status,
        "resolution": row.resolution,
        "resolution_reason": row.resolution_reason,
        "resolved_by": row.resolved_by,
        "resolved_at": iso(row.resolved_at),
        "approved_by": row.approved_by,
        "approved_at": iso(row.approved_at),
    }


async def previous_decisions(conn: AsyncConnection, rows: Sequence[Any]) -> dict[str, Any]:
    """The earlier exceptions ``rows`` name as ``previous_id``, by id."""
    ids = sorted({row.previous_id for row in rows if row.previous_id is not None})
    if not ids:
        return {}
    found = await conn.execute(select(recon_exceptions).where(recon_exceptions.c.id.in_(ids)))
    return {row.id: row for row in found.all()}


class Workflow:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def today(self) -> date:
        return self.clock().astimezone(BUSINESS_TZ).date()

    async def is_closed(self, conn: AsyncConnection, day: date) -> bool:
        found = await conn.execute(
            select(day_closes.c.business_date).where(day_closes.c.business_date == day)
        )
        return found.first() is not None

    async def list(
        self,
        *,
        scope: Scope,
        agency: str | None = None,
        business_date: date | None = None,
        type: str | None = None,
        status: str | None = None,
        source: str | None = None,
        min_age_days: int | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """The queue of ``scope``'s agencies; ``agency`` (a code) narrows it to one."""
        statement: Select[Any] = with_agency(select(recon_exceptions)).where(
            recon_exceptions.c.status != ExceptionStatus.SUPERSEDED,
            scope.clause(recon_exceptions.c.agency_id),
        )
        if agency is not None:
            statement = statement.where(
                recon_exceptions.c.agency_id
                == select(agencies.c.id).where(agencies.c.code == agency).scalar_subquery()
            )
        for column, value in (
            (recon_exceptions.c.business_date, business_date),
            (recon_exceptions.c.type, type),
            (recon_exceptions.c.status, status),
            (recon_exceptions.c.source, source),
        ):
            if value is not None:
                statement = statement.where(column == value)
        if min_age_days is not None:  # age counts from the business day, in Vietnam's calendar
            statement = statement.where(
                recon_exceptions.c.business_date <= self.today() - timedelta(days=min_age_days)
            )
        statement = statement.order_by(
            recon_exceptions.c.business_date, recon_exceptions.c.type, recon_exceptions.c.id
        ).limit(limit)
        async with self.db.read() as conn:
            rows = (await conn.execute(statement)).all()
            previous = await previous_decisions(conn, rows)
        today = self.today()
        return [exception_view(row, today, previous.get(row.previous_id)) for row in rows]

    async def run_in_scope(self, run: dict[str, Any], scope: Scope) -> dict[str, Any]:
        """A run's view (:meth:`RunService.current`) as ``scope`` may see it: a run covers
        every agency; outside a deployment-wide scope its summary holds the figures of the
        scope's agencies only (:func:`reconciliation.scope.summary_in_scope`)."""
        return {**run, "summary": summary_in_scope(run["summary"], scope)}

    async def figures_by_agency(
        self, run: dict[str, Any], scope: Scope
    ) -> Sequence[dict[str, Any]]:
        """The run's figures of each of ``scope``'s agencies
        (:func:`reconciliation.scope.figures_by_agency`)."""
        async with self.db.read() as conn:
            return await figures_by_agency(conn, run["summary"], scope)

    async def get(self, exception_id: str, scope: Scope) -> dict[str, Any]:
        """The exception with its statement lines, for side-by-side review."""
        async with self.db.read() as conn:
            row = await self._row(conn, exception_id, scope)
            previous = await previous_decisions(conn, [row])
            candidates = row.candidates
            if not scope.all_agencies:  # an ambiguous amount may also be on another's account
                owners = await line_agencies(conn, candidates)
                candidates = [i for i in candidates if scope.covers(owners.get(i))]
            ids = [*row.line_ids, *candidates]
            lines = (
                (
                    await conn.execute(select(statement_lines).where(statement_lines.c.id.in_(ids)))
                ).all()
                if ids
                else []
            )
        view = exception_view(row, self.today(), previous.get(row.previous_id))
        view["candidates"] = candidates
        view["lines"] = [
            {
                "id": line.id,
                "source": line.source,
                "amount": line.amount,
                "direction": line.direction,
                "booking_date": line.booking_date.isoformat(),
                "reference": line.reference,
                "provider_txn_id": line.provider_txn_id,
                "text": line.text,
                "account": line.account,
                "document_no": line.document_no,
            }
            for line in lines
        ]
        return view

    async def resolve(
        self, actor: Actor, exception_id: str, resolution: str, reason: str
    ) -> dict[str, Any]:
        if actor.role not in MAKERS:
            raise Forbidden("resolving exceptions needs the finance role")
        errors = []
        if resolution not in RESOLUTIONS:
            errors.append(FieldError("resolution", "invalid_choice", f"one of {RESOLUTIONS}"))
        if not reason.strip():
            errors.append(FieldError("reason", "required", "say why"))
        if errors:
            raise ValidationFailed(errors)
        async with self.db.write() as conn:
            row = await self._row_of_open_day(conn, exception_id, actor.scope)
            now = self.clock()
            return await self._move(
                conn,
                actor,
                row,
                ExceptionStatus.RESOLVED,
                now,
                {"resolution": resolution, "reason": reason.strip()},
                resolution=resolution,
                resolution_reason=reason.strip(),
                resolved_by=actor.id,
                resolved_at=now,
            )

    async def approve(self, actor: Actor, exception_id: str) -> dict[str, Any]:
        if actor.role not in CHECKERS:
            raise Forbidden("approving resolutions needs the finance_approver role")
        async with self.db.write() as conn:
            row = await self._row_of_open_day(conn, exception_id, actor.scope)
            EXCEPTIONS.check(ExceptionStatus(row.status), ExceptionStatus.APPROVED)
            if await same_person(conn, row.resolved_by, actor.id):
                raise SelfApproval(f"{actor.id} resolved this exception and cannot approve it")
            now = self.clock()
            return await self._move(
                conn,
                actor,
                row,
                ExceptionStatus.APPROVED,
                now,
                {"resolved_by": row.resolved_by},
                approved_by=actor.id,
                approved_at=now,
            )

    async def reject(self, actor: Actor, exception_id: str, reason: str) -> dict[str, Any]:
        """A checker turns a resolution down: the exception is open again for a maker."""
        if actor.role not in CHECKERS:
            raise Forbidden("rejecting resolutions needs the finance_approver role")
        if not reason.strip():
            raise ValidationFailed([FieldError("reason", "required", "say why")])
        async with self.db.write() as conn:
            row = await self._row_of_open_day(conn, exception_id, actor.scope)
            return await self._move(
                conn,
                actor,
                row,
                ExceptionStatus.OPEN,
                self.clock(),
                {
                    "reason": reason.strip(),
                    "resolution": row.resolution,
                    "resolution_reason": row.resolution_reason,
                    "resolved_by": row.resolved_by,
                },
                resolution=None,
                resolution_reason=None,
                resolved_by=None,
                resolved_at=None,
            )

    async def close_day(self, actor: Actor, day: date) -> dict[str, Any]:
        if actor.role not in CHECKERS:
            raise Forbidden("closing a day needs the finance_approver role")
        # A day closes for the whole deployment, every agency's exceptions with it.
        require_deployment_wide(actor.scope, "closing a day")
        async with self.db.write() as conn:
            await self._open_day(conn, day)
            run = (
                await conn.execute(
                    select(recon_runs.c.id, recon_runs.c.created_at, recon_runs.c.inputs).where(
                        recon_runs.c.business_date == day,
                        recon_runs.c.status == RunStatus.CURRENT,
                    )
                )
            ).first()
            if run is None:
                raise InvalidTransition("not_reconciled", "closed")
            newer = await _newer_statement(conn, day, run)
            if newer is not None:
                raise StaleRun(
                    f"statement {newer} was imported after run {run.id} and could change it; "
                    "re-run the day first",
                    run_id=run.id,
                    import_id=newer,
                )
            pending = (
                await conn.execute(
                    select(func.count())
                    .select_from(recon_exceptions)
                    .where(
                        recon_exceptions.c.run_id == run.id,
                        recon_exceptions.c.status.in_(
                            [ExceptionStatus.OPEN, ExceptionStatus.RESOLVED]
                        ),
                    )
                )
            ).scalar_one()
            if pending:
                raise OpenExceptions(f"{pending} exception(s) are open or awaiting approval")
            now = self.clock()
            await conn.execute(
                insert(day_closes).values(
                    business_date=day, run_id=run.id, closed_by=actor.id, closed_at=now
                )
            )
            await record(
                conn,
                now,
                actor.id,
                "day_closed",
                "business_day",
                day.isoformat(),
                {"run_id": run.id},
            )
        return {
            "business_date": day.isoformat(),
            "status": "closed",
            "run_id": run.id,
            "closed_by": actor.id,
            "closed_at": iso(now),
        }

    async def _open_day(self, conn: AsyncConnection, day: date) -> None:
        if await self.is_closed(conn, day):
            raise DayClosed(f"{day.isoformat()} is closed")

    async def _row_of_open_day(self, conn: AsyncConnection, exception_id: str, scope: Scope) -> Any:
        """The exception, locked; :class:`DayClosed` if its business day is closed."""
        row = await self._row(conn, exception_id, scope, lock=True)
        await self._open_day(conn, row.business_date)
        return row

    async def _move(
        self,
        conn: AsyncConnection,
        actor: Actor,
        row: Any,
        target: ExceptionStatus,
        now: datetime,
        details: dict[str, Any],
        **changes: Any,
    ) -> dict[str, Any]:
        """Move the locked exception ``row`` to ``target`` with ``changes``, write the audit
        entry :data:`DECISIONS` names with ``details``, and return the exception's new view."""
        await EXCEPTIONS.move(conn, row.id, ExceptionStatus(row.status), target, **changes)
        await record(conn, now, actor.id, DECISIONS[target], "recon_exception", row.id, details)
        moved = await self._row(conn, row.id, actor.scope)
        previous = await previous_decisions(conn, [moved])
        return exception_view(moved, self.today(), previous.get(moved.previous_id))

    async def _row(
        self, conn: AsyncConnection, exception_id: str, scope: Scope, *, lock: bool = False
    ) -> Any:
        """The exception; :class:`NotFound` also when it is another agency's (so an id does
        not tell whether it exists)."""
        statement = with_agency(select(recon_exceptions)).where(
            recon_exceptions.c.id == exception_id, scope.clause(recon_exceptions.c.agency_id)
        )
        if lock:
            statement = statement.with_for_update()
        row = (await conn.execute(statement)).first()
        if row is None:
            raise NotFound("exception not found")
        return row


async def _newer_statement(conn: AsyncConnection, day: date, run: Any) -> str | None:
    """An accepted statement imported after ``run`` that could change it: one with a line
    booked within the run's window around ``day``, or whose period reaches into the days the
    run looked at (a counterpart's later file moves "expected in transit" to "missing": the
    run looked ``max(window_days, transit_days)`` ahead for it)."""
    inputs = run.inputs or {}
    window = timedelta(days=int(inputs.get("window_days", 0)))
    ahead = max(
        [window]
        + [
            timedelta(days=max(int(r.get("window_days", 0)), int(r.get("transit_days", 0))))
            for r in (inputs.get("rules") or {}).values()
        ]
    )
    lines_in_window = (
        select(statement_lines.c.id)
        .where(
            statement_lines.c.import_id == statement_imports.c.id,
            statement_lines.c.booking_date >= day - window,
            statement_lines.c.booking_date <= day + window,
        )
        .exists()
    )
    found = await conn.execute(
        select(statement_imports.c.id)
        .where(
            statement_imports.c.status == ImportStatus.ACCEPTED,
            statement_imports.c.created_at > run.created_at,
            or_(
                and_(
                    statement_imports.c.period_start <= day + ahead,
                    statement_imports.c.period_end >= day,
                ),
                lines_in_window,
            ),
        )
        .order_by(statement_imports.c.created_at, statement_imports.c.id)
        .limit(1)
    )
    return found.scalar_one_or_none()


async def person_of(conn: AsyncConnection, actor_id: str | None) -> str | None:
    """The staff member behind an API key or a console user id (``person``, as typed: spaces
    around it and case do not make another person), else the id itself: maker ≠ checker
    compares people, not credentials."""
    for table in (api_clients, staff_users):
        found = (await conn.execute(select(table.c.person).where(table.c.id == actor_id))).first()
        if found is not None and found.person and found.person.strip():
            return f"person:{found.person.strip().casefold()}"
    return actor_id


async def same_person(conn: AsyncConnection, one: str | None, other: str | None) -> bool:
    """Whether two actors (API keys, console users) are one person: maker ≠ checker."""
    return await person_of(conn, one) == await person_of(conn, other)
