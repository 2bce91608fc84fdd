"""The normalised outcome of a payment try: what every payment connector's status table maps
a provider's codes onto (VNPAY response codes, POS results, bank credits, wallet results)."""

from __future__ import annotations

from enum import StrEnum


class PaymentOutcome(StrEnum):
    #: The payer is still on the provider's page, the terminal or the QR.
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    #: The provider's answer is missing or contradictory: query it, never guess.
    UNKNOWN = "unknown"
