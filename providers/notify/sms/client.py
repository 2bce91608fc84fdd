"""The eSMS client: the only module of this package that awaits the network. One try per
call; the gateway's worker repeats with the same ``RequestId``."""

from __future__ import annotations

from typing import ClassVar

import aiohttp

from providers.notify.base import Message, SendResult

from . import codec
from .errors import UNAVAILABLE, SmsError
from .settings import SEND_PATH, SmsAccount


class SmsClient:
    channel: ClassVar[str] = "sms"

    def __init__(
        self, session: aiohttp.ClientSession, account: SmsAccount, timeout_seconds: float
    ) -> None:
        self._session = session
        self._account = account
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def send(self, message: Message) -> SendResult:
        body = codec.build_send(message, self._account)
        try:
            async with self._session.post(
                self._account.base_url + SEND_PATH,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SmsError(UNAVAILABLE, type(exc).__name__) from None
        return codec.parse_send(status, raw)
