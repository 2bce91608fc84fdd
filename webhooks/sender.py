"""One delivery attempt of a signed webhook: POST the body, classify what came back.

The outcome follows the Standard Webhooks advice: any ``2xx`` is delivered; ``410 Gone`` means
the receiver wants no more messages, so the endpoint should be disabled; everything else
(other statuses, redirects, timeouts, refused or reset connections) is a failure to retry on
the schedule. Redirects are never followed: the target could be an address the URL policy
forbids, and the spec asks the owner to register the new URL instead.

This module only moves bytes; it does not sign, schedule, or check the URL policy. To stop DNS
rebinding the caller's session should use a connector whose resolver refuses the addresses
``url_policy.address_problem`` names.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

MAX_RESPONSE_BYTES = 64 * 1024
"""How much of the response body is read (and then discarded); the status decides the outcome."""


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt produced: a status, or an ``error`` when no status arrived."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410

    @property
    def retryable(self) -> bool:
        return not self.delivered and not self.gone


async def send(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_seconds: float,
) -> AttemptOutcome:
    """POST ``body`` once; ``timeout_seconds`` bounds the whole attempt, connecting included.

    Never raises for what the network or the receiver does; programming errors (a bad header
    value, a closed session) still raise.
    """
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    try:
        async with session.post(
            url,
            data=body,
            headers=dict(headers),
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        ) as response:
            status = response.status
            await _drain(response)
    except TimeoutError:
        error = "timeout"
    except aiohttp.ClientError as exc:
        error = f"connection_error: {type(exc).__name__}: {exc}"
    return AttemptOutcome(
        status_code=status, error=error, duration_ms=_elapsed_ms(started, time.monotonic())
    )


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read at most ``MAX_RESPONSE_BYTES`` so that a short answer leaves the connection
    reusable, while a huge or endless one cannot hold the worker; the rest is dropped with the
    connection. Once the status is known a failure here no longer matters: the receiver has
    answered."""
    remaining = MAX_RESPONSE_BYTES
    try:
        while remaining > 0:
            chunk = await response.content.read(remaining)
            if not chunk:
                return
            remaining -= len(chunk)
    except (TimeoutError, aiohttp.ClientError):
        return


def _elapsed_ms(started: float, finished: float) -> int:
    return max(0, round((finished - started) * 1000))
