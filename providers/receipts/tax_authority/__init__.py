"""The tax authority (Cục Thuế): same-day summaries of e-receipts (form 01/TH-BLĐT) and
notices of receipt errors (form 04/SS-CTĐT), each a signed document in the same envelope.

:class:`TaxAuthorityClient` sends a signed summary (bytes from the caller) in the tax
authority's envelope and returns :class:`Accepted` or :class:`Rejected` with its
:class:`Reason`\\ s; a lost answer or an outage raises a retryable
:class:`TaxAuthorityError`, and a message over 2 MB is refused before it is sent. The wire
format, with what is unverified, is documented in :mod:`.codec`.
"""

from .client import TaxAuthorityClient
from .codec import (
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    Accepted,
    Answer,
    Message,
    Reason,
    ReceivedMessage,
    Rejected,
    build_answer,
    build_message,
    build_summary_message,
    message_id,
    parse_answer,
    parse_message,
)
from .errors import TaxAuthorityError
from .settings import TaxAuthorityEndpoint

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MESSAGE_TYPES",
    "Accepted",
    "Answer",
    "Message",
    "Reason",
    "ReceivedMessage",
    "Rejected",
    "TaxAuthorityClient",
    "TaxAuthorityEndpoint",
    "TaxAuthorityError",
    "build_answer",
    "build_message",
    "build_summary_message",
    "message_id",
    "parse_answer",
    "parse_message",
]
