"""Calls to the DVCQG payment platform (INIT, QUERY, GET_BILL): the only module that awaits.

Retry policy, one for the provider:

* QUERY and GET_BILL are reads: retried on connection errors, timeouts, HTTP 5xx and a
  QUERY not processed (``MaLoi`` ≠ ``00``), at most 3 attempts, exponential wait from
  ``retry_wait_seconds``. Spent retries raise the last :class:`DvcqgError` (``retryable``).
* INIT is sent once. It moves no money (the citizen pays on the platform's page, reached only
  through the ``UrlThanhToan`` it answers), so a lost answer fails the attempt and the
  citizen starts another, with a new ``MaThamChieu``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from providers.common import json_text

from .codec import init_request, parse_bill, parse_init_response, parse_query_response
from .codec import query_request as build_query
from .errors import MALFORMED, PROVIDER_UNAVAILABLE, DvcqgError
from .model import Bill, InitResult, QueryResult
from .settings import DvcqgPartner

READ_ATTEMPTS = 3
T = TypeVar("T")


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, DvcqgError) and exc.retryable


class DvcqgClient:
    """The platform's API for one partner, over a caller-owned aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        partner: DvcqgPartner,
        timeout_seconds: float = 10,
        *,
        retry_wait_seconds: float = 0.25,
    ) -> None:
        self._session = session
        self._partner = partner
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._retry_wait = retry_wait_seconds

    @property
    def partner(self) -> DvcqgPartner:
        return self._partner

    async def init(
        self, *, reference: str, bill: Bill, transaction_time: datetime, ip: str
    ) -> InitResult:
        """Create the payment on the platform; the answer says where to send the citizen."""
        body = init_request(
            self._partner, reference=reference, bill=bill, transaction_time=transaction_time, ip=ip
        )
        _, content = await self._post(self._partner.init_url, body)
        return parse_init_response(_json(content))

    async def query(self, *, reference: str, transaction_time: str) -> QueryResult:
        """The transaction's state (``transaction_time``: INIT's ``ThoiGianGD``)."""
        body = build_query(self._partner, reference=reference, transaction_time=transaction_time)

        async def once() -> QueryResult:
            _, content = await self._post(self._partner.query_url, body)
            return parse_query_response(self._partner.secret_key.reveal(), _json(content))

        return await self._read(once)

    async def get_bill(self, *, reference: str, transaction_time: str) -> bytes:
        """The platform's receipt for a paid transaction, as PDF bytes."""
        body = build_query(
            self._partner, reference=reference, transaction_time=transaction_time, kind="GET_BILL"
        )

        async def once() -> bytes:
            content_type, content = await self._post(self._partner.bill_url, body)
            return parse_bill(content_type, content)

        return await self._read(once)

    async def _read(self, once: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(READ_ATTEMPTS),
            wait=wait_exponential(multiplier=self._retry_wait, max=2),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await once()
        except RetryError as spent:  # pragma: no cover - reraise=True re-raises the cause
            raise DvcqgError(PROVIDER_UNAVAILABLE, str(spent)) from spent
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, url: str, body: dict[str, Any]) -> tuple[str, bytes]:
        try:
            async with self._session.post(url, json=body, timeout=self._timeout) as response:
                content = await response.read()
                status, content_type = response.status, response.content_type
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise DvcqgError(PROVIDER_UNAVAILABLE, f"{type(exc).__name__}: {exc}") from exc
        if status >= 500:
            raise DvcqgError(PROVIDER_UNAVAILABLE, f"HTTP {status}", http_status=status)
        if status != 200:
            raise DvcqgError(MALFORMED, f"the platform answered HTTP {status}", http_status=status)
        return content_type, content


def _json(content: bytes) -> Any:
    try:
        return json_text.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DvcqgError(MALFORMED, "the platform's answer is not JSON") from None
