"""The one error type of the DVCQG payment-platform connector.

Every failure raised by this package is a :class:`DvcqgError`, a
:class:`~providers.common.errors.ProviderCallError` whose ``code`` is stable::

    ValueError
    └── ProviderError
     └── ProviderCallError
          └── DvcqgError(code, message, http_status)
               code ∈                    retryable
               ├── signature_invalid      no    ``MaXacThuc`` missing or wrong (callback, or a
               │                                signed QUERY answer), or a ``MaDoiTac`` we hold
               │                                no secret for
               ├── malformed              no    not the documented shape: not a JSON object, a
               │                                field missing or of the wrong type
               ├── invalid_field          no    a bad argument given to a builder
               ├── query_failed           yes   QUERY/GET_BILL answered, but not ``MaLoi = 00``
               │                                (the platform did not process the query)
               ├── not_a_pdf              no    GET_BILL answered something that is not a PDF
               └── provider_unavailable   yes   no answer: connection error, timeout, HTTP 5xx
                                                 (INIT included: an INIT carries no money, and a
                                                 new attempt uses a new MaThamChieu)

A decline by the platform (INIT refused, a transaction that failed) is a result value.
"""

from __future__ import annotations

from typing import Final

from providers.common.errors import ProviderCallError

SIGNATURE_INVALID: Final = "signature_invalid"
MALFORMED: Final = "malformed"
INVALID_FIELD: Final = "invalid_field"
QUERY_FAILED: Final = "query_failed"
NOT_A_PDF: Final = "not_a_pdf"
PROVIDER_UNAVAILABLE: Final = "provider_unavailable"

ERROR_CODES: Final = frozenset(
    {SIGNATURE_INVALID, MALFORMED, INVALID_FIELD, QUERY_FAILED, NOT_A_PDF, PROVIDER_UNAVAILABLE}
)


class DvcqgError(ProviderCallError):
    """A DVCQG message or call was rejected; ``code`` is one of :data:`ERROR_CODES`."""

    ERROR_CODES = ERROR_CODES
    RETRYABLE_CODES = frozenset({QUERY_FAILED, PROVIDER_UNAVAILABLE})
