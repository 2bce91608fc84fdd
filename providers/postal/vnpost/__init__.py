"""VNPost (MyVNPost-style partner API): pickup and delivery legs of postal requests.

:class:`VnpostClient` creates orders idempotently under our client reference (a duplicate is
adopted; a lost answer is ``outcome_unknown`` and the caller looks the reference up before any
retry), cancels, reads and follows them. Pushed statuses are verified and parsed by
:func:`parse_webhook`; :mod:`.statuses` maps VNPost's codes onto normalised statuses, one
table per API surface (profile), and :func:`should_advance` decides whether an event moves an
order. The wire protocol is
documented in :mod:`.codec`; every failure is a :class:`VnpostError` (:mod:`.errors`).
"""

from .client import VnpostClient
from .codec import (
    Address,
    CarrierEvent,
    CreatedOrder,
    OrderRequest,
    OrderState,
    Party,
    Service,
    StatusWebhook,
    parse_webhook,
    webhook_signature,
)
from .errors import VnpostError
from .settings import VnpostAccount
from .statuses import (
    PROFILES,
    RANK,
    VNPOST_STATUS,
    Money,
    PostalStatus,
    StatusProfile,
    normalise,
    should_advance,
)

__all__ = [
    "PROFILES",
    "RANK",
    "VNPOST_STATUS",
    "Address",
    "CarrierEvent",
    "CreatedOrder",
    "Money",
    "OrderRequest",
    "OrderState",
    "Party",
    "PostalStatus",
    "Service",
    "StatusProfile",
    "StatusWebhook",
    "VnpostAccount",
    "VnpostClient",
    "VnpostError",
    "normalise",
    "parse_webhook",
    "should_advance",
    "webhook_signature",
]
