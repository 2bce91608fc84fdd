"""Card-present payments on terminals driven by the acquirer's POS cloud.

Counter staff push a sale to a registered terminal (:meth:`PosClient.push_sale`); the cloud
reports the result by a signed callback (:func:`verify` then :func:`parse_result`); a terminal
runs one sale at a time; a cancel or a timeout leads to :meth:`PosClient.get_sale`, never to
an assumption. The wire protocol is documented in :mod:`.codec`; every failure is a
:class:`PosError` with a stable ``code`` (:mod:`.errors`).
"""

from .client import PosClient
from .codec import (
    CancelResult,
    CardBrand,
    PushResult,
    Sale,
    SaleResult,
    parse_result,
    sign,
    verify,
)
from .errors import PosError
from .settings import PosMerchant
from .statuses import ATTEMPT_STATUS, SaleStatus, attempt_status

__all__ = [
    "ATTEMPT_STATUS",
    "CancelResult",
    "CardBrand",
    "PosClient",
    "PosError",
    "PosMerchant",
    "PushResult",
    "Sale",
    "SaleResult",
    "SaleStatus",
    "attempt_status",
    "parse_result",
    "sign",
    "verify",
]
