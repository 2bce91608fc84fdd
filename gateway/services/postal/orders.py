"""Postal orders as the portal sees them: book a pickup or a delivery, read, list, cancel.

Booking writes the order as ``submitting`` in the caller's transaction (with the idempotency
key); the carrier is called afterwards by :mod:`gateway.services.postal.carrier`, so the
row — and its client reference — exists before the carrier could have acted on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from config.settings import VnpostSettings
from gateway.core.db import Database
from gateway.core.db.schema import agencies, payments, postal_orders
from gateway.core.errors import (
    ActiveOrderExists,
    Conflict,
    FieldError,
    InvalidTransition,
    NotCancellable,
    NotFound,
    ValidationFailed,
)
from gateway.core.ids import new_id
from gateway.core.postal import admin_units
from gateway.core.postal.orders import (
    CANCELLABLE,
    NEEDS_REVIEW,
    ORDER_STATUSES,
    SUBMIT_FAILED,
    SUBMITTING,
    Leg,
    is_final,
    mask_phone,
    new_client_reference,
)
from gateway.core.postal.phones import InvalidPhone, normalise_phone
from gateway.core.statuses import POSTAL_ORDERS, PostalOrderStatus
from gateway.models.postal_requests import CreatePostalOrder, PostalParty, ReviewDecision
from gateway.services.agencies import agency_in_scope
from gateway.services.clients import Principal
from gateway.services.payments import decode_cursor, encode_cursor
from gateway.services.postal import state
from gateway.services.postal.offices import office_of_agency
from gateway.services.sealing import Sealer
from providers.common.postal import PostalStatus
from reconciliation import audit

CARRIER = "vnpost"
log = structlog.get_logger(__name__)

#: Where each decision about a ``needs_review`` order moves it (``acknowledge`` moves nothing).
_DECIDED: dict[str, str] = {
    "adopt": PostalStatus.CREATED.value,
    "not_at_carrier": SUBMIT_FAILED,
    "withdraw": PostalStatus.CANCELLED.value,
}


class NotUnderReview(InvalidTransition):
    code = "not_under_review"
    title = "The order has nothing for a person to decide, or not this decision"


class TrackingNumberTaken(Conflict):
    code = "tracking_number_taken"
    title = "Another order already holds this VNPost item code"


@dataclass(frozen=True)
class OrderFilter:
    dossier_code: str | None = None
    status: str | None = None
    limit: int = 20
    cursor: str | None = None


@dataclass(frozen=True)
class PostalOrderService:
    db: Database
    context: state.PostalContext
    settings: VnpostSettings
    sealer: Sealer

    # -- book -----------------------------------------------------------------------------

    async def create(
        self, conn: AsyncConnection, principal: Principal, request: CreatePostalOrder
    ) -> dict[str, Any]:
        """Write the order as ``submitting`` on ``conn`` and return its view, with
        ``warnings`` for numbers accepted on shape alone."""
        agency = await agency_in_scope(conn, request.agency_code, principal.agency_ids)
        errors: list[FieldError] = []
        warnings: list[dict[str, str]] = []
        parties = {}
        for role in ("sender", "recipient"):
            parties[role] = self._party(role, getattr(request, role), errors, warnings)
        errors.extend(self._cod_errors(request))
        window = request.pickup_window
        if window is not None:
            if request.leg != Leg.PICKUP.value:
                errors.append(
                    FieldError("pickup_window", "not_allowed", "only a pickup has a pickup window")
                )
            elif window.end <= window.start:
                errors.append(FieldError("pickup_window.end", "invalid", "must follow start"))
        if request.payment_id is not None:
            errors.extend(await self._payment_errors(conn, agency.id, request))
        if errors:
            raise ValidationFailed(errors)
        leg = Leg(request.leg)
        live, attempt = await self._attempts(conn, agency.id, request.dossier_code, leg)
        if live:
            raise ActiveOrderExists(
                f"dossier {request.dossier_code} has a live {leg.value} order; cancel it first"
            )
        now = self.context.clock()
        order_id = new_id("pso")
        values = {
            "id": order_id,
            "client_id": principal.client_id,
            "agency_id": agency.id,
            "post_office_id": await office_of_agency(conn, agency.id),
            "dossier_code": request.dossier_code,
            "leg": leg.value,
            "attempt": attempt,
            "client_reference": new_client_reference(leg, attempt),
            "carrier": CARRIER,
            "service": request.service,
            "status_at": now,
            "sender": parties["sender"],
            "recipient": parties["recipient"],
            "weight_grams": request.weight_grams or self.settings.default_weight_grams,
            "cod_amount": request.cod_amount,
            "payment_id": request.payment_id,
            "note": request.note,
            "pickup_window_start": window.start if window else None,
            "pickup_window_end": window.end if window else None,
            "submit_due_at": now,
            "created_at": now,
            "updated_at": now,
        }
        try:
            async with conn.begin_nested():
                await POSTAL_ORDERS.insert(conn, PostalOrderStatus.SUBMITTING, **values)
        except IntegrityError:
            message = "another order for this dossier and leg was just booked"
            raise ActiveOrderExists(message) from None
        if values["post_office_id"] is None:
            # Still booked and sent to VNPost; operators see it once an office serves the agency.
            log.warning("postal_order_without_post_office", postal_order_id=order_id)
        view = state.render(await state.load(conn, order_id), [])
        return {**view, "warnings": warnings}

    def _party(
        self,
        role: str,
        party: PostalParty,
        errors: list[FieldError],
        warnings: list[dict[str, str]],
    ) -> dict[str, Any]:
        """The party as stored: phone and street sealed, codes canonical."""
        address = party.address
        errors.extend(
            admin_units.validate_address(
                address.province_code,
                address.ward_code,
                province_field=f"{role}.address.province_code",
                ward_field=f"{role}.address.ward_code",
            )
        )
        try:
            phone = normalise_phone(party.phone)
        except InvalidPhone as exc:
            errors.append(exc.field_error(f"{role}.phone"))
            return {}
        if phone.warning:
            warnings.append({"field": f"{role}.phone", "code": phone.warning})
        ward = admin_units.ward(address.ward_code)
        province = admin_units.province(address.province_code)
        stored_address: dict[str, Any] = {
            "street": self.sealer.seal(address.street, f"postal.{role}.street"),
            "ward_code": ward.code if ward else address.ward_code,
            "province_code": province.code if province else address.province_code,
        }
        if address.legacy_district:
            stored_address["legacy_district"] = address.legacy_district
        return {
            "name": party.name,
            "phone": self.sealer.seal(phone.e164, f"postal.{role}.phone"),
            "phone_masked": mask_phone(phone.e164),
            "address": stored_address,
        }

    def _cod_errors(self, request: CreatePostalOrder) -> list[FieldError]:
        cod = request.cod_amount
        if cod is None:
            return []
        if request.leg == Leg.PICKUP.value:
            message = "fees are collected on delivery of the result, never on a pickup"
            return [FieldError("cod_amount", "cod_on_pickup", message)]
        if cod <= 0:
            return [FieldError("cod_amount", "out_of_range", "must be a positive number of VND")]
        if cod > self.settings.max_cod:
            message = f"at most {self.settings.max_cod} VND may be collected on delivery"
            return [FieldError("cod_amount", "cod_too_large", message)]
        return []

    async def _payment_errors(
        self, conn: AsyncConnection, agency_id: int, request: CreatePostalOrder
    ) -> list[FieldError]:
        row = (
            await conn.execute(
                select(payments.c.agency_id, payments.c.amount, payments.c.status).where(
                    payments.c.id == request.payment_id
                )
            )
        ).first()
        if row is None or row.agency_id != agency_id:
            return [FieldError("payment_id", "unknown_payment", "no payment of this agency")]
        if request.cod_amount is not None and request.cod_amount != row.amount:
            message = f"the COD amount must equal the payment's {row.amount} VND"
            return [FieldError("cod_amount", "amount_mismatch", message)]
        if request.cod_amount is not None and row.status != "pending":
            return [FieldError("payment_id", "payment_not_pending", "the payment is settled")]
        return []

    async def _attempts(
        self, conn: AsyncConnection, agency_id: int, dossier_code: str, leg: Leg
    ) -> tuple[bool, int]:
        """Whether a live order exists for the dossier's leg, and the next attempt number."""
        rows = (
            await conn.execute(
                select(postal_orders.c.status, postal_orders.c.attempt).where(
                    postal_orders.c.agency_id == agency_id,
                    postal_orders.c.dossier_code == dossier_code,
                    postal_orders.c.leg == leg.value,
                )
            )
        ).all()
        live = any(not is_final(row.status) for row in rows)
        return live, max((row.attempt for row in rows), default=0) + 1

    # -- read -----------------------------------------------------------------------------

    async def get(self, principal: Principal, order_id: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            row = await state.load(conn, order_id)
            if row is None or row.agency_id not in principal.agency_ids:
                raise NotFound("postal order not found")
            return state.render(row, await state.events_of(conn, order_id))

    async def list_page(self, principal: Principal, query: OrderFilter) -> dict[str, Any]:
        if query.status is not None and query.status not in ORDER_STATUSES:
            raise ValidationFailed([FieldError("status", "invalid_choice", "unknown status")])
        conditions: list[ColumnElement[bool]] = [
            postal_orders.c.agency_id.in_(sorted(principal.agency_ids))
        ]
        if query.dossier_code:
            conditions.append(postal_orders.c.dossier_code == query.dossier_code)
        if query.status:
            conditions.append(postal_orders.c.status == query.status)
        if query.cursor:
            after_created, after_id = decode_cursor(query.cursor, prefix="pso_")
            conditions.append(
                or_(
                    postal_orders.c.created_at < after_created,
                    and_(
                        postal_orders.c.created_at == after_created,
                        postal_orders.c.id < after_id,
                    ),
                )
            )
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(*state.ORDER_COLUMNS)
                    .join(agencies, agencies.c.id == postal_orders.c.agency_id)
                    .where(*conditions)
                    .order_by(postal_orders.c.created_at.desc(), postal_orders.c.id.desc())
                    .limit(query.limit + 1)
                )
            ).all()
            page = rows[: query.limit]
            data = [state.render(row, await state.events_of(conn, row.id)) for row in page]
        next_cursor = None
        if len(rows) > query.limit:
            last = page[-1]
            next_cursor = encode_cursor(last.created_at, last.id)
        return {"data": data, "next_cursor": next_cursor}

    # -- cancel ---------------------------------------------------------------------------

    async def request_cancel(self, principal: Principal, order_id: str) -> dict[str, Any]:
        """Ask for a cancellation: allowed until the parcel is picked up. The carrier is told
        afterwards (it may refuse if a postman got there first): ``cancel_state`` shows
        ``requested``, then the order is ``cancelled`` or the state ``refused``."""
        now = self.context.clock()
        async with self.db.write() as conn:
            row = await state.load(conn, order_id, for_update=True)
            if row is None or row.agency_id not in principal.agency_ids:
                raise NotFound("postal order not found")
            if row.cancel_state == "requested":
                return state.render(row, await state.events_of(conn, order_id))
            if row.status not in CANCELLABLE:
                raise NotCancellable(row.status, "cancelled")
            await conn.execute(
                update(postal_orders)
                .where(postal_orders.c.id == order_id, postal_orders.c.status == row.status)
                .values(
                    cancel_state="requested",
                    cancel_requested_at=now,
                    submit_due_at=now if row.status == SUBMITTING else row.submit_due_at,
                    sync_due_at=now,
                    updated_at=now,
                )
            )
            await state.announce(conn, self.context, order_id, "postal.order.updated")
            return state.render(
                await state.load(conn, order_id), await state.events_of(conn, order_id)
            )

    async def due_cancellations(self) -> list[str]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(postal_orders.c.id).where(postal_orders.c.cancel_state == "requested")
            )
            return list(rows.scalars())

    # -- a person's decision --------------------------------------------------------------

    async def review(
        self, principal: Principal, order_id: str, decision: ReviewDecision
    ) -> dict[str, Any]:
        """Settle what the gateway could not: a ``needs_review`` order is adopted under the
        item code VNPost confirmed, marked never received (``submit_failed``: book again) or
        withdrawn (``cancelled``); a flag on another order is acknowledged. Announced to the
        portal like any change and kept in the audit log with the person's reason."""
        adopting = decision.decision == "adopt"
        if adopting != (decision.tracking_number is not None):
            problem = "required to adopt" if adopting else "only given to adopt"
            raise ValidationFailed([FieldError("tracking_number", "invalid", problem)])
        now = self.context.clock()
        async with self.db.write() as conn:
            row = await state.load(conn, order_id, for_update=True)
            if row is None or row.agency_id not in principal.agency_ids:
                raise NotFound("postal order not found")
            target = _DECIDED.get(decision.decision)
            if row.status == NEEDS_REVIEW:
                allowed = target is not None
            else:  # only a flag to acknowledge
                allowed = target is None and row.review_reason is not None
            if not allowed:
                raise NotUnderReview(row.status, target or decision.decision)
            details: dict[str, Any] = {
                "decision": decision.decision,
                "reason": decision.reason,
                "review_reason": row.review_reason,
                "status": row.status,
            }
            if target is None:
                await conn.execute(
                    update(postal_orders)
                    .where(postal_orders.c.id == order_id)
                    .values(review_reason=None, updated_at=now)
                )
                await state.announce(conn, self.context, order_id, "postal.order.updated")
            else:
                values: dict[str, Any] = {"review_reason": None}
                if adopting:
                    # Read from VNPost at once: it may have moved on since.
                    values.update(
                        tracking_number=decision.tracking_number, last_error=None, sync_due_at=now
                    )
                    details["tracking_number"] = decision.tracking_number
                    await self._check_free(conn, order_id, decision.tracking_number)
                    adopted = state.NewEvent(
                        source="gateway",
                        external_id=f"{order_id}|adopted",
                        status=PostalStatus.CREATED,
                        occurred_at=now,
                        note=f"Đã xác nhận với VNPost: số hiệu bưu gửi {decision.tracking_number}",
                    )
                    await state.store_event(conn, self.context, order_id, adopted, applied=True)
                else:
                    values["last_error"] = f"review: {decision.reason}"[:255]
                    # Never at VNPost: a cancellation asked for meanwhile has nothing to wait
                    # for (withdrawing confirms it: state.move).
                    if target == SUBMIT_FAILED and row.cancel_state == "requested":
                        values["cancel_state"] = None
                try:
                    await state.move(conn, self.context, row, target, now, **values)
                except IntegrityError:  # the item code was taken since the check
                    raise TrackingNumberTaken(
                        f"VNPost item code {decision.tracking_number} is held by another order"
                    ) from None
            await audit.record(
                conn, now, principal.client_id, "postal_order_reviewed", "postal_order",
                order_id, details,
            )  # fmt: skip
            log.info(
                "postal_order_reviewed",
                postal_order_id=order_id,
                decision=decision.decision,
                actor=principal.client_id,
            )
            return state.render(
                await state.load(conn, order_id), await state.events_of(conn, order_id)
            )

    async def _check_free(
        self, conn: AsyncConnection, order_id: str, item_code: str | None
    ) -> None:
        holder = (
            None if item_code is None else await state.tracking_holder(conn, item_code, order_id)
        )
        if holder is not None:
            raise TrackingNumberTaken(f"VNPost item code {item_code} is held by {holder}")
