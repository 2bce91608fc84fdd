"""The one error type of the POS package.

Every failure raised here is a :class:`PosError`, a
:class:`~providers.common.errors.ProviderError` whose ``code`` is a stable snake_case string
that callers branch on (never parse the message)::

    ValueError
    └── ProviderError
          └── PosError(code, message, http_status=None)
          code ∈
          │  a message that cannot be trusted (codec.verify, codec.parse_*):
          ├── signature_missing   no X-Pos-Timestamp or X-Pos-Signature header
          ├── signature_invalid   the HMAC does not match the raw body (wrong key, altered body)
          ├── timestamp_invalid   the timestamp is not Unix seconds
          ├── timestamp_stale     signed too long ago (or too far ahead): a possible replay
          ├── malformed           signed, but not the documented shape (field, type, status)
          │  a request we refuse to send (codec.build_*):
          ├── invalid_field       a bad id, amount, URL or text; nothing was sent
          │  what the cloud did with a request (client.PosClient):
          ├── outcome_unknown     push/cancel: no trustworthy answer (timeout, connection lost
          │                       mid-request, 5xx, unsigned or malformed reply). The cloud
          │                       may have acted: query with ``get_sale``; never assume.
          │                       ``retryable`` and ``outcome_unknown``: after the query, the
          │                       same ``sale_id`` keeps a repeat from charging twice
          ├── unavailable         the cloud could not be reached before anything was sent, or a
          │                       query still failed after its retries; nothing changed
          │                       (``retryable``)
          └── rejected            the cloud refused the request (a signed 4xx that is not a
                                  business answer: bad signature, other merchant, a sale_id
                                  reused for another sale); this request changed nothing

Business answers are not errors: a busy terminal, a refused cancel and a decline are result
values (:class:`~.codec.PushResult`, :class:`~.codec.CancelResult`, :class:`~.codec.SaleResult`).
"""

from __future__ import annotations

from typing import Final

from providers.common.errors import ProviderCallError

SIGNATURE_MISSING: Final = "signature_missing"
SIGNATURE_INVALID: Final = "signature_invalid"
TIMESTAMP_INVALID: Final = "timestamp_invalid"
TIMESTAMP_STALE: Final = "timestamp_stale"
MALFORMED: Final = "malformed"
INVALID_FIELD: Final = "invalid_field"
OUTCOME_UNKNOWN: Final = "outcome_unknown"
UNAVAILABLE: Final = "unavailable"
REJECTED: Final = "rejected"

#: The codes that mean "this message cannot be trusted": the verification and parse failures.
UNTRUSTED_CODES: Final[frozenset[str]] = frozenset(
    {SIGNATURE_MISSING, SIGNATURE_INVALID, TIMESTAMP_INVALID, TIMESTAMP_STALE, MALFORMED}
)
ERROR_CODES: Final[frozenset[str]] = UNTRUSTED_CODES | {
    INVALID_FIELD,
    OUTCOME_UNKNOWN,
    UNAVAILABLE,
    REJECTED,
}


class PosError(ProviderCallError):
    """A POS message or call failed.

    Attributes:
        code: one of :data:`ERROR_CODES`; stable, meant for programs.
        message: English explanation, meant for people and logs (never holds card data).
        http_status: the cloud's HTTP status where one was received, else ``None``.
    """

    ERROR_CODES = ERROR_CODES
    RETRYABLE_CODES = frozenset({OUTCOME_UNKNOWN, UNAVAILABLE})
    OUTCOME_UNKNOWN_CODES = frozenset({OUTCOME_UNKNOWN})
