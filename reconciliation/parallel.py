"""Independent steps of the matching engine run side by side.

Polars releases the GIL while it computes, so a step started here runs on the second core
while the caller's thread computes something that does not depend on it (bench/RECON.md,
fourth round: the engine's serial sections are what kept its wall time above 1.5× the join's).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def in_background(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
    """Start ``call(*args, **kwargs)`` on a thread of its own; ``.result()`` waits for it
    and raises what it raised. The thread ends with the call (nothing is left running)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recon-engine")
    try:
        return pool.submit(call, *args, **kwargs)
    finally:
        pool.shutdown(wait=False)
