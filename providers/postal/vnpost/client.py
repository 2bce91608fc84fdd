"""The VNPost client: the only module of this package that awaits the network.

Authentication: a token bought with username, password and customer code, sent in a
``token`` header, renewed shortly before its ``expires_in`` and, when the carrier answers 401
anyway, renewed once and the call repeated once (a 401 means the carrier did nothing).

Retry policy: only reads (get, history, look-up by reference) are retried, on connection
errors, timeouts and 5xx. A create or cancel is sent once: a lost or 5xx answer raises
``VnpostError("outcome_unknown")`` and the caller looks the reference up
(:meth:`VnpostClient.find_by_reference`) before any retry, never resubmitting on a guess.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from . import codec
from .codec import CarrierEvent, CreatedOrder, OrderRequest, OrderState
from .errors import (
    DUPLICATE_REFERENCE,
    NOT_FOUND,
    OUTCOME_UNKNOWN,
    UNAUTHORIZED,
    UNAVAILABLE,
    VnpostError,
)
from .settings import VnpostAccount

TOKEN_MARGIN = timedelta(seconds=30)  # renew this long before the carrier's expiry


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Transient(Exception):
    """A read that may succeed if repeated: connection error, timeout or 5xx."""


def read_retry_policy(attempts: int, wait_seconds: float) -> AsyncRetrying:
    """The one retry policy of this provider, for reads only."""
    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=wait_seconds, max=wait_seconds * 8),
        retry=retry_if_exception_type(_Transient),
        reraise=True,
    )


class VnpostClient:
    """Create, cancel and follow postal orders on one VNPost partner account.

    ``timeout_seconds`` bounds each HTTP exchange; ``clock`` dates the token's expiry;
    ``read_attempts``/``read_wait_seconds`` shape the read retries.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        account: VnpostAccount,
        timeout_seconds: float,
        clock: Callable[[], datetime] = _utc_now,
        *,
        read_attempts: int = 3,
        read_wait_seconds: float = 0.5,
    ) -> None:
        self._session = session
        self._account = account
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._clock = clock
        self._read_attempts = read_attempts
        self._read_wait = read_wait_seconds
        self._token: str | None = None
        self._token_until = datetime.min.replace(tzinfo=UTC)
        self._token_lock = asyncio.Lock()

    async def create_order(self, order: OrderRequest) -> CreatedOrder:
        """Create one leg's order. When the carrier already holds an order under this client
        reference, that order is adopted. Raises ``outcome_unknown`` (look the reference up
        before retrying), ``unavailable``, ``rejected``, ``invalid_field``, ``malformed``."""
        request = codec.build_create_order(self._account.customer_code, order)
        status, body = await self._send_once(request)
        try:
            return codec.parse_created(status, body, order.client_reference)
        except VnpostError as error:
            if error.code != DUPLICATE_REFERENCE:
                raise
        existing = await self.find_by_reference(order.client_reference)
        if existing is None:
            message = "duplicate reference reported, but no order found under it"
            raise VnpostError(OUTCOME_UNKNOWN, message)
        return CreatedOrder(existing.item_code, order.client_reference)

    async def find_by_reference(self, client_reference: str) -> OrderState | None:
        """The order created under ``client_reference``, or ``None`` if there is none."""
        try:
            status, body = await self._read(codec.build_find_by_reference(client_reference))
            return codec.parse_order(status, body)
        except VnpostError as error:
            if error.code == NOT_FOUND:
                return None
            raise

    async def get_order(self, item_code: str) -> OrderState:
        status, body = await self._read(codec.build_get_order(item_code))
        return codec.parse_order(status, body)

    async def history(self, item_code: str) -> tuple[CarrierEvent, ...]:
        status, body = await self._read(codec.build_history(item_code))
        return codec.parse_history(status, body)

    async def cancel_order(self, item_code: str) -> OrderState:
        """Cancel an order not yet picked up. Raises ``rejected`` when the carrier will not
        cancel any more, ``not_found``, or ``outcome_unknown`` (read the order next)."""
        status, body = await self._send_once(codec.build_cancel(item_code))
        return codec.parse_order(status, body)

    # -- transport ------------------------------------------------------------------------

    async def _read(self, request: codec.WireRequest) -> tuple[int, bytes]:
        try:
            async for attempt in read_retry_policy(self._read_attempts, self._read_wait):
                with attempt:
                    try:
                        status, body = await self._authorised(request)
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        raise _Transient(type(exc).__name__) from exc
                    if status >= 500:
                        raise _Transient(f"HTTP {status}")
        except _Transient as exc:
            raise VnpostError(UNAVAILABLE, f"read failed after retries: {exc}") from exc
        return status, body

    async def _send_once(self, request: codec.WireRequest) -> tuple[int, bytes]:
        """Send a write exactly once; every doubt becomes outcome_unknown."""
        try:
            status, body = await self._authorised(request)
        except aiohttp.ClientConnectorError as exc:
            # DNS, refused connection, TLS handshake: the request never left.
            raise VnpostError(UNAVAILABLE, f"cannot reach VNPost: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise VnpostError(OUTCOME_UNKNOWN, f"no answer: {type(exc).__name__}") from exc
        if status >= 500:
            raise VnpostError(OUTCOME_UNKNOWN, f"VNPost answered HTTP {status}", status)
        return status, body

    async def _authorised(self, request: codec.WireRequest) -> tuple[int, bytes]:
        token = await self._current_token()
        status, body = await self._exchange(request, token)
        if status != 401:
            return status, body
        # The token expired early or was revoked: the carrier did nothing. Renew once.
        token = await self._current_token(refused=token)
        status, body = await self._exchange(request, token)
        if status == 401:
            raise VnpostError(UNAUTHORIZED, "token refused right after renewal", status)
        return status, body

    async def _current_token(self, refused: str | None = None) -> str:
        async with self._token_lock:
            # Another task may have renewed it while this one waited for the lock.
            token = self._token
            if token is not None and token != refused and self._clock() < self._token_until:
                return token
            account = self._account
            request = codec.build_token(
                account.username, account.password.reveal(), account.customer_code
            )
            try:
                status, body = await self._exchange(request, None)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise VnpostError(UNAVAILABLE, f"token: {type(exc).__name__}") from exc
            if status >= 500:
                raise VnpostError(UNAVAILABLE, f"token: VNPost answered HTTP {status}", status)
            token, expires_in = codec.parse_token(status, body)
            self._token = token
            self._token_until = self._clock() + timedelta(seconds=expires_in) - TOKEN_MARGIN
            return token

    async def _exchange(self, request: codec.WireRequest, token: str | None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers[codec.TOKEN_HEADER] = token
        url = self._account.base_url + self._account.path_prefix + request.path
        async with self._session.request(
            request.method,
            url,
            data=request.body or None,
            headers=headers,
            timeout=self._timeout,
        ) as response:
            return response.status, await response.read()
