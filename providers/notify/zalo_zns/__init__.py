"""Zalo ZNS (Zalo Notification Service) template messages: ``specs/notifications.md`` §1.

:class:`ZnsClient` sends a template message (:mod:`.codec` builds and parses it, pure);
:func:`parse_receipt` reads the OA webhook event ``user_received_message``; result codes
and what they mean are data in :mod:`.statuses`; every failure is a :class:`ZnsError`.
"""

from .client import ZnsClient
from .codec import RECEIPT_EVENT, build_send, parse_receipt, parse_send
from .errors import ZnsError
from .settings import ZnsAccount
from .statuses import ZNS_RESULTS

__all__ = [
    "RECEIPT_EVENT",
    "ZNS_RESULTS",
    "ZnsAccount",
    "ZnsClient",
    "ZnsError",
    "build_send",
    "parse_receipt",
    "parse_send",
]
