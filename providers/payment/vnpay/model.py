"""What VNPAY tells us, as verified values: an IPN, a querydr answer, a refund answer.

Each is built only by :mod:`.codec` after its signature has been checked. Amounts are
integer VND (VNPAY's ×100 is undone by the codec); times are aware datetimes in GMT+7.
``raw`` keeps the signed fields exactly as received, for the inbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from .statuses import (
    REFUND_TRANSACTION_TYPES,
    Outcome,
    payment_outcome,
    query_outcome,
    refund_outcome,
    refund_query_outcome,
)

FULL_REFUND = "02"
PARTIAL_REFUND = "03"


@dataclass(frozen=True)
class IpnResult:
    """A verified IPN (or return-URL) message for one payment."""

    tmn_code: str
    txn_ref: str
    amount_vnd: int
    response_code: str
    transaction_status: str
    transaction_no: str | None
    bank_code: str | None
    bank_tran_no: str | None
    card_type: str | None
    pay_date: datetime | None
    raw: Mapping[str, str] = field(hash=False, repr=False)

    @property
    def succeeded(self) -> bool:
        """VNPAY's rule: the payment went through only if both codes are ``00``."""
        return self.response_code == "00" and self.transaction_status == "00"

    @property
    def outcome(self) -> Outcome:
        return payment_outcome(self.response_code, self.transaction_status)


@dataclass(frozen=True, kw_only=True)
class Answer:
    """The fields a querydr answer and a refund answer share."""

    response_id: str
    response_code: str
    message: str
    tmn_code: str
    txn_ref: str
    amount_vnd: int | None
    order_info: str
    bank_code: str | None
    pay_date: datetime | None
    transaction_no: str | None
    transaction_type: str | None
    transaction_status: str | None
    raw: Mapping[str, str] = field(hash=False, repr=False)


@dataclass(frozen=True, kw_only=True)
class QueryResult(Answer):
    """A verified querydr answer. ``response_code`` is about the query; ``outcome`` about
    the payment (see :func:`~.statuses.query_outcome`)."""

    promotion_code: str | None
    promotion_amount: str | None

    @property
    def found(self) -> bool:
        return self.response_code == "00"

    @property
    def outcome(self) -> Outcome:
        return query_outcome(self.response_code, self.transaction_status or "")

    @property
    def about_refund(self) -> bool:
        """The answer reports a refund of the payment (``vnp_TransactionType`` 02/03), not
        the payment itself: its amount is the refund's."""
        return (self.transaction_type or "") in REFUND_TRANSACTION_TYPES

    @property
    def refund_outcome(self) -> Outcome:
        """What the answer says about a refund (:func:`~.statuses.refund_query_outcome`)."""
        return refund_query_outcome(
            self.response_code, self.transaction_type or "", self.transaction_status or ""
        )


@dataclass(frozen=True, kw_only=True)
class RefundResult(Answer):
    """A verified refund answer: accepted, or a decline with VNPAY's code and message."""

    @property
    def accepted(self) -> bool:
        return self.response_code == "00"

    @property
    def outcome(self) -> Outcome:
        return refund_outcome(self.response_code)
