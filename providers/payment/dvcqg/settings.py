"""Credentials and endpoints of one partner of the DVCQG payment platform.

The platform issues each one-stop system (or agency) a partner code (``MaDoiTac``) and a secret
(``MaBiMat``, the trailing part of every checksum); the endpoint URLs come with the onboarding
document, which is not public (``specs/dvcqg-payment-platform.md`` §2, §15: unverified).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from providers.common.secrets import Secret

#: INIT's ``PhienBan``: the version both reference implementations send (spec §3.1, §15.3).
VERSION: Final = "1.0.6"


@dataclass(frozen=True)
class DvcqgPartner:
    """One ``MaDoiTac`` and where to reach the platform.

    Attributes:
        partner_code: ``MaDoiTac`` issued by the platform.
        secret_key: the checksum secret, a :class:`Secret` (given as text, it is wrapped).
        init_url: INIT (create a payment, answered with ``UrlThanhToan``).
        query_url: QUERY (transaction status, ``TrangThaiGD``).
        bill_url: GET_BILL (the platform's receipt, a PDF).
        version: ``PhienBan`` sent in INIT, QUERY and GET_BILL.
    """

    partner_code: str
    secret_key: Secret
    init_url: str
    query_url: str
    bill_url: str
    version: str = VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "secret_key", Secret.of(self.secret_key))
        for name in ("partner_code", "init_url", "query_url", "bill_url", "version"):
            if not getattr(self, name):
                raise ValueError(f"DvcqgPartner.{name} must not be empty")
        if "|" in self.partner_code:
            raise ValueError("DvcqgPartner.partner_code: '|' separates checksummed fields")
        if not self.secret_key.reveal():
            raise ValueError("DvcqgPartner.secret_key must not be empty")

    def __repr__(self) -> str:
        return (
            f"DvcqgPartner(partner_code={self.partner_code!r}, secret_key='***', "
            f"init_url={self.init_url!r})"
        )

    __str__ = __repr__
