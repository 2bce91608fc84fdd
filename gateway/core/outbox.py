"""The transactional outbox: an event is written in the same transaction as the change that
caused it, together with one delivery row per subscribed endpoint, so an event is never lost
(the change rolled back → no event) and never invented (no change → no event).

Two consumers read what is written here, each from rows written in the same transaction:
:mod:`webhooks.delivery` (one ``deliveries`` row per subscribed endpoint) and the citizen
notifications (:mod:`gateway.services.notifications`: one ``notification_intake`` row per event
whose type can notify a citizen, :data:`NOTIFYING_EVENT_TYPES`).

Body: ``{"id", "type", "created_at", "data": {..., "sequence": n}}``; ``sequence`` grows per
subject (a payment or a postal order), and :mod:`webhooks.delivery` sends the events of one
subject to one endpoint in that order (the next only after the earlier one was delivered or
given up).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Select, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db.schema import (
    deliveries,
    notification_intake,
    outbox_events,
    payments,
    postal_orders,
    webhook_endpoints,
)
from gateway.core.fields import iso
from gateway.core.ids import new_id
from gateway.core.statuses import DeliveryStatus

#: Every event type the gateway emits, with what it means to the portal (the OpenAPI
#: document lists these); endpoints subscribe to some or to ``"*"``.
EVENT_TYPES: Mapping[str, str] = {
    "payment.paid": "The payment is paid.",
    "payment.expired": "The payment expired unpaid.",
    "payment.cancelled": "The payment was cancelled.",
    "payment.needs_review": "Money arrived that does not fit the bill (see `review_reason`).",
    "payment.partially_refunded": "A refund succeeded; part of the amount is refunded.",
    "payment.refunded": "Refunds now cover the whole amount.",
    "attempt.failed": "An attempt failed (declined, refused by the provider, timed out).",
    "attempt.needs_review": "An attempt took money for a bill already paid through another "
    "attempt (`review_reason: duplicate_payment`); finance staff refund it. Or the janitor "
    "handed a still-open attempt to finance (`flagged_at`): its provider gave no final word "
    "within the channel's horizon; it is not failed.",
    "refund.succeeded": "A refund succeeded.",
    "refund.failed": "A refund failed.",
    "refund.needs_review": "A refund is still `pending` past its channel's refund horizon: "
    "the janitor handed it to finance (`flagged_at`); it is neither failed nor succeeded, and "
    "`refund.succeeded` or `refund.failed` follows once the provider or finance settles it.",
    "receipt.issued": "An e-receipt (biên lai điện tử) was issued for a paid payment: numbered "
    "and signed (`xml_url`, `view_url`); one per payment, or one for phí and one for lệ phí.",
    "receipt.replaced": "A receipt was replaced (TT 91/2026 Điều 20): `receipt` is the "
    "replacement (new number, `replaces` the original), `replaced` the original, now "
    "`replaced`. Finance staff proposed and approved the correction (maker-checker).",
    "receipt.error_notified": "An error in a receipt's payer name or address or amount in "
    "words was notified without re-issuing (form 04/SS-CTĐT, `notice`); the receipt is "
    "`error_notified` and stays valid.",
    "postal.order.created": "VNPost accepted the postal order: it has a `tracking_number`.",
    "postal.order.updated": "The postal order moved to a status without an event of its own "
    "(pickup assigned, in transit, out for delivery, return pending, …), its cancellation "
    "was requested or refused (`cancel_state`), the post office accepted it (`accepted_at`), "
    "COD was recorded without a move, or a report contradicts a final status "
    "(`review_reason: delivered_after_return`).",
    "postal.order.picked_up": "The postman picked the parcel up.",
    "postal.order.delivered": "The parcel was delivered (pickup leg: the dossier reached the "
    "agency, `handed_over_at`).",
    "postal.order.failed": "A pickup or delivery attempt failed, the parcel was lost, or VNPost "
    "refused the order (`submit_failed`, see `last_error`).",
    "postal.order.returned": "The parcel came back to the sender.",
    "postal.order.needs_review": "VNPost's answer to the booking could not be taken as it "
    "is (`review_reason`: `carrier_conflict`, `carrier_invalid_answer`, "
    "`carrier_outcome_unknown`); a person checks the order at VNPost.",
    "postal.order.cancelled": "The postal order was cancelled.",
    "webhook.test": "A test event, sent only to the endpoint in `data.endpoint_id` when its "
    "owner or finance staff ask for one (`POST /v1/webhook-endpoints/{endpoint_id}/test`); "
    "it is about nothing and changes nothing (`sequence` is always 1).",
}
#: The type of a test event (:meth:`webhooks.events.EventService.send_test`).
TEST_EVENT = "webhook.test"

#: The event types the notification consumer looks at (what it tells a citizen is decided
#: there, from the agency's configuration); a new bill is noted by :func:`note_for_citizen`.
NOTIFYING_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "payment.paid",
        "payment.expired",
        "postal.order.picked_up",
        "postal.order.updated",
        "postal.order.delivered",
        "postal.order.failed",
    }
)
#: The intake's event type of a new bill (not a portal event: the portal created the bill).
PAYMENT_CREATED = "payment.created"


async def emit(
    conn: AsyncConnection,
    *,
    now: datetime,
    type: str,
    data: dict[str, Any],
    payment_id: str | None = None,
    postal_order_id: str | None = None,
    advanced: tuple[int, str] | None = None,
) -> str:
    """Write one event about ``payment_id`` or ``postal_order_id`` (exactly one) and queue
    its deliveries; return the event id. ``advanced``: the payment's ``sequence`` and
    ``client_id`` as the caller's own ``UPDATE`` of it returned them, in this transaction,
    having advanced the sequence for this event (:data:`ADVANCE_PAYMENT_SEQUENCE`)."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    if (payment_id is None) == (postal_order_id is None):
        raise ValueError("an event is about one payment or one postal order")
    if advanced is None:
        next_sequence = _NEXT_SEQUENCE["payment" if payment_id is not None else "postal_order"]
        sequence, client_id = (
            await conn.execute(next_sequence, {"subject_id": payment_id or postal_order_id})
        ).one()
    else:
        sequence, client_id = advanced
    event_id = new_id("evt")
    body = {
        "id": event_id,
        "type": type,
        "created_at": iso(now),
        "data": {**data, "sequence": sequence},
    }
    event = {
        "id": event_id,
        "type": type,
        "client_id": client_id,
        "payment_id": payment_id,
        "postal_order_id": postal_order_id,
        "sequence": sequence,
        "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        "created_at": now,
    }
    notifying = type in NOTIFYING_EVENT_TYPES
    postal_order = data.get("postal_order")
    note = {
        "source_key": event_id,
        "event_type": type,
        "payment_id": payment_id,
        "postal_order_id": postal_order_id,
        "subject_status": postal_order.get("status") if isinstance(postal_order, dict) else None,
        "created_at": now,
    }
    if conn.dialect.name == "postgresql":
        # One statement and one round trip: the event, its intake note and the endpoints'
        # read (``WITH … INSERT``; the inserts run whether or not the SELECT reads them).
        params = {f"e_{name}": value for name, value in event.items()}
        params["client_id"] = client_id
        if notifying:
            params.update({f"n_{name}": value for name, value in note.items()})
        rows = (await conn.execute(_EVENT_AND_ENDPOINTS[notifying], params)).all()
        subscribed = _taking(rows, type)
    else:
        await conn.execute(_EVENT, event)
        if notifying:
            await conn.execute(_NOTE, note)
        subscribed = await subscribed_endpoints(conn, client_id, type)
    if subscribed:
        await conn.execute(insert(deliveries), [new_delivery(event_id, e, now) for e in subscribed])
    return event_id


