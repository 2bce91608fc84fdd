"""The one place a postal order changes: events are stored, judged by rank and time, applied,
and announced through the outbox in the same transaction.

Every report about an order — a carrier push, a carrier read, an operator's event, a
handover — becomes a :class:`NewEvent`. :func:`record_event` stores it once per
``(source, external_id)`` (a resent report is a ``duplicate``), and moves the order only if
:meth:`gateway.core.statuses.POSTAL_ORDERS.advances` (the carrier's rank and time rule)
says so; otherwise it is kept as history (``stored``). Every change of an order's status is a
move of that machine. A move emits ``postal.order.<what>`` with the order's next ``sequence``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.channels.base import Outcome as AttemptOutcome
from gateway.core import outbox
from gateway.core.db.schema import agencies, postal_events, postal_orders
from gateway.core.fields import iso
from gateway.core.ids import Clock
from gateway.core.postal import admin_units, attempts
from gateway.core.postal.orders import DELIVERED_AFTER_RETURN, Leg, event_type, is_final
from gateway.core.statuses import POSTAL_ORDERS, AttemptStatus, PostalOrderStatus
from gateway.services import payment_state
from gateway.services.attempts import record_money
from providers.common.postal import PostalStatus
from providers.postal.vnpost.statuses import (
    COD_CODES,
    DEFAULT_PROFILE,
    Money,
    StatusProfile,
)


@dataclass(frozen=True)
class PostalContext:
    """What changing postal orders needs besides a connection."""

    clock: Clock
    payments: payment_state.Context
    #: A live order is read from the carrier when it has been silent this long.
    sync_after: timedelta = timedelta(hours=6)
    #: Told every status an order reaches (the metrics counter).
    on_status: Callable[[str], None] = field(default=lambda status: None)
    #: The VNPost status table the carrier's codes are read with (``vnpost.status_profile``).
    profile: StatusProfile = DEFAULT_PROFILE


@dataclass(frozen=True)
class NewEvent:
    """A report about an order from ``source`` (``vnpost``, ``operator:<client>``, ...)."""

    source: str
    external_id: str
    status: PostalStatus
    occurred_at: datetime
    carrier_code: int | None = None
    location: str = ""
    note: str = ""
    #: What the carrier's code says about money (COD collected or paid out, fees).
    money: Money | None = None


class Outcome(StrEnum):
    APPLIED = "applied"  # stored, and it moved the order
    STORED = "stored"  # stored as history: older, lower-ranked, unknown, or the order is final
    DUPLICATE = "duplicate"  # this source already reported this event


ORDER_COLUMNS = (postal_orders, agencies.c.code.label("agency_code"))


async def load(conn: AsyncConnection, order_id: str, *, for_update: bool = False) -> Any:
    query = (
        select(*ORDER_COLUMNS)
        .join(agencies, agencies.c.id == postal_orders.c.agency_id)
        .where(postal_orders.c.id == order_id)
    )
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update(of=postal_orders)
    return (await conn.execute(query)).first()


async def record_event(
    conn: AsyncConnection, context: PostalContext, order: Any, event: NewEvent
) -> Outcome:
    """Store ``event`` about ``order`` (a row from :func:`load`) and apply it if it advances
    the order. Runs in the caller's transaction."""
    applies = POSTAL_ORDERS.advances(order.status, order.status_at, event.status, event.occurred_at)
    # Judged against the attempts before this one (operators were refused before this).
    breach = await attempts_breach(conn, order, event)
    if not await store_event(conn, context, order.id, event, applied=applies):
        return Outcome.DUPLICATE
    collected = event.money in COD_CODES and bool(order.cod_amount) and not order.cod_collected
    if collected:
        await collect_cod(conn, context, order, order.cod_amount, _collected_at(order, event))
    flag = attempts.ATTEMPTS_RULE_BROKEN if breach and order.review_reason is None else None
    if not applies:
        flagged = _flag_delivered_after_return(order, event) or flag
        if flagged:
            await conn.execute(
                update(postal_orders)
                .where(postal_orders.c.id == order.id)
                .values(review_reason=flagged, updated_at=context.clock())
            )
        if flagged or collected:
            await announce(conn, context, order.id, "postal.order.updated")
        return Outcome.STORED
    flagged_values = {"review_reason": flag} if flag else {}
    await move(conn, context, order, event.status.value, event.occurred_at, **flagged_values)
    return Outcome.APPLIED


