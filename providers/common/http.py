"""The one way a payment connector's client talks HTTP to its provider: post a request and
tell a failure worth retrying (no answer, a timeout, HTTP 5xx: :class:`Transient`) from an
answer; and retry a *read* a few times with an exponential wait (tenacity).

A connector never retries what moves money (create, refund): it sends those once and maps a
:class:`Transient` to its own "outcome unknown" error. Its errors stay its own: these helpers
raise only :class:`Transient` and :class:`Spent`, and leave the HTTP status to the caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

T = TypeVar("T")


class Transient(Exception):
    """No answer, or a 5xx: the provider may not have acted; worth retrying for a read."""


class Spent(Exception):
    """Every try of a read failed transiently; ``__cause__`` is the last failure."""


async def post(
    session: aiohttp.ClientSession,
    url: str,
    time_limit: aiohttp.ClientTimeout,
    *,
    json: Any = None,
    data: Any = None,
) -> tuple[int, bytes]:
    """POST ``json`` (or form ``data``) to ``url``: the status and the body of any answer
    below 500, else :class:`Transient`."""
    try:
        async with session.post(url, json=json, data=data, timeout=time_limit) as response:
            if response.status >= 500:
                raise Transient(f"HTTP {response.status}")
            return response.status, await response.read()
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
        raise Transient(f"{type(exc).__name__}: {exc}") from exc


async def read_with_retries(
    read: Callable[[], Awaitable[T]], *, attempts: int, wait_seconds: float
) -> T:
    """``read()`` again after a :class:`Transient` failure, at most ``attempts`` times in all,
    waiting exponentially from ``wait_seconds`` (at most 2 s); :class:`Spent` when none
    answered. ``read`` builds its request anew each time (providers refuse a repeated id)."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=wait_seconds, max=2),
        retry=retry_if_exception_type(Transient),
    )
    try:
        async for attempt in retrying:
            with attempt:
                return await read()
    except RetryError as spent:
        cause = spent.last_attempt.exception()
        raise Spent(f"failed {attempts} times: {cause}") from cause
    raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover
