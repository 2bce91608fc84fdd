"""The POS cloud client: the only module of this package that awaits the network.

Retry policy: only :meth:`PosClient.get_sale` is retried (connection errors, timeouts, 5xx),
because a read is safe to repeat. A push or cancel is sent once: when its answer is lost or
cannot be trusted the client raises ``PosError("outcome_unknown")`` and the caller queries;
it never resubmits on a guess. Every answer is verified with the merchant secret before it is
believed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from . import codec
from .codec import CancelResult, PushResult, Sale, SaleResult
from .errors import OUTCOME_UNKNOWN, UNAVAILABLE, UNTRUSTED_CODES, PosError
from .settings import PosMerchant


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Transient(Exception):
    """A read that may succeed if repeated: connection error, timeout or 5xx."""


def query_retry_policy(attempts: int, wait_seconds: float) -> AsyncRetrying:
    """The one retry policy of this provider, for queries only."""
    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=wait_seconds, max=wait_seconds * 8),
        retry=retry_if_exception_type(_Transient),
        reraise=True,
    )


class PosClient:
    """Push, cancel and query card-present sales on registered terminals.

    ``timeout_seconds`` bounds each HTTP exchange. ``clock`` dates our signatures and checks
    the cloud's; ``query_attempts``/``query_wait_seconds`` shape the query retries.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        merchant: PosMerchant,
        timeout_seconds: float,
        *,
        clock: Callable[[], datetime] = _utc_now,
        tolerance_seconds: int = codec.DEFAULT_TOLERANCE_SECONDS,
        query_attempts: int = 3,
        query_wait_seconds: float = 0.5,
    ) -> None:
        self._session = session
        self._merchant = merchant
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._clock = clock
        self._tolerance = tolerance_seconds
        self._query_attempts = query_attempts
        self._query_wait = query_wait_seconds

    async def push_sale(self, sale: Sale) -> PushResult:
        """Show ``sale`` on its terminal. A busy terminal is ``PushResult(False,
        "terminal_busy")``. Raises ``outcome_unknown`` (query next: the sale may be running),
        ``unavailable`` (nothing was sent), ``rejected`` or ``invalid_field``."""
        request = codec.build_sale(self._merchant.merchant_id, sale)
        status, body = await self._send_once(request)
        with _untrusted_means_unknown():
            return codec.parse_push_response(status, body, sale.sale_id)

    async def cancel_sale(self, terminal_id: str, sale_id: str) -> CancelResult:
        """Ask the terminal to stop waiting for a card. Acceptance is not the outcome: the
        callback or :meth:`get_sale` tells whether the sale ended cancelled or approved.
        Raises like :meth:`push_sale`."""
        request = codec.build_cancel(self._merchant.merchant_id, terminal_id, sale_id)
        status, body = await self._send_once(request)
        with _untrusted_means_unknown():
            return codec.parse_cancel_response(status, body, sale_id)

    async def get_sale(self, terminal_id: str, sale_id: str) -> SaleResult | None:
        """The sale as the cloud knows it now; ``None`` if the cloud never received it.
        Raises ``unavailable`` after the retries, a verification code if the answer cannot
        be trusted, or ``rejected``."""
        request = codec.build_query(terminal_id, sale_id)
        try:
            async for attempt in query_retry_policy(self._query_attempts, self._query_wait):
                with attempt:
                    status, body, headers = await self._read(request)
        except _Transient as exc:
            raise PosError(UNAVAILABLE, f"query failed after retries: {exc}") from exc
        self._verify(headers, body)
        return codec.parse_query_response(status, body, sale_id)

    async def _read(self, request: codec.WireRequest) -> tuple[int, bytes, Mapping[str, str]]:
        try:
            status, body, headers = await self._exchange(request)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Transient(type(exc).__name__) from exc
        if status >= 500:
            raise _Transient(f"HTTP {status}")
        return status, body, headers

    async def _send_once(self, request: codec.WireRequest) -> tuple[int, bytes]:
        """Send a money-moving request exactly once; every doubt becomes outcome_unknown."""
        try:
            status, body, headers = await self._exchange(request)
        except aiohttp.ClientConnectorError as exc:
            # DNS, refused connection, TLS handshake: the request never left.
            raise PosError(UNAVAILABLE, f"cannot reach the POS cloud: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PosError(OUTCOME_UNKNOWN, f"no answer: {type(exc).__name__}") from exc
        if status >= 500:
            raise PosError(OUTCOME_UNKNOWN, f"the cloud answered HTTP {status}", status)
        with _untrusted_means_unknown():
            self._verify(headers, body)
        return status, body

    async def _exchange(self, request: codec.WireRequest) -> tuple[int, bytes, Mapping[str, str]]:
        headers = codec.signed_headers(self._merchant.secret.encode(), self._now(), request.body)
        async with self._session.request(
            request.method,
            self._merchant.base_url + request.path,
            data=request.body or None,
            headers=headers,
            timeout=self._timeout,
        ) as response:
            return response.status, await response.read(), response.headers

    def _verify(self, headers: Mapping[str, str], body: bytes) -> None:
        codec.verify(
            self._merchant.secret.encode(),
            timestamp=headers.get(codec.TIMESTAMP_HEADER),
            signature=headers.get(codec.SIGNATURE_HEADER),
            body=body,
            now=self._now(),
            tolerance_seconds=self._tolerance,
        )

    def _now(self) -> int:
        return int(self._clock().timestamp())


@contextmanager
def _untrusted_means_unknown() -> Iterator[None]:
    """Turn an answer we cannot trust (bad signature, odd shape) into ``outcome_unknown``:
    after a push or cancel, a reply we cannot believe says nothing about what happened."""
    try:
        yield
    except PosError as error:
        if error.code not in UNTRUSTED_CODES:
            raise
        message = f"answer not trusted: {error.code}"
        raise PosError(OUTCOME_UNKNOWN, message, error.http_status) from error
