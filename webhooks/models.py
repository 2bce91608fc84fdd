"""What the webhook API answers (endpoints, deliveries, events) and the body of every event a
subscribed endpoint receives, as pydantic models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, RootModel, WithJsonSchema

from gateway.core.fields import ListOf, OneOf, Page, ResponseModel, Time
from gateway.core.outbox import EVENT_TYPES
from gateway.core.statuses import DeliveryStatus
from gateway.models.payments import Attempt, Payment, PaymentId, Refund, public_id
from gateway.models.postal import PostalOrder
from gateway.models.receipts import CorrectionNotice, Receipt

#: Every event type, with what it announces (a test checks these against the outbox's list).

EventId = Annotated[str, public_id("evt")]
EndpointId = Annotated[str, public_id("we")]


def _of_kind(kind: str) -> tuple[str, ...]:
    return tuple(name for name in EVENT_TYPES if name.startswith(f"{kind}."))


def _sequence(subject: str) -> Any:
    return Field(
        ge=1,
        description=f"Grows per {subject}; events of one {subject} arrive in this order",
    )


class _Event(ResponseModel):
    id: EventId = Field(description="Also the `webhook-id` of every delivery")
    created_at: Time


class PaymentEventData(ResponseModel):
    payment: Payment
    sequence: int = _sequence("payment")


class PaymentEvent(_Event):
    """The payment as it is after the change"""

    type: Annotated[str, OneOf(_of_kind("payment"))]
    data: PaymentEventData


class AttemptEventData(ResponseModel):
    attempt: Attempt
    payment_id: PaymentId
    sequence: int = _sequence("payment")


class AttemptEvent(_Event):
    """The attempt as it is after the change"""

    type: Annotated[str, OneOf(_of_kind("attempt"))]
    data: AttemptEventData


class RefundEventData(ResponseModel):
    refund: Refund
    payment_id: PaymentId
    sequence: int = _sequence("payment")


class RefundEvent(_Event):
    """The refund as it is after the change"""

    type: Annotated[str, OneOf(_of_kind("refund"))]
    data: RefundEventData


class PostalOrderEventData(ResponseModel):
    postal_order: PostalOrder
    sequence: int = _sequence("postal order")


class PostalOrderEvent(_Event):
    """The order as it is after the change"""

    type: Annotated[str, OneOf(_of_kind("postal"))]
    data: PostalOrderEventData


class ReceiptEventData(ResponseModel):
    receipt: Receipt = Field(description="The receipt (for `receipt.replaced`: the replacement)")
    replaced: Receipt | None = Field(
        None, description="`receipt.replaced` only: the original, now `replaced`"
    )
    notice: CorrectionNotice | None = Field(
        None, description="`receipt.error_notified` only: the 04/SS-CTĐT data"
    )
    sequence: int = _sequence("payment")


class ReceiptEvent(_Event):
    """The receipt as issued (its payment's events and its own share one sequence)"""

    type: Annotated[str, OneOf(_of_kind("receipt"))]
    data: ReceiptEventData


class TestEventData(ResponseModel):
    endpoint_id: EndpointId
    sequence: Literal[1]


class TestEvent(_Event):
    """A test event sent by hand to one endpoint"""

    type: Annotated[str, OneOf(_of_kind("webhook"))]
    data: TestEventData


class Event(
    RootModel[
        PaymentEvent | AttemptEvent | RefundEvent | PostalOrderEvent | ReceiptEvent | TestEvent
    ]
):
    """The exact body every delivery of the event sends"""


#: Which model describes an event type's body, by the type's first word.
EVENT_MODELS: dict[str, type[_Event]] = {
    "payment": PaymentEvent,
    "attempt": AttemptEvent,
    "refund": RefundEvent,
    "postal": PostalOrderEvent,
    "receipt": ReceiptEvent,
    "webhook": TestEvent,
}


class WebhookEndpoint(ResponseModel):
    id: EndpointId
    url: str
    events: list[str]
    status: Literal["enabled", "disabled"]
    disabled_reason: Annotated[str, OneOf(("gone",))] | None = Field(
        description="`gone`: the endpoint answered 410 and was disabled"
    )
    created_at: Time
    previous_secret_expires_at: Time | None = Field(
        description="After a rotation the previous secret signs too, until this time"
    )


class WebhookEndpointWithSecret(WebhookEndpoint):
    secret: str = Field(
        json_schema_extra={"pattern": "^whsec_[A-Za-z0-9+/]{43}=$"},
        description="Standard Webhooks signing secret; shown only in this answer",
    )


class WebhookEndpointList(ListOf[WebhookEndpoint]):
    """The caller's endpoints (disabled ones too)."""


class DeliveryAttempt(ResponseModel):
    attempted_at: Time
    status_code: int | None
    error: str | None = Field(description="`timeout` or `connection_error: …` when no status came")
    duration_ms: int = Field(ge=0)


class Delivery(ResponseModel):
    id: int
    event_id: EventId
    event_type: Annotated[str, OneOf(EVENT_TYPES)]
    endpoint_id: EndpointId
    status: DeliveryStatus
    attempt_count: int = Field(ge=0)
    next_attempt_at: Time | None
    delivered_at: Time | None
    last_status_code: int | None
    attempts: list[DeliveryAttempt]


class DeliveryPage(Page[Delivery]):
    """Deliveries to an endpoint, newest first."""


class Recovered(ResponseModel):
    recovered: int = Field(ge=0, description="Failed deliveries queued again")


class EventWithDeliveries(ResponseModel):
    #: The body as it was sent: kept as stored (an event is never rewritten), documented as
    #: :class:`Event`.
    event: Annotated[
        dict[str, Any], WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/Event"}]})
    ]
    deliveries: list[Delivery]
