"""A MoMo merchant (AIO v2): partner code, access key, secret key and MoMo's API base URL.

Spec: ``specs/momo-zalopay.md`` §A.1 (endpoints), §A.2 (the keys' roles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from providers.common.secrets import Secret

SANDBOX_API_URL: Final = "https://test-payment.momo.vn/v2/gateway/api"
PRODUCTION_API_URL: Final = "https://payment.momo.vn/v2/gateway/api"
#: Where MoMo's ``payUrl`` leads besides the API host (the same hosts) [U: a new host is a
#: data change here].
PAGE_ORIGINS: Final = ("https://payment.momo.vn", "https://test-payment.momo.vn")


@dataclass(frozen=True)
class MomoMerchant:
    """Credentials of one ``partnerCode``.

    Attributes:
        partner_code: the merchant's code at MoMo.
        access_key: signed over but never sent (MoMo fills it in from its own records).
        secret_key: the HMAC-SHA256 key, a :class:`Secret`; never printed.
        api_url: ``…/v2/gateway/api`` (``/create``, ``/query``, ``/refund`` are under it).
    """

    partner_code: str
    access_key: Secret
    secret_key: Secret
    api_url: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "access_key", Secret.of(self.access_key))
        object.__setattr__(self, "secret_key", Secret.of(self.secret_key))
        if not self.partner_code or not self.api_url:
            raise ValueError("MomoMerchant.partner_code and api_url must not be empty")
        if not self.access_key.reveal() or not self.secret_key.reveal():
            raise ValueError("MomoMerchant.access_key and secret_key must not be empty")

    def __repr__(self) -> str:
        return (
            f"MomoMerchant(partner_code={self.partner_code!r}, access_key='***', "
            f"secret_key='***', api_url={self.api_url!r})"
        )

    __str__ = __repr__
