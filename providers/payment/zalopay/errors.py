"""The one error type of the ZaloPay connector::

    ValueError
    └── ProviderError
     └── ZalopayError(code, message)
          code ∈                      retryable
          ├── mac_invalid              no    ``mac`` missing, not lower-case hex, or wrong
          ├── unknown_app              no    a callback for an ``app_id`` we hold no key2 for
          ├── malformed                no    not the documented shape; or an API answer that
          │                                  does not parse
          ├── invalid_field            no    a bad argument given to a builder
          ├── provider_unavailable     yes   no answer (connection error, timeout, HTTP 5xx)
          └── refund_outcome_unknown   no    a refund was sent without a readable answer:
                                             query it by ``m_refund_id``, never resend blindly

A business answer from ZaloPay (failed, still processing, refund refused) is a result value.
"""

from __future__ import annotations

from typing import Final

from providers.common.errors import ProviderError

MAC_INVALID: Final = "mac_invalid"
UNKNOWN_APP: Final = "unknown_app"
MALFORMED: Final = "malformed"
INVALID_FIELD: Final = "invalid_field"
PROVIDER_UNAVAILABLE: Final = "provider_unavailable"
REFUND_OUTCOME_UNKNOWN: Final = "refund_outcome_unknown"


class ZalopayError(ProviderError):
    ERROR_CODES = frozenset(
        {
            MAC_INVALID,
            UNKNOWN_APP,
            MALFORMED,
            INVALID_FIELD,
            PROVIDER_UNAVAILABLE,
            REFUND_OUTCOME_UNKNOWN,
        }
    )
    RETRYABLE_CODES = frozenset({PROVIDER_UNAVAILABLE})
    OUTCOME_UNKNOWN_CODES = frozenset({REFUND_OUTCOME_UNKNOWN})
