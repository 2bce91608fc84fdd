"""Every state machine as an explicit transition table beside its ``StrEnum``, and the
:class:`~gateway.core.machines.Machine` that is the only writer of its status column.

Sections: payments and attempts; webhook deliveries; refunds, reconciliation and postal orders;
then :data:`MACHINES`, every machine (the schema declares their CHECK constraints from it).
Each machine names its table rather than importing it: the schema imports this module.

A late or duplicate message never moves a final state backwards: callers ask
:func:`can_transition` first and record the message instead of applying it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.machines import Machine
from gateway.core.postal.orders import NEEDS_REVIEW, SUBMIT_FAILED, SUBMITTING
from providers.common.postal import FINAL_STATUSES, RANK, PostalStatus, should_advance


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    #: Money arrived that does not fit (wrong amount, after expiry or cancellation).
    NEEDS_REVIEW = "needs_review"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


PAYMENT_TRANSITIONS: Mapping[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset(
        {
            PaymentStatus.PAID,
            PaymentStatus.EXPIRED,
            PaymentStatus.CANCELLED,
            PaymentStatus.NEEDS_REVIEW,
        }
    ),
    # Money arriving for an expired or cancelled bill must not be lost: it is put up for review.
    PaymentStatus.EXPIRED: frozenset({PaymentStatus.NEEDS_REVIEW}),
    PaymentStatus.CANCELLED: frozenset({PaymentStatus.NEEDS_REVIEW}),
    # Finance staff settle a review by accepting the money or refunding it.
    PaymentStatus.NEEDS_REVIEW: frozenset({PaymentStatus.PAID, PaymentStatus.REFUNDED}),
    PaymentStatus.PAID: frozenset({PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}),
    PaymentStatus.PARTIALLY_REFUNDED: frozenset(
        {PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
    ),
    PaymentStatus.REFUNDED: frozenset(),
}


class AttemptStatus(StrEnum):
    CREATED = "created"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    #: A provider call timed out: resolved by querying the provider, never by guessing.
    UNKNOWN = "unknown"


ATTEMPT_TRANSITIONS: Mapping[AttemptStatus, frozenset[AttemptStatus]] = {
    # SUCCEEDED straight from CREATED: the provider's callback (a card approved at once) can
    # be faster than the provider's answer to our push; the money is real, and the push's
    # answer then finds the attempt already decided (AttemptService._record_start).
    AttemptStatus.CREATED: frozenset(
        {
            AttemptStatus.PENDING,
            AttemptStatus.SUCCEEDED,
            AttemptStatus.FAILED,
            AttemptStatus.UNKNOWN,
            AttemptStatus.CANCELLED,
        }
    ),
    AttemptStatus.PENDING: frozenset(
        {
            AttemptStatus.SUCCEEDED,
            AttemptStatus.FAILED,
            AttemptStatus.EXPIRED,
            AttemptStatus.CANCELLED,
            AttemptStatus.UNKNOWN,
        }
    ),
    AttemptStatus.UNKNOWN: frozenset(
        {AttemptStatus.SUCCEEDED, AttemptStatus.FAILED, AttemptStatus.EXPIRED}
    ),
    # A bank transfer can still land on a QR whose bill has expired: the money is real.
    AttemptStatus.EXPIRED: frozenset({AttemptStatus.SUCCEEDED}),
    AttemptStatus.CANCELLED: frozenset({AttemptStatus.SUCCEEDED}),
    AttemptStatus.SUCCEEDED: frozenset(),
    # The provider called it failed, then says it took the money (a late or contradictory
    # IPN, callback or query answer): the money is real, so the attempt records it, with
    # ``review_reason = succeeded_after_failure`` (gateway/services/attempts.py).
    AttemptStatus.FAILED: frozenset({AttemptStatus.SUCCEEDED}),
}


#: An attempt still waiting for its provider's word (the provider may still take money).
OPEN_ATTEMPTS: frozenset[AttemptStatus] = frozenset(
    {AttemptStatus.CREATED, AttemptStatus.PENDING, AttemptStatus.UNKNOWN}
)
#: An attempt that is over: its provider's word is in, or its time or bill is gone. (Money
#: that still lands on an ``expired`` or ``cancelled`` one is recorded: see the table above.)
FINAL_ATTEMPTS: frozenset[AttemptStatus] = frozenset(AttemptStatus) - OPEN_ATTEMPTS


def can_transition(current: PaymentStatus, requested: PaymentStatus) -> bool:
    return requested in PAYMENT_TRANSITIONS[current]


#: The only writers of ``payments.status`` and ``attempts.status``.
PAYMENTS: Machine[PaymentStatus] = Machine(
    "payment", "payments", PAYMENT_TRANSITIONS, initial={PaymentStatus.PENDING}
)
#: A VietQR attempt is born ``pending`` (the QR is shown at once); the others ``created``.
ATTEMPTS: Machine[AttemptStatus] = Machine(
    "attempt",
    "attempts",
    ATTEMPT_TRANSITIONS,
    initial={AttemptStatus.CREATED, AttemptStatus.PENDING},
)


# -- webhook deliveries ------------------------------------------------------------------


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    #: Claimed by a worker (with a lease); an expired lease makes it claimable again.
    DELIVERING = "delivering"
    SUCCEEDED = "succeeded"
    #: Given up after the last try, or its endpoint was disabled; can be sent again by hand.
    FAILED = "failed"


DELIVERY_TRANSITIONS: Mapping[DeliveryStatus, frozenset[DeliveryStatus]] = {
    DeliveryStatus.PENDING: frozenset(
        {
            DeliveryStatus.DELIVERING,
            DeliveryStatus.FAILED,
            DeliveryStatus.PENDING,  # sent again by hand before its next try: schedule restarts
        }
    ),
    DeliveryStatus.DELIVERING: frozenset(
        {
            DeliveryStatus.SUCCEEDED,
            DeliveryStatus.PENDING,
            DeliveryStatus.FAILED,
            DeliveryStatus.DELIVERING,  # a lease that expired is claimed again
        }
    ),
    DeliveryStatus.SUCCEEDED: frozenset({DeliveryStatus.PENDING}),  # redelivered on request
    DeliveryStatus.FAILED: frozenset({DeliveryStatus.PENDING}),  # recovered
}

DELIVERIES: Machine[DeliveryStatus] = Machine(
    "delivery", "deliveries", DELIVERY_TRANSITIONS, initial={DeliveryStatus.PENDING}
)


# -- refunds, reconciliation and postal orders ----------------------------------------------


class RefundStatus(StrEnum):
    #: Sent to the channel (or to be made by hand) and not yet confirmed.
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


REFUND_TRANSITIONS: Mapping[RefundStatus, frozenset[RefundStatus]] = {
    RefundStatus.PENDING: frozenset({RefundStatus.SUCCEEDED, RefundStatus.FAILED}),
    RefundStatus.SUCCEEDED: frozenset(),
    RefundStatus.FAILED: frozenset(),
}

REFUNDS: Machine[RefundStatus] = Machine(
    "refund", "refunds", REFUND_TRANSITIONS, initial={RefundStatus.PENDING}
)


class ExceptionStatus(StrEnum):
    """A reconciliation exception, decided maker-checker."""

    OPEN = "open"
    #: A maker chose a resolution; it awaits a checker.
    RESOLVED = "resolved"
    APPROVED = "approved"
    #: Its run was replaced by a re-run (which carries a decision over to its own copy), or
    #: another day's run took its statement line (a late payment; an audit entry says which).
    SUPERSEDED = "superseded"


EXCEPTION_TRANSITIONS: Mapping[ExceptionStatus, frozenset[ExceptionStatus]] = {
    ExceptionStatus.OPEN: frozenset({ExceptionStatus.RESOLVED, ExceptionStatus.SUPERSEDED}),
    # A checker approves, or rejects the resolution: the exception is open again for a maker.
    ExceptionStatus.RESOLVED: frozenset(
        {ExceptionStatus.APPROVED, ExceptionStatus.OPEN, ExceptionStatus.SUPERSEDED}
    ),
    ExceptionStatus.APPROVED: frozenset({ExceptionStatus.SUPERSEDED}),
    ExceptionStatus.SUPERSEDED: frozenset(),
}

#: A re-run's exception is born open, or with the decision its previous copy carried.
EXCEPTIONS: Machine[ExceptionStatus] = Machine(
    "reconciliation exception",
    "recon_exceptions",
    EXCEPTION_TRANSITIONS,
    initial={ExceptionStatus.OPEN, ExceptionStatus.RESOLVED, ExceptionStatus.APPROVED},
)


class RunStatus(StrEnum):
    CURRENT = "current"
    SUPERSEDED = "superseded"


RUN_TRANSITIONS: Mapping[RunStatus, frozenset[RunStatus]] = {
    RunStatus.CURRENT: frozenset({RunStatus.SUPERSEDED}),
    RunStatus.SUPERSEDED: frozenset(),
}

RUNS: Machine[RunStatus] = Machine(
    "reconciliation run", "recon_runs", RUN_TRANSITIONS, initial={RunStatus.CURRENT}
)


class ImportStatus(StrEnum):
    ACCEPTED = "accepted"
    #: Kept for the record but not used: unreadable, or rows that could not be read.
    QUARANTINED = "quarantined"


#: An import is decided when it is stored and never changes (a new file is a new import).
IMPORT_TRANSITIONS: Mapping[ImportStatus, frozenset[ImportStatus]] = {
    ImportStatus.ACCEPTED: frozenset(),
    ImportStatus.QUARANTINED: frozenset(),
}

IMPORTS: Machine[ImportStatus] = Machine(
    "statement import",
    "statement_imports",
    IMPORT_TRANSITIONS,
    initial={ImportStatus.ACCEPTED, ImportStatus.QUARANTINED},
)


class PostalOrderStatus(StrEnum):
    """Submission (the gateway's), then the carrier's normalised statuses
    (:class:`providers.common.postal.PostalStatus`, all but ``unknown``)."""

    SUBMITTING = SUBMITTING
    SUBMIT_FAILED = SUBMIT_FAILED
    NEEDS_REVIEW = NEEDS_REVIEW
    CREATED = "created"
    PICKUP_ASSIGNED = "pickup_assigned"
    PICKING_UP = "picking_up"
    PICKUP_FAILED = "pickup_failed"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERY_FAILED = "delivery_failed"
    DELIVERED = "delivered"
    RETURN_PENDING = "return_pending"
    RETURNING = "returning"
    RETURNED = "returned"
    CANCELLED = "cancelled"
    LOST = "lost"


def _carrier_moves(current: PostalStatus) -> frozenset[PostalOrderStatus]:
    """Where the rank rule lets a carrier status go: never from a final one, never lower."""
    if current in FINAL_STATUSES:
        return frozenset()
    return frozenset(
        PostalOrderStatus(new.value)
        for new in PostalStatus
        if new is not PostalStatus.UNKNOWN and new != current and RANK[new] >= RANK[current]
    )


POSTAL_ORDER_TRANSITIONS: Mapping[PostalOrderStatus, frozenset[PostalOrderStatus]] = {
    # The carrier accepts or refuses it; cancelled before the carrier ever had it; an answer
    # that cannot be taken as it is goes to a person (review_reason).
    PostalOrderStatus.SUBMITTING: frozenset(
        {
            PostalOrderStatus.CREATED,
            PostalOrderStatus.SUBMIT_FAILED,
            PostalOrderStatus.CANCELLED,
            PostalOrderStatus.NEEDS_REVIEW,
        }
    ),
    PostalOrderStatus.SUBMIT_FAILED: frozenset(),
    # A person decides: the carrier has it after all (adopted), it never had it, or withdrawn.
    PostalOrderStatus.NEEDS_REVIEW: frozenset(
        {
            PostalOrderStatus.CREATED,
            PostalOrderStatus.SUBMIT_FAILED,
            PostalOrderStatus.CANCELLED,
        }
    ),
    **{
        PostalOrderStatus(status.value): _carrier_moves(status)
        for status in PostalStatus
        if status is not PostalStatus.UNKNOWN
    },
}


class PostalOrderMachine(Machine[PostalOrderStatus]):
    """Postal orders also follow the carrier's rank and time rule: an event that is older or
    lower-ranked than the order's status is stored by the caller but does not move it."""

    def advances(
        self, current: str, current_at: datetime, new: PostalStatus, new_at: datetime
    ) -> bool:
        """Whether an event ``new`` at ``new_at`` moves an order ``current`` since ``current_at``
        (never while it is being submitted, never from a final status)."""
        if current in (SUBMITTING, SUBMIT_FAILED, NEEDS_REVIEW):
            return False
        return should_advance(PostalStatus(current), new, current_at, new_at)

    async def advance(
        self,
        conn: AsyncConnection,
        key: Any,
        current: str,
        current_at: datetime,
        new: PostalStatus,
        new_at: datetime,
        **values: Any,
    ) -> bool:
        """Move the order to ``new`` as of ``new_at`` if :meth:`advances`; False if not."""
        if not self.advances(current, current_at, new, new_at):
            return False
        await self.move(
            conn,
            key,
            PostalOrderStatus(current),
            PostalOrderStatus(new.value),
            status_at=new_at,
            **values,
        )
        return True


POSTAL_ORDERS = PostalOrderMachine(
    "postal order",
    "postal_orders",
    POSTAL_ORDER_TRANSITIONS,
    initial={PostalOrderStatus.SUBMITTING},
)

#: What a postal event reports (history, not a state: ``unknown`` included).
POSTAL_EVENT_STATUSES: tuple[str, ...] = tuple(status.value for status in PostalStatus)


# -- citizen notifications (Zalo ZNS, SMS) -------------------------------------------------


class NotificationStatus(StrEnum):
    """A message to a citizen about one event on one channel (docs/notifications.md)."""

    #: Waiting for its time (``next_attempt_at``) or for a retry after a transient failure.
    QUEUED = "queued"
    #: The provider accepted it (``provider_message_id``); its delivery receipt may follow.
    SENT = "sent"
    #: The provider's delivery receipt says it reached the phone.
    DELIVERED = "delivered"
    #: Not sent or not delivered; ``reason`` says why (``opted_out``, ``invalid_phone``,
    #: ``template_rejected``, ``no_zalo_account``, ``gave_up``, ...).
    FAILED = "failed"


NOTIFICATION_TRANSITIONS: Mapping[NotificationStatus, frozenset[NotificationStatus]] = {
    NotificationStatus.QUEUED: frozenset({NotificationStatus.SENT, NotificationStatus.FAILED}),
    # A delivery receipt says delivered or not delivered.
    NotificationStatus.SENT: frozenset({NotificationStatus.DELIVERED, NotificationStatus.FAILED}),
    NotificationStatus.DELIVERED: frozenset(),
    NotificationStatus.FAILED: frozenset(),
}

#: Born ``queued``, or ``failed`` when it must not be sent at all (an opted-out or malformed
#: number): the decision is recorded, nothing goes out.
NOTIFICATIONS: Machine[NotificationStatus] = Machine(
    "notification",
    "notifications",
    NOTIFICATION_TRANSITIONS,
    initial={NotificationStatus.QUEUED, NotificationStatus.FAILED},
)

# -- e-receipts (biên lai điện tử) ----------------------------------------------------------


class ReceiptStatus(StrEnum):
    #: The payment is paid but the receipt could not be numbered or signed yet (no number
    #: range or symbol for the year, a range used up, the signing certificate expired): it is
    #: issued, numbered in order, as soon as that is fixed. Money is never refused for it.
    PENDING = "pending"
    ISSUED = "issued"
    #: A replacement receipt (biên lai thay thế) references it (TT 91/2026 Điều 20).
    REPLACED = "replaced"
    #: An error in name, address or amount in words was notified (04/SS-CTĐT), not re-issued.
    ERROR_NOTIFIED = "error_notified"


RECEIPT_TRANSITIONS: Mapping[ReceiptStatus, frozenset[ReceiptStatus]] = {
    ReceiptStatus.PENDING: frozenset({ReceiptStatus.ISSUED}),
    ReceiptStatus.ISSUED: frozenset({ReceiptStatus.REPLACED, ReceiptStatus.ERROR_NOTIFIED}),
    # A notified receipt can still turn out to need a replacement (another error).
    ReceiptStatus.ERROR_NOTIFIED: frozenset({ReceiptStatus.REPLACED}),
    ReceiptStatus.REPLACED: frozenset(),
}

#: The only writer of ``receipts.status``.
RECEIPTS: Machine[ReceiptStatus] = Machine(
    "receipt",
    "receipts",
    RECEIPT_TRANSITIONS,
    initial={ReceiptStatus.PENDING, ReceiptStatus.ISSUED},
)


class ReceiptSummaryStatus(StrEnum):
    """A same-day summary to the tax authority (form 01/TH-BLĐT, docs/receipts.md)."""

    #: Built and signed, waiting to be sent, or sent without an answer (timeout, outage):
    #: the same message is sent again with back-off.
    UNSENT = "unsent"
    ACCEPTED = "accepted"
    #: Refused by the tax authority, with its reasons; a new revision is sent after correction.
    REJECTED = "rejected"
    #: A message we cannot send as it is (``too_large``, ``invalid_message``).
    FAILED = "failed"
    #: A rejected or failed summary after which a new revision of the day was built.
    SUPERSEDED = "superseded"


RECEIPT_SUMMARY_TRANSITIONS: Mapping[ReceiptSummaryStatus, frozenset[ReceiptSummaryStatus]] = {
    ReceiptSummaryStatus.UNSENT: frozenset(
        {ReceiptSummaryStatus.ACCEPTED, ReceiptSummaryStatus.REJECTED, ReceiptSummaryStatus.FAILED}
    ),
    ReceiptSummaryStatus.ACCEPTED: frozenset(),
    ReceiptSummaryStatus.REJECTED: frozenset({ReceiptSummaryStatus.SUPERSEDED}),
    ReceiptSummaryStatus.FAILED: frozenset({ReceiptSummaryStatus.SUPERSEDED}),
    ReceiptSummaryStatus.SUPERSEDED: frozenset(),
}

#: The only writer of ``receipt_summaries.status``.
RECEIPT_SUMMARIES: Machine[ReceiptSummaryStatus] = Machine(
    "receipt_summary",
    "receipt_summaries",
    RECEIPT_SUMMARY_TRANSITIONS,
    initial={ReceiptSummaryStatus.UNSENT},
)


class TaxNoticeStatus(StrEnum):
    """A notice of a receipt error sent to the tax authority as its own message (form
    04/SS-CTĐT, TT 91/2026 Điều 20; docs/receipts.md, "Notices to the tax authority")."""

    #: Recorded at the notice's approval, not sent yet (or the tax authority not reached).
    PENDING = "pending"
    #: Sent without an answer (timeout, 5xx): the same message is sent again with back-off.
    SENT = "sent"
    ACCEPTED = "accepted"
    #: Refused by the tax authority, with its reasons (an alert).
    REJECTED = "rejected"
    #: A message we cannot send as it is (``too_large``, ``invalid_message``).
    FAILED = "failed"
    #: A rejected or failed notice finance dealt with, with who, when and why (kept visible,
    #: no longer warned about; docs/receipts.md, "Dealing with a rejected or failed notice").
    DISMISSED = "dismissed"


_NOTICE_ANSWERED = frozenset(
    {TaxNoticeStatus.ACCEPTED, TaxNoticeStatus.REJECTED, TaxNoticeStatus.FAILED}
)
TAX_NOTICE_TRANSITIONS: Mapping[TaxNoticeStatus, frozenset[TaxNoticeStatus]] = {
    TaxNoticeStatus.PENDING: frozenset({TaxNoticeStatus.SENT}) | _NOTICE_ANSWERED,
    TaxNoticeStatus.SENT: _NOTICE_ANSWERED,
    TaxNoticeStatus.ACCEPTED: frozenset(),
    TaxNoticeStatus.REJECTED: frozenset({TaxNoticeStatus.DISMISSED}),
    TaxNoticeStatus.FAILED: frozenset({TaxNoticeStatus.DISMISSED}),
    TaxNoticeStatus.DISMISSED: frozenset(),
}

#: The only writer of ``receipt_tax_notices.status``.
TAX_NOTICES: Machine[TaxNoticeStatus] = Machine(
    "receipt tax notice",
    "receipt_tax_notices",
    TAX_NOTICE_TRANSITIONS,
    initial={TaxNoticeStatus.PENDING},
)


class DecisionStatus(StrEnum):
    """A maker-checker proposal — finance's resolution of an attempt the janitor handed over,
    a correction of a receipt (TT 91/2026 Điều 20): one person proposes it with a reason (and
    the evidence or corrected fields), a second approves it — only then is it applied — or
    rejects it."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"


DECISION_TRANSITIONS: Mapping[DecisionStatus, frozenset[DecisionStatus]] = {
    DecisionStatus.PROPOSED: frozenset({DecisionStatus.APPROVED, DecisionStatus.REJECTED}),
    DecisionStatus.APPROVED: frozenset(),
    DecisionStatus.REJECTED: frozenset(),
}

#: The only writer of ``attempt_resolutions.status``.
RESOLUTIONS: Machine[DecisionStatus] = Machine(
    "attempt resolution",
    "attempt_resolutions",
    DECISION_TRANSITIONS,
    initial={DecisionStatus.PROPOSED},
)


class SupersedableStatus(StrEnum):
    """A maker-checker proposal (:class:`DecisionStatus`) that the subject's own outcome can
    overtake: finance's result of a refund, which the provider's word, arriving before the
    approval, makes moot (``superseded``)."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


SUPERSEDABLE_TRANSITIONS: Mapping[SupersedableStatus, frozenset[SupersedableStatus]] = {
    SupersedableStatus.PROPOSED: frozenset(
        {SupersedableStatus.APPROVED, SupersedableStatus.REJECTED, SupersedableStatus.SUPERSEDED}
    ),
    SupersedableStatus.APPROVED: frozenset(),
    SupersedableStatus.REJECTED: frozenset(),
    SupersedableStatus.SUPERSEDED: frozenset(),
}

#: The only writer of ``refund_resolutions.status``.
REFUND_RESOLUTIONS: Machine[SupersedableStatus] = Machine(
    "refund resolution",
    "refund_resolutions",
    SUPERSEDABLE_TRANSITIONS,
    initial={SupersedableStatus.PROPOSED},
)

#: The only writer of ``receipt_corrections.status``.
CORRECTIONS: Machine[DecisionStatus] = Machine(
    "receipt correction",
    "receipt_corrections",
    DECISION_TRANSITIONS,
    initial={DecisionStatus.PROPOSED},
)


# -- every machine --------------------------------------------------------------------------

MACHINES: tuple[Machine[Any], ...] = (
    PAYMENTS,
    ATTEMPTS,
    DELIVERIES,
    REFUNDS,
    EXCEPTIONS,
    RUNS,
    IMPORTS,
    POSTAL_ORDERS,
    NOTIFICATIONS,
    RECEIPTS,
    RECEIPT_SUMMARIES,
    TAX_NOTICES,
    RESOLUTIONS,
    REFUND_RESOLUTIONS,
    CORRECTIONS,
)
