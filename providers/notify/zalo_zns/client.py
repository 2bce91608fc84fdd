"""The ZNS client: the only module of this package that awaits the network.

One try per call: a send is repeated by the gateway's notification worker on its own
back-off schedule (the ``tracking_id`` is the same on every try), never here.
"""

from __future__ import annotations

from typing import ClassVar

import aiohttp

from providers.notify.base import Message, SendResult

from . import codec
from .errors import UNAVAILABLE, ZnsError
from .settings import ZnsAccount


class ZnsClient:
    channel: ClassVar[str] = "zns"

    def __init__(
        self, session: aiohttp.ClientSession, account: ZnsAccount, timeout_seconds: float
    ) -> None:
        self._session = session
        self._account = account
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def send(self, message: Message) -> SendResult:
        account = self._account
        body = codec.build_send(message, account.mode)
        headers = {
            "Content-Type": "application/json",
            codec.TOKEN_HEADER: account.access_token.reveal(),
        }
        try:
            async with self._session.post(
                account.base_url + account.path, data=body, headers=headers, timeout=self._timeout
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ZnsError(UNAVAILABLE, type(exc).__name__) from None
        return codec.parse_send(status, raw)
