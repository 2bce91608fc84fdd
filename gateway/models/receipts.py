"""Response bodies and queries of the e-receipt API (biên lai điện tử)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from gateway.core.fields import ListOf, Page, PageSize, QueryModel, ResponseModel, Time
from gateway.core.statuses import ReceiptStatus, TaxNoticeStatus
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


class ReceiptRefund(ResponseModel):
    """A refund of the receipt's payment: the receipt stays valid and the refund is recorded
    against it (docs/receipts.md, "Refunds")."""

    id: str
    amount: int = Field(description="VND of the whole refund")
    share: int | None = Field(
        description="VND of this refund that concerns this receipt; null when the refund is "
        "unattributed (made without `items` when its receipt was ambiguous, or before shares "
        "were recorded): it is then listed on every receipt of the payment"
    )
    status: Literal["pending", "succeeded", "failed"]
    created_at: Time


class ReceiptDelegate(ResponseModel):
    """The gateway operator that issued the receipt as the agency's delegate (NĐ 254/2026
    Điều 4.6); the agency stays the collector"""

    name: str
    address: str


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
    delegate: ReceiptDelegate | None = Field(
        description="Issued by the gateway operator as the agency's delegate under a "
        "delegation agreement: the delegate's name and address as the receipt shows them; "
        "null when the agency issued it as itself (and while pending)",
    )
    xml_url: str | None = Field(description="The signed XML; null while pending")
    view_url: str = Field(
        description="The printable page for the citizen (an unguessable link, no login)"
    )
    refunds: list[ReceiptRefund] = Field(
        default_factory=list,
        description="Refunds recorded against this receipt (which stays valid): those that give "
        "back money of its lines; left out of webhook bodies",
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


CorrectionId = Annotated[str, public_id("rcc")]


class CorrectionFields(BaseModel):
    """The corrected values; give only what was wrong. Only `payer_name`, `payer_address`,
    `amount_in_words` → a notice (form 04/SS-CTĐT), no new receipt; with `items` → a
    replacement receipt. Other fields are `unknown_field`."""

    payer_name: str | None = Field(None, max_length=255)
    payer_address: str | None = Field(None, max_length=255)
    amount_in_words: str | None = Field(
        None, description="Must read the receipt's amount (the words of accounting software)"
    )
    items: list[ReceiptItem] | None = Field(
        None, description="The replacement's lines (`fee`/`charge`, amount > 0 VND)"
    )


class ProposeCorrection(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="What is wrong")
    fields: CorrectionFields


class RejectCorrection(BaseModel):
    """Other fields are ignored."""

    reason: str = Field(min_length=1, pattern=r"\S", description="Why it is turned down")


class NoticeReceipt(ResponseModel):
    template_code: str
    symbol: str
    number: int
    issued_on: str = Field(description="YYYY-MM-DD (GMT+7)")


class NoticeError(ResponseModel):
    field: Literal["payer_name", "payer_address", "amount_in_words"]
    label: str = Field(description="The field's name on the form, in Vietnamese")
    shown: str | None = Field(description="What the receipt shows")
    correct: str


class CorrectionNotice(ResponseModel):
    """The data of form 04/SS-CTĐT (thông báo biên lai điện tử có sai sót)."""

    form: Literal["04/SS-CTĐT"]
    agency_tax_code: str
    agency_name: str
    receipt: NoticeReceipt
    errors: list[NoticeError]
    reason: str
    notified_on: str = Field(description="YYYY-MM-DD (GMT+7)")


class NoticeReason(ResponseModel):
    code: str
    message: str = Field(description="The tax authority's text (Vietnamese)")


TaxNoticeId = Annotated[str, public_id("rtn")]


class TaxNoticeDismissal(ResponseModel):
    """Finance dealt with a rejected or failed notice: who, when, why."""

    by: str = Field(description="The API key or console user who dismissed it")
    at: Time
    reason: str


class TaxNoticeState(ResponseModel):
    """The notice as sent to the tax authority, its own signed message (04/SS-CTĐT)."""

    id: TaxNoticeId
    status: TaxNoticeStatus = Field(
        description="`pending` (not sent yet, or not reached), `sent` (no answer yet: the same "
        "message is sent again), `accepted`, `rejected` (with `reasons`), `failed` "
        "(`last_error`), `dismissed` (a rejected or failed notice finance dealt with: "
        "`dismissal`)"
    )
    message_id: str | None = Field(description="Our message id, once signed and sent")
    attempts: int
    next_try_at: Time | None = Field(description="The next send, while pending or sent")
    last_error: str | None
    reasons: list[NoticeReason]
    reference: str | None = Field(description="The tax authority's reference, once accepted")
    dismissal: TaxNoticeDismissal | None = Field(description="Set once `dismissed`")


class TaxNotice(TaxNoticeState):
    """A notice of receipt errors (04/SS-CTĐT) sent to the tax authority on its own."""

    correction_id: str = Field(description="The approved `notify` correction (`rcc_…`)")
    receipt_id: ReceiptId
    agency_code: str
    tax_code: str = Field(description="Mã số thuế of the agency")
    receipt: NoticeReceipt = Field(description="The receipt the notice concerns")
    notified_at: Time = Field(description="When the correction was approved")
    notified_on: date = Field(description="Its day (Asia/Ho_Chi_Minh): the `day` filter")
    created_at: Time
    updated_at: Time


class TaxNoticePage(Page[TaxNotice]):
    """A page of notices, newest first."""


class TaxNoticeQuery(QueryModel):
    agency_code: str | None = Field(None, description="one of the caller's agencies")
    status: TaxNoticeStatus | None = None
    day: date | None = Field(
        None, description="The day the notice was approved, YYYY-MM-DD (Asia/Ho_Chi_Minh)"
    )
    limit: PageSize = 20
    cursor: str | None = Field(None, description="next_cursor of the previous page")


class DismissTaxNotice(BaseModel):
    """Other fields are ignored."""

    reason: str = Field(
        min_length=1,
        max_length=2000,
        pattern=r"\S",
        description="Why the notice needs no further send (e.g. the new notice that corrects it)",
    )


class ReceiptCorrection(ResponseModel):
    id: CorrectionId
    receipt_id: ReceiptId
    kind: Literal["notify", "replace"] = Field(
        description="`notify`: name, address or amount in words (a notice, no new receipt); "
        "`replace`: the lines (a replacement receipt) — TT 91/2026 Điều 20"
    )
    status: Literal["proposed", "approved", "rejected"]
    reason: str
    fields: dict[str, Any] = Field(description="The corrected values as proposed")
    proposed_by: str
    proposed_at: Time
    decided_by: str | None = Field(description="Who approved or rejected it (not the maker)")
    decided_at: Time | None
    decision_reason: str | None = Field(description="Why it was rejected")
    replacement_id: ReceiptId | None = Field(description="The replacement receipt, once issued")
    notice: CorrectionNotice | None = Field(description="The 04/SS-CTĐT data, once approved")
    tax_notice: TaxNoticeState | None = Field(
        description="The notice's message to the tax authority (an approved `notify`)"
    )


class CorrectionList(ListOf[ReceiptCorrection]):
    """A receipt's corrections, oldest first."""


