"""VNPAY payment gateway, API 2.1.0: payment URL, IPN, querydr and refund.

Pure modules (:mod:`.wire`, :mod:`.codec`, :mod:`.statuses`) build and verify messages with
every input explicit; :mod:`.client` is the only one that awaits the network. Every failure
is a :class:`VnpayError` with a stable ``code``; VNPAY's declines are result values.
"""

from .client import VnpayClient
from .codec import (
    IPN_MESSAGES,
    build_payment_url,
    canonical_query,
    ipn_response,
    parse_ipn,
    parse_query_response,
    parse_refund_response,
    querydr_request,
    refund_request,
    sign,
    verify_query,
)
from .errors import VnpayError
from .model import FULL_REFUND, PARTIAL_REFUND, IpnResult, QueryResult, RefundResult
from .settings import VnpayTerminal
from .statuses import FAILURE_MESSAGES, Outcome, failure_message
from .wire import GMT7

__all__ = [
    "FAILURE_MESSAGES",
    "FULL_REFUND",
    "GMT7",
    "IPN_MESSAGES",
    "PARTIAL_REFUND",
    "IpnResult",
    "Outcome",
    "QueryResult",
    "RefundResult",
    "VnpayClient",
    "VnpayError",
    "VnpayTerminal",
    "build_payment_url",
    "canonical_query",
    "failure_message",
    "ipn_response",
    "parse_ipn",
    "parse_query_response",
    "parse_refund_response",
    "querydr_request",
    "refund_request",
    "sign",
    "verify_query",
]
