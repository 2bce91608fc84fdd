"""The gateway's side of VNPost: submit booked orders, cancel, follow orders, take pushes.

Submission is idempotent: the order row with its client reference exists before the call;
an answer lost to a timeout or a 5xx leaves the order ``submitting`` and the next try looks
the reference up first (a carrier "duplicate reference" is adopted by the client too).

Whatever the carrier answers, the order leaves ``submitting``: ``created`` with the item
code; ``submit_failed`` when the carrier refused it or never got it; ``needs_review`` with a
``review_reason`` when the answer cannot be taken as it is — an item code another order
already holds (``carrier_conflict``: a carrier that re-issued a tracking number), an answer
that is not usable though the carrier may have created the order
(``carrier_invalid_answer``), or no trustworthy answer after every try
(``carrier_outcome_unknown``).

The carrier's own copy of an order is what final and money statuses are believed from:
:meth:`CarrierSync.sync` reads the order and applies its history, for orders whose push
asked for it (:mod:`gateway.services.postal.pushes`) and for orders silent for a while.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import Select, or_, select, update

from config.settings import VnpostSettings
from gateway.core.db import Database
from gateway.core.db.schema import postal_orders
from gateway.core.postal.orders import (
    CARRIER_CONFLICT,
    CARRIER_INVALID_ANSWER,
    CARRIER_OUTCOME_UNKNOWN,
    NEEDS_REVIEW,
    SUBMIT_FAILED,
    SUBMITTING,
    Leg,
    is_final,
)
from gateway.core.statuses import POSTAL_ORDERS, PostalOrderStatus
from gateway.services.postal import state
from gateway.services.postal.state import NewEvent
from gateway.services.sealing import Sealer
from providers.common.postal import PostalStatus
from providers.postal.vnpost import (
    Address,
    CarrierEvent,
    OrderRequest,
    OrderState,
    Party,
    Service,
    VnpostClient,
    VnpostError,
)
from providers.postal.vnpost.codec import format_time
from providers.postal.vnpost.errors import (
    INVALID_FIELD,
    MALFORMED,
    OUTCOME_UNKNOWN,
    REJECTED,
)
from providers.postal.vnpost.statuses import StatusProfile

log = structlog.get_logger(__name__)

PROVIDER = "vnpost"
#: A claimed submission belongs to one worker this long.
LEASE = timedelta(seconds=60)


def carrier_event_key(item_code: str, event: CarrierEvent) -> str:
    """One carrier event, however it reached us (push, order read or history)."""
    return f"{item_code}|{event.code}|{format_time(event.at)}"


def new_event(item_code: str, event: CarrierEvent, profile: StatusProfile) -> NewEvent:
    """The carrier's event as read with ``profile``: a code it does not explain is
    ``unknown`` (stored, never applied)."""
    return NewEvent(
        source=PROVIDER,
        external_id=carrier_event_key(item_code, event),
        status=profile.normalise(event.code),
        occurred_at=event.at,
        carrier_code=event.code,
        location=event.location,
        note=event.note,
        money=profile.money(event.code),
    )


@dataclass(frozen=True)
class CarrierSync:
    db: Database
    context: state.PostalContext
    client: VnpostClient
    settings: VnpostSettings
    sealer: Sealer

    # -- submission -----------------------------------------------------------------------

    async def submit_due(self) -> int:
        """Submit (or look up) every order due for it; return how many were handled."""
        due = (
            select(postal_orders.c.id)
            .where(
                postal_orders.c.status == SUBMITTING,
                postal_orders.c.submit_due_at <= self.context.clock(),
            )
            .order_by(postal_orders.c.submit_due_at)
            .limit(100)
        )
        return await self._for_each(due, self.submit)

    async def submit(self, order_id: str) -> None:
        """One submission try of a ``submitting`` order, if no other worker holds it."""
        now = self.context.clock()
        async with self.db.write() as conn:
            claimed = (
                await conn.execute(
                    update(postal_orders)
                    .where(
                        postal_orders.c.id == order_id,
                        postal_orders.c.status == SUBMITTING,
                        or_(
                            postal_orders.c.submit_due_at.is_(None),
                            postal_orders.c.submit_due_at <= now,
                        ),
                    )
                    .values(submit_due_at=now + LEASE)
                    .returning(postal_orders.c.id)
                )
            ).first()
            order = await state.load(conn, order_id) if claimed else None
        if order is None:
            return
        try:
            existing = None
            if order.submit_attempts > 0 or order.cancel_state == "requested":
                existing = await self.client.find_by_reference(order.client_reference)
            if existing is None and order.cancel_state == "requested":
                await self._cancel_unsubmitted(order)
                return
            if existing is not None:
                item_code = existing.item_code
            else:
                item_code = (await self.client.create_order(self._request(order))).item_code
        except VnpostError as error:
            await self._submission_failed(order, error)
            return
        async with self.db.write() as conn:
            current = await state.load(conn, order_id, for_update=True)
            if current.status != SUBMITTING:
                return
            holder = await state.tracking_holder(conn, item_code, order_id)
            if holder is not None:
                # The unique key would refuse it forever: a person looks at both orders.
                message = f"VNPost answered item code {item_code}, already held by {holder}"
                await self._to_review(conn, current, CARRIER_CONFLICT, message)
                log.warning(
                    "postal_submission_conflict",
                    postal_order_id=order_id,
                    tracking_number=item_code,
                    held_by=holder,
                )
                return
            accepted = NewEvent(
                source="gateway",
                external_id=f"{order_id}|accepted",
                status=PostalStatus.CREATED,
                occurred_at=self.context.clock(),
                note=f"VNPost đã nhận đơn, số hiệu bưu gửi {item_code}",
            )
            await state.store_event(conn, self.context, order_id, accepted, applied=True)
            await state.move(
                conn,
                self.context,
                current,
                PostalStatus.CREATED.value,
                self.context.clock(),
                tracking_number=item_code,
                submit_due_at=None,
                submit_attempts=current.submit_attempts + 1,
                last_error=None,
            )
        log.info("postal_order_submitted", postal_order_id=order_id, tracking_number=item_code)
        if order.cancel_state == "requested":
            await self.cancel(order_id)

    def _request(self, order: Any) -> OrderRequest:
        return OrderRequest(
            client_reference=order.client_reference,
            sender=self._party(order.sender, "sender"),
            receiver=self._party(order.recipient, "recipient"),
            weight_grams=order.weight_grams,
            service=Service(order.service),
            door_pickup=order.leg == Leg.PICKUP.value,
            cod_amount=order.cod_amount,
            note=order.note,
        )

    def _party(self, party: Mapping[str, Any], role: str) -> Party:
        """Unseal a party for the carrier, in memory only. VNPost takes national numbers."""
        phone = self.sealer.open(party["phone"], f"postal.{role}.phone")
        national = "0" + phone[3:] if phone.startswith("+84") else phone
        address = party["address"]
        return Party(
            name=party["name"],
            phone=national,
            address=Address(
                street=self.sealer.open(address["street"], f"postal.{role}.street"),
                ward_code=address["ward_code"],
                province_code=address["province_code"],
            ),
        )

    async def _submission_failed(self, order: Any, error: VnpostError) -> None:
        now = self.context.clock()
        attempts = order.submit_attempts + 1
        definitive = error.code in (REJECTED, INVALID_FIELD)
        exhausted = attempts >= self.settings.submit_max_attempts
        log.warning(
            "postal_submission_failed",
            postal_order_id=order.id,
            error=error.code,
            attempts=attempts,
            definitive=definitive,
        )
        async with self.db.write() as conn:
            current = await state.load(conn, order.id, for_update=True)
            if current.status != SUBMITTING:
                return
            message = f"{error.code}: {error}"[:255]
            # A 2xx we cannot read (no or a bad item code, another reference): the carrier
            # may well have created the order, so it is neither retried blindly nor failed.
            if error.code == MALFORMED:
                await self._to_review(
                    conn, current, CARRIER_INVALID_ANSWER, message, submit_attempts=attempts
                )
                return
            if exhausted and error.code == OUTCOME_UNKNOWN:
                await self._to_review(
                    conn, current, CARRIER_OUTCOME_UNKNOWN, message, submit_attempts=attempts
                )
                return
            if definitive or exhausted:
                await state.move(
                    conn,
                    self.context,
                    current,
                    SUBMIT_FAILED,
                    now,
                    submit_due_at=None,
                    submit_attempts=attempts,
                    last_error=message,
                )
                return
            wait = self.settings.submit_retry_seconds * 2 ** (attempts - 1)
            await conn.execute(
                update(postal_orders)
                .where(postal_orders.c.id == order.id)
                .values(
                    submit_due_at=now + timedelta(seconds=wait),
                    submit_attempts=attempts,
                    last_error=message,
                    updated_at=now,
                )
            )

    async def _to_review(
        self, conn: Any, order: Any, reason: str, message: str, **values: Any
    ) -> None:
        """``submitting`` → ``needs_review`` with ``reason``, announced to the portal."""
        await state.move(
            conn,
            self.context,
            order,
            NEEDS_REVIEW,
            self.context.clock(),
            review_reason=reason,
            last_error=message[:255],
            submit_due_at=None,
            sync_due_at=None,
            **values,
        )
        log.warning("postal_order_needs_review", postal_order_id=order.id, reason=reason)

    async def _cancel_unsubmitted(self, order: Any) -> None:
        """Cancelled before the carrier ever had it (the look-up found nothing)."""
        async with self.db.write() as conn:
            current = await state.load(conn, order.id, for_update=True)
            if current.status != SUBMITTING:
                return
            now = self.context.clock()
            await POSTAL_ORDERS.move(
                conn,
                order.id,
                PostalOrderStatus.SUBMITTING,
                PostalOrderStatus.CANCELLED,
                status_at=now,
                updated_at=now,
                cancel_state="confirmed",
                submit_due_at=None,
                sync_due_at=None,
            )
            await state.announce(conn, self.context, order.id, "postal.order.cancelled")

    # -- cancellation ---------------------------------------------------------------------

    async def cancel(self, order_id: str) -> None:
        """Ask the carrier to cancel an order whose cancellation was requested."""
        async with self.db.read() as conn:
            order = await state.load(conn, order_id)
        if order is None or order.cancel_state != "requested" or order.tracking_number is None:
            return
        try:
            answer = await self.client.cancel_order(order.tracking_number)
        except VnpostError as error:
            if error.code == REJECTED:
                await self._cancel_refused(order_id)
            elif error.code != OUTCOME_UNKNOWN:
                log.warning("postal_cancel_failed", postal_order_id=order_id, error=error.code)
            # outcome unknown: the next sync reads the order and settles it either way
            return
        await self._apply_state(order_id, answer)

    async def _cancel_refused(self, order_id: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(postal_orders)
                .where(postal_orders.c.id == order_id)
                .values(cancel_state="refused", updated_at=self.context.clock())
            )
            await state.announce(conn, self.context, order_id, "postal.order.updated")
        log.info("postal_cancel_refused", postal_order_id=order_id)

    async def cancel_requested(self) -> int:
        requested = select(postal_orders.c.id).where(
            postal_orders.c.cancel_state == "requested",
            postal_orders.c.tracking_number.is_not(None),
        )
        return await self._for_each(requested, self.cancel)

    # -- following orders -----------------------------------------------------------------

    async def sync_due(self) -> int:
        """Read from the carrier every live order whose read is due; return how many."""
        due = (
            select(postal_orders.c.id)
            .where(
                postal_orders.c.sync_due_at <= self.context.clock(),
                postal_orders.c.tracking_number.is_not(None),
            )
            .order_by(postal_orders.c.sync_due_at)
            .limit(100)
        )
        return await self._for_each(due, self.sync)

    async def _for_each(self, orders: Select[Any], handle: Callable[[str], Awaitable[None]]) -> int:
        """Run ``handle`` on the id of each order ``orders`` selects, one at a time (each in
        its own transaction); return how many."""
        async with self.db.read() as conn:
            ids = (await conn.execute(orders)).scalars().all()
        for order_id in ids:
            await handle(order_id)
        return len(ids)

    async def sync(self, order_id: str) -> None:
        """Read the order from the carrier and apply its history (the authoritative copy)."""
        async with self.db.read() as conn:
            order = await state.load(conn, order_id)
        if order is None or order.tracking_number is None:
            return
        try:
            answer = await self.client.get_order(order.tracking_number)
        except VnpostError as error:
            log.warning("postal_sync_failed", postal_order_id=order_id, error=error.code)
            async with self.db.write() as conn:
                await conn.execute(
                    update(postal_orders)
                    .where(postal_orders.c.id == order_id)
                    .values(sync_due_at=self.context.clock() + timedelta(minutes=5))
                )
            return
        await self._apply_state(order_id, answer)

    async def _apply_state(self, order_id: str, answer: OrderState) -> None:
        async with self.db.write() as conn:
            for event in sorted(answer.events, key=lambda e: e.at):
                order = await state.load(conn, order_id, for_update=True)
                await state.record_event(
                    conn,
                    self.context,
                    order,
                    new_event(answer.item_code, event, self.context.profile),
                )
            order = await state.load(conn, order_id)
            if not is_final(order.status):
                await conn.execute(
                    update(postal_orders)
                    .where(postal_orders.c.id == order_id)
                    .values(sync_due_at=self.context.clock() + self.context.sync_after)
                )
