"""The one error type of the ZNS package::

    ValueError
    └── ProviderError
          └── ZnsError(code, message, http_status=None)
          code ∈
          ├── malformed     an answer or webhook event that is not the documented shape
          ├── unauthorized  the access token was refused (``retryable``: after a refresh)
          └── unavailable   no answer, a timeout or a 5xx (``retryable``: the tracking id
                            keeps a repeat from being a second message at our side)

A refusal to send (no Zalo account, a rejected template) is not an error: it is a
:class:`providers.notify.base.Refused` result.
"""

from __future__ import annotations

from typing import Final

from providers.common.errors import ProviderCallError

MALFORMED: Final = "malformed"
UNAUTHORIZED: Final = "unauthorized"
UNAVAILABLE: Final = "unavailable"


class ZnsError(ProviderCallError):
    ERROR_CODES = frozenset({MALFORMED, UNAUTHORIZED, UNAVAILABLE})
    RETRYABLE_CODES = frozenset({UNAUTHORIZED, UNAVAILABLE})