# The statements of every event, built once with the row as parameters: no per-event
# construction, coercion or cache key (docs/performance.md).
_NEXT_SEQUENCE = {
    name: update(subject)
    .where(subject.c.id == bindparam("subject_id"))
    .values(sequence=subject.c.sequence + 1)
    .returning(subject.c.sequence, subject.c.client_id)
    for name, subject in (("payment", payments), ("postal_order", postal_orders))
}
#: What advances a payment's ``sequence`` for one event, for a caller that writes it in its
#: own ``UPDATE`` of the payment and passes what it returns to :func:`emit` (``advanced``).
ADVANCE_PAYMENT_SEQUENCE = payments.c.sequence + 1
_EVENT = insert(outbox_events)
_NOTE = insert(notification_intake)
_ENDPOINTS = select(webhook_endpoints.c.id, webhook_endpoints.c.events).where(
    webhook_endpoints.c.client_id == bindparam("client_id"),
    webhook_endpoints.c.disabled_at.is_(None),
)


_EVENT_COLUMNS = (
    "id",
    "type",
    "client_id",
    "payment_id",
    "postal_order_id",
    "sequence",
    "body",
    "created_at",
)
_NOTE_COLUMNS = (
    "source_key",
    "event_type",
    "payment_id",
    "postal_order_id",
    "subject_status",
    "created_at",
)


