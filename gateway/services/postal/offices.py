"""Post offices (bưu cục): which office serves an agency's postal orders, and which offices a
postal operator — an API client or a console user — may see and report on."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.db.schema import (
    agencies,
    agency_post_offices,
    api_client_post_offices,
    post_offices,
    postal_orders,
    staff_user_post_offices,
    staff_users,
)
from gateway.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from gateway.core.ids import Clock
from gateway.core.postal.orders import SUBMIT_FAILED
from providers.common.postal import FINAL_STATUSES

#: Orders that are over: no operator needs to see them any more.
FINAL = frozenset({SUBMIT_FAILED, *(status.value for status in FINAL_STATUSES)})


@dataclass(frozen=True)
class PostOffice:
    id: int
    code: str
    name: str
    province_code: str | None = None


async def add_post_office(
    db: Database, clock: Clock, code: str, name: str, province_code: str | None = None
) -> PostOffice:
    errors = []
    if not re.fullmatch(r"[A-Z0-9_-]{2,16}", code):
        errors.append(FieldError("code", "invalid", "2–16 of A–Z, 0–9, '_', '-'"))
    if not name.strip():
        errors.append(FieldError("name", "required", "name is required"))
    if errors:
        raise ValidationFailed(errors)
    async with db.write() as conn:
        if await find_post_office(conn, code) is not None:
            raise Conflict(f"post office {code} already exists")
        result = await conn.execute(
            insert(post_offices)
            .values(code=code, name=name, province_code=province_code, created_at=clock())
            .returning(post_offices.c.id)
        )
        return PostOffice(result.scalar_one(), code, name, province_code)


async def find_post_office(conn: AsyncConnection, code: str) -> PostOffice | None:
    row = (await conn.execute(select(post_offices).where(post_offices.c.code == code))).first()
    return None if row is None else PostOffice(row.id, row.code, row.name, row.province_code)


async def list_post_offices(db: Database) -> list[PostOffice]:
    async with db.read() as conn:
        rows = (await conn.execute(select(post_offices).order_by(post_offices.c.code))).all()
    return [PostOffice(row.id, row.code, row.name, row.province_code) for row in rows]


async def _office_id(conn: AsyncConnection, code: str) -> int:
    office = await find_post_office(conn, code)
    if office is None:
        raise NotFound(f"unknown post office: {code}")
    return office.id


async def serve_agency(db: Database, agency_code: str, office_code: str) -> int:
    """Make ``office_code`` the office that receives ``agency_code``'s new postal orders.

    Live orders of the agency booked while no office served it are routed to this office too
    (otherwise no operator would ever see them); return how many."""
    async with db.write() as conn:
        office_id = await _office_id(conn, office_code)
        agency_id = (
            await conn.execute(select(agencies.c.id).where(agencies.c.code == agency_code))
        ).scalar()
        if agency_id is None:
            raise NotFound(f"unknown agency: {agency_code}")
        await conn.execute(
            delete(agency_post_offices).where(agency_post_offices.c.agency_id == agency_id)
        )
        await conn.execute(
            insert(agency_post_offices).values(agency_id=agency_id, post_office_id=office_id)
        )
        routed = await conn.execute(
            update(postal_orders)
            .where(
                postal_orders.c.agency_id == agency_id,
                postal_orders.c.post_office_id.is_(None),
                postal_orders.c.status.not_in(sorted(FINAL)),
            )
            .values(post_office_id=office_id)
        )
        return int(routed.rowcount)


async def office_of_agency(conn: AsyncConnection, agency_id: int) -> int | None:
    return (
        await conn.execute(
            select(agency_post_offices.c.post_office_id).where(
                agency_post_offices.c.agency_id == agency_id
            )
        )
    ).scalar()


async def scope_client(db: Database, client_id: str, office_codes: list[str]) -> None:
    """Let the API client ``client_id`` see and report on orders of these offices."""
    async with db.write() as conn:
        for code in office_codes:
            await conn.execute(
                insert(api_client_post_offices).values(
                    client_id=client_id, post_office_id=await _office_id(conn, code)
                )
            )


async def scope_user(db: Database, username: str, office_codes: list[str]) -> None:
    """Let the console user ``username`` see and report on orders of these offices."""
    async with db.write() as conn:
        user_id = (
            await conn.execute(select(staff_users.c.id).where(staff_users.c.username == username))
        ).scalar()
        if user_id is None:
            raise NotFound(f"unknown user: {username}")
        for code in office_codes:
            await conn.execute(
                insert(staff_user_post_offices).values(
                    user_id=user_id, post_office_id=await _office_id(conn, code)
                )
            )


async def client_offices(conn: AsyncConnection, client_id: str) -> frozenset[int]:
    rows = await conn.execute(
        select(api_client_post_offices.c.post_office_id).where(
            api_client_post_offices.c.client_id == client_id
        )
    )
    return frozenset(rows.scalars())


async def user_offices(conn: AsyncConnection, user_id: str) -> frozenset[int]:
    rows = await conn.execute(
        select(staff_user_post_offices.c.post_office_id).where(
            staff_user_post_offices.c.user_id == user_id
        )
    )
    return frozenset(rows.scalars())
