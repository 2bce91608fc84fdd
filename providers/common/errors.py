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

A connector declares its codes (``ERROR_CODES``; any other is refused with ``ValueError``),
which of them are retryable and which leave the outcome unknown (``RETRYABLE_CODES``,
``OUTCOME_UNKNOWN_CODES``); an instance's attributes follow from its code. A connector whose
failures can come from a call derives from :class:`ProviderCallError`, which adds the
provider's ``http_status``. A provider's business decline (a card refused, a refund rejected)
is a result value, not an error.
"""

from __future__ import annotations

from typing import ClassVar


class ProviderError(ValueError):
    #: Every code this connector raises; empty accepts any code.
    ERROR_CODES: ClassVar[frozenset[str]] = frozenset()
    #: This connector's codes whose failure is transient (see the module docstring).
    RETRYABLE_CODES: ClassVar[frozenset[str]] = frozenset()
    #: This connector's codes for a request sent without a verified answer.
    OUTCOME_UNKNOWN_CODES: ClassVar[frozenset[str]] = frozenset()

    code: str
    message: str
    retryable: bool
    outcome_unknown: bool

    #: The attributes :meth:`__repr__` shows after ``code`` and ``message``.
    REPR_EXTRAS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, code: str, message: str = "") -> None:
        if self.ERROR_CODES and code not in self.ERROR_CODES:
            raise ValueError(f"unknown {type(self).__name__} code {code!r}")
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.retryable = code in self.RETRYABLE_CODES
        self.outcome_unknown = code in self.OUTCOME_UNKNOWN_CODES

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in ("code", "message", *self.REPR_EXTRAS)
        )
        return f"{type(self).__name__}({shown})"


class ProviderCallError(ProviderError):
    """A connector error that may come from a call: ``http_status`` is the provider's HTTP
    status where one was received, else ``None``."""

    REPR_EXTRAS = ("http_status",)

    http_status: int | None

    def __init__(self, code: str, message: str = "", http_status: int | None = None) -> None:
        super().__init__(code, message)
        self.http_status = http_status