def _typed_values(table: Any, names: Sequence[str], prefix: str) -> dict[str, Any]:
    """The columns ``names`` of ``table``, each as a parameter named ``prefix`` + its name."""
    return {name: bindparam(prefix + name, type_=table.c[name].type) for name in names}


def _event_and_endpoints(notifying: bool) -> Select[Any]:
    event = insert(outbox_events).values(_typed_values(outbox_events, _EVENT_COLUMNS, "e_"))
    statement = _ENDPOINTS.add_cte(event.returning(outbox_events.c.id).cte("event"))
    if notifying:
        values = _typed_values(notification_intake, _NOTE_COLUMNS, "n_")
        note = insert(notification_intake).values(values)
        statement = statement.add_cte(note.returning(notification_intake.c.id).cte("note"))
    return statement


#: PostgreSQL: the event, its intake note (if its type notifies), and the client's enabled
#: endpoints, in one statement (by whether the event notifies).
_EVENT_AND_ENDPOINTS = {notifying: _event_and_endpoints(notifying) for notifying in (False, True)}


async def note_for_citizen(
    conn: AsyncConnection,
    *,
    now: datetime,
    source_key: str,
    event_type: str,
    payment_id: str | None = None,
    postal_order_id: str | None = None,
    subject_status: str | None = None,
) -> None:
    """Queue an event for the notification consumer, in the caller's transaction."""
    await conn.execute(
        _NOTE,  # built once; the row as parameters
        {
            "source_key": source_key,
            "event_type": event_type,
            "payment_id": payment_id,
            "postal_order_id": postal_order_id,
            "subject_status": subject_status,
            "created_at": now,
        },
    )


def note_for_citizen_from(rows: Select[Any]) -> Insert:
    """:func:`note_for_citizen` for each row of ``rows`` (columns labelled with the intake's
    column names), in a statement built once that writes with others (``WITH … INSERT``)."""
    return insert(notification_intake).from_select(
        [column.name for column in rows.selected_columns], rows
    )


async def subscribed_endpoints(conn: AsyncConnection, client_id: str, event_type: str) -> list[str]:
    """The ids of ``client_id``'s enabled endpoints that take events of ``event_type``."""
    return _taking((await conn.execute(_ENDPOINTS, {"client_id": client_id})).all(), event_type)


def _taking(endpoints: Sequence[Any], event_type: str) -> list[str]:
    """The ids of the ``endpoints`` rows that take events of ``event_type``."""
    return [row.id for row in endpoints if "*" in row.events or event_type in row.events]


def new_delivery(event_id: str, endpoint_id: str, now: datetime) -> dict[str, Any]:
    """A delivery due now, with its retry schedule not started."""
    return {
        "event_id": event_id,
        "endpoint_id": endpoint_id,
        "status": DeliveryStatus.PENDING.value,
        "attempt_count": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