DelegationId = Annotated[str, public_id("rdl")]


class ReceiptDelegation(ResponseModel):
    """An agreement by which the agency lets the gateway operator issue its receipts as its
    delegate (NĐ 254/2026 Điều 4.6 and Điều 25): the template, symbol and numbers it covers,
    its term and the day both tax offices were notified"""

    id: DelegationId
    agency_code: str
    agreement_number: str = Field(description="The agreement's own number")
    signed_on: date
    valid_from: date = Field(description="First day of the term (Asia/Ho_Chi_Minh)")
    valid_until: date | None = Field(description="Last day of the term; null: no end date")
    tax_code: str = Field(description="Mã số thuế of the delegating agency")
    template_code: str
    symbol: str
    first_number: int
    last_number: int
    notified_on: date = Field(description="The day both tax offices had been notified")
    may_issue_from: date = Field(
        description="The first day the delegate may issue: 3 days after the notification, "
        "not before the term starts"
    )
    ended_on: date | None = Field(
        description="Ended early: from this day on the agreement covers no receipt"
    )
    end_reason: str | None
    state: Literal["active", "not_notified", "not_yet_valid", "expired", "ended"] = Field(
        description="Today (Asia/Ho_Chi_Minh): `active` (receipts are issued under it), "
        "`not_notified` (in its term, but less than 3 days after the tax offices were "
        "notified), `not_yet_valid`, `expired`, `ended`"
    )
    recorded_by: str = Field(description="Who recorded it (the audit log has the details)")
    created_at: Time
    updated_at: Time


class ReceiptDelegationList(ListOf[ReceiptDelegation]):
    """The agreements of the caller's agencies, by agency, symbol and first number."""


class DelegationQuery(QueryModel):
    agency_code: str | None = Field(None, description="one of the caller's agencies")
