"""The one error type of the tax-authority connector.

Every failure raised here is a :class:`TaxAuthorityError`, a
:class:`~providers.common.errors.ProviderError` whose ``code`` is a stable snake_case string
that callers branch on (never parse the message). A summary the tax authority *refuses* is
not an error: it is a :class:`~.codec.Rejected` value with the reasons::

    ValueError
    └── ProviderError
          └── TaxAuthorityError(code, message, http_status=None)
          code ∈
          ├── invalid_message  a message we refuse to build (not XML, a bad sender or tax
          │                    code, a message id that is not the sender's); nothing was sent
          ├── too_large        the message is over the 2 MB limit (QĐ 1271); nothing was sent.
          │                    Split the summary, do not retry as is
          ├── malformed        an answer that is not the documented shape, or that answers
          │                    another message
          ├── unavailable      the tax authority could not be reached (nothing was sent), or
          │                    answered 5xx/503 before taking the message (``retryable``)
          └── outcome_unknown  the message left and no answer came (timeout, connection lost).
                               ``retryable`` and ``outcome_unknown``: send the *same* message
                               again (same message id), which the receiver can recognise;
                               a technical outage is recorded and the backlog sent within 3
                               working days after the fix (NĐ 254 Điều 27, spec §5)
"""

from __future__ import annotations

from typing import Final

from providers.common.errors import ProviderCallError

INVALID_MESSAGE: Final = "invalid_message"
TOO_LARGE: Final = "too_large"
MALFORMED: Final = "malformed"
UNAVAILABLE: Final = "unavailable"
OUTCOME_UNKNOWN: Final = "outcome_unknown"

ERROR_CODES: Final[frozenset[str]] = frozenset(
    {INVALID_MESSAGE, TOO_LARGE, MALFORMED, UNAVAILABLE, OUTCOME_UNKNOWN}
)


class TaxAuthorityError(ProviderCallError):
    """A message to the tax authority could not be built, sent or understood.

    Attributes:
        code: one of :data:`ERROR_CODES`; stable, meant for programs.
        message: English explanation for people and logs.
        http_status: the tax authority's HTTP status where one was received, else ``None``.
    """

    ERROR_CODES = ERROR_CODES
    RETRYABLE_CODES = frozenset({UNAVAILABLE, OUTCOME_UNKNOWN})
    OUTCOME_UNKNOWN_CODES = frozenset({OUTCOME_UNKNOWN})
