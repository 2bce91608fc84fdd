"""Response bodies of the payment API: payments, attempts, refunds and card terminals."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema

from gateway.core.fields import ListOf, Page, ResponseModel, Time
from gateway.core.money import ReviewReason
from gateway.core.statuses import AttemptStatus, PaymentStatus, RefundStatus


def public_id(prefix: str) -> Any:
    """An id the gateway made: ``<prefix>_`` and 26 base32 characters (documented, not
    checked on the way out, like every pattern of a response)."""
    return Field(json_schema_extra={"pattern": f"^{prefix}_[a-z2-7]{{26}}$"})


PaymentId = Annotated[str, public_id("pay")]
AttemptId = Annotated[str, public_id("att")]
RefundId = Annotated[str, public_id("ref")]
RefundResolutionId = Annotated[str, public_id("rres")]
Vnd = Annotated[int, Field(description="VND")]

#: Why money taken through an attempt needs a person. Documented, not enforced on the way out:
#: the reasons belong to the money decision (gateway services), and an answer must not fail
#: because a new reason was added there before here.
#: Rows written before COD went through money_arrived may still carry the two reasons its own
#: check used (``cod_does_not_fit``: another amount; ``cod_after_close``: the bill had closed).
LEGACY_REVIEW_REASONS = ("cod_does_not_fit", "cod_after_close")
REVIEW_REASONS = tuple(reason.value for reason in ReviewReason) + LEGACY_REVIEW_REASONS
ReviewReasonText = Annotated[str, WithJsonSchema({"type": "string", "enum": list(REVIEW_REASONS)})]


class PaymentItem(ResponseModel):
    kind: Literal["fee", "charge", "postal"]
    code: str | None
    description: str
    amount: Annotated[int, Field(ge=1)]
    budget_subitem: str | None


class PayerName(ResponseModel):
    """Only the name is echoed back; contact data stays in the gateway."""

    name: str | None


class VietQr(ResponseModel):
    payload: str = Field(description="NAPAS VietQR (EMVCo) text")
    bank_bin: str
    account_number: str
    account_name: str
    png_url: str
    svg_url: str


class Payment(ResponseModel):
    id: PaymentId
    status: PaymentStatus
    review_reason: str | None
    amount: int = Field(description="Total in VND (sum of items)")
    currency: Literal["VND"]
    reference: str = Field(
        json_schema_extra={"maxLength": 25},
        description="Travels in the QR and the transfer text; ends in a check symbol",
    )
    agency_code: str
    agency_name: str | None
    dossier_code: str
    procedure_code: str | None
    procedure_name: str | None
    payer: PayerName
    items: list[PaymentItem]
    expires_at: Time
    created_at: Time
    paid_at: Time | None
    return_url: str | None
    metadata: dict[str, Any]
    checkout_url: str
    vietqr: VietQr


class PaymentList(Page[Payment]):
    """A page of payments, newest first."""


class RedirectAction(ResponseModel):
    """VNPAY"""

    type: Literal["redirect"]
    url: str = Field(description="VNPAY's payment page: send the citizen there")


class TerminalAction(ResponseModel):
    """Card terminal: the bill is on this terminal, waiting for the card"""

    type: Literal["terminal"]
    terminal_id: str


class Attempt(ResponseModel):
    id: AttemptId
    payment_id: PaymentId
    method: Literal["vietqr", "vnpay", "pos", "cod", "dvcqg", "momo", "zalopay"] = Field(
        description="`vietqr` is the bank-transfer attempt every payment starts with; "
        "`cod`: collected by the postman on delivery of a postal order"
    )
    status: AttemptStatus = Field(
        description="`unknown`: a provider call timed out; resolved by querying the provider, "
        "never by guessing"
    )
    amount: Vnd
    next_action: RedirectAction | TerminalAction | None = Field(
        description="What to do to finish the attempt; null when nothing (VietQR, or failed "
        "before the provider took it)"
    )
    terminal_id: str | None
    provider_reference: str = Field(
        description="The reference the provider knows (VNPAY `vnp_TxnRef`; for VietQR the "
        "payment reference)"
    )
    provider_transaction_id: str | None
    failure_code: str | None = Field(
        description="e.g. `vnpay_24`, `card_declined:<reason>`, `no_card_presented`"
    )
    review_reason: ReviewReasonText | None = Field(
        description="Set when money taken through this attempt needs a person"
    )
    details: dict[str, Any] = Field(
        description="Provider details: VNPAY `bank_code`, `locale`, `response_code`, …; card "
        "`approval_code`, `masked_pan`, `card_brand`, `rrn`, `decline_reason`; `received_amount` "
        "when the money that arrived differs from the attempt's `amount`"
    )
    expires_at: Time | None
    created_at: Time
    updated_at: Time
    query_count: int = Field(description="How often the janitor asked the provider about it")
    next_query_at: Time | None = Field(
        description="When the janitor asks the provider next: while the attempt is open, "
        "or after it was closed with its bill (expired, cancelled) without the provider's word, "
        "in case money moved all the same; empty once the provider's final word is in, once "
        "the attempt is flagged (`flagged_at`) or, closed by our side, past its channel's "
        "horizon"
    )
    flagged_at: Time | None = Field(
        description="When the janitor handed the still-open attempt to finance: its channel's "
        "give-up horizon passed without a final word (never assumed failed)"
    )


class FlaggedAttempt(Attempt):
    """An attempt the janitor handed to finance, with what finance looks it up by."""

    agency_code: str
    dossier_code: str


class FlaggedAttemptList(ListOf[FlaggedAttempt]):
    pass


class AttemptList(ListOf[Attempt]):
    """A payment's attempts, oldest first."""


class RefundResolution(ResponseModel):
    """Finance's word on a refund made by hand or handed over at its horizon, maker-checker:
    proposed by one person, applied only once another person approves it."""

    id: RefundResolutionId
    refund_id: RefundId
    outcome: Literal["succeeded", "failed"] = Field(
        description="What finance found out: the refund's status once approved"
    )
    provider_transaction_id: str | None = Field(
        description="The bank's or terminal's reference of the refund made by hand"
    )
    reason: str | None = Field(description="How the maker confirmed it")
    status: Literal["proposed", "approved", "rejected", "superseded"] = Field(
        description="`proposed` waits for a `finance_approver` who is not the maker; "
        "`approved` was applied to the refund; `superseded`: the provider's word settled the "
        "refund first"
    )
    proposed_by: str = Field(description="The maker's API client or console user id")
    proposed_at: Time
    decided_by: str | None = Field(description="Who approved or rejected it (not the maker)")
    decided_at: Time | None = Field(description="When it was decided or superseded")
    decision_reason: str | None = Field(description="The checker's reason, if given")


class Refund(ResponseModel):
    id: RefundId
    payment_id: PaymentId
    attempt_id: AttemptId = Field(description="The attempt whose money is refunded")
    amount: Vnd
    reason: str
    status: RefundStatus = Field(
        description="VNPAY refunds settle at once (`pending` only if its answer was lost or "
        "VNPAY gave no final word; the janitor then asks querydr); ZaloPay's may stay "
        "`pending` while ZaloPay processes them (asked again); bank-transfer and card refunds "
        "stay `pending` until finance staff record the result"
    )
    failure_code: str | None
    provider_reference: str
    provider_transaction_id: str | None
    created_at: Time
    updated_at: Time
    query_count: int = Field(description="How often the janitor asked the provider about it")
    flagged_at: Time | None = Field(
        description="When the janitor handed the still-pending refund to finance: its "
        "channel's refund horizon passed without a final word (never assumed failed); it "
        "stays `pending` until the provider's word or finance's approved `complete`"
    )
    resolutions: list[RefundResolution] | None = Field(
        None,
        description="Finance's proposed results (`POST /v1/refunds/{refund_id}/complete`), "
        "newest first; in `GET /v1/refunds/{refund_id}` and the answers of approve and reject",
    )


class FlaggedRefund(Refund):
    """A refund the janitor handed to finance, with what finance looks it up by."""

    channel: str = Field(description="The channel that took the money and was sent the refund")
    agency_code: str
    dossier_code: str
    attempt_reference: str = Field(
        description="The refunded attempt's reference at the provider (VNPAY vnp_TxnRef, "
        "MoMo orderId, ZaloPay app_trans_id)"
    )


class FlaggedRefundList(ListOf[FlaggedRefund]):
    pass


class Terminal(ResponseModel):
    terminal_id: str
    agency_code: str
    name: str
    busy: bool = Field(description="Running a sale (one at a time)")
    active_attempt_id: str | None


class TerminalList(ListOf[Terminal]):
    """The card terminals of the caller's agencies."""


class CheckoutReceipt(ResponseModel):
    """A receipt as the paid checkout page shows it."""

    symbol: str | None
    number: str | None = Field(description="8 digits; null while pending")
    issued_at: str | None = Field(description="Vietnam time, dd/mm/yyyy hh:mm")
    channel: str = Field(description="In Vietnamese")
    amount: str = Field(description="In VND, formatted")
    url: str = Field(description="The receipt page")
    replaces: str | None = Field(
        description="A replacement receipt: the symbol and number of the receipt it replaces "
        "(replaced receipts are not listed)"
    )


class CheckoutStatus(ResponseModel):
    """What the checkout page polls."""

    status: PaymentStatus
    status_label: str
    expires_at: Time
    paid_at: Time | None
    receipts: list[CheckoutReceipt] = Field(
        description="The valid receipts (issued, notified, or pending a number); a replaced "
        "one is left out, its replacement says what it replaces"
    )
    receipts_pending: bool = Field(
        description="A receipt still waits for its number: the page keeps polling until it "
        "is issued"
    )
