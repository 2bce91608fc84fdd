"""When to try a failed webhook delivery again.

Attempt 1 goes out at once. After attempt ``n`` fails, attempt ``n + 1`` waits
``RETRY_DELAYS[n - 1]`` seconds, scaled by a random factor between 0.8 and 1.2 so that
endpoints which failed together (one outage) are not all retried in the same second. After the
last delay the message is given up (and the endpoint's owner told by other means).

The schedule is long on purpose: even if every jitter draw is the most negative one, the retries
span more than ``MIN_RETRY_SPAN_SECONDS`` (three days), so an endpoint that is down over a long
weekend still gets its messages. Pure: the caller draws ``jitter`` from ``random.random()``.
"""

from __future__ import annotations

import math

MINUTE = 60
HOUR = 60 * MINUTE

RETRY_DELAYS: tuple[int, ...] = (
    5,
    30,
    2 * MINUTE,
    10 * MINUTE,
    30 * MINUTE,
    1 * HOUR,
    2 * HOUR,
    4 * HOUR,
    8 * HOUR,
    *(12 * HOUR,) * 7,
)
"""Base delay in seconds before attempt ``n + 1``, at index ``n - 1``; non-decreasing."""

MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
"""The first attempt plus one per retry delay."""

JITTER_FRACTION = 0.2
MIN_RETRY_SPAN_SECONDS = 72 * HOUR


def next_attempt_delay(attempt_number: int, jitter: float) -> float | None:
    """Seconds to wait after attempt ``attempt_number`` (1 = the first) failed, or None when
    that was the last attempt. ``jitter`` in [0, 1) maps linearly to a factor from 0.8 to 1.2."""
    if isinstance(attempt_number, bool) or not isinstance(attempt_number, int):
        raise TypeError("attempt_number must be an int")
    if attempt_number < 1:
        raise ValueError("attempt_number counts from 1")
    if not (math.isfinite(jitter) and 0.0 <= jitter < 1.0):
        raise ValueError("jitter must be in [0, 1), as random.random() returns")
    if attempt_number > len(RETRY_DELAYS):
        return None
    factor = 1.0 + JITTER_FRACTION * (2.0 * jitter - 1.0)
    return RETRY_DELAYS[attempt_number - 1] * factor
