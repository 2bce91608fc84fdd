"""A merchant terminal at VNPAY: its code, its hash secret and VNPAY's two URLs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from providers.common.secrets import Secret

SANDBOX_PAYMENT_URL: Final = "https://sandbox.vnpayment.vn/paymentv2/vpcpay.html"
SANDBOX_API_URL: Final = "https://sandbox.vnpayment.vn/merchant_webapi/api/transaction"


@dataclass(frozen=True)
class VnpayTerminal:
    """Credentials of one ``vnp_TmnCode``.

    Attributes:
        tmn_code: the terminal (website) code VNPAY assigned, e.g. ``"2QXUI4J4"``.
        hash_secret: the HMAC-SHA512 key, a :class:`Secret` (given as text, it is wrapped);
            never printed.
        payment_url: ``.../paymentv2/vpcpay.html``, where the payer's browser is sent.
        api_url: ``.../merchant_webapi/api/transaction``, for ``querydr`` and ``refund``.
    """

    tmn_code: str
    hash_secret: Secret
    payment_url: str
    api_url: str

    def __post_init__(self) -> None:
        # Frozen: wrap through object.__setattr__, once, at construction.
        object.__setattr__(self, "hash_secret", Secret.of(self.hash_secret))
        for name in ("tmn_code", "payment_url", "api_url"):
            if not getattr(self, name):
                raise ValueError(f"VnpayTerminal.{name} must not be empty")
        if not self.hash_secret.reveal():
            raise ValueError("VnpayTerminal.hash_secret must not be empty")

    def __repr__(self) -> str:
        return (
            f"VnpayTerminal(tmn_code={self.tmn_code!r}, hash_secret='***', "
            f"payment_url={self.payment_url!r}, api_url={self.api_url!r})"
        )

    __str__ = __repr__
