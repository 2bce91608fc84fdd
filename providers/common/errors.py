"""The base of every connector's error type.

Each connector raises one error class of its own (``VnpayError``, ``PosError``,
``VietQRError`` and ``NoticeError``, ``VnpostError``), derived from :class:`ProviderError`, so
a caller can treat any provider failure alike without knowing the provider::

    ValueError
    └── ProviderError(code, message)
          code            stable snake_case string; callers branch on it, never on the message
          retryable       the failure is transient: the same request may succeed if made again
                          later (when ``outcome_unknown``, only after looking up what the
                          provider did, and only with the provider's idempotency key)
          outcome_unknown a money- or order-moving request was sent and no verified answer
                          came back: the provider may have acted. Look it up (query), never
                          resubmit blindly

A connector declares which of its codes are retryable and which leave the outcome unknown
(``RETRYABLE_CODES``, ``OUTCOME_UNKNOWN_CODES``); an instance's attributes follow from its
code. A provider's business decline (a card refused, a refund
rejected) is a result value, not an error.
"""

from __future__ import annotations

from typing import ClassVar


class ProviderError(ValueError):
    #: This connector's codes whose failure is transient (see the module docstring).
    RETRYABLE_CODES: ClassVar[frozenset[str]] = frozenset()
    #: This connector's codes for a request sent without a verified answer.
    OUTCOME_UNKNOWN_CODES: ClassVar[frozenset[str]] = frozenset()

    code: str
    message: str
    retryable: bool
    outcome_unknown: bool

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.retryable = code in self.RETRYABLE_CODES
        self.outcome_unknown = code in self.OUTCOME_UNKNOWN_CODES

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"