async def tracking_holder(conn: AsyncConnection, item_code: str, order_id: str) -> str | None:
    """Another order of ours that holds the carrier's item code ``item_code``, if any."""
    return (
        await conn.execute(
            select(postal_orders.c.id).where(
                postal_orders.c.tracking_number == item_code, postal_orders.c.id != order_id
            )
        )
    ).scalar()


async def delivery_attempts(conn: AsyncConnection, order_id: str) -> list[datetime]:
    """When each delivery attempt of the order failed (its ``delivery_failed`` events)."""
    rows = await conn.execute(
        select(postal_events.c.occurred_at).where(
            postal_events.c.order_id == order_id,
            postal_events.c.status == PostalStatus.DELIVERY_FAILED.value,
        )
    )
    return [row.occurred_at for row in rows]


async def attempts_breach(conn: AsyncConnection, order: Any, event: NewEvent) -> str | None:
    """The delivery-attempt rule ``event`` breaks on a delivery-leg order, if any
    (:func:`gateway.core.postal.attempts.breach`)."""
    if order.leg != Leg.DELIVERY.value or event.status not in attempts.RULED_STATUSES:
        return None
    return attempts.breach(await delivery_attempts(conn, order.id), event.status, event.occurred_at)


def _collected_at(order: Any, event: NewEvent) -> datetime:
    """When the postman took the COD: the event's time for "COD collected"; for "COD paid
    out" (the partner order API has no "collected" code) the delivery's time when the order
    was delivered — collect-on-delivery money changes hands at delivery — else the event's."""
    if event.money is Money.COD_PAID_OUT and order.status == PostalStatus.DELIVERED.value:
        return order.status_at  # type: ignore[no-any-return]
    return event.occurred_at


def _flag_delivered_after_return(order: Any, event: NewEvent) -> str | None:
    """A delivery reported after the result was returned to the agency contradicts the
    order's final status: kept as history, the order stays ``returned``, and it is flagged
    for a person (``review_reason``)."""
    if (
        order.status == PostalStatus.RETURNED.value
        and event.status is PostalStatus.DELIVERED
        and order.review_reason is None
    ):
        return DELIVERED_AFTER_RETURN
    return None


