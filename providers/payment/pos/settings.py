"""What the gateway needs to talk to one merchant account at the POS cloud.

Built by ``config/`` from the environment; nothing here reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from providers.common.secrets import Secret


@dataclass(frozen=True, repr=False)
class PosMerchant:
    """A merchant account at the POS cloud.

    ``secret`` signs every request and verifies every answer and callback; it is a
    :class:`Secret` (given as bytes or text, it is wrapped), so a settings object can be
    logged. ``base_url`` is stored without a trailing
    slash (``https://pos.acquirer.example``).
    """

    merchant_id: str
    secret: Secret
    base_url: str

    def __post_init__(self) -> None:
        # Frozen: normalise through object.__setattr__, once, at construction.
        object.__setattr__(self, "secret", Secret.of(self.secret))
        if not self.merchant_id:
            raise ValueError("PosMerchant.merchant_id is empty")
        if not self.secret.reveal():
            raise ValueError("PosMerchant.secret is empty")
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("PosMerchant.base_url must be an absolute http(s) URL")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def __repr__(self) -> str:
        return (
            f"PosMerchant(merchant_id={self.merchant_id!r}, secret='**********', "
            f"base_url={self.base_url!r})"
        )
