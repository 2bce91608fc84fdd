"""The one error type of the VNPAY connector.

Every failure raised by this package is a :class:`VnpayError`, a
:class:`~providers.common.errors.ProviderError` whose ``code`` is a stable snake_case string
that callers branch on (never parse the message)::

    ValueError
    └── ProviderError
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
                                                       came back (``outcome_unknown``): query,
                                                       never resubmit (a refund carries no
                                                       idempotency key at VNPAY)

``rsp_code`` is the ``RspCode`` to answer VNPAY's IPN with (``ipn_response(err.rsp_code)``);
``retryable`` says whether the same call may simply be made again later. A business decline
from VNPAY (refund refused, transaction not found) is a result value, not a ``VnpayError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from providers.common.errors import ProviderError

SIGNATURE_INVALID: Final = "signature_invalid"
UNKNOWN_TERMINAL: Final = "unknown_terminal"
MALFORMED: Final = "malformed"
INVALID_FIELD: Final = "invalid_field"
PROVIDER_UNAVAILABLE: Final = "provider_unavailable"
REFUND_OUTCOME_UNKNOWN: Final = "refund_outcome_unknown"

# code -> the IPN RspCode to answer with (None: not an IPN failure)
_RSP_CODES: Final[Mapping[str, str | None]] = {
    SIGNATURE_INVALID: "97",
    UNKNOWN_TERMINAL: "97",
    MALFORMED: "99",
    INVALID_FIELD: None,
    PROVIDER_UNAVAILABLE: None,
    REFUND_OUTCOME_UNKNOWN: None,
}

ERROR_CODES: Final[frozenset[str]] = frozenset(_RSP_CODES)


class VnpayError(ProviderError):
    """A VNPAY message or call was rejected.

    Attributes:
        code: one of :data:`ERROR_CODES`; stable, meant for programs.
        message: English explanation, meant for people and logs (never holds a secret).
        rsp_code: the IPN ``RspCode`` for this failure, or ``None`` if not an IPN failure.
        retryable: True if the same call may be repeated later as is.
        outcome_unknown: True if a refund was sent without a verified answer.
    """

    ERROR_CODES = ERROR_CODES
    RETRYABLE_CODES = frozenset({PROVIDER_UNAVAILABLE})
    OUTCOME_UNKNOWN_CODES = frozenset({REFUND_OUTCOME_UNKNOWN})

    rsp_code: str | None

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.rsp_code = _RSP_CODES[code]
