"""The sandbox's post office: ``BC-DEMO`` serving the demo agency, an operator API key and the
console user ``buucuc``, so ``gateway serve`` shows the operator side too."""

from __future__ import annotations

import secrets

from aiohttp import web
from sqlalchemy import select, update

from gateway.core.db.schema import agencies, api_clients, staff_users
from gateway.core.roles import Role
from gateway.keys import CLOCK, DATABASE, SETTINGS, STAFF
from gateway.services.clients import create_client
from gateway.services.postal import offices
from gateway.services.staff import hash_password

DEMO_OFFICE = "BC-DEMO"
DEMO_OFFICE_NAME = "Bưu cục Trung tâm Hành chính công (demo)"
DEMO_OPERATOR_CLIENT = "Bưu cục demo (BC-DEMO)"
DEMO_OPERATOR_USER = ("buucuc", "Nhân viên Bưu cục (demo)")


async def seed_demo_operator(app: web.Application) -> tuple[str, str]:
    """Create, if missing, post office ``BC-DEMO`` serving the demo agency (which must exist:
    call after the demo agency is seeded), then give the operator API client and the
    console user ``buucuc`` a fresh key and password at every start (the previous demo
    key is revoked); return ``(operator API key, password)`` to print them."""
    db, clock = app[DATABASE], app[CLOCK]
    agency_code = app[SETTINGS].demo.agency_code
    async with db.read() as conn:
        office = await offices.find_post_office(conn, DEMO_OFFICE)
        agency_id = (
            await conn.execute(select(agencies.c.id).where(agencies.c.code == agency_code))
        ).scalar_one()
        served = await offices.office_of_agency(conn, agency_id)
    if office is None:
        office = await offices.add_post_office(db, clock, DEMO_OFFICE, DEMO_OFFICE_NAME)
    if served is None:
        await offices.serve_agency(db, agency_code, DEMO_OFFICE)

    async with db.write() as conn:
        await conn.execute(
            update(api_clients)
            .where(
                api_clients.c.name == DEMO_OPERATOR_CLIENT,
                api_clients.c.role == Role.POSTAL_OPERATOR.value,
                api_clients.c.revoked_at.is_(None),
            )
            .values(revoked_at=clock())
        )
    client_id, key = await create_client(
        db, clock, name=DEMO_OPERATOR_CLIENT, role=Role.POSTAL_OPERATOR, agency_codes=[]
    )
    await offices.scope_client(db, client_id, [DEMO_OFFICE])

    username, display_name = DEMO_OPERATOR_USER
    password = secrets.token_urlsafe(12)
    staff = app[STAFF]
    if await staff.has_user(username):
        async with db.write() as conn:
            await conn.execute(
                update(staff_users)
                .where(staff_users.c.username == username)
                .values(password_hash=hash_password(password))
            )
    else:
        await staff.create_user(
            username=username,
            display_name=display_name,
            role=Role.POSTAL_OPERATOR,
            password=password,
            agency_codes=[],
        )
    async with db.read() as conn:
        user_id = (
            await conn.execute(select(staff_users.c.id).where(staff_users.c.username == username))
        ).scalar_one()
        scoped = office.id in await offices.user_offices(conn, user_id)
    if not scoped:
        await offices.scope_user(db, username, [DEMO_OFFICE])
    return key, password
