"""Asking providers about attempts that went quiet: a missing callback or IPN, or a call
whose outcome we do not know (``unknown``). The answer goes through
:meth:`AttemptService.apply_outcome` like a callback; no answer is ever guessed.

An attempt the provider does not know and whose time is up is closed: ``expired`` if it was
shown to the payer (VNPAY page), ``failed`` (``not_sent``) if the provider never received it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import structlog
from sqlalchemy import or_, select, update

from gateway.channels.base import Channel, Outcome, Queryable
from gateway.core.db import Database
from gateway.core.db.schema import attempts
from gateway.core.statuses import OPEN_ATTEMPTS, AttemptStatus
from gateway.services.attempts import AttemptService

log = structlog.get_logger(__name__)
#: How long after its expiry an attempt unknown to the provider is given up.
GRACE = timedelta(minutes=5)


class Poller:
    def __init__(
        self,
        db: Database,
        attempts_service: AttemptService,
        channels: Mapping[str, Channel],
        quiet_after: Mapping[str, float],
        batch: int = 100,
    ) -> None:
        self.db = db
        self.attempts = attempts_service
        self.clock = attempts_service.clock
        self.channels = channels
        self.quiet_after = quiet_after
        self.batch = batch

    async def run_once(self) -> int:
        """Query one batch of quiet attempts; return how many were queried."""
        now = self.clock()
        conditions = [
            (attempts.c.channel == name)
            & (attempts.c.updated_at <= now - timedelta(seconds=self.quiet_after[name]))
            for name, channel in self.channels.items()
            if isinstance(channel, Queryable) and name in self.quiet_after
        ]
        if not conditions:
            return 0
        async with self.db.read() as conn:
            quiet = (
                (
                    await conn.execute(
                        select(attempts.c.id)
                        .where(attempts.c.status.in_(sorted(OPEN_ATTEMPTS)), or_(*conditions))
                        .order_by(attempts.c.updated_at)
                        .limit(self.batch)
                    )
                )
                .scalars()
                .all()
            )
        for attempt_id in quiet:
            try:
                await self._query(attempt_id)
            except Exception:
                log.exception("attempt_query_failed", attempt_id=attempt_id)
        return len(quiet)

    async def _query(self, attempt_id: str) -> None:
        async with self.db.read() as conn:
            row = await self.attempts._joined(conn, attempt_id)
        channel = self.channels[row.channel]
        assert isinstance(channel, Queryable)
        outcome = await channel.query(self.attempts.ref(row))
        now = self.clock()
        if outcome is None and row.expires_at is not None and row.expires_at + GRACE <= now:
            # Unknown to the provider and out of time: shown to the payer → expired;
            # never received by the provider → failed.
            if row.status == AttemptStatus.CREATED.value:
                outcome = Outcome(status=AttemptStatus.FAILED, failure_code="not_sent")
            else:
                outcome = Outcome(status=AttemptStatus.EXPIRED)
        async with self.db.write() as conn:
            if outcome is not None:
                applied = await self.attempts.apply_outcome(conn, attempt_id, outcome)
                log.info(
                    "attempt_queried",
                    attempt_id=attempt_id,
                    result=applied.result,
                    reported=outcome.status.value,
                )
                if applied.result == "applied":
                    return
            # Nothing new: look again after the quiet period.
            await conn.execute(
                update(attempts).where(attempts.c.id == attempt_id).values(updated_at=now)
            )
