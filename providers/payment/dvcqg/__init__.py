"""The payment platform of the National Public Service Portal (Nền tảng thanh toán trực tuyến
của Cổng Dịch vụ công quốc gia): INIT, the Confirm callback, QUERY and GET_BILL
(``specs/dvcqg-payment-platform.md``).

Pure modules (:mod:`.codec`, :mod:`.statuses`, :mod:`.model`) build and verify messages with
every input explicit; :mod:`.client` is the only one that awaits the network. Every failure is
a :class:`DvcqgError` with a stable ``code``; the platform's declines are result values. The
callback is a hint: a payment is settled only by a QUERY answer.
"""

from .client import DvcqgClient
from .codec import (
    FIELD_ORDERS,
    GMT7,
    callback_reply,
    checksum,
    checksum_text,
    format_time,
    init_request,
    parse_bill,
    parse_callback,
    parse_init_response,
    parse_query_response,
    parse_time,
    query_request,
    verify,
)
from .errors import DvcqgError
from .model import Bill, Callback, FeeLine, InitResult, QueryResult
from .settings import VERSION, DvcqgPartner
from .statuses import FAILURE_MESSAGES, Outcome, failure_message

__all__ = [
    "FAILURE_MESSAGES",
    "FIELD_ORDERS",
    "GMT7",
    "VERSION",
    "Bill",
    "Callback",
    "DvcqgClient",
    "DvcqgError",
    "DvcqgPartner",
    "FeeLine",
    "InitResult",
    "Outcome",
    "QueryResult",
    "callback_reply",
    "checksum",
    "checksum_text",
    "failure_message",
    "format_time",
    "init_request",
    "parse_bill",
    "parse_callback",
    "parse_init_response",
    "parse_query_response",
    "parse_time",
    "query_request",
    "verify",
]
