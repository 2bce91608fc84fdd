"""The tax-authority client: the only module of this package that awaits the network.

One call, :meth:`TaxAuthorityClient.send_summary`: build the envelope (refused before
sending when over 2 MB), POST it once with a timeout, read the answer into
:class:`~.codec.Accepted` or :class:`~.codec.Rejected`.

Retry policy: only a connection that could not be opened is tried again here (nothing left,
so repeating cannot deliver twice). A message that left without an answer (a timeout, a
connection lost, a 5xx) raises ``outcome_unknown``: the caller keeps the message and sends
the *same bytes with the same message id* later, so that a receiver that got the first copy
can recognise the second; whether the real receiver de-duplicates on the message id is
unverified (spec §12), the sandbox does.
"""

from __future__ import annotations

from uuid import UUID

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from . import codec
from .codec import Answer, Message
from .errors import OUTCOME_UNKNOWN, TOO_LARGE, UNAVAILABLE, TaxAuthorityError
from .settings import TaxAuthorityEndpoint

CONTENT_TYPE = "application/xml; charset=utf-8"


def connect_retry_policy(attempts: int, wait_seconds: float) -> AsyncRetrying:
    """The one retry policy of this connector: a connection that could not be opened."""
    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=wait_seconds, max=wait_seconds * 8),
        retry=retry_if_exception_type(aiohttp.ClientConnectorError),
        reraise=True,
    )


class TaxAuthorityClient:
    """Send same-day receipt summaries to the tax authority from one sender.

    ``timeout_seconds`` bounds each exchange; ``connect_attempts``/``connect_wait_seconds``
    shape the retries of a connection that could not be opened.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: TaxAuthorityEndpoint,
        timeout_seconds: float,
        *,
        connect_attempts: int = 3,
        connect_wait_seconds: float = 0.5,
    ) -> None:
        self._session = session
        self._endpoint = endpoint
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._connect_attempts = connect_attempts
        self._connect_wait = connect_wait_seconds

    def summary_message(self, summary_xml: bytes, *, tax_code: str, uuid: UUID) -> Message:
        """The message that carries ``summary_xml`` (pure; raises ``invalid_message`` or
        ``too_large``). Keep it to send it again unchanged after ``outcome_unknown``."""
        return codec.build_summary_message(
            summary_xml,
            sender_code=self._endpoint.sender_code,
            receiver_code=self._endpoint.receiver_code,
            tax_code=tax_code,
            uuid=uuid,
        )

    def notice_message(self, notice_xml: bytes, *, tax_code: str, uuid: UUID) -> Message:
        """The message that carries a signed 04/SS-CTĐT notice (pure; like
        :meth:`summary_message`)."""
        return codec.build_message(
            notice_xml,
            "error_notice",
            sender_code=self._endpoint.sender_code,
            receiver_code=self._endpoint.receiver_code,
            tax_code=tax_code,
            uuid=uuid,
        )

    async def send_summary(self, summary_xml: bytes, *, tax_code: str, uuid: UUID) -> Answer:
        """Send one signed 01/TH-BLĐT summary of the agency ``tax_code`` under the message id
        made from ``uuid``. Returns the tax authority's verdict; raises ``invalid_message``,
        ``too_large`` (nothing sent), ``unavailable``, ``outcome_unknown``, ``malformed``."""
        return await self.send(self.summary_message(summary_xml, tax_code=tax_code, uuid=uuid))

    async def send(self, message: Message) -> Answer:
        """Send a built message (first time, or again after ``outcome_unknown``)."""
        if len(message.body) > codec.MAX_MESSAGE_BYTES:
            raise TaxAuthorityError(TOO_LARGE, "the message is over the 2 MB limit")
        try:
            async for attempt in connect_retry_policy(self._connect_attempts, self._connect_wait):
                with attempt:
                    status, body = await self._exchange(message.body)
        except aiohttp.ClientConnectorError as exc:
            # DNS, refused connection, TLS handshake: the message never left.
            raise TaxAuthorityError(UNAVAILABLE, f"cannot reach the tax authority: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TaxAuthorityError(OUTCOME_UNKNOWN, f"no answer: {type(exc).__name__}") from exc
        if status == 413:
            raise TaxAuthorityError(TOO_LARGE, "the tax authority refused the size", status)
        if status == 503:
            raise TaxAuthorityError(UNAVAILABLE, "the tax authority is unavailable", status)
        if status >= 500:
            message_text = f"the tax authority answered HTTP {status}"
            raise TaxAuthorityError(OUTCOME_UNKNOWN, message_text, status)
        return codec.parse_answer(status, body, message.message_id)

    async def _exchange(self, body: bytes) -> tuple[int, bytes]:
        async with self._session.post(
            self._endpoint.url,
            data=body,
            headers={"Content-Type": CONTENT_TYPE},
            timeout=self._timeout,
        ) as response:
            return response.status, await response.read()
