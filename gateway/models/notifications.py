"""Bodies of the notification API: a notification to a citizen, and an opt-out."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from gateway.core.fields import ListOf, QueryModel, RequestModel, ResponseModel, Time
from gateway.core.statuses import NotificationStatus

NotificationKind = Literal[
    "payment_created",
    "payment_paid",
    "payment_expiring",
    "payment_expired",
    "postal_picked_up",
    "postal_out_for_delivery",
    "postal_delivered",
    "postal_delivery_failed",
]


class Notification(ResponseModel):
    id: str
    kind: NotificationKind
    channel: Literal["zns", "sms"]
    status: NotificationStatus = Field(
        description="`queued` → `sent` → `delivered`, or `failed` with `reason`"
    )
    reason: str | None = Field(
        description="Why it failed (`opted_out`, `invalid_phone`, `no_zalo_account` — then "
        "an SMS follows —, `template_rejected`, `payment_not_pending`, `gave_up`, "
        "`not_delivered:<provider's word>`), or the last transient error while `queued` "
        "(`retrying:<code>`)"
    )
    phone_masked: str = Field(description="e.g. `091****678`; the number is never shown")
    payment_id: str | None
    postal_order_id: str | None
    content: dict[str, Any] = Field(
        description="ZNS: `template_id`, `template_data`; SMS: `text` (without diacritics), "
        "`segments`"
    )
    provider_message_id: str | None
    attempt_count: int
    next_attempt_at: Time | None = Field(description="When a queued notification goes out")
    sent_at: Time | None
    delivered_at: Time | None
    event_at: Time = Field(description="When the event it tells about happened")
    created_at: Time
    updated_at: Time


class NotificationList(ListOf[Notification]):
    """The notifications of one payment or postal order, in the order of their events."""


class NotificationQuery(QueryModel):
    payment_id: str | None = Field(None, description="Exactly one of the two")
    postal_order_id: str | None = None


class CreateOptOut(RequestModel):
    phone: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="A Vietnamese number (`0912345678`, `+84912345678`)"
    )


class OptOut(ResponseModel):
    phone_masked: str
    created_at: Time


class ReceiptAck(ResponseModel):
    status: Literal["accepted"]
    outcome: Literal["applied", "already_final", "unmatched", "duplicate", "ignored"] = Field(
        description="`applied`: the notification is now delivered (or failed); "
        "`already_final`: it was already; `unmatched` (code `unknown_message`): we sent no "
        "such message, the receipt is stored and ignored; `duplicate`: received before; "
        "`ignored`: not a delivery receipt (another OA event, an SMS report that is not final)"
    )
    code: str | None
