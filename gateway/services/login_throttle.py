"""Back-off and lock-out of console sign-ins, per user and per client address (issue 14).

Both staff consoles sign in through one form, hence through :meth:`StaffService.login`,
which asks this module before it looks at the password:

- a subject — ``user:<username>`` or ``address:<ip>`` — that failed too often is refused
  until its back-off ends (:class:`LoginThrottled`, 429), *without* the password being
  checked, and the refused try is not counted;
- a user who failed ``lock_after`` times is locked (:class:`AccountLocked`): even the right
  password does not sign in until an administrator unlocks the account
  (``gateway users unlock <username>``);
- unknown usernames are counted like known ones, so the answers tell nothing about which
  accounts exist; an address is only slowed down, never locked (one NAT, a whole office).

The counts live in the database (``login_throttles``), so every service process sees them;
time comes from the injected clock. Rules: ``[console_login]`` (config/settings.py). Each
failure also drops the rows that no longer count (forgotten, not blocked, not locked), so a
crowd of invented usernames cannot grow the table beyond what ``forget_after_seconds`` holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from config.settings import ConsoleLoginSettings
from gateway.core.db import Database
from gateway.core.db.schema import login_throttles
from gateway.core.errors import AccountLocked, LoginThrottled
from gateway.core.ids import Clock

log = structlog.get_logger(__name__)


def user_subject(username: str) -> str:
    return f"user:{username[:64]}"


def address_subject(address: str) -> str:
    return f"address:{address[:128]}"


class LoginThrottle:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        rules: ConsoleLoginSettings,
        on_outcome: Callable[[str], None] = lambda _outcome: None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.rules = rules
        self.on_outcome = on_outcome  # counts outcomes (metrics): failed, throttled, locked

    async def check(self, username: str, address: str) -> None:
        """Raise :class:`AccountLocked` or :class:`LoginThrottled` when this try must be
        refused before the password is looked at."""
        now = self.clock()
        user, remote = user_subject(username), address_subject(address)
        async with self.db.read() as conn:
            rows = {
                row.subject: row
                for row in await conn.execute(
                    select(login_throttles).where(login_throttles.c.subject.in_([user, remote]))
                )
            }
        locked = rows.get(user)
        if locked is not None and locked.locked_at is not None:
            self.on_outcome("locked")
            log.warning("console_login_locked", username=username, remote=address)
            raise AccountLocked()
        waits = [
            row.blocked_until - now
            for row in rows.values()
            if row.blocked_until is not None and row.blocked_until > now
        ]
        if waits:
            retry_after = math.ceil(max(waits).total_seconds())
            self.on_outcome("throttled")
            log.warning(
                "console_login_throttled",
                username=username,
                remote=address,
                retry_after=retry_after,
            )
            raise LoginThrottled(retry_after)

    async def failed(self, username: str, address: str) -> None:
        """Count a wrong password (or unknown user) against the user and the address."""
        rules = self.rules
        async with self.db.write() as conn:
            newly_locked = await self._count(
                conn, user_subject(username), rules.backoff_after, lock_after=rules.lock_after
            )
            await self._count(conn, address_subject(address), rules.address_backoff_after)
        async with self.db.write() as conn:  # its own transaction: no lock held with the counts
            await self._prune(conn)
        self.on_outcome("failed")
        if newly_locked:
            self.on_outcome("locked")
            log.warning("console_login_locked", username=username, remote=address)

    async def succeeded(self, username: str) -> None:
        """A right password forgets the user's failures (the address's stay: one valid
        account must not reset the count of an address trying many others)."""
        async with self.db.write() as conn:
            await conn.execute(
                delete(login_throttles).where(login_throttles.c.subject == user_subject(username))
            )

    async def unlock(self, username: str) -> bool:
        """Lift a user's lock-out and back-off; True when there was one."""
        async with self.db.write() as conn:
            removed = await conn.execute(
                delete(login_throttles)
                .where(login_throttles.c.subject == user_subject(username))
                .returning(login_throttles.c.subject)
            )
            return removed.first() is not None

    async def _prune(self, conn: AsyncConnection) -> None:
        """Drop the subjects whose failures are forgotten: no back-off running, no lock-out."""
        now = self.clock()
        await conn.execute(
            delete(login_throttles).where(
                login_throttles.c.locked_at.is_(None),
                login_throttles.c.last_failure_at
                < now - timedelta(seconds=self.rules.forget_after_seconds),
                or_(
                    login_throttles.c.blocked_until.is_(None),
                    login_throttles.c.blocked_until <= now,
                ),
            )
        )

    async def _count(
        self, conn: AsyncConnection, subject: str, backoff_after: int, *, lock_after: int = 0
    ) -> bool:
        """One more failure of ``subject``; return True when it locks the subject now."""
        now = self.clock()
        dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else postgres_insert
        await conn.execute(
            dialect_insert(login_throttles)
            .values(subject=subject, failures=0, last_failure_at=now)
            .on_conflict_do_nothing(index_elements=["subject"])
        )
        row = (
            await conn.execute(
                select(login_throttles)
                .where(login_throttles.c.subject == subject)
                .with_for_update()
            )
        ).one()
        forgotten = now - row.last_failure_at > timedelta(seconds=self.rules.forget_after_seconds)
        failures = 1 if forgotten and row.locked_at is None else row.failures + 1
        locks = bool(lock_after) and failures >= lock_after and row.locked_at is None
        await conn.execute(
            update(login_throttles)
            .where(login_throttles.c.subject == subject)
            .values(
                failures=failures,
                last_failure_at=now,
                blocked_until=self._blocked_until(now, failures, backoff_after),
                locked_at=now if locks else row.locked_at,
            )
        )
        return locks

    def _blocked_until(self, now: datetime, failures: int, backoff_after: int) -> datetime | None:
        if failures < backoff_after:
            return None
        rules = self.rules
        doublings = min(failures - backoff_after, 32)  # 2**32 s is past any cap
        delay = min(rules.base_delay_seconds * 2**doublings, rules.max_delay_seconds)
        return now + timedelta(seconds=delay)
