"""The one error type of the VNPAY connector.

Every failure raised by this package is a :class:`VnpayError`, a ``ValueError`` whose ``code``
is a stable snake_case string that callers branch on (never parse the message)::

    ValueError
    └── VnpayError(code, message)
          code ∈                      rsp_code  retryable
          ├── signature_invalid        97        no    vnp_SecureHash missing or wrong (IPN,
          │                                            return URL or an API answer)
          ├── unknown_terminal         97        no    IPN for a vnp_TmnCode we hold no secret
          │                                            for: its signature cannot be checked
          ├── malformed                99        no    signed, but a field is missing or bad;
          │                                            or an API answer that does not parse
          ├── invalid_field            —         no    a bad argument given to a builder
          ├── provider_unavailable     —         yes   querydr failed on connection errors,
          │                                            timeouts or HTTP 5xx, retries spent
          └── refund_outcome_unknown   —         no    a refund was sent but no verified answer
                                                       came back: query, never resubmit

``rsp_code`` is the ``RspCode`` to answer VNPAY's IPN with (``ipn_response(err.rsp_code)``);
``retryable`` says whether the same call may simply be made again later. A business decline
from VNPAY (refund refused, transaction not found) is a result value, not a ``VnpayError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

SIGNATURE_INVALID: Final = "signature_invalid"
UNKNOWN_TERMINAL: Final = "unknown_terminal"
MALFORMED: Final = "malformed"
INVALID_FIELD: Final = "invalid_field"
PROVIDER_UNAVAILABLE: Final = "provider_unavailable"
REFUND_OUTCOME_UNKNOWN: Final = "refund_outcome_unknown"

# code -> (IPN RspCode, retryable)
_META: Final[Mapping[str, tuple[str | None, bool]]] = {
    SIGNATURE_INVALID: ("97", False),
    UNKNOWN_TERMINAL: ("97", False),
    MALFORMED: ("99", False),
    INVALID_FIELD: (None, False),
    PROVIDER_UNAVAILABLE: (None, True),
    REFUND_OUTCOME_UNKNOWN: (None, False),
}

ERROR_CODES: Final[frozenset[str]] = frozenset(_META)


class VnpayError(ValueError):
    """A VNPAY message or call was rejected.

    Attributes:
        code: one of :data:`ERROR_CODES`; stable, meant for programs.
        message: English explanation, meant for people and logs (never holds a secret).
        rsp_code: the IPN ``RspCode`` for this failure, or ``None`` if not an IPN failure.
        retryable: True if the same call may be repeated later as is.
    """

    code: str
    message: str
    rsp_code: str | None
    retryable: bool

    def __init__(self, code: str, message: str) -> None:
        if code not in _META:
            raise ValueError(f"unknown VnpayError code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.rsp_code, self.retryable = _META[code]

    def __repr__(self) -> str:
        return f"VnpayError(code={self.code!r}, message={self.message!r})"
