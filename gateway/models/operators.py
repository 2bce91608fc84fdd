"""Response bodies of the postal operators' API: their feed, one order in full, and the
answers to reported events and handovers. Operators deliver, so parties are shown in full."""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field

from gateway.core.fields import ListOf, OneOf, ResponseModel, Time
from gateway.models.payments import public_id
from gateway.models.postal import (
    AcceptedAtField,
    AttemptField,
    CancelStateField,
    ClientReferenceField,
    CodAmountField,
    CodCollectedField,
    EventsField,
    HandedOverAtField,
    LegField,
    OrderId,
    PickupWindowField,
    PostalTrackingEvent,
    ReviewReasonField,
    Service,
    StatusAtField,
    StatusField,
    TrackingNumberField,
    WeightGramsField,
)
from gateway.models.postal_requests import Handover, IdentityCheck


def _choices(model: type[Handover] | type[IdentityCheck], field: str) -> tuple[str, ...]:
    """The literal choices of a request model's field, so the views' enums cannot drift."""
    return get_args(model.model_fields[field].annotation)


class OperatorAddress(ResponseModel):
    street: str
    ward_code: str
    ward_name: str | None = Field(description="From the official list of communes and wards")
    province_code: str
    province_name: str | None
    legacy_district: str | None = Field(
        description="District of a pre-July-2025 address, as the portal wrote it"
    )


class OperatorParty(ResponseModel):
    """A sender or recipient as the operator sees it: they deliver, so the phone and the street
    are shown in full (unsealed for this answer only, never logged)"""

    name: str
    phone: str = Field(json_schema_extra={"pattern": r"^\+84[0-9]+$"}, description="E.164")
    phone_national: str = Field(
        json_schema_extra={"pattern": "^0[0-9]+$"},
        description="As written on a Vietnamese label, e.g. `0912345678`",
    )
    address: OperatorAddress


class OperatorHandoverSummary(ResponseModel):
    """A handover, as the feed lists it"""

    id: Annotated[str, public_id("hov")]
    handover_id: str = Field(description="The operator's own id of the handover")
    kind: Annotated[str, OneOf(_choices(Handover, "kind"))] = Field(
        description="`collected`: the postman took the parcel; `delivered`: the postman handed "
        "it over"
    )
    at: Time
    counterpart_name: str
    counterpart_role: Annotated[str, OneOf(_choices(Handover, "counterpart_role"))]
    cod_collected: int | None = Field(description="VND collected (delivery)")


class OperatorIdentityCheck(ResponseModel):
    """The identity document checked. The number is stored sealed and never shown again"""

    id_type: Annotated[str, OneOf(_choices(IdentityCheck, "id_type"))]
    id_number_masked: str = Field(
        json_schema_extra={"pattern": r"^\*+[0-9A-Za-z]{4}$"},
        description="All but the last four characters hidden, e.g. `********1234`",
    )


class HandoverDocumentView(ResponseModel):
    item: str
    original: bool = Field(description="true: bản chính (original); false: bản sao (copy)")
    count: int = Field(ge=1)


class OperatorHandover(OperatorHandoverSummary):
    """A handover record (biên bản bàn giao) in full"""

    documents: list[HandoverDocumentView]
    seal_number: str | None
    identity: OperatorIdentityCheck | None
    proof_reference: str | None
    recorded_by: str = Field(
        description="The API client's or console user's name (`operator`/`staff` if it is gone)"
    )
    created_at: Time


class PostOffice(ResponseModel):
    """The office serving the agency"""

    code: str
    name: str


class _OperatorOrderFields(ResponseModel):
    id: OrderId
    status: StatusField
    leg: LegField
    attempt: AttemptField
    service: Service
    tracking_number: TrackingNumberField
    client_reference: ClientReferenceField
    agency_code: str
    agency_name: str
    post_office: PostOffice
    dossier_code: str
    sender: OperatorParty
    recipient: OperatorParty
    weight_grams: WeightGramsField
    cod_amount: CodAmountField
    cod_collected: CodCollectedField
    cod_collected_at: Time | None
    note: str
    pickup_window: PickupWindowField
    accepted_at: AcceptedAtField
    accepted_by: str | None = Field(
        description="Who accepted the order: the API client's or console user's name (when one "
        "order is read), `operator` or `staff` (in the feed); null until accepted"
    )
    handed_over_at: HandedOverAtField
    cancel_state: CancelStateField
    review_reason: ReviewReasonField
    status_at: StatusAtField
    created_at: Time
    updated_at: Time


class OperatorOrderSummary(_OperatorOrderFields):
    """An order of the operator's offices, as the feed lists it"""

    handovers: list[OperatorHandoverSummary] = Field(description="Oldest first")


class OperatorOrder(_OperatorOrderFields):
    """An order of the operator's offices, with its history"""

    handovers: list[OperatorHandover] = Field(description="Oldest first")
    events: EventsField


class OperatorOrderFeed(ListOf[OperatorOrderSummary]):
    next_cursor: str = Field(
        description="Always given: pass it as `cursor` to get what changed since (the same "
        "cursor again when nothing did)"
    )
    has_more: bool = Field(description="More orders changed after this page: ask again at once")


class OperatorEventReported(ResponseModel):
    """The event as stored (a resend: as first stored) and the order as it is now"""

    event_id: str = Field(description="The operator's id of the report")
    applied: bool = Field(
        description="Whether it moved the order (else kept as history: older or lower-ranked "
        "than the order's status, the order is final or not yet with the carrier)"
    )
    event: PostalTrackingEvent
    order: OperatorOrder


class OperatorHandoverRecorded(ResponseModel):
    """The handover as stored (a resend: as first stored) and the order as it is now"""

    handover: OperatorHandover
    order: OperatorOrder
