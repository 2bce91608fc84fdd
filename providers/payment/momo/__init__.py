"""MoMo's payment gateway, AIO v2: create (``captureWallet``), IPN, query and refund.

Pure modules (:mod:`.codec`, :mod:`.statuses`) build and verify messages with every input
explicit; :mod:`.client` is the only one that awaits the network. Every failure is a
:class:`MomoError` with a stable ``code``; MoMo's declines are result values.
Spec: ``specs/momo-zalopay.md`` §A.
"""

from .client import MomoClient
from .codec import (
    SIGNED_FIELDS,
    CreateResult,
    PaymentResult,
    RefundResult,
    create_request,
    parse_ipn,
    query_request,
    raw_signature,
    refund_request,
    sign,
)
from .errors import MomoError
from .settings import PAGE_ORIGINS, MomoMerchant
from .statuses import NOT_FOUND, Outcome, message, outcome

__all__ = [
    "NOT_FOUND",
    "PAGE_ORIGINS",
    "SIGNED_FIELDS",
    "CreateResult",
    "MomoClient",
    "MomoError",
    "MomoMerchant",
    "Outcome",
    "PaymentResult",
    "RefundResult",
    "create_request",
    "message",
    "outcome",
    "parse_ipn",
    "query_request",
    "raw_signature",
    "refund_request",
    "sign",
]
