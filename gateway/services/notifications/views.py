"""Reading notifications (the API, the operator's order page) and recording opt-outs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.db.schema import notification_opt_outs, notifications, payments, postal_orders
from gateway.core.errors import FieldError, NotFound, ValidationFailed
from gateway.core.fields import iso
from gateway.core.ids import Clock
from gateway.core.postal.orders import mask_phone
from gateway.core.postal.phones import InvalidPhone, normalise_phone
from gateway.services.clients import Principal
from gateway.services.notifications.compose import phone_hash


def render(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "channel": row.channel,
        "status": row.status,
        "reason": row.reason,
        "phone_masked": row.phone_masked,
        "payment_id": row.payment_id,
        "postal_order_id": row.postal_order_id,
        "content": row.content,
        "provider_message_id": row.provider_message_id,
        "attempt_count": row.attempt_count,
        "next_attempt_at": iso(row.next_attempt_at) if row.status == "queued" else None,
        "sent_at": iso(row.sent_at),
        "delivered_at": iso(row.delivered_at),
        "event_at": iso(row.event_at),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


async def _of(conn: AsyncConnection, column: Any, subject_id: str) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(
            select(notifications)
            .where(column == subject_id)
            .order_by(notifications.c.event_at, notifications.c.event_seq, notifications.c.id)
        )
    ).all()
    return [render(row) for row in rows]


class NotificationViews:
    def __init__(self, db: Database, clock: Clock, lookup_key: bytes) -> None:
        self.db = db
        self.clock = clock
        self.lookup_key = lookup_key

    async def list_for(
        self, principal: Principal, payment_id: str | None, postal_order_id: str | None
    ) -> dict[str, Any]:
        """The notifications of one payment or one postal order of the caller's agencies."""
        if (payment_id is None) == (postal_order_id is None):
            raise ValidationFailed(
                [
                    FieldError(
                        "payment_id",
                        "one_subject_required",
                        "give exactly one of payment_id and postal_order_id",
                    )
                ]
            )
        table = payments if payment_id is not None else postal_orders
        subject_id = payment_id or postal_order_id or ""
        async with self.db.read() as conn:
            agency = (
                await conn.execute(select(table.c.agency_id).where(table.c.id == subject_id))
            ).scalar()
            if agency is None or agency not in principal.agency_ids:
                raise NotFound("payment not found" if payment_id else "postal order not found")
            column = notifications.c.payment_id if payment_id else notifications.c.postal_order_id
            return {"data": await _of(conn, column, subject_id)}

    async def of_postal_order(self, order_id: str) -> list[dict[str, Any]]:
        """For the operator's order page (the page has checked the order is in scope)."""
        async with self.db.read() as conn:
            return await _of(conn, notifications.c.postal_order_id, order_id)

    async def opt_out(self, principal: Principal, phone: str) -> tuple[dict[str, Any], bool]:
        """Record that ``phone`` must not be told anything; ``(view, created)`` — recording
        it again answers the first record."""
        try:
            e164 = normalise_phone(phone).e164
        except InvalidPhone as error:
            raise ValidationFailed([error.field_error("phone")]) from None
        key = phone_hash(self.lookup_key, e164)
        now = self.clock()
        async with self.db.write() as conn:
            dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else postgres_insert
            created = (
                await conn.execute(
                    dialect_insert(notification_opt_outs)
                    .values(
                        phone_hash=key,
                        phone_masked=mask_phone(e164),
                        recorded_by=principal.client_id,
                        created_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["phone_hash"])
                    .returning(notification_opt_outs.c.phone_hash)
                )
            ).first() is not None
            row = (
                await conn.execute(
                    select(notification_opt_outs).where(notification_opt_outs.c.phone_hash == key)
                )
            ).one()
        return {"phone_masked": row.phone_masked, "created_at": iso(row.created_at)}, created
