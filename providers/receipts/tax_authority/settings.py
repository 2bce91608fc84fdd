"""What the gateway needs to send messages to the tax authority (Cục Thuế).

Built by ``config/`` from the environment; nothing here reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

#: ``MNGui``/``MNNhan`` (QĐ 1271/QĐ-CT, spec §9): ``V`` + tax code for an intermediary
#: (TCTN), ``K`` + tax code for a taxpayer connecting directly, ``TCT`` for the tax
#: authority. A tax code is 10 digits, or 13 for a dependent unit (written here without the
#: dash; whether the dash is kept in these codes is unverified).
PARTY_CODE: Final = re.compile(r"^(?:[VK]\d{10}(?:\d{3})?|TCT)$")


@dataclass(frozen=True)
class TaxAuthorityEndpoint:
    """The tax authority's message endpoint as seen from one sender.

    ``base_url`` is stored without a trailing slash and ``path`` with a leading one, so the
    endpoint reads ``base_url + path``. ``sender_code`` is our ``MNGui`` (``V``/``K`` +
    tax code); ``receiver_code`` is ``TCT``.
    """

    base_url: str
    sender_code: str
    receiver_code: str = "TCT"
    path: str = "/messages"

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("TaxAuthorityEndpoint.base_url must be an absolute http(s) URL")
        for name in ("sender_code", "receiver_code"):
            if not PARTY_CODE.fullmatch(getattr(self, name)):
                raise ValueError(
                    f"TaxAuthorityEndpoint.{name} must be V or K followed by a tax code, or TCT"
                )
        if self.sender_code == "TCT":
            raise ValueError("TaxAuthorityEndpoint.sender_code cannot be the tax authority")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        object.__setattr__(self, "path", "/" + self.path.strip("/"))

    @property
    def url(self) -> str:
        return self.base_url + self.path
