"""The janitor: one loop that asks providers about every attempt that went quiet, for every
channel — a missing callback or IPN, a call whose outcome we do not know (``unknown``), a
wallet that calls back on success only (ZaloPay). The answer goes through
:meth:`AttemptService.apply_outcome` like a callback; no answer is ever guessed.

Per channel, as data (:class:`Window`, from configuration): the **callback window** — an
attempt is first queried when no word came this long after it last changed — and the
**give-up horizon** — an attempt still open at this age is handed to finance
(``attempts.flagged_at``, event ``attempt.needs_review``), never assumed failed. Between
queries the wait doubles from the callback window up to :data:`MAX_BACKOFF`.

The state is in the database (``next_query_at``, ``query_count``, ``flagged_at``), so any
number of workers share the loop: each claims a batch by moving ``next_query_at`` forward
in one transaction, selecting with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL as the webhook
delivery claim does, so no two workers ask about the same attempt at once.

An attempt the provider does not know and whose time is up is closed: ``expired`` if it was
shown to the payer (a provider page), ``failed`` (``not_sent``) if the provider never
received it.

**Closed by our side.** When its bill expires, is cancelled or is paid through another
attempt, an open attempt is closed (``expired``, ``cancelled``) without a word from its
provider — but the citizen may have paid on the provider's page just then, and the callback
may be lost (issue 12). :func:`gateway.services.payment_state.move` therefore sets such an
attempt's ``next_query_at``; a provider's final word clears it
(:func:`gateway.services.attempts.apply_outcome`). So a closed attempt with a
``next_query_at`` is one our side closed, and the janitor keeps asking about it, with the
same back-off, while it is younger than its channel's horizon: money the provider took goes
through ``apply_outcome`` like a callback (the bill → ``needs_review``, e.g.
``paid_after_expiry``); a final answer (failed, expired, cancelled, or unknown to the provider
after its expiry plus :data:`GRACE`) ends the questions. At the horizon it is simply no longer
asked — it is closed, so nothing is handed to finance — and each pass clears the
``next_query_at`` nobody will act on any more (:meth:`Poller._sweep`), so the claim's
candidates stay the attempts still being asked about. (DVCQG asks integrators to re-poll a
pending transaction for at least 3 days: specs/dvcqg-payment-platform.md §13.2.)

**Refunds.** A refund still ``pending`` (its answer was lost, or the provider is still at
work) is asked about the same way where its channel has a refund query (ZaloPay's
``/v2/query_refund``, VNPAY's ``querydr``: :class:`~gateway.channels.base.RefundQueryable`),
through :meth:`RefundService.requery` — one loop, one claim for attempts and refunds. Each
channel that sends refunds has a **refund horizon** (``Window.refund_give_up``, settings
``<channel>.refund_give_up_after_hours``): a refund still pending at that age is handed to
finance (``refunds.flagged_at``, event ``refund.needs_review``, the
``gateway_refunds_flagged`` gauge) — never assumed failed or succeeded. A flagged refund is
**still asked about**, at the capped back-off (:data:`MAX_BACKOFF`, at most once an hour):
the provider's late word settles it as before (finance sees it leave the list); finance may
record the result first (``POST /v1/refunds/{id}/complete``) — only once it is flagged:
before, the janitor's query is the refund's only judge (``409 refund_still_queried``).
MoMo's refund query is not in the spec (specs/momo-zalopay.md §A.1 lists no refund-query
path or signature), so a pending MoMo refund is never asked about, only handed to finance
at its horizon.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, Row, Table, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.channels.base import Channel, Outcome, Queryable, Refundable, RefundQueryable
from gateway.core.db import Database
from gateway.core.db.schema import attempts, refunds
from gateway.core.statuses import OPEN_ATTEMPTS, AttemptStatus, RefundStatus
from gateway.services.attempts import AttemptService, joined
from gateway.services.attempts import emit_attempt as emit
from gateway.services.refunds import RefundService

log = structlog.get_logger(__name__)
#: How long after its expiry an attempt unknown to the provider is given up.
GRACE = timedelta(minutes=5)
#: The longest wait between two queries of one attempt.
MAX_BACKOFF = timedelta(hours=1)
#: What our side closes an open attempt to with its bill (``payment_state.move``).
CLOSED_BY_US = (AttemptStatus.EXPIRED.value, AttemptStatus.CANCELLED.value)
#: Age buckets of the open-attempts gauge: (label, upper bound).
AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("lt_5m", timedelta(minutes=5)),
    ("5m_30m", timedelta(minutes=30)),
    ("30m_2h", timedelta(hours=2)),
    ("2h_24h", timedelta(hours=24)),
    ("1d_3d", timedelta(days=3)),
    ("gt_3d", None),
)


@dataclass(frozen=True)
class Window:
    """A channel's timing, as data: when to start asking, when to hand over to finance; and
    when a refund still pending is handed over (``None``: the channel sends no refunds)."""

    callback: timedelta
    give_up: timedelta
    refund_give_up: timedelta | None = None

    def backoff(self, count: int) -> timedelta:
        """The wait after the ``count``-th query (1, 2, …): doubling, capped."""
        return min(self.callback * (1 << min(count - 1, 20)), MAX_BACKOFF)


def _quiet_or_due(table: Table, now: datetime, window: Window) -> ColumnElement[bool]:
    """Not asked yet and quiet for the channel's callback window since it last changed, or
    its next query is due (``table``: attempts or refunds)."""
    return or_(
        and_(table.c.next_query_at.is_(None), table.c.updated_at <= now - window.callback),
        table.c.next_query_at <= now,
    )


async def _take(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Any],
    windows: Mapping[str, Window],
    now: datetime,
) -> list[str]:
    """Claim the selected ``rows`` (id, channel, query_count): count the query and move
    ``next_query_at`` past the back-off, in the selecting transaction, so another worker
    skips them."""
    for row in rows:
        count = row.query_count + 1
        await conn.execute(
            update(table)
            .where(table.c.id == row.id)
            .values(query_count=count, next_query_at=now + windows[row.channel].backoff(count))
        )
    return [row.id for row in rows]


def age_bucket(age: timedelta) -> str:
    for label, bound in AGE_BUCKETS:
        if bound is None or age < bound:
            return label
    raise AssertionError("the last bucket has no bound")  # pragma: no cover


class Poller:
    def __init__(
        self,
        db: Database,
        attempts_service: AttemptService,
        channels: Mapping[str, Channel],
        windows: Mapping[str, Window],
        batch: int = 100,
        on_open: Callable[[Mapping[tuple[str, str], int]], None] | None = None,
        refunds_service: RefundService | None = None,
        on_flagged_refunds: Callable[[Mapping[str, int]], None] | None = None,
    ) -> None:
        self.db = db
        self.attempts = attempts_service
        self.clock = attempts_service.clock
        self.channels = channels
        self.windows = {
            name: window
            for name, window in windows.items()
            if isinstance(channels.get(name), Queryable)
        }
        self.batch = batch
        self.refunds = refunds_service
        #: The windows of the channels whose refunds can be asked about.
        self.refund_windows = {
            name: window
            for name, window in self.windows.items()
            if isinstance(channels.get(name), RefundQueryable)
        }
        #: The refund horizons of the channels that send refunds themselves (refunds made by
        #: hand — VietQR, POS — are finance's from the start).
        self.refund_horizons = {
            name: window.refund_give_up
            for name, window in self.windows.items()
            if window.refund_give_up is not None and isinstance(channels.get(name), Refundable)
        }
        #: Told the open attempts by (channel, age bucket) after each pass (the gauge).
        self.on_open = on_open
        #: Told the pending refunds handed to finance, by channel, after each pass (the
        #: ``gateway_refunds_flagged`` gauge: an alert while above 0).
        self.on_flagged_refunds = on_flagged_refunds

    async def run_once(self) -> int:
        """Query one batch of quiet attempts; return how many were queried."""
        await self._sweep(self.clock())
        claimed = await self._claim(self.clock())
        for attempt_id in claimed:
            try:
                await self.query(attempt_id)
            except Exception:
                log.exception("attempt_query_failed", attempt_id=attempt_id)
        refunds_claimed = await self._claim_refunds(self.clock())
        for refund_id in refunds_claimed:
            assert self.refunds is not None  # nothing is claimed without it
            try:
                status = await self.refunds.requery(refund_id)
            except Exception:
                log.exception("refund_query_failed", refund_id=refund_id)
            else:
                log.info("refund_queried", refund_id=refund_id, status=status)
        await self._flag_refunds(self.clock())
        if self.on_open is not None:
            self.on_open(await self.open_by_age())
        if self.on_flagged_refunds is not None and self.refunds is not None:
            self.on_flagged_refunds(await self.refunds.flagged_by_channel())
        return len(claimed) + len(refunds_claimed)

    async def query_now(self, payment_id: str, channel: str, reference: str) -> None:
        """The citizen is back from a wallet's page (a hint, display only): ask the provider
        now about the payment's open attempt with this reference instead of waiting for the
        callback window. Anything else is ignored."""
        if channel not in self.windows:
            return
        async with self.db.read() as conn:
            row = await self.attempts.find_by_reference(conn, channel, reference, lock=False)
        if row is None or row.payment_id != payment_id:
            return
        if AttemptStatus(row.status) not in OPEN_ATTEMPTS:
            return
        try:
            await self.query(row.id)
        except Exception:
            log.exception("attempt_query_failed", attempt_id=row.id)

    async def _sweep(self, now: datetime) -> None:
        """Clear ``next_query_at`` where it will never be acted on, so the claim's candidates
        do not grow with history: a final attempt our side did not close (its provider's
        word is in), one of a channel the janitor does not query, and one our side closed
        that is past its channel's horizon. (A flagged open attempt is cleared when it is
        flagged.)"""
        queried = sorted(self.windows)
        stale = [
            and_(
                attempts.c.status.not_in(sorted(OPEN_ATTEMPTS)),
                attempts.c.status.not_in(CLOSED_BY_US),
            ),
            attempts.c.channel.not_in(queried),
            *(
                and_(
                    attempts.c.channel == name,
                    attempts.c.status.in_(CLOSED_BY_US),
                    attempts.c.created_at <= now - window.give_up,
                )
                for name, window in self.windows.items()
            ),
        ]
        async with self.db.write() as conn:
            result = await conn.execute(
                update(attempts)
                .where(attempts.c.next_query_at.is_not(None), or_(*stale))
                .values(next_query_at=None)
            )
        if result.rowcount:
            log.info("attempt_queries_ended", attempts=result.rowcount)

    async def _claim_refunds(self, now: datetime) -> list[str]:
        """Take the due pending refunds of channels that can be asked about them (quiet for
        the channel's callback window since they were sent, then with the attempts'
        back-off, until final), the way :meth:`_claim` takes attempts."""
        if self.refunds is None or not self.refund_windows:
            return []
        due = [
            and_(attempts.c.channel == name, _quiet_or_due(refunds, now, window))
            for name, window in self.refund_windows.items()
        ]
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    select(refunds.c.id, attempts.c.channel, refunds.c.query_count)
                    .join(attempts, attempts.c.id == refunds.c.attempt_id)
                    .where(refunds.c.status == RefundStatus.PENDING.value, or_(*due))
                    .order_by(func.coalesce(refunds.c.next_query_at, refunds.c.updated_at))
                    .limit(self.batch)
                    .with_for_update(of=refunds, skip_locked=True)
                )
            ).all()
            return await _take(conn, refunds, rows, self.refund_windows, now)

    async def _flag_refunds(self, now: datetime) -> int:
        """Hand to finance, once, the refunds still pending past their channel's refund
        horizon (counted from when they were asked for); how many were handed over. The
        candidates are read without a lock; each is then flagged in its own transaction in
        the one lock order (:meth:`RefundService.flag`: the bill, then the refund), so the
        janitor never holds a refund while it waits for a bill a settlement holds."""
        if self.refunds is None or not self.refund_horizons:
            return 0
        over = [
            and_(attempts.c.channel == name, refunds.c.created_at <= now - horizon)
            for name, horizon in self.refund_horizons.items()
        ]
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(refunds.c.id, attempts.c.channel, refunds.c.query_count)
                    .join(attempts, attempts.c.id == refunds.c.attempt_id)
                    .where(
                        refunds.c.status == RefundStatus.PENDING.value,
                        refunds.c.flagged_at.is_(None),
                        or_(*over),
                    )
                    .order_by(refunds.c.created_at, refunds.c.id)
                    .limit(self.batch)
                )
            ).all()
        flagged = 0
        for row in rows:
            if not await self.refunds.flag(row.id, now):
                continue  # settled, flagged or held meanwhile
            flagged += 1
            log.warning(
                "refund_flagged_for_review",
                refund_id=row.id,
                provider=row.channel,
                queries=row.query_count,
            )
        return flagged

    async def _claim(self, now: datetime) -> list[str]:
        """Take the due attempts — open ones not yet handed to finance, and those our side
        closed that are younger than their channel's horizon: move each one's
        ``next_query_at`` to after its back-off and count the query, in one transaction, so
        another worker skips them."""
        open_ = and_(attempts.c.status.in_(sorted(OPEN_ATTEMPTS)), attempts.c.flagged_at.is_(None))
        closed_by_us = attempts.c.status.in_(CLOSED_BY_US)
        due = [
            and_(
                attempts.c.channel == name,
                or_(
                    and_(open_, _quiet_or_due(attempts, now, window)),
                    and_(
                        closed_by_us,
                        attempts.c.next_query_at <= now,
                        attempts.c.created_at > now - window.give_up,
                    ),
                ),
            )
            for name, window in self.windows.items()
        ]
        if not due:
            return []
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    select(attempts.c.id, attempts.c.channel, attempts.c.query_count)
                    .where(or_(*due))
                    .order_by(func.coalesce(attempts.c.next_query_at, attempts.c.updated_at))
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            return await _take(conn, attempts, rows, self.windows, now)

    async def query(self, attempt_id: str) -> None:
        """Ask the provider about the attempt now and apply its word — the one code path that
        queries and applies, for the janitor's pass and for a DVCQG callback (a hint that is
        settled only by QUERY). A provider's error is raised after an open attempt past its
        horizon is handed to finance."""
        async with self.db.read() as conn:
            row = await joined(conn, attempt_id)
        channel = self.channels[row.channel]
        assert isinstance(channel, Queryable)
        try:
            outcome = await channel.query(self.attempts.ref(row))
        except Exception:
            # A provider that cannot answer (down, an answer we cannot read) must not keep an
            # open attempt from finance forever: past the horizon it is handed over all the
            # same, then the error is logged by the loop.
            if AttemptStatus(row.status) in OPEN_ATTEMPTS:
                async with self.db.write() as conn:
                    await self._flag_if_over(conn, attempt_id, self.clock())
            raise
        now = self.clock()
        if AttemptStatus(row.status) not in OPEN_ATTEMPTS:
            await self._closed_by_us(row, outcome, now)
            return
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
                    provider=row.channel,
                    result=applied.result,
                    reported=outcome.status.value,
                )
            await self._flag_if_over(conn, attempt_id, now)

    async def _closed_by_us(self, row: Row[Any], outcome: Outcome | None, now: datetime) -> None:
        """The provider's answer about an attempt our side closed with its bill: money goes
        through ``apply_outcome`` like a callback; any final answer ends the questions; a
        payment still under way there (or not yet known) is asked about again later."""
        if outcome is None:
            if row.expires_at is None or row.expires_at + GRACE > now:
                return
        elif outcome.status in OPEN_ATTEMPTS:
            return
        async with self.db.write() as conn:
            result = "unknown_to_provider"
            if outcome is not None:
                result = (await self.attempts.apply_outcome(conn, row.id, outcome)).result
            await conn.execute(
                update(attempts).where(attempts.c.id == row.id).values(next_query_at=None)
            )
        log.info(
            "closed_attempt_queried",
            attempt_id=row.id,
            provider=row.channel,
            result=result,
            reported=None if outcome is None else outcome.status.value,
        )

    async def _flag_if_over(self, conn: AsyncConnection, attempt_id: str, now: datetime) -> None:
        """Still open past its channel's horizon: hand it to finance, once."""
        row = await joined(conn, attempt_id, lock=True)
        window = self.windows[row.channel]
        open_ = AttemptStatus(row.status) in OPEN_ATTEMPTS
        if not open_ or row.flagged_at is not None or row.created_at + window.give_up > now:
            return
        await conn.execute(  # flagged: no longer asked about, so nothing to ask next
            update(attempts)
            .where(attempts.c.id == attempt_id)
            .values(flagged_at=now, next_query_at=None)
        )
        await emit(conn, self.attempts.context, "attempt.needs_review", attempt_id, row.payment_id)
        log.warning(
            "attempt_flagged_for_review",
            attempt_id=attempt_id,
            provider=row.channel,
            queries=row.query_count,
        )

    async def open_by_age(self) -> Counter[tuple[str, str]]:
        """Open attempts by (channel, age bucket), for the metrics gauge. Counted by the
        database: the janitor runs this every round, and fetching every open attempt to
        bucket it here cost about 6 µs of the gateway's CPU per open attempt per round.
        ``age < bound`` of :func:`age_bucket` is ``created_at > now - bound``."""
        now = self.clock()
        bucket = case(
            *(
                (attempts.c.created_at > now - bound, label)
                for label, bound in AGE_BUCKETS
                if bound is not None
            ),
            else_=AGE_BUCKETS[-1][0],
        ).label("age")
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(attempts.c.channel, bucket, func.count().label("count"))
                    .where(attempts.c.status.in_(sorted(OPEN_ATTEMPTS)))
                    .group_by(attempts.c.channel, bucket)
                )
            ).all()
        return Counter({(row.channel, row.age): row.count for row in rows})