async def store_event(
    conn: AsyncConnection, context: PostalContext, order_id: str, event: NewEvent, *, applied: bool
) -> bool:
    """Append ``event`` to the order's history; False if its source reported it before."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else postgres_insert
    stored = await conn.execute(
        dialect_insert(postal_events)
        .values(
            order_id=order_id,
            source=event.source,
            external_id=event.external_id[:128],
            carrier_code=event.carrier_code,
            status=event.status.value,
            occurred_at=event.occurred_at,
            received_at=context.clock(),
            location=event.location[:255],
            note=event.note,
            applied=applied,
        )
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(postal_events.c.id)
    )
    return stored.first() is not None


#: The channel of the attempt that takes COD money.
COD_CHANNEL = "cod"


async def move(
    conn: AsyncConnection, context: PostalContext, order: Any, new: str, at: datetime, **values: Any
) -> None:
    """Move ``order`` to ``new`` as of ``at`` through :data:`POSTAL_ORDERS` (guarded by its
    current status) with the side effects the status carries, and emit the event. Callers
    have checked the move is wanted (:meth:`POSTAL_ORDERS.advances` for carrier events)."""
    now = context.clock()
    if new == PostalStatus.DELIVERED.value and order.leg == Leg.PICKUP.value:
        values.setdefault("handed_over_at", at)  # the procedure's processing clock starts
    if order.leg == Leg.DELIVERY.value and new in (
        PostalStatus.RETURNED.value,
        PostalStatus.LOST.value,
    ):
        values.setdefault("result_undelivered_at", at)
    if new == PostalStatus.CANCELLED.value and order.cancel_state is not None:
        values.setdefault("cancel_state", "confirmed")
    final = is_final(new)
    values.setdefault("sync_due_at", None if final else now + context.sync_after)
    await POSTAL_ORDERS.move(
        conn,
        order.id,
        PostalOrderStatus(order.status),
        PostalOrderStatus(new),
        status_at=at,
        updated_at=now,
        **values,
    )
    context.on_status(new)
    await announce(conn, context, order.id, event_type(new))


async def announce(conn: AsyncConnection, context: PostalContext, order_id: str, type: str) -> None:
    """Emit ``type`` about the order as it now stands."""
    row = await load(conn, order_id)
    events = await events_of(conn, order_id)
    await outbox.emit(
        conn,
        now=context.clock(),
        type=type,
        postal_order_id=order_id,
        data={"postal_order": render(row, events)},
    )


async def collect_cod(
    conn: AsyncConnection, context: PostalContext, order: Any, amount: int, at: datetime
) -> None:
    """Record COD collected by the postman on the order; if the order carries a payment, the
    money arrived for it like through any channel: an attempt of the ``cod`` channel takes it
    (:func:`gateway.services.attempts.record_money`, in the one lock order), and
    :func:`gateway.core.money.money_arrived` decides what it does to the bill — paid, or up
    for review with its reason (another amount, after expiry or cancellation, a bill already
    paid). Never lost. ``at`` is when the postman collected it: "in time" is judged by it
    (:func:`gateway.core.money.money_time`: not before the order existed, not in the future),
    not by when the report reached the gateway."""
    now = context.clock()
    await conn.execute(
        update(postal_orders)
        .where(postal_orders.c.id == order.id)
        .values(cod_collected=amount, cod_collected_at=at, updated_at=now)
    )
    if order.payment_id is None:
        return
    await record_money(
        conn,
        context.payments,
        order.payment_id,
        COD_CHANNEL,
        AttemptOutcome(
            status=AttemptStatus.SUCCEEDED,
            amount=amount,
            provider_transaction_id=order.tracking_number,
            details={"postal_order_id": order.id, "collected_at": iso(at)},
            paid_at=at,
        ),
        provider_reference=order.client_reference,
        not_before=order.created_at,
    )


async def events_of(conn: AsyncConnection, order_id: str) -> list[Any]:
    return list(
        (
            await conn.execute(
                select(postal_events)
                .where(postal_events.c.order_id == order_id)
                .order_by(postal_events.c.id)
            )
        ).all()
    )


def _party(party: dict[str, Any]) -> dict[str, Any]:
    """A sender or recipient as the portal sees it: no street, a masked phone."""
    address = party["address"]
    ward = admin_units.ward(address["ward_code"])
    province = admin_units.province(address["province_code"])
    return {
        "name": party["name"],
        "phone": party["phone_masked"],
        "address": {
            "ward_code": address["ward_code"],
            "ward_name": ward.name if ward else None,
            "province_code": address["province_code"],
            "province_name": province.name if province else None,
        },
    }


def render_event(row: Any) -> dict[str, Any]:
    return {
        "status": row.status,
        "carrier_code": row.carrier_code,
        "source": row.source.split(":", 1)[0],
        "occurred_at": iso(row.occurred_at),
        "received_at": iso(row.received_at),
        "location": row.location,
        "note": row.note,
        "applied": row.applied,
    }


def render(row: Any, events: list[Any]) -> dict[str, Any]:
    """The portal's view of an order row (from :func:`load`) and its events."""
    window = None
    if row.pickup_window_start is not None:
        window = {"start": iso(row.pickup_window_start), "end": iso(row.pickup_window_end)}
    return {
        "id": row.id,
        "status": row.status,
        "leg": row.leg,
        "attempt": row.attempt,
        "carrier": row.carrier,
        "service": row.service,
        "client_reference": row.client_reference,
        "tracking_number": row.tracking_number,
        "agency_code": row.agency_code,
        "dossier_code": row.dossier_code,
        "sender": _party(row.sender),
        "recipient": _party(row.recipient),
        "weight_grams": row.weight_grams,
        "cod_amount": row.cod_amount,
        "cod_collected": row.cod_collected,
        "cod_collected_at": iso(row.cod_collected_at),
        "payment_id": row.payment_id,
        "note": row.note,
        "pickup_window": window,
        "cancel_state": row.cancel_state,
        "accepted_at": iso(row.accepted_at),
        "handed_over_at": iso(row.handed_over_at),
        "result_undelivered": row.result_undelivered_at is not None,
        "last_error": row.last_error,
        "review_reason": row.review_reason,
        "status_at": iso(row.status_at),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "events": [render_event(event) for event in events],
    }
