"""The registry of POS card terminals per agency. A terminal runs one sale at a time: the
claim is a single conditional UPDATE, so two counters cannot push to one terminal at once."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.db.schema import agencies, pos_terminals
from gateway.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from gateway.core.ids import Clock
from gateway.services.agencies import find_agency

_TERMINAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class TerminalBusy(Conflict):
    code = "terminal_busy"
    title = "The terminal is running another payment"


def _view(row: Any) -> dict[str, Any]:
    return {
        "terminal_id": row.terminal_id,
        "agency_code": row.agency_code,
        "name": row.name,
        "busy": row.active_attempt_id is not None,
        "active_attempt_id": row.active_attempt_id,
    }


class TerminalService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def add(self, agency_code: str, terminal_id: str, name: str) -> dict[str, Any]:
        errors = []
        if not _TERMINAL_ID.match(terminal_id):
            errors.append(FieldError("terminal_id", "invalid_format", "1–32 of A–Z a–z 0–9 _ -"))
        if not name.strip():
            errors.append(FieldError("name", "required", "a name staff recognise"))
        if errors:
            raise ValidationFailed(errors)
        async with self.db.write() as conn:
            agency = await find_agency(conn, agency_code)
            if agency is None:
                raise ValidationFailed(
                    [FieldError("agency_code", "unknown_agency", "no agency has this code")]
                )
            exists = (
                await conn.execute(
                    select(pos_terminals.c.id).where(pos_terminals.c.terminal_id == terminal_id)
                )
            ).first()
            if exists:
                raise Conflict(f"terminal {terminal_id} is already registered")
            await conn.execute(
                insert(pos_terminals).values(
                    agency_id=agency.id,
                    terminal_id=terminal_id,
                    name=name.strip(),
                    created_at=self.clock(),
                )
            )
            return _view(await self._row(conn, terminal_id))

    async def list(self, agency_ids: frozenset[int]) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(pos_terminals, agencies.c.code.label("agency_code"))
                    .join(agencies, agencies.c.id == pos_terminals.c.agency_id)
                    .where(pos_terminals.c.agency_id.in_(sorted(agency_ids)))
                    .order_by(pos_terminals.c.terminal_id)
                )
            ).all()
        return [_view(row) for row in rows]

    async def _row(self, conn: AsyncConnection, terminal_id: str) -> Any:
        return (
            await conn.execute(
                select(pos_terminals, agencies.c.code.label("agency_code"))
                .join(agencies, agencies.c.id == pos_terminals.c.agency_id)
                .where(pos_terminals.c.terminal_id == terminal_id)
            )
        ).first()


async def claim(conn: AsyncConnection, terminal_id: str, agency_id: int, attempt_id: str) -> None:
    """Make ``attempt_id`` the terminal's one active sale, or raise."""
    row = (
        await conn.execute(
            select(pos_terminals.c.agency_id).where(pos_terminals.c.terminal_id == terminal_id)
        )
    ).first()
    if row is None or row.agency_id != agency_id:
        raise NotFound(f"terminal {terminal_id} is not registered for this agency")
    claimed = await conn.execute(
        update(pos_terminals)
        .where(
            pos_terminals.c.terminal_id == terminal_id,
            pos_terminals.c.active_attempt_id.is_(None),
        )
        .values(active_attempt_id=attempt_id)
    )
    if claimed.rowcount != 1:
        raise TerminalBusy(f"terminal {terminal_id} is running another payment")


async def release(conn: AsyncConnection, terminal_id: str, attempt_id: str) -> None:
    await conn.execute(
        update(pos_terminals)
        .where(
            pos_terminals.c.terminal_id == terminal_id,
            pos_terminals.c.active_attempt_id == attempt_id,
        )
        .values(active_attempt_id=None)
    )
