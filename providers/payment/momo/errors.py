"""The one error type of the MoMo connector::

    ValueError
    └── ProviderError
     └── MomoError(code, message)
          code ∈                      retryable
          ├── signature_invalid        no    ``signature`` missing, not lower-case hex, or wrong
          ├── unknown_partner          no    an IPN for a ``partnerCode`` we hold no keys for
          ├── malformed                no    not JSON, a field missing or of the wrong type; or
          │                                  an API answer that does not parse
          ├── invalid_field            no    a bad argument given to a builder
          ├── provider_unavailable     yes   ``/query`` failed on connection errors, timeouts
          │                                  or HTTP 5xx, retries spent
          └── refund_outcome_unknown   no    a refund was sent without a readable answer: query
                                             it (same ``requestId``), never resend blindly

A business answer from MoMo (a failed payment, a refused refund) is a result value.
"""

from __future__ import annotations

from typing import Final

from providers.common.errors import ProviderError

SIGNATURE_INVALID: Final = "signature_invalid"
UNKNOWN_PARTNER: Final = "unknown_partner"
MALFORMED: Final = "malformed"
INVALID_FIELD: Final = "invalid_field"
PROVIDER_UNAVAILABLE: Final = "provider_unavailable"
REFUND_OUTCOME_UNKNOWN: Final = "refund_outcome_unknown"


class MomoError(ProviderError):
    ERROR_CODES = frozenset(
        {
            SIGNATURE_INVALID,
            UNKNOWN_PARTNER,
            MALFORMED,
            INVALID_FIELD,
            PROVIDER_UNAVAILABLE,
            REFUND_OUTCOME_UNKNOWN,
        }
    )
    RETRYABLE_CODES = frozenset({PROVIDER_UNAVAILABLE})
    OUTCOME_UNKNOWN_CODES = frozenset({REFUND_OUTCOME_UNKNOWN})
