"""Response bodies and queries of the e-receipt API (biên lai điện tử)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gateway.core.fields import ListOf, Page, PageSize, QueryModel, ResponseModel, Time
from gateway.core.statuses import ReceiptStatus
from gateway.models.payments import PaymentId, public_id

ReceiptId = Annotated[str, public_id("rct")]


class ReceiptItem(ResponseModel):
    kind: Literal["fee", "charge"] = Field(description="fee = phí, charge = lệ phí")
    code: str | None
    description: str
    amount: Annotated[int, Field(ge=1, description="VND")]


class ReceiptPayer(ResponseModel):
    name: str | None
    id_number: str | None = Field(description="Masked: only the last 4 characters are shown")


class Receipt(ResponseModel):
    id: ReceiptId
    payment_id: PaymentId
    agency_code: str
    tax_code: str = Field(description="Mã số thuế of the collecting agency")
    template_code: str = Field(description="Ký hiệu mẫu: `EBL01` (no face value) or `EBL02`")
    symbol: str | None = Field(
        description="Ký hiệu, e.g. `26TAB` (the year is in it); null while pending"
    )
    number: int | None = Field(
        description="Số biên lai (≤ 8 digits), gapless per tax code, template and symbol; null "
        "while pending"
    )
    kind: Literal["all", "fee", "charge"] = Field(
        description="`all`: one receipt for the payment; `fee`/`charge`: the phí or lệ phí "
        "receipt of an agency that issues them apart"
    )
    point: Literal["online", "counter", "postal"] = Field(
        description="Point of collection whose number range it came from"
    )
    issued_at: Time | None = Field(description="Signing time; null while pending")
    paid_at: Time
    items: list[ReceiptItem]
    amount: int = Field(description="Total in VND")
    amount_in_words: str = Field(description="The total in Vietnamese words")
    payer: ReceiptPayer
    channel: str = Field(description="The payment channel: `vietqr`, `vnpay`, `pos`, `cod`, …")
    transaction_reference: str | None
    status: ReceiptStatus = Field(
        description="`pending`: the payment is paid but the receipt waits for a number range, "
        "the year's symbol or a valid certificate (see `pending_reason`); issued as soon as "
        "that is fixed"
    )
    pending_reason: str | None = Field(
        description="`no_symbol_for_year`, `receipt_range_exhausted`, `certificate_expired`, …"
    )
    replaces: ReceiptId | None = Field(description="The receipt this one replaces")
    provider: str = Field(description="Who signed it: `gateway` (the agency's own signer)")
    xml_url: str | None = Field(description="The signed XML; null while pending")
    view_url: str = Field(
        description="The printable page for the citizen (an unguessable link, no login)"
    )


class ReceiptList(ListOf[Receipt]):
    """A payment's receipts, oldest first."""


class ReceiptPage(Page[Receipt]):
    """A page of receipts, newest first."""


class ReceiptQuery(QueryModel):
    agency_code: str | None = Field(None, description="one of the caller's agencies")
    issued_from: Time | None = Field(None, description="issued at or after (inclusive)")
    issued_to: Time | None = Field(None, description="issued before (exclusive)")
    symbol: str | None = Field(None, description="e.g. 26TAB")
    status: ReceiptStatus | None = None
    limit: PageSize = 20
    cursor: str | None = Field(None, description="next_cursor of the previous page")


class CertificateQuery(QueryModel):
    agency_code: str | None = Field(
        None, description="Required when the caller has several agencies that issue receipts"
    )
