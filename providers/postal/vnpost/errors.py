"""The one error type of the VNPost package.

Every failure raised here is a :class:`VnpostError`, a
:class:`~providers.common.errors.ProviderError` whose ``code`` is a stable snake_case string
that callers branch on (never parse the message)::

    ValueError
    └── ProviderError
          └── VnpostError(code, message, http_status=None)
          code ∈
          ├── malformed            an answer or webhook that is not the documented shape
          ├── invalid_field        a request we refuse to build (bad phone, weight, COD...);
          │                        nothing was sent
          ├── unauthorized         credentials refused, a token refused even after one
          │                        refresh, or a webhook whose signature does not match
          ├── duplicate_reference  the carrier already holds an order with this client
          │                        reference (create_order adopts it; seen only by callers
          │                        of the codec)
          ├── not_found            no such order (item code or client reference)
          ├── outcome_unknown      create/cancel: no trustworthy answer (timeout, connection
          │                        lost mid-request, 5xx). The carrier may have acted: look
          │                        the reference up (find_by_reference) before any retry.
          │                        ``retryable`` and ``outcome_unknown``: the client
          │                        reference keeps a repeat from booking twice
          ├── unavailable          the carrier could not be reached before anything was
          │                        sent, or a read still failed after its retries
          │                        (``retryable``)
          └── rejected             the carrier refused the request (a 4xx that is none of
                                   the above, e.g. an order that can no longer be cancelled)
"""

from __future__ import annotations

from typing import Final

from providers.common.errors import ProviderCallError

MALFORMED: Final = "malformed"
INVALID_FIELD: Final = "invalid_field"
UNAUTHORIZED: Final = "unauthorized"
DUPLICATE_REFERENCE: Final = "duplicate_reference"
NOT_FOUND: Final = "not_found"
OUTCOME_UNKNOWN: Final = "outcome_unknown"
UNAVAILABLE: Final = "unavailable"
REJECTED: Final = "rejected"

ERROR_CODES: Final[frozenset[str]] = frozenset(
    {
        MALFORMED,
        INVALID_FIELD,
        UNAUTHORIZED,
        DUPLICATE_REFERENCE,
        NOT_FOUND,
        OUTCOME_UNKNOWN,
        UNAVAILABLE,
        REJECTED,
    }
)


class VnpostError(ProviderCallError):
    """A VNPost message or call failed.

    Attributes:
        code: one of :data:`ERROR_CODES`; stable, meant for programs.
        message: English explanation for people and logs (never holds phones or addresses).
        http_status: the carrier's HTTP status where one was received, else ``None``.
    """

    ERROR_CODES = ERROR_CODES
    RETRYABLE_CODES = frozenset({OUTCOME_UNKNOWN, UNAVAILABLE})
    OUTCOME_UNKNOWN_CODES = frozenset({OUTCOME_UNKNOWN})
