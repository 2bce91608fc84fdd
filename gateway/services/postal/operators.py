"""Postal operators (VNPost staff): their feed of orders, accepting, events and handovers.

An operator is an API client with role ``postal_operator`` or a console user with that role,
scoped to post offices (``api_client_post_offices`` / ``staff_user_post_offices``). They see
and report on the orders of those offices only; any other order answers ``404 not_found``,
exactly as an order that does not exist (its existence is not revealed).

- **Feed.** Orders of their offices by ``(updated_at, id)`` ascending after an opaque cursor;
  an order that changes (status, acceptance, a handover, COD) gets a new ``updated_at`` and
  comes again. Orders still ``submitting`` or ``submit_failed`` are left out: the carrier has
  not accepted them, so there is nothing to pick up; one that the carrier accepts becomes
  ``created``, which moves its ``updated_at`` into the feed. ``next_cursor`` is always given,
  so a poller keeps the last one and asks again from it. (Asked for by id, such an order is
  shown, and an event about it is stored but moves nothing.) A known limit of a feed keyed
  on time: ``updated_at`` is the writer's clock, so on PostgreSQL two transactions that
  commit out of order within a moment could let a poller step past the earlier one; it
  comes again at its next change, and an occasional read from the start (no cursor)
  catches up.
- **Events** are stored once per ``(operator:<client id>, event_id)`` through
  :func:`gateway.services.postal.state.record_event`, so rank and time decide whether one
  moves the order (``applied``) or is kept as history. The same ``event_id`` sent again with
  the same content is recognised (``200``, the first answer's event, ``Idempotent-Replayed``);
  with other content it is refused: ``409 duplicate_event``, nothing changed.
- **Accepting** sets ``accepted_at``/``accepted_by`` once and announces
  ``postal.order.updated``; the same operator accepting again gets the same answer, another
  one ``409 already_accepted``; an order not with the carrier or final cannot be accepted
  (``409 order_not_acceptable``).
- **Times** more than :data:`MAX_CLOCK_SKEW` ahead of ours are refused (``422``, field code
  ``in_future``): a future time would hold the order against every later report. Times more
  than :data:`MAX_CLOCK_SKEW` before the order existed are refused too (``before_order``):
  nothing happens to a parcel before it is booked, and a handover's time is when its COD
  was collected, which decides whether the bill was paid in time.
- **Handovers**: see :mod:`gateway.services.postal.operator_handovers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.db.schema import postal_events, postal_orders
from gateway.core.errors import (
    AlreadyAccepted,
    DeliveryAttemptsRequired,
    DeliveryAttemptTooSoon,
    DuplicateEvent,
    FieldError,
    NotAcceptable,
    NotFound,
    ValidationFailed,
)
from gateway.core.postal import attempts
from gateway.core.postal.orders import NEEDS_REVIEW, SUBMIT_FAILED, SUBMITTING, is_final
from gateway.models.postal_requests import Handover, OperatorEvent
from gateway.services.clients import Principal
from gateway.services.payments import decode_cursor, encode_cursor
from gateway.services.postal import operator_views as views
from gateway.services.postal import state
from gateway.services.postal.operator_handovers import HANDOVER_EVENT_PREFIX, HandoverRecorder
from gateway.services.sealing import Sealer
from providers.common.postal import FINAL_STATUSES, PostalStatus

#: How far ahead of our clock a reported time may be (a handset's clock runs fast); beyond
#: it the report is refused: a future time would hold the order against every later event.
MAX_CLOCK_SKEW = timedelta(minutes=10)
FEED_LIMIT_MAX = 100
#: Not in the feed: the carrier has not accepted these.
NOT_WITH_CARRIER = (SUBMITTING, SUBMIT_FAILED)


@dataclass(frozen=True)
class Operator:
    """Who reports, as stored in ``postal_events.source`` and ``recorded_by``
    (``operator:<client id>`` or ``staff:<user id>``), and the offices they serve."""

    reporter: str
    office_ids: frozenset[int]

    @classmethod
    def of(cls, who: Principal | Operator) -> Operator:
        if isinstance(who, Operator):
            return who
        return cls(f"operator:{who.client_id}", who.post_office_ids)

    @classmethod
    def staff(cls, user_id: str, office_ids: frozenset[int]) -> Operator:
        return cls(f"staff:{user_id}", office_ids)


@dataclass(frozen=True)
class Reported:
    """The answer to an event or a handover; ``replayed`` when it was recognised as sent
    before (the answer is then the first one's, the order as it stands now)."""

    body: dict[str, Any]
    replayed: bool = False


def check_time(at: datetime, now: datetime, order: Any, field: str) -> None:
    """A reported time is between the order's creation and now (give or take the skew)."""
    if at > now + MAX_CLOCK_SKEW:
        raise ValidationFailed([FieldError(field, "in_future", "the time is in the future")])
    if at < order.created_at - MAX_CLOCK_SKEW:
        message = "the time is before the order was booked"
        raise ValidationFailed([FieldError(field, "before_order", message)])


class OperatorService:
    def __init__(self, db: Database, context: state.PostalContext, sealer: Sealer) -> None:
        self.db = db
        self.context = context
        self.sealer = sealer
        self.handovers = HandoverRecorder(context, sealer)

    # -- read -----------------------------------------------------------------------------

    async def feed(
        self, who: Principal | Operator, cursor: str | None, limit: int = 50
    ) -> dict[str, Any]:
        """Orders of the operator's offices changed after ``cursor``, oldest change first."""
        operator = Operator.of(who)
        after_at, after_id = (
            decode_cursor(cursor, prefix="pso_") if cursor else (views.EPOCH, "pso_")
        )
        limit = max(1, min(limit, FEED_LIMIT_MAX))
        query = (
            views.view_query()
            .where(
                postal_orders.c.post_office_id.in_(sorted(operator.office_ids)),
                postal_orders.c.status.not_in(NOT_WITH_CARRIER),
                or_(
                    postal_orders.c.updated_at > after_at,
                    and_(postal_orders.c.updated_at == after_at, postal_orders.c.id > after_id),
                ),
            )
            .order_by(postal_orders.c.updated_at, postal_orders.c.id)
            .limit(limit + 1)
        )
        async with self.db.read() as conn:
            rows = list((await conn.execute(query)).all()) if operator.office_ids else []
            page = rows[:limit]
            handovers = await views.handovers_of(conn, [row.id for row in page])
        data = [views.order(self.sealer, row, handovers[row.id]) for row in page]
        if page:
            next_cursor = encode_cursor(page[-1].updated_at, page[-1].id)
        else:
            next_cursor = cursor or encode_cursor(after_at, after_id)
        return {"data": data, "next_cursor": next_cursor, "has_more": len(rows) > limit}

    async def get(self, who: Principal | Operator, order_id: str) -> dict[str, Any]:
        """One order of the operator's offices with its events and handovers."""
        async with self.db.read() as conn:
            return await self._view(conn, Operator.of(who), order_id)

    async def today(
        self, who: Principal | Operator, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """The day's work between ``start`` and ``end``: orders still to pick up or deliver
        (a pickup window, if any, opening before ``end``) and those that reached a status
        within the day (done, failed or cancelled today)."""
        operator = Operator.of(who)
        if not operator.office_ids:
            return []
        final = [status.value for status in FINAL_STATUSES]
        open_today = and_(
            postal_orders.c.status.not_in(final),
            or_(
                postal_orders.c.pickup_window_start.is_(None),
                postal_orders.c.pickup_window_start < end,
            ),
        )
        moved_today = and_(postal_orders.c.status_at >= start, postal_orders.c.status_at < end)
        query = (
            views.view_query()
            .where(
                postal_orders.c.post_office_id.in_(sorted(operator.office_ids)),
                postal_orders.c.status.not_in(NOT_WITH_CARRIER),
                or_(open_today, moved_today),
            )
            .order_by(postal_orders.c.created_at, postal_orders.c.id)
            .limit(1000)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
            handovers = await views.handovers_of(conn, [row.id for row in rows])
        return [views.order(self.sealer, row, handovers[row.id]) for row in rows]

    async def _row(
        self, conn: AsyncConnection, operator: Operator, order_id: str, *, for_update: bool
    ) -> Any:
        row = await state.load(conn, order_id, for_update=for_update)
        if row is None or row.post_office_id not in operator.office_ids:
            raise NotFound("postal order not found")
        return row

    async def _view(
        self, conn: AsyncConnection, operator: Operator, order_id: str
    ) -> dict[str, Any]:
        row = (await conn.execute(views.view_query().where(postal_orders.c.id == order_id))).first()
        if row is None or row.post_office_id not in operator.office_ids:
            raise NotFound("postal order not found")
        handovers = (await views.handovers_of(conn, [order_id]))[order_id]
        names = await views.reporter_names(
            conn, [row.accepted_by, *(h.recorded_by for h in handovers)]
        )
        events = await state.events_of(conn, order_id)
        return views.order(self.sealer, row, handovers, events=events, names=names)

    # -- accept ---------------------------------------------------------------------------

    async def accept(self, who: Principal | Operator, order_id: str) -> dict[str, Any]:
        """Take the order on. Once: the same operator accepting again gets the same answer;
        another one gets ``409 already_accepted``."""
        operator = Operator.of(who)
        async with self.db.write() as conn:
            row = await self._row(conn, operator, order_id, for_update=True)
            if row.accepted_at is not None:
                if row.accepted_by != operator.reporter:
                    raise AlreadyAccepted("another operator has accepted this order")
                return await self._view(conn, operator, order_id)
            if row.status in (*NOT_WITH_CARRIER, NEEDS_REVIEW) or is_final(row.status):
                raise NotAcceptable(row.status, "accepted")
            now = self.context.clock()
            await conn.execute(
                update(postal_orders)
                .where(postal_orders.c.id == order_id, postal_orders.c.accepted_at.is_(None))
                .values(accepted_at=now, accepted_by=operator.reporter, updated_at=now)
            )
            await state.announce(conn, self.context, order_id, "postal.order.updated")
            return await self._view(conn, operator, order_id)

    # -- events ---------------------------------------------------------------------------

    async def report_event(
        self, who: Principal | Operator, order_id: str, report: OperatorEvent
    ) -> Reported:
        operator = Operator.of(who)
        event = state.NewEvent(
            source=operator.reporter,
            external_id=report.event_id,
            status=PostalStatus(report.status),
            occurred_at=report.occurred_at,
            location=report.location,
            note=report.note,
        )
        async with self.db.write() as conn:
            # Scope first: an order outside the operator's offices is 404 whatever the report.
            row = await self._row(conn, operator, order_id, for_update=True)
            check_time(report.occurred_at, self.context.clock(), row, "occurred_at")
            if report.event_id.startswith(HANDOVER_EVENT_PREFIX):
                message = f"'{HANDOVER_EVENT_PREFIX}' ids are the handovers' own events"
                raise ValidationFailed([FieldError("event_id", "reserved", message)])
            earlier = await _stored_event(conn, event)
            if earlier is not None:
                if not _same_event(earlier, order_id, event):
                    raise DuplicateEvent(f"event {report.event_id} was reported before")
                return Reported(await self._event_answer(conn, operator, earlier), replayed=True)
            breach = await state.attempts_breach(conn, row, event)
            if breach is not None:
                raise _ATTEMPT_ERRORS[breach]()
            outcome = await state.record_event(conn, self.context, row, event)
            if outcome is state.Outcome.DUPLICATE:  # reported concurrently for another order
                raise DuplicateEvent(f"event {report.event_id} was reported before")
            stored = await _stored_event(conn, event)
            return Reported(await self._event_answer(conn, operator, stored))

    async def _event_answer(
        self, conn: AsyncConnection, operator: Operator, event: Any
    ) -> dict[str, Any]:
        return {
            "event_id": event.external_id,
            "applied": event.applied,
            "event": state.render_event(event),
            "order": await self._view(conn, operator, event.order_id),
        }

    # -- handovers ------------------------------------------------------------------------

    async def record_handover(
        self, who: Principal | Operator, order_id: str, report: Handover
    ) -> Reported:
        """Store the handover, its event and any COD, all in one transaction (see
        :mod:`gateway.services.postal.operator_handovers`)."""
        operator = Operator.of(who)
        async with self.db.write() as conn:
            row = await self._row(conn, operator, order_id, for_update=True)
            check_time(report.at, self.context.clock(), row, "at")
            handover, replayed = await self.handovers.record(conn, operator.reporter, row, report)
            view = await self._view(conn, operator, order_id)
            answer = next(h for h in view["handovers"] if h["id"] == handover)
            return Reported({"handover": answer, "order": view}, replayed=replayed)

    async def sign_batch(
        self,
        who: Principal | Operator,
        order_ids: list[str],
        complete: set[str],
        receiver_name: str,
        signed_at: datetime,
    ) -> list[str]:
        """The agency signs the batch record (biên bản giao nhận hồ sơ) of ``order_ids``:
        each pickup confirmed ``complete`` is handed to the agency's receiver at ``signed_at``
        — a ``delivered`` handover (``batch-<order id>``, its documents those collected from
        the citizen), so ``handed_over_at``, the legal filing time (Decision 45/2016 Điều
        7.4), is the signing time. All or nothing; the others stay with the post."""
        operator = Operator.of(who)
        chosen = [order_id for order_id in order_ids if order_id in complete]
        if not chosen:
            message = "confirm at least one dossier as complete"
            raise ValidationFailed([FieldError("complete", "too_short", message)])
        handed = []
        async with self.db.write() as conn:
            for order_id in chosen:
                row = await self._row(conn, operator, order_id, for_update=True)
                if row.leg != "pickup":
                    message = "only dossiers collected from citizens go to the agency"
                    raise ValidationFailed([FieldError("complete", "not_pickup", message)])
                check_time(signed_at, self.context.clock(), row, "signed_at")
                view = await self._view(conn, operator, order_id)
                collected = [h for h in view["handovers"] if h["kind"] == "collected"]
                documents = collected[-1]["documents"] if collected else [BATCH_DOCUMENT]
                report = Handover.model_validate(
                    {
                        "handover_id": f"{BATCH_HANDOVER_PREFIX}{order_id}",
                        "kind": "delivered",
                        "at": signed_at,
                        "documents": documents,
                        "counterpart_name": receiver_name,
                        "counterpart_role": "agency_officer",
                    }
                )
                await self.handovers.record(conn, operator.reporter, row, report)
                handed.append(order_id)
        return handed


#: The handover a signed batch record makes of each dossier, and its document list when the
#: collection was not recorded item by item.
BATCH_HANDOVER_PREFIX = "batch-"
BATCH_DOCUMENT = {"item": "Hồ sơ theo phiếu gửi", "original": True, "count": 1}

#: Circular 17/2017 Điều 5.2.h on an operator's report: refused, nothing stored.
_ATTEMPT_ERRORS = {
    attempts.ATTEMPTS_REQUIRED: DeliveryAttemptsRequired,
    attempts.TOO_SOON: DeliveryAttemptTooSoon,
}


async def _stored_event(conn: AsyncConnection, event: state.NewEvent) -> Any:
    return (
        await conn.execute(
            select(postal_events).where(
                postal_events.c.source == event.source,
                postal_events.c.external_id == event.external_id,
            )
        )
    ).first()


def _same_event(stored: Any, order_id: str, event: state.NewEvent) -> bool:
    return bool(
        stored.order_id == order_id
        and stored.status == event.status.value
        and stored.occurred_at == event.occurred_at
        and stored.location == event.location
        and stored.note == event.note
    )
