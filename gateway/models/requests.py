"""Request bodies of the payment API (payments, attempts, refunds, terminals, webhook
endpoints)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import EmailStr, Field, StrictInt, StringConstraints, field_validator

from gateway.core.fields import PageSize, QueryModel, RequestModel, Time
from gateway.core.statuses import PaymentStatus

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
TerminalId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class Payer(RequestModel):
    name: Annotated[Text, StringConstraints(max_length=255)]
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 .-]{8,20}$")] | None = None
    email: Annotated[EmailStr, StringConstraints(max_length=254)] | None = None
    id_number: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{6,20}$")] | None = None


class FeeItem(RequestModel):
    kind: Literal["fee", "charge"] = Field(description="fee = phí, charge = lệ phí")
    code: Annotated[Text, StringConstraints(max_length=64)] | None = None
    description: Annotated[Text, StringConstraints(max_length=255)]
    amount: Annotated[StrictInt, Field(gt=0, description="Integer VND")]
    budget_subitem: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")] | None = Field(
        None, description="Budget sub-item (tiểu mục), 4 digits"
    )


class CreatePayment(RequestModel):
    agency_code: Annotated[Text, StringConstraints(max_length=32)]
    dossier_code: Annotated[Text, StringConstraints(max_length=64)]
    procedure_code: Annotated[Text, StringConstraints(max_length=64)] | None = None
    procedure_name: Annotated[Text, StringConstraints(max_length=255)] | None = None
    payer: Payer
    items: Annotated[list[FeeItem], Field(min_length=1, max_length=50)]
    expires_in_seconds: StrictInt | None = Field(
        None, description="Default 900; bounded by configuration (60..604800 by default)"
    )
    return_url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=2048)] | None = (
        None
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="Echoed back; ≤ 4 KiB")

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, ensure_ascii=False).encode()) > 4096:
            raise ValueError("metadata must be at most 4 KiB of JSON")
        return value


class CreateWebhookEndpoint(RequestModel):
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
    events: Annotated[
        list[Annotated[str, StringConstraints(max_length=64)]], Field(min_length=1, max_length=20)
    ] = Field(description='Event types to receive, or ["*"] for all')


class RecoverDeliveries(RequestModel):
    since: Time = Field(
        description="Deliveries that failed at or after this time are sent again, whenever "
        "their event was created"
    )


class CreateAttempt(RequestModel):
    method: Literal["vnpay", "pos", "dvcqg", "momo", "zalopay"]
    terminal_id: TerminalId | None = Field(
        None, description="Required for pos: the registered terminal to push to"
    )
    bank_code: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,20}$")] | None = Field(
        None, description="VNPAY: preselect a bank or method (e.g. VNPAYQR, VNBANK, INTCARD)"
    )
    locale: Literal["vn", "en"] = "vn"


class RefundItem(RequestModel):
    kind: Literal["fee", "charge", "postal"] = Field(
        description="the kind of the payment's lines this money gives back: fee = phí, "
        "charge = lệ phí, postal = cước bưu chính"
    )
    amount: Annotated[StrictInt, Field(gt=0, description="Integer VND")]


class CreateRefund(RequestModel):
    amount: Annotated[StrictInt, Field(gt=0, description="Integer VND, at most the refundable")]
    reason: Annotated[Text, StringConstraints(max_length=255)]
    items: list[RefundItem] | None = Field(
        None,
        max_length=50,
        description="What the refund gives back, by kind of line (amounts add up to `amount`): "
        "it is recorded against the receipt(s) of those lines. Without it, a refund of part of "
        "a payment whose lines are on more than one receipt (or postal lines) is accepted but "
        "recorded unattributed (listed on every receipt): send `items` to have it attributed; "
        "docs/receipts.md, Refunds",
    )


class CreateTerminal(RequestModel):
    agency_code: Annotated[Text, StringConstraints(max_length=32)]
    terminal_id: TerminalId
    name: Annotated[Text, StringConstraints(max_length=255)]


class CompleteRefund(RequestModel):
    status: Literal["succeeded", "failed"]
    provider_transaction_id: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None,
        description="The bank's or terminal's reference of the refund made by hand (only "
        "with `succeeded`: a failure moved no money)",
    )
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, description="How it was confirmed (the bank statement, the provider's answer)"
    )


class DecideRefundResolution(RequestModel):
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, description="Why (kept with the decision; say it when rejecting)"
    )


class PaymentQuery(QueryModel):
    dossier_code: str | None = Field(None, description="exact dossier code")
    reference: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,32}$")] | None = Field(
        None, description="exact payment reference (the token in the QR and transfer text)"
    )
    agency_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,32}$")] | None = (
        Field(None, description="one of the caller's agencies (another answers no payments)")
    )
    status: PaymentStatus | None = Field(None, description="payment status")
    created_from: Time | None = Field(None, description="inclusive")
    created_to: Time | None = Field(None, description="exclusive")
    limit: PageSize = 20
    cursor: str | None = Field(None, description="next_cursor of the previous page")
