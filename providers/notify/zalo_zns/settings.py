"""What the gateway needs to send ZNS for one Official Account. Built by ``config/``."""

from __future__ import annotations

from dataclasses import dataclass

from providers.common.secrets import Secret


@dataclass(frozen=True)
class ZnsAccount:
    """``base_url`` without a trailing slash (``https://business.openapi.zalo.me``, spec
    §1.1); ``access_token`` the OA token (spec §1.2: short-lived, refreshed outside this
    package); ``mode`` ``"development"`` delivers only to the OA's admins."""

    base_url: str
    access_token: Secret
    mode: str | None = None
    path: str = "/message/template"

    def __post_init__(self) -> None:
        object.__setattr__(self, "access_token", Secret.of(self.access_token))
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("ZnsAccount.base_url must be an absolute http(s) URL")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
