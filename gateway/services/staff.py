"""Staff console accounts: scrypt password hashes, server-side sessions, CSRF tokens.

The session cookie holds 256 random bits; only its SHA-256 is stored, so a leaked database
does not let anyone in. Each session has its own CSRF token, required on every form POST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.core.db import Database
from gateway.core.db.schema import agencies, staff_sessions, staff_user_agencies, staff_users
from gateway.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from gateway.core.ids import Clock, new_id
from gateway.core.roles import Role
from gateway.services.clients import DEPLOYMENT_WIDE_ROLES
from gateway.services.login_throttle import LoginThrottle

log = structlog.get_logger(__name__)

SESSION_LIFETIME = timedelta(hours=8)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_USERNAME = re.compile(r"^[a-z0-9._-]{3,64}$")


@dataclass(frozen=True)
class StaffUser:
    id: str
    username: str
    display_name: str
    role: Role
    agency_ids: frozenset[int]
    csrf_token: str = ""
    all_agencies: bool = False  # deployment-wide finance staff (see clients.create_client)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    parts = ["scrypt", *(str(_SCRYPT[k]) for k in ("n", "r", "p"))]
    parts += [base64.b64encode(salt).decode(), base64.b64encode(digest).decode()]
    return "$".join(parts)


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=int(r), p=int(p)
        )
    except ValueError:
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StaffService:
    def __init__(self, db: Database, clock: Clock, throttle: LoginThrottle | None = None) -> None:
        self.db = db
        self.clock = clock
        self.throttle = throttle

    async def create_user(
        self,
        *,
        username: str,
        display_name: str,
        role: Role,
        password: str,
        agency_codes: list[str],
        person: str | None = None,
        all_agencies: bool = False,
    ) -> str:
        errors = []
        if not _USERNAME.match(username):
            errors.append(FieldError("username", "invalid_format", "3–64 of a–z 0–9 . _ -"))
        if len(password) < 12:
            errors.append(FieldError("password", "too_short", "at least 12 characters"))
        if role not in (Role.FINANCE, Role.FINANCE_APPROVER, Role.POSTAL_OPERATOR, Role.ADMIN):
            errors.append(FieldError("role", "invalid_choice", "not a staff role"))
        if all_agencies and role not in DEPLOYMENT_WIDE_ROLES:
            errors.append(
                FieldError("all_agencies", "invalid_choice", "only finance and admin users")
            )
        if errors:
            raise ValidationFailed(errors)
        user_id = new_id("usr")
        try:
            async with self.db.write() as conn:
                rows = (
                    (
                        await conn.execute(
                            select(agencies.c.id).where(agencies.c.code.in_(agency_codes))
                        )
                    )
                    .scalars()
                    .all()
                )
                if len(rows) != len(set(agency_codes)):
                    raise ValidationFailed(
                        [FieldError("agency", "unknown_agency", "an agency code is unknown")]
                    )
                await conn.execute(
                    insert(staff_users).values(
                        id=user_id,
                        username=username,
                        display_name=display_name,
                        role=role.value,
                        person=person,
                        all_agencies=all_agencies,
                        password_hash=hash_password(password),
                        created_at=self.clock(),
                    )
                )
                if rows:
                    await conn.execute(
                        insert(staff_user_agencies),
                        [{"user_id": user_id, "agency_id": agency_id} for agency_id in rows],
                    )
        except IntegrityError:
            raise Conflict(f"user {username} already exists") from None
        return user_id

    async def login(
        self, username: str, password: str, address: str = "unknown"
    ) -> tuple[str, StaffUser]:
        """Check the password and open a session; return ``(cookie value, user)``.

        With a throttle, a user or ``address`` that failed too often is refused first
        (:class:`LoginThrottled`, :class:`AccountLocked`), whatever the password."""
        if self.throttle is not None:
            await self.throttle.check(username, address)
        try:
            return await self._login(username, password)
        except Unauthenticated:
            if self.throttle is not None:
                await self.throttle.failed(username, address)
            raise

    async def _login(self, username: str, password: str) -> tuple[str, StaffUser]:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(staff_users).where(staff_users.c.username == username))
            ).first()
        # Verify against a dummy hash when the user is unknown, so timing does not tell.
        stored = row.password_hash if row is not None else _DUMMY_HASH
        if not verify_password(password, stored) or row is None or row.disabled_at is not None:
            raise Unauthenticated("wrong username or password")
        token = secrets.token_urlsafe(32)
        now = self.clock()
        async with self.db.write() as conn:
            await conn.execute(
                insert(staff_sessions).values(
                    token_hash=_token_hash(token),
                    user_id=row.id,
                    csrf_token=secrets.token_urlsafe(24),
                    created_at=now,
                    expires_at=now + SESSION_LIFETIME,
                )
            )
        if self.throttle is not None:
            await self.throttle.succeeded(username)
        return token, await self.session_user(token)

    async def unlock(self, username: str) -> bool:
        """Lift the lock-out (and back-off) of ``username`` after failed sign-ins; True when
        there was one. An unknown user is :class:`NotFound`."""
        if not await self.has_user(username):
            raise NotFound(f"no console user {username}")
        if self.throttle is None:
            return False
        unlocked = await self.throttle.unlock(username)
        if unlocked:
            log.info("console_login_unlocked", username=username)
        return unlocked

    async def session_user(self, token: str) -> StaffUser:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(staff_users, staff_sessions.c.csrf_token, staff_sessions.c.expires_at)
                    .join(staff_sessions, staff_sessions.c.user_id == staff_users.c.id)
                    .where(staff_sessions.c.token_hash == _token_hash(token))
                )
            ).first()
            if row is None or row.expires_at <= self.clock() or row.disabled_at is not None:
                raise Unauthenticated("please sign in")
            scope = (
                (
                    await conn.execute(
                        select(agencies.c.id)  # deployment-wide: every agency, new ones too
                        if row.all_agencies
                        else select(staff_user_agencies.c.agency_id).where(
                            staff_user_agencies.c.user_id == row.id
                        )
                    )
                )
                .scalars()
                .all()
            )
        return StaffUser(
            id=row.id,
            username=row.username,
            display_name=row.display_name,
            role=Role(row.role),
            agency_ids=frozenset(scope),
            csrf_token=row.csrf_token,
            all_agencies=bool(row.all_agencies),
        )

    async def logout(self, token: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                delete(staff_sessions).where(staff_sessions.c.token_hash == _token_hash(token))
            )

    async def has_user(self, username: str) -> bool:
        async with self.db.read() as conn:
            return (
                await conn.execute(
                    select(staff_users.c.id).where(staff_users.c.username == username)
                )
            ).first() is not None


_DUMMY_HASH = hash_password("not-a-password", salt=b"\0" * 16)
