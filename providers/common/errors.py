"""The base of every connector's error type.

Each connector raises one error class of its own (``VnpayError``, ``PosError``,
``VietQRError``, ``VnpostError``), derived from :class:`ProviderError`, so a caller can treat
any provider failure alike without knowing the provider::

    ValueError
    └── ProviderError(code, message)
          code            stable snake_case string; callers branch on it, never on the message
          retryable       the same call may simply be made again later
          outcome_unknown a money- or order-moving call was sent and no verified answer came
                          back: look it up (query), never resubmit blindly

A provider's business decline (a card refused, a refund rejected) is a result value, not an
error.
"""

from __future__ import annotations


class ProviderError(ValueError):
    code: str = "provider_error"
    retryable: bool = False
    outcome_unknown: bool = False

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code
