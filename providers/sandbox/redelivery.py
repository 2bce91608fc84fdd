"""How the imitated providers redeliver: a message that was not acknowledged is sent again
at a fixed interval, a bounded number of times, then given up (as banks, VNPAY, POS clouds
and carriers do), as tasks a sandbox owns and waits for or cancels."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

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


class Background:
    """A sandbox's background work (redeliveries, scripted cardholders and postmen)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait(self) -> None:
        """Wait until nothing is left, including work started meanwhile (a cardholder who
        completes a sale may start a redelivery)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
