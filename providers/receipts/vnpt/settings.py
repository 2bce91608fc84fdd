"""What the gateway needs to talk to one VNPT e-receipt tenant.

Built by ``config/`` from the environment; nothing here reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from providers.common.secrets import Secret


@dataclass(frozen=True, repr=False)
class VnptAccount:
    """A tenant of VNPT's e-receipt web services (``https://<tenant>.vnpt-invoice.com.vn``).

    Two pairs of credentials, as VNPT hands them out: ``username``/``password`` is the
    web-service user (ServiceRole) every call sends; ``account``/``ac_pass`` is the
    publishing staff account that publish and cancel also send. Passwords are
    :class:`Secret`\\ s (given as text, they are wrapped), never shown. ``base_url`` is
    stored without a trailing slash; the services live at ``base_url + "/PublishService.asmx"``
    and so on.
    """

    base_url: str
    username: str
    password: Secret
    account: str
    ac_pass: Secret

    def __post_init__(self) -> None:
        for name in ("password", "ac_pass"):
            object.__setattr__(self, name, Secret.of(getattr(self, name)))
            if not getattr(self, name).reveal():
                raise ValueError(f"VnptAccount.{name} is empty")
        for name in ("username", "account"):
            if not getattr(self, name):
                raise ValueError(f"VnptAccount.{name} is empty")
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("VnptAccount.base_url must be an absolute http(s) URL")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def __repr__(self) -> str:
        return (
            f"VnptAccount(base_url={self.base_url!r}, username={self.username!r}, "
            f"password='**********', account={self.account!r}, ac_pass='**********')"
        )
