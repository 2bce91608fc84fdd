"""Response bodies of the postal API: the portal's view of a postal order, its history and
the warnings of a booking."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gateway.core.fields import OneOf, Page, ResponseModel, Time
from gateway.core.postal.orders import (
    NEEDS_REVIEW,
    ORDER_STATUSES,
    REVIEW_REASONS,
    SUBMIT_FAILED,
    SUBMITTING,
    Leg,
)
from gateway.core.postal.phones import UNKNOWN_RANGE
from gateway.models.payments import PaymentId, public_id
from providers.common.postal import PostalStatus

#: What an order's ``status`` can be, along an order's life.
POSTAL_ORDER_STATUSES = [
    str(status)
    for status in (SUBMITTING, SUBMIT_FAILED, NEEDS_REVIEW, *PostalStatus)
    if status in ORDER_STATUSES
]
#: Who reported an event.
POSTAL_EVENT_SOURCES = ("vnpost", "operator", "staff", "gateway")
CANCEL_STATES = ("requested", "confirmed", "refused")
#: VNPost's item code (UPU S10, e.g. ``EB123456785VN``).
S10_PATTERN = "^[A-Z]{2}[0-9]{9}[A-Z]{2}$"

OrderId = Annotated[str, public_id("pso")]
Service = Literal["standard", "express"]
OrderStatus = Annotated[str, OneOf(POSTAL_ORDER_STATUSES)]


class AddressSummary(ResponseModel):
    """Codes and names only: the street stays in the gateway (encrypted at rest)"""

    ward_code: str
    ward_name: str | None = Field(description="From the official list of communes and wards")
    province_code: str
    province_name: str | None


class PostalPartySummary(ResponseModel):
    """A sender or recipient as the portal sees it"""

    name: str
    phone: str = Field(
        json_schema_extra={"pattern": r"^[0-9]{3}\*+[0-9]{3}$"},
        description="Masked national number, e.g. `091****678`: enough to recognise, not to call",
    )
    address: AddressSummary


class PostalTrackingEvent(ResponseModel):
    """One report about the order, in the order received"""

    status: PostalStatus = Field(
        description="The normalised status the report means; `unknown` for a carrier code no "
        "source explains in the configured status profile (stored, never applied) or one that "
        "changes no physical state (a fee paid)"
    )
    carrier_code: int | None = Field(
        description="VNPost's own status code, for the carrier's reports (`partner_order` "
        "profile: 0–29; `myvnpost`: 10–170)"
    )
    source: Annotated[str, OneOf(POSTAL_EVENT_SOURCES)] = Field(
        description="`vnpost`: the carrier (push or read); `operator`: a post office through "
        "the operator API; `staff`: a post office's staff through the operator console; "
        "`gateway`: the gateway itself (e.g. the carrier accepted the order)"
    )
    occurred_at: Time
    received_at: Time
    location: str
    note: str
    applied: bool = Field(
        description="Whether it moved the order (else kept as history: older, lower-ranked, "
        "or the order was final)"
    )


class PickupWindowView(ResponseModel):
    start: Time
    end: Time


StatusField = Annotated[
    OrderStatus,
    Field(
        description="`submitting` until VNPost accepts the order (`created`), `submit_failed` "
        "when it refused it (see `last_error`), `needs_review` when its answer could not be "
        "taken as it is (see `review_reason`); then VNPost's statuses. `delivered`, "
        "`returned`, `cancelled`, `lost` and `submit_failed` are final"
    ),
]

LegField = Annotated[
    Leg,
    Field(
        description="`pickup`: the citizen's dossier to the agency; `delivery`: the agency's "
        "result to the citizen"
    ),
]

AttemptField = Annotated[
    int,
    Field(
        ge=1,
        description="1 for the dossier's first order of this leg, then one more per new order "
        "after one ended",
    ),
]

ClientReferenceField = Annotated[
    str,
    Field(
        json_schema_extra={"pattern": "^BC[PD][0-9]+-[A-Z2-7]{16}$"},
        description="Our reference at the carrier (VNPost `sale_order_code`), fixed at booking",
    ),
]

TrackingNumberField = Annotated[
    Annotated[str, Field(json_schema_extra={"pattern": S10_PATTERN})] | None,
    Field(
        description="VNPost's item code (UPU S10, e.g. `EB123456785VN`); null until the "
        "carrier accepts the order"
    ),
]

WeightGramsField = Annotated[int, Field(ge=1)]

CodAmountField = Annotated[int | None, Field(description="VND the postman collects on delivery")]

CodCollectedField = Annotated[
    int | None, Field(description="VND the postman collected (confirmed by reading the order back)")
]

PickupWindowField = Annotated[
    PickupWindowView | None, Field(description="Pickup leg: when the citizen expects the postman")
]

CancelStateField = Annotated[
    Annotated[str, OneOf(CANCEL_STATES)] | None,
    Field(
        description="null: no cancellation asked; `requested`: asked, VNPost not yet told or "
        "not yet answered; `confirmed`: the order is `cancelled`; `refused`: VNPost refused (a "
        "postman got there first) and the order goes on"
    ),
]

AcceptedAtField = Annotated[
    Time | None,
    Field(description="When the serving post office accepted the order (operator API/console)"),
]

HandedOverAtField = Annotated[
    Time | None,
    Field(
        description="Pickup leg: when the dossier reached the agency (the procedure's "
        "processing time starts)"
    ),
]

StatusAtField = Annotated[Time, Field(description="When the order reached its status")]

ReviewReasonField = Annotated[
    Annotated[str, OneOf(REVIEW_REASONS)] | None,
    Field(
        description="Why a person must look at the order, else null. With status "
        "`needs_review`: `carrier_conflict` (VNPost answered an item code another order "
        "holds), `carrier_invalid_answer` (an answer that is not usable; VNPost may have the "
        "order), `carrier_outcome_unknown` (no trustworthy answer after every try). On a "
        "`returned` order: `delivered_after_return` (a delivery was reported after the return; "
        "kept as history, the order did not move); on a delivery: `delivery_attempts_rule` "
        "(VNPost reported a second attempt fewer than two working days after the first, or a "
        "return before two such attempts — Circular 17/2017; the report was applied)"
    ),
]

EventsField = Annotated[list[PostalTrackingEvent], Field(description="The order's history")]


class PostalOrder(ResponseModel):
    id: OrderId
    status: StatusField
    leg: LegField
    attempt: AttemptField
    carrier: Literal["vnpost"]
    service: Service
    client_reference: ClientReferenceField
    tracking_number: TrackingNumberField
    agency_code: str
    dossier_code: str
    sender: PostalPartySummary
    recipient: PostalPartySummary
    weight_grams: WeightGramsField
    cod_amount: CodAmountField
    cod_collected: CodCollectedField
    cod_collected_at: Time | None
    payment_id: PaymentId | None = Field(
        description="The fee payment the order collects (COD) or accompanies"
    )
    note: str
    pickup_window: PickupWindowField
    cancel_state: CancelStateField
    accepted_at: AcceptedAtField
    handed_over_at: HandedOverAtField
    result_undelivered: bool = Field(
        description="Delivery leg: the result came back or was lost; the agency holds it for "
        "the citizen or books a new delivery"
    )
    last_error: str | None = Field(
        description="The carrier's last refusal or failure while submitting, as `<code>: <message>`"
    )
    review_reason: ReviewReasonField
    status_at: StatusAtField
    created_at: Time
    updated_at: Time
    events: EventsField


class PostalWarning(ResponseModel):
    """Accepted, but worth a look"""

    field: str = Field(description="e.g. `recipient.phone`")
    code: Annotated[str, OneOf((UNKNOWN_RANGE,))] = Field(
        description="`unknown_range`: a mobile-shaped number in a range the phone metadata "
        "does not know yet; accepted on its shape alone"
    )


class PostalOrderCreated(PostalOrder):
    """The order, with what was accepted but is worth a look"""

    warnings: list[PostalWarning]


class PostalOrderPage(Page[PostalOrder]):
    """A page of postal orders, newest first."""
