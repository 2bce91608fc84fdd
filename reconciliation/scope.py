"""Agency scope of finance staff: which agencies' statements, exceptions and reports a key or
a console user may see and act on.

- A credential is scoped to a list of agencies, or is **deployment-wide** (``all_agencies``,
  a provincial finance department). An empty list means no agency, never all of them.
- Each exception belongs to the agency of its ledger side (the payment behind its keys), or
  else of its statement lines (the collection account's owner, or a treasury line's agency
  code); an exception with no single agency has ``agency_id`` ``None`` and only
  deployment-wide staff see it.
- A bank statement is imported only by staff of the agency owning its collection account; a
  treasury file only if every line's agency is in scope; a provider (VNPAY, POS) or COD file
  concerns several agencies at once and needs a deployment-wide credential.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db.schema import (
    agencies,
    attempts,
    payments,
    postal_orders,
    recon_exceptions,
    refunds,
    statement_lines,
)
from gateway.core.errors import AccountNotInScope, AgencyNotInScope, DeploymentWideOnly
from reconciliation.model import Source


@dataclass(frozen=True)
class Scope:
    """The agencies (database ids) a caller acts for, or all of them."""

    agency_ids: frozenset[int] = frozenset()
    all_agencies: bool = False

    def covers(self, agency_id: int | None) -> bool:
        """Whether an item of ``agency_id`` (``None``: no single agency) is visible."""
        return self.all_agencies or (agency_id is not None and agency_id in self.agency_ids)

    def clause(self, column: Any) -> ColumnElement[bool]:
        """A WHERE clause keeping the rows whose agency ``column`` is in scope."""
        if self.all_agencies:
            return true()
        return column.in_(sorted(self.agency_ids))  # type: ignore[no-any-return]


EVERYWHERE = Scope(all_agencies=True)


def with_agency(statement: Select[Any]) -> Select[Any]:
    """``statement`` (on ``recon_exceptions``) with the exception's agency code as ``agency``
    and name as ``agency_name`` (scalar subqueries rather than an outer join, which
    PostgreSQL cannot lock FOR UPDATE)."""
    owner = agencies.c.id == recon_exceptions.c.agency_id
    return statement.add_columns(
        select(agencies.c.code).where(owner).scalar_subquery().label("agency"),
        select(agencies.c.name).where(owner).scalar_subquery().label("agency_name"),
    )


def summary_in_scope(summary: Mapping[str, Any], scope: Scope) -> dict[str, Any]:
    """A run's figures (``recon_runs.summary``) as ``scope`` may see them: the run's own for
    deployment-wide staff, else the sum of its agencies' figures (``summary["agencies"]``,
    agency id → figures of the same shape) over the scope's agencies; every counterpart of
    the run is listed, with zeros where the scope has nothing. The per-agency part itself is
    left out (:func:`agency_figures` reads it)."""
    if scope.all_agencies:
        return {key: value for key, value in summary.items() if key != "agencies"}
    total: dict[str, Any] = {
        "matched": {"count": 0, "amount": 0},
        "exceptions": {"count": 0, "by_type": {}, "amount_by_type": {}},
        "sources": {source: _zeros(facts) for source, facts in summary.get("sources", {}).items()},
    }
    for agency_id, figures in agency_figures(summary).items():
        if scope.covers(agency_id):
            _add(total, figures)
    return total


def agency_figures(summary: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """A run's figures per agency id (a run stored before migration 0011 has none)."""
    return {int(key): value for key, value in summary.get("agencies", {}).items()}


async def figures_by_agency(
    conn: AsyncConnection, summary: Mapping[str, Any], scope: Scope
) -> list[dict[str, Any]]:
    """A row per agency of ``scope`` that has figures in the run (``summary``), by code:
    ``code``, ``name``, ``matched``, ``matched_amount``, ``exceptions``, ``exception_amount``."""
    figures = {a: f for a, f in agency_figures(summary).items() if scope.covers(a)}
    if not figures:
        return []
    names = await conn.execute(
        select(agencies.c.id, agencies.c.code, agencies.c.name).where(
            agencies.c.id.in_(sorted(figures))
        )
    )
    return sorted(
        (
            {
                "code": code,
                "name": name,
                "matched": figures[agency_id]["matched"]["count"],
                "matched_amount": figures[agency_id]["matched"]["amount"],
                "exceptions": figures[agency_id]["exceptions"]["count"],
                "exception_amount": sum(
                    figures[agency_id]["exceptions"]["amount_by_type"].values()
                ),
            }
            for agency_id, code, name in names
        ),
        key=lambda row: str(row["code"]),
    )


def _zeros(figures: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: _zeros(value) if isinstance(value, Mapping) else 0 for key, value in figures.items()
    }


def _add(total: dict[str, Any], figures: Mapping[str, Any]) -> None:
    """Add ``figures`` into ``total`` key by key (nested counts and VND sums)."""
    for key, value in figures.items():
        if isinstance(value, Mapping):
            _add(total.setdefault(key, {}), value)
        else:
            total[key] = total.get(key, 0) + value


def require_deployment_wide(scope: Scope, what: str) -> None:
    if not scope.all_agencies:
        raise DeploymentWideOnly(f"{what} concerns every agency: it needs a deployment-wide role")


# -- an exception's agency -----------------------------------------------------------------


