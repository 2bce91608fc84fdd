"""The one error type of the SMS package::

    ValueError
    └── ProviderError
          └── SmsError(code, message, http_status=None)
          code ∈
          ├── malformed     an answer or callback that is not the documented shape
          ├── too_long      a text that does not fit three segments (nothing was sent)
          └── unavailable   no answer, a timeout or a 5xx (``retryable``: eSMS refuses a
                            repeated ``RequestId`` within 24 h, so a repeat is not a second SMS)

A refusal (template mismatch, brandname not registered) is a
:class:`providers.notify.base.Refused` result, not an error.
"""

from __future__ import annotations

from typing import Final

from providers.common.errors import ProviderCallError

MALFORMED: Final = "malformed"
TOO_LONG: Final = "too_long"
UNAVAILABLE: Final = "unavailable"


class SmsError(ProviderCallError):
    ERROR_CODES = frozenset({MALFORMED, TOO_LONG, UNAVAILABLE})
    RETRYABLE_CODES = frozenset({UNAVAILABLE})
