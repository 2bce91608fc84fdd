"""What the gateway needs to send SMS brandname through one eSMS account. Built by
``config/``."""

from __future__ import annotations

from dataclasses import dataclass, field

from providers.common.secrets import Secret

#: eSMS's send path (spec §2.1).
SEND_PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"


@dataclass(frozen=True)
class SmsAccount:
    """``brandname``: at most 11 characters of letters, digits, ``-``, ``_``, ``.`` and space,
    not all digits (spec §3, NĐ 91/2020). ``callback_url``: where eSMS sends delivery
    reports (with the secret path segment)."""

    base_url: str
    api_key: Secret
    secret_key: Secret
    brandname: str
    #: Carries the gateway's secret path segment: kept out of ``repr``.
    callback_url: str | None = field(default=None, repr=False)
    sandbox: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_key", Secret.of(self.api_key))
        object.__setattr__(self, "secret_key", Secret.of(self.secret_key))
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("SmsAccount.base_url must be an absolute http(s) URL")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        name = self.brandname
        allowed = all(c.isascii() and (c.isalnum() or c in "-_. ") for c in name)
        if not (1 <= len(name) <= 11 and allowed and not name.isdigit()):
            raise ValueError("SmsAccount.brandname: 1-11 of A-Z a-z 0-9 - _ . space, not digits")