async def exception_agencies(
    conn: AsyncConnection, items: Sequence[tuple[Sequence[str], Sequence[int]]]
) -> list[int | None]:
    """The agency of each exception, given as (ledger keys, statement line ids): the one agency
    of its ledger side, else the one agency of its statement lines, else ``None`` (none found,
    or several)."""
    by_key = await _key_agencies(conn, {key for keys, _ in items for key in keys})
    by_line = await line_agencies(conn, {line for _, lines in items for line in lines})
    owners: list[int | None] = []
    for keys, lines in items:
        found = {by_key.get(key) for key in keys} - {None}
        if not found:
            found = {by_line.get(line) for line in lines} - {None}
        owners.append(found.pop() if len(found) == 1 else None)
    return owners


async def _key_agencies(conn: AsyncConnection, keys: Iterable[str]) -> dict[str, int]:
    """Ledger keys (``payment:…``, ``attempt:…``, ``item:<payment>:<n>``, ``refund:…``,
    ``postal:…``, see :mod:`reconciliation.ledger`) → the agency of the payment or order."""
    wanted: dict[str, dict[str, list[str]]] = {}
    for key in keys:
        kind, _, rest = key.partition(":")
        row_id = rest.split(":", 1)[0] if kind == "item" else rest
        wanted.setdefault(kind, {}).setdefault(row_id, []).append(key)
    queries: dict[str, Any] = {
        "payment": select(payments.c.id, payments.c.agency_id),
        "item": select(payments.c.id, payments.c.agency_id),
        "attempt": select(attempts.c.id, payments.c.agency_id).join(
            payments, payments.c.id == attempts.c.payment_id
        ),
        "refund": select(refunds.c.id, payments.c.agency_id).join(
            payments, payments.c.id == refunds.c.payment_id
        ),
        "postal": select(postal_orders.c.id, postal_orders.c.agency_id),
    }
    found: dict[str, int] = {}
    for kind, ids in wanted.items():
        query = queries.get(kind)
        if query is None:
            continue
        id_column = query.selected_columns[0]
        for batch in _batches(sorted(ids)):
            for row_id, agency_id in await conn.execute(query.where(id_column.in_(batch))):
                for key in ids[row_id]:
                    found[key] = agency_id
    return found


#: Ids per ``IN (…)`` look-up: a day's run can name tens of thousands of ledger keys and
#: statement lines (every match), more bound parameters than one PostgreSQL statement takes.
_BATCH = 5000


def _batches(ids: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(ids), _BATCH):
        yield ids[start : start + _BATCH]


async def line_agencies(conn: AsyncConnection, line_ids: Iterable[int]) -> dict[int, int]:
    """Statement line ids → the agency named by the line's treasury agency code, else the
    agency owning the line's collection account."""
    ids = sorted(line_ids)
    if not ids:
        return {}
    rows = [
        row
        for batch in _batches(ids)
        for row in await conn.execute(
            select(
                statement_lines.c.id, statement_lines.c.account, statement_lines.c.agency_code
            ).where(statement_lines.c.id.in_(batch))
        )
    ]
    by_account, by_code = await _agency_maps(
        conn, {r.account for r in rows if r.account}, {r.agency_code for r in rows if r.agency_code}
    )
    found: dict[int, int] = {}
    for row in rows:
        owner = by_code.get(row.agency_code or "") or by_account.get(row.account or "")
        if owner is not None:
            found[row.id] = owner
    return found


async def _agency_maps(
    conn: AsyncConnection, accounts: set[str], codes: set[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """(collection account number → agency id, agency code → agency id) for those asked."""
    by_account: dict[str, int] = {}
    by_code: dict[str, int] = {}
    if accounts:
        rows = await conn.execute(
            select(agencies.c.account_number, agencies.c.id).where(
                agencies.c.account_number.in_(sorted(accounts))
            )
        )
        by_account = {number: agency_id for number, agency_id in rows}
    if codes:
        rows = await conn.execute(
            select(agencies.c.code, agencies.c.id).where(agencies.c.code.in_(sorted(codes)))
        )
        by_code = {code: agency_id for code, agency_id in rows}
    return by_account, by_code


# -- imports ---------------------------------------------------------------------------------


async def require_import_scope(
    conn: AsyncConnection,
    scope: Scope,
    source: Source,
    accounts: set[str],
    agency_codes: set[str | None],
    *,
    accepted: bool,
) -> None:
    """Refuse a statement the caller's agencies do not own (nothing is stored).

    ``accounts``: every collection account the file names (its header, its lines, the upload
    form); ``agency_codes``: a treasury file's line agencies; ``accepted``: whether its lines
    would be used (a file that could not be read is quarantined with what is known of it)."""
    if scope.all_agencies:
        return
    if source is Source.BANK:
        if not accounts:
            if accepted:
                raise AccountNotInScope("name the statement's account: it decides the agency")
            return
        by_account, _ = await _agency_maps(conn, accounts, set())
        outside = sorted(a for a in accounts if not scope.covers(by_account.get(a)))
        if outside:
            raise AccountNotInScope(
                f"account {', '.join(outside)} is not a collection account of your agencies"
            )
    elif source is Source.TREASURY:
        codes = {code for code in agency_codes if code}
        _, by_code = await _agency_maps(conn, set(), codes)
        if (None in agency_codes and accepted) or any(
            not scope.covers(by_code.get(code)) for code in codes
        ):
            raise AgencyNotInScope("the treasury file has lines of agencies outside your scope")
    else:
        require_deployment_wide(scope, f"a {source.value} file")
