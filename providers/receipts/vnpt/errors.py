"""The one error type of the VNPT e-receipt package.

Every failure raised here is a :class:`VnptError`, a
:class:`~providers.common.errors.ProviderError` whose ``code`` is a stable snake_case string
that callers branch on (never parse the message). When VNPT answered ``ERR:n``,
``provider_code`` holds it and ``message_vi`` its Vietnamese meaning from
:mod:`.results`::

    ValueError
    └── ProviderError
          └── VnptError(code, message, http_status=None, provider_code=None, message_vi=None)
          code ∈
          ├── malformed        an answer that is not the documented shape
          ├── invalid_field    a request we refuse to build (an empty fkey, a bad pattern,
          │                    an amount that is not VND > 0); nothing was sent
          ├── unauthorized     VNPT refused the accounts (``ERR:1`` publisher account,
          │                    ``ERR:7`` web-service user)
          ├── duplicate_key    another receipt already holds this fkey (``ERR:13``) and it
          │                    is not the one we asked for (other pattern/serial, cancelled)
          ├── not_found        no receipt under this fkey
          ├── rejected         any other ``ERR:n`` (pattern/serial not registered, numbers
          │                    exhausted, bad data, a receipt that can no longer be cancelled)
          ├── outcome_unknown  a publish or cancel left and no trustworthy answer came
          │                    (timeout, connection lost, 5xx). ``retryable`` and
          │                    ``outcome_unknown``: look the fkey up before anything else
          └── unavailable      VNPT could not be reached before anything was sent, or a read
                               still failed after its retries (``retryable``)
"""

from __future__ import annotations

from typing import Final

from providers.common.errors import ProviderCallError

MALFORMED: Final = "malformed"
INVALID_FIELD: Final = "invalid_field"
UNAUTHORIZED: Final = "unauthorized"
DUPLICATE_KEY: Final = "duplicate_key"
NOT_FOUND: Final = "not_found"
REJECTED: Final = "rejected"
OUTCOME_UNKNOWN: Final = "outcome_unknown"
UNAVAILABLE: Final = "unavailable"

ERROR_CODES: Final[frozenset[str]] = frozenset(
    {
        MALFORMED,
        INVALID_FIELD,
        UNAUTHORIZED,
        DUPLICATE_KEY,
        NOT_FOUND,
        REJECTED,
        OUTCOME_UNKNOWN,
        UNAVAILABLE,
    }
)


class VnptError(ProviderCallError):
    """A VNPT e-receipt call failed.

    Attributes:
        code: one of :data:`ERROR_CODES`; stable, meant for programs.
        message: English explanation for people and logs.
        http_status: VNPT's HTTP status where one was received, else ``None``.
        provider_code: VNPT's ``ERR:n`` when it gave one, else ``None``.
        message_vi: the Vietnamese meaning of ``provider_code`` (for staff), else ``None``.
    """

    ERROR_CODES = ERROR_CODES
    RETRYABLE_CODES = frozenset({OUTCOME_UNKNOWN, UNAVAILABLE})
    OUTCOME_UNKNOWN_CODES = frozenset({OUTCOME_UNKNOWN})

    provider_code: str | None
    message_vi: str | None

    def __init__(
        self,
        code: str,
        message: str = "",
        http_status: int | None = None,
        *,
        provider_code: str | None = None,
        message_vi: str | None = None,
    ) -> None:
        super().__init__(code, message, http_status)
        self.provider_code = provider_code
        self.message_vi = message_vi
