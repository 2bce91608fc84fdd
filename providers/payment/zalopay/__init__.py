"""ZaloPay Open API v2: create order, callback (success only), query, refund, refund query.

Pure modules (:mod:`.codec`, :mod:`.statuses`); :mod:`.client` is the only one that awaits.
Every failure is a :class:`ZalopayError` with a stable ``code``. Spec:
``specs/momo-zalopay.md`` §B.
"""

from .client import ZalopayClient
from .codec import (
    MAC_FIELDS,
    VIETNAM,
    Answer,
    CallbackData,
    app_trans_id,
    callback_reply,
    create_request,
    m_refund_id,
    mac,
    query_refund_request,
    query_request,
    refund_request,
    verify_callback,
)
from .errors import ZalopayError
from .settings import PAGE_ORIGINS, ZalopayApp
from .statuses import ORDER_EXISTS, Outcome, message, outcome

__all__ = [
    "MAC_FIELDS",
    "ORDER_EXISTS",
    "PAGE_ORIGINS",
    "VIETNAM",
    "Answer",
    "CallbackData",
    "Outcome",
    "ZalopayApp",
    "ZalopayClient",
    "ZalopayError",
    "app_trans_id",
    "callback_reply",
    "create_request",
    "m_refund_id",
    "mac",
    "message",
    "outcome",
    "query_refund_request",
    "query_request",
    "refund_request",
    "verify_callback",
]
