"""Moved to :mod:`gateway.models.requests`; kept as a re-export until the services import
from there."""

from gateway.models.requests import (
    CompleteRefund,
    CreateAttempt,
    CreatePayment,
    CreateRefund,
    CreateTerminal,
    CreateWebhookEndpoint,
    FeeItem,
    Payer,
    Text,
)

__all__ = [
    "CompleteRefund",
    "CreateAttempt",
    "CreatePayment",
    "CreateRefund",
    "CreateTerminal",
    "CreateWebhookEndpoint",
    "FeeItem",
    "Payer",
    "Text",
]
