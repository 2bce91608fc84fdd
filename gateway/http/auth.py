"""``Authorization: Bearer <key>`` → :class:`Principal`."""

from __future__ import annotations

from aiohttp import web

from gateway.core.errors import Forbidden, Unauthenticated
from gateway.core.roles import Role
from gateway.keys import PRINCIPALS
from gateway.services.clients import Principal


async def principal(request: web.Request, *roles: Role) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthenticated("send the API key as 'Authorization: Bearer <key>'")
    who = await request.app[PRINCIPALS].authenticate(key.strip())
    if roles and who.role not in roles and who.role is not Role.ADMIN:
        raise Forbidden(f"role {who.role.value!r} may not do this")
    return who
