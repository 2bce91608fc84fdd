"""API clients: keys are shown once and stored as SHA-256 hashes.

A key looks like ``gw_<id>_<secret>``; the id finds the row, the hash of the whole key is
compared in constant time. Keys carry 192 random bits, so a fast hash is appropriate (a slow
password hash protects low-entropy secrets, which these are not).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Column, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from config.settings import API_KEY_FORMAT
from gateway.core.db import Database
from gateway.core.db.schema import (
    agencies,
    api_client_agencies,
    api_client_post_offices,
    api_clients,
)
from gateway.core.errors import FieldError, NotFound, Unauthenticated, ValidationFailed
from gateway.core.ids import Clock
from gateway.core.roles import Role

#: The roles a credential may hold deployment-wide (``all_agencies``): reconciliation's, and
#: the administrator's (who may act in every role).
DEPLOYMENT_WIDE_ROLES = (Role.FINANCE, Role.FINANCE_APPROVER, Role.ADMIN)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the client and the agencies its key is scoped to; a
    ``postal_operator`` also to the post offices whose orders it may see and report on.
    ``all_agencies``: a deployment-wide finance key (reconciliation sees every agency)."""

    client_id: str
    role: Role
    agency_ids: frozenset[int]
    post_office_ids: frozenset[int] = frozenset()
    all_agencies: bool = False


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    client_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(10))
    return f"gw_{client_id}_{secrets.token_urlsafe(24)}"


def key_id(key: str) -> str | None:
    match = API_KEY_FORMAT.match(key)
    return match.group(1) if match else None


async def create_client(
    db: Database,
    clock: Clock,
    *,
    name: str,
    role: Role,
    agency_codes: list[str],
    key: str | None = None,
    person: str | None = None,
    all_agencies: bool = False,
) -> tuple[str, str]:
    """Create a client scoped to ``agency_codes``; return ``(client_id, key)``. ``person``
    names the staff member who holds it (shared with their console user, see workflow).
    ``all_agencies`` makes a finance key deployment-wide (a provincial finance department);
    only finance and admin roles may have it: a portal or counter key stays per agency.

    ``key`` lets sandbox mode use a key fixed by configuration; it must have the key format.
    """
    key = key or generate_key()
    client_id = key_id(key)
    if client_id is None:
        raise ValueError("API key must look like gw_<10 lower-case letters/digits>_<32+ chars>")
    if all_agencies and role not in DEPLOYMENT_WIDE_ROLES:
        raise ValidationFailed(
            [FieldError("all_agencies", "invalid_choice", "only finance and admin keys")]
        )
    async with db.write() as conn:
        rows = (
            await conn.execute(
                select(agencies.c.id, agencies.c.code).where(agencies.c.code.in_(agency_codes))
            )
        ).all()
        missing = set(agency_codes) - {row.code for row in rows}
        if missing:
            raise NotFound(f"unknown agency: {', '.join(sorted(missing))}")
        await conn.execute(
            insert(api_clients).values(
                id=client_id,
                name=name,
                role=role.value,
                key_hash=hash_key(key),
                person=person,
                all_agencies=all_agencies,
                created_at=clock(),
            )
        )
        if rows:
            await conn.execute(
                insert(api_client_agencies),
                [{"client_id": client_id, "agency_id": row.id} for row in rows],
            )
    return client_id, key


async def authenticate(db: Database, key: str) -> Principal:
    """Resolve a presented key to a :class:`Principal` or raise :class:`Unauthenticated`."""
    client_id = key_id(key)
    if client_id is None:
        raise Unauthenticated("API key is malformed")
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(
                    api_clients.c.key_hash,
                    api_clients.c.role,
                    api_clients.c.revoked_at,
                    api_clients.c.all_agencies,
                ).where(api_clients.c.id == client_id)
            )
        ).first()
        if row is None or row.revoked_at is not None:
            raise Unauthenticated("API key is not valid")
        if not hmac.compare_digest(row.key_hash, hash_key(key)):
            raise Unauthenticated("API key is not valid")
        if row.all_agencies:  # every agency, those added since the key was made included
            agency_ids = frozenset((await conn.execute(select(agencies.c.id))).scalars())
        else:
            agency_ids = await _scope(conn, api_client_agencies.c.agency_id, client_id)
        role = Role(row.role)
        offices: frozenset[int] = frozenset()
        if role in (Role.POSTAL_OPERATOR, Role.ADMIN):  # other keys skip the third statement
            offices = await _scope(conn, api_client_post_offices.c.post_office_id, client_id)
        return Principal(
            client_id=client_id,
            role=role,
            agency_ids=agency_ids,
            post_office_ids=offices,
            all_agencies=bool(row.all_agencies),
        )


async def _scope(conn: AsyncConnection, column: Column[int], client_id: str) -> frozenset[int]:
    """The ids in ``column`` of a scope table (one row per client and id) for ``client_id``."""
    rows = await conn.execute(select(column).where(column.table.c.client_id == client_id))
    return frozenset(rows.scalars())


class PrincipalCache:
    """Recently verified keys → their principal, for ``ttl_seconds``.

    Authentication otherwise costs every request a pool checkout and two statements (measured
    on payment creation). Only successful checks are kept, under the SHA-256 of the key, so a
    wrong key always reaches the database; a revoked key or a changed scope takes effect
    within the TTL. It is derived data: losing it loses nothing.
    """

    def __init__(self, db: Database, clock: Clock, ttl_seconds: float = 10, size: int = 10_000):
        self.db = db
        self.clock = clock
        self.ttl = ttl_seconds
        self.size = size
        self._entries: dict[str, tuple[float, Principal]] = {}

    async def authenticate(self, key: str) -> Principal:
        digest = hash_key(key)
        now = self.clock().timestamp()
        cached = self._entries.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        who = await authenticate(self.db, key)
        if len(self._entries) >= self.size:
            self._entries.clear()  # simple and bounded; a refill costs one lookup per key
        self._entries[digest] = (now + self.ttl, who)
        return who
