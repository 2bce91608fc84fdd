"""The roles an API key or a console user holds (docs/design.md, section 9)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PORTAL = "portal"
    COUNTER = "counter"
    FINANCE = "finance"
    FINANCE_APPROVER = "finance_approver"
    POSTAL_OPERATOR = "postal_operator"
    ADMIN = "admin"
    #: The national portal's payment platform (DVCQG) looking up a dossier's fees
    #: (``GET /v1/dvcqg/payments``), scoped to agencies like a portal key.
    PLATFORM = "platform"
