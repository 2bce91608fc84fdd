"""Moved to :mod:`gateway.models.postal_requests`; kept as a re-export until the services
import from there."""

from gateway.models.postal_requests import (
    CreatePostalOrder,
    Handover,
    HandoverDocument,
    IdentityCheck,
    OperatorEvent,
    PickupWindow,
    PostalAddress,
    PostalParty,
)

__all__ = [
    "CreatePostalOrder",
    "Handover",
    "HandoverDocument",
    "IdentityCheck",
    "OperatorEvent",
    "PickupWindow",
    "PostalAddress",
    "PostalParty",
]
