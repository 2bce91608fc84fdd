"""A ZaloPay merchant app (Open API v2): app id, key1 (requests), key2 (callbacks), base URL.

Spec: ``specs/momo-zalopay.md`` §B.1 (endpoints), §B.2 (which key signs what).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from providers.common.secrets import Secret

SANDBOX_API_URL: Final = "https://sb-openapi.zalopay.vn"
PRODUCTION_API_URL: Final = "https://openapi.zalopay.vn"
#: Where ZaloPay's ``order_url`` leads (its gateway pages) [U: not in the spec; observed
#: hosts of the public samples — a new host is a data change here].
PAGE_ORIGINS: Final = ("https://qcgateway.zalopay.vn", "https://sbgateway.zalopay.vn")


@dataclass(frozen=True)
class ZalopayApp:
    """Attributes:
    app_id: the merchant app's number at ZaloPay.
    key1: MACs of our requests (create, query, refund, refund query); never printed.
    key2: ZaloPay's callbacks are verified with it; never printed.
    api_url: ``https://…`` without a path (``/v2/create`` … are under it).
    """

    app_id: int
    key1: Secret
    key2: Secret
    api_url: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "key1", Secret.of(self.key1))
        object.__setattr__(self, "key2", Secret.of(self.key2))
        if self.app_id <= 0 or not self.api_url:
            raise ValueError("ZalopayApp.app_id must be positive and api_url set")
        if not self.key1.reveal() or not self.key2.reveal():
            raise ValueError("ZalopayApp.key1 and key2 must not be empty")

    def __repr__(self) -> str:
        return (
            f"ZalopayApp(app_id={self.app_id!r}, key1='***', key2='***', api_url={self.api_url!r})"
        )

    __str__ = __repr__
