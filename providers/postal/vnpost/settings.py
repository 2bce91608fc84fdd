"""What the gateway needs to talk to one VNPost partner account.

Built by ``config/`` from the environment; nothing here reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from providers.common.secrets import Secret


@dataclass(frozen=True, repr=False)
class VnpostAccount:
    """A partner account at VNPost's order API.

    ``username``/``password``/``customer_code`` buy a token; the password is a
    :class:`Secret` (given as text, it is wrapped), never shown. ``base_url`` is stored
    without a trailing slash, ``path_prefix`` with a leading one and without a trailing one
    (``"/api"``), so paths read ``base_url + path_prefix + "/orders"``.
    """

    username: str
    password: Secret
    customer_code: str
    base_url: str
    path_prefix: str = "/api"

    def __post_init__(self) -> None:
        # Frozen: normalise through object.__setattr__, once, at construction.
        object.__setattr__(self, "password", Secret.of(self.password))
        for name in ("username", "customer_code"):
            if not getattr(self, name):
                raise ValueError(f"VnpostAccount.{name} is empty")
        if not self.password.reveal():
            raise ValueError("VnpostAccount.password is empty")
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("VnpostAccount.base_url must be an absolute http(s) URL")
        prefix = self.path_prefix.strip("/")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        object.__setattr__(self, "path_prefix", f"/{prefix}" if prefix else "")

    def __repr__(self) -> str:
        return (
            f"VnpostAccount(username={self.username!r}, password='**********', "
            f"customer_code={self.customer_code!r}, base_url={self.base_url!r}, "
            f"path_prefix={self.path_prefix!r})"
        )
