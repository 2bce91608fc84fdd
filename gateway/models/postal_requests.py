"""Request bodies of the postal API (portal and postal operators). Codes and phones are
checked for shape here and for meaning (the official administrative list, ``phonenumbers``)
by the service."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, StringConstraints

from gateway.core.fields import OneOf, PageSize, QueryModel, RequestModel, Time
from gateway.core.postal.orders import Leg
from gateway.models.postal import POSTAL_ORDER_STATUSES, Service
from gateway.models.requests import Text

Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{1,6}$")]


class PostalAddress(RequestModel):
    street: Annotated[Text, StringConstraints(max_length=200)] = Field(
        description="House number, street, hamlet (số nhà, đường, thôn/ấp)"
    )
    ward_code: Code = Field(description="Commune/ward code (NSO), e.g. 26740 Phường Sài Gòn")
    province_code: Code = Field(description="Province code (NSO), e.g. 79 TP. Hồ Chí Minh")
    legacy_district: Annotated[Text, StringConstraints(max_length=100)] | None = Field(
        None, description="District of a pre-July-2025 address, kept as text only"
    )


class PostalParty(RequestModel):
    name: Annotated[Text, StringConstraints(max_length=100)]
    phone: Annotated[str, StringConstraints(max_length=32)] = Field(
        description="Vietnamese mobile or fixed-line number; stored as E.164"
    )
    address: PostalAddress


class PickupWindow(RequestModel):
    start: Time
    end: Time


class CreatePostalOrder(RequestModel):
    leg: Leg = Field(
        description="pickup: citizen → agency (dossier); delivery: agency → citizen (result)"
    )
    agency_code: Annotated[Text, StringConstraints(max_length=32)]
    dossier_code: Annotated[Text, StringConstraints(max_length=64)]
    sender: PostalParty
    recipient: PostalParty
    cod_amount: StrictInt | None = Field(
        None, description="Fees the postman collects on delivery, integer VND (delivery leg only)"
    )
    service: Service = "standard"
    weight_grams: Annotated[StrictInt, Field(gt=0, le=30_000)] | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    pickup_window: PickupWindow | None = None
    payment_id: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        None, description="The fee payment this order collects or accompanies"
    )


#: What a person decided about an order the gateway could not settle alone (``review_reason``).
REVIEW_DECISIONS = {
    "adopt": "needs_review → created: VNPost holds the order under `tracking_number` (checked "
    "with VNPost); the gateway follows it from now on",
    "not_at_carrier": "needs_review → submit_failed: VNPost never received it; the portal may "
    "book the leg again",
    "withdraw": "needs_review → cancelled: the order is withdrawn (VNPost does not hold it or "
    "has cancelled it) and the dossier does not go by post",
    "acknowledge": "a flag on a moving or ended order (`delivered_after_return`, "
    "`delivery_attempts_rule`) was looked at: the flag is cleared, the order does not move",
}


class ReviewDecision(RequestModel):
    decision: Literal["adopt", "not_at_carrier", "withdraw", "acknowledge"] = Field(
        description="; ".join(f"`{name}`: {text}" for name, text in REVIEW_DECISIONS.items())
    )
    reason: Annotated[Text, StringConstraints(min_length=3, max_length=500)] = Field(
        description="What the person checked (kept in the audit log and the order's history)"
    )
    tracking_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z0-9]{6,32}$")] | None
    ) = Field(None, description="VNPost's item code; required with `adopt`, refused otherwise")


class OperatorEvent(RequestModel):
    event_id: Annotated[Text, StringConstraints(max_length=64)] = Field(
        description="The operator's own id of this report; a resent report is recognised"
    )
    status: Literal[
        "pickup_assigned",
        "picking_up",
        "pickup_failed",
        "picked_up",
        "in_transit",
        "out_for_delivery",
        "delivery_failed",
        "delivered",
        "return_pending",
        "returning",
        "returned",
        "lost",
    ]
    occurred_at: Time
    location: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] = ""
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class HandoverDocument(RequestModel):
    item: Annotated[Text, StringConstraints(max_length=255)]
    original: StrictBool = Field(description="true: bản chính (original); false: bản sao (copy)")
    count: Annotated[StrictInt, Field(ge=1, le=1000)]


class IdentityCheck(RequestModel):
    id_type: Literal["cccd", "cmnd", "passport", "other"]
    id_number: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{6,20}$")]


class Handover(RequestModel):
    handover_id: Annotated[Text, StringConstraints(max_length=64)] = Field(
        description="The operator's own id of this handover; a resent one is recognised"
    )
    kind: Literal["collected", "delivered"] = Field(
        description="collected: the postman takes the parcel; delivered: the postman hands it over"
    )
    at: Time
    documents: Annotated[list[HandoverDocument], Field(min_length=1, max_length=100)]
    seal_number: Annotated[Text, StringConstraints(max_length=32)] | None = None
    counterpart_name: Annotated[Text, StringConstraints(max_length=255)]
    counterpart_role: Literal["citizen", "authorised_person", "agency_officer", "postman"]
    identity: IdentityCheck | None = None
    proof_reference: Annotated[Text, StringConstraints(max_length=255)] | None = Field(
        None, description="Reference of the photo or signature kept by the operator"
    )
    cod_collected: StrictInt | None = Field(None, description="COD collected, integer VND")


class OrderQuery(QueryModel):
    dossier_code: str | None = Field(None, description="exact dossier code")
    status: Annotated[str, OneOf(POSTAL_ORDER_STATUSES)] | None = Field(
        None, description="order status"
    )
    limit: PageSize = 20
    cursor: str | None = Field(None, description="next_cursor of the previous page")


__all__ = [
    "CreatePostalOrder",
    "Handover",
    "HandoverDocument",
    "IdentityCheck",
    "OperatorEvent",
    "OrderQuery",
    "PickupWindow",
    "PostalAddress",
    "PostalParty",
]
