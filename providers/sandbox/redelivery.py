"""How the imitated providers redeliver: a message that was not acknowledged is sent again
at a fixed interval, a bounded number of times, then given up (as banks, VNPAY, POS clouds
and carriers do)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, retry_if_result, stop_after_attempt, wait_fixed


async def redeliver(send: Callable[[], Awaitable[bool]], *, tries: int, interval: float) -> bool:
    """Call ``send`` until it returns True, at most ``tries`` times, ``interval`` seconds
    apart; return whether it was acknowledged."""
    if tries < 1:
        return False
    retrying = AsyncRetrying(
        stop=stop_after_attempt(tries),
        wait=wait_fixed(interval),
        retry=retry_if_result(lambda acknowledged: not acknowledged),
        retry_error_callback=lambda _state: False,
    )

    async def attempt() -> bool:  # a coroutine function, so that tenacity awaits each try
        return await send()

    return bool(await retrying(attempt))
