"""What every citizen-notification connector speaks: a :class:`Message` in, a
:class:`SendResult` out (the provider's message id, or a typed refusal), and a
:class:`DeliveryReceipt` parsed from the provider's delivery callback.

A refusal is a result value (the provider answered and will not send: no Zalo account, a
template it rejects); a transient failure (no answer, a 5xx, an expired token) is the
connector's :class:`~providers.common.errors.ProviderCallError` with ``retryable``. Every
send carries our notification id as the provider's idempotency key (ZNS ``tracking_id``,
eSMS ``RequestId``), as ``specs/notifications.md`` §4.3 asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol


@dataclass(frozen=True, repr=False)
class Message:
    """One message to one phone. ``phone`` is international without ``+`` (``84…``)."""

    tracking_id: str
    phone: str
    #: ZNS: the approved template and its parameters (keys exactly the template's).
    template_id: str | None = None
    template_data: Mapping[str, str] = field(default_factory=dict)
    #: SMS: the text, already without diacritics (:func:`providers.notify.sms.prepare_text`).
    text: str | None = None

    def __repr__(self) -> str:  # never show the number
        return f"Message(tracking_id={self.tracking_id!r}, template_id={self.template_id!r})"


@dataclass(frozen=True)
class Accepted:
    """The provider took the message. ``message_id`` is its id (``None`` when it answered
    that it already had a message with our idempotency key, without its id)."""

    message_id: str | None


@dataclass(frozen=True)
class Refused:
    """The provider will not send it. ``code`` is ours (``no_zalo_account``,
    ``template_rejected``, ``invalid_phone``, ...); ``provider_code`` is theirs; ``fallback``:
    another channel may still reach the citizen (ZNS to SMS)."""

    code: str
    provider_code: str
    fallback: bool = False


SendResult = Accepted | Refused


@dataclass(frozen=True)
class DeliveryReceipt:
    """A provider's word on one message: delivered (``delivered``) or not (``failure``)."""

    message_id: str
    delivered: bool
    #: The inbox key: the same receipt sent again has the same key.
    event_key: str
    at: datetime | None = None
    failure: str | None = None


class Notifier(Protocol):
    """A channel that sends :class:`Message` s."""

    channel: ClassVar[str]

    async def send(self, message: Message) -> SendResult: ...


def provider_phone(e164: str) -> str:
    """``+84912345678`` → ``84912345678``: ZNS and the SMS APIs take no ``+`` (spec §4.6)."""
    if not e164.startswith("+84") or not e164[1:].isdigit():
        raise ValueError("a Vietnamese E.164 number is expected")
    return e164[1:]
