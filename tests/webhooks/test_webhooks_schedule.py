"""Retry back-off: long enough to outlast a three-day outage, jittered within ±20 %."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhooks.schedule import (
    MAX_ATTEMPTS,
    MIN_RETRY_SPAN_SECONDS,
    RETRY_DELAYS,
    next_attempt_delay,
)

LARGEST_JITTER = math.nextafter(1.0, 0.0)
jitters = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
retry_numbers = st.integers(min_value=1, max_value=len(RETRY_DELAYS))


def delays(jitter: float) -> list[float]:
    found = []
    attempt = 1
    while (delay := next_attempt_delay(attempt, jitter)) is not None:
        found.append(delay)
        attempt += 1
    return found


def test_retries_span_three_days_even_when_every_jitter_draw_is_the_most_negative() -> None:
    assert MIN_RETRY_SPAN_SECONDS == 72 * 3600
    assert sum(delays(0.0)) >= MIN_RETRY_SPAN_SECONDS


def test_base_delays_start_within_seconds_and_never_shrink() -> None:
    assert RETRY_DELAYS[0] <= 10
    assert all(a <= b for a, b in itertools.pairwise(RETRY_DELAYS))


def test_there_is_one_delay_per_retry_and_none_after_the_last_attempt() -> None:
    assert len(delays(0.5)) == len(RETRY_DELAYS) == MAX_ATTEMPTS - 1
    assert next_attempt_delay(MAX_ATTEMPTS - 1, 0.5) == RETRY_DELAYS[-1]
    assert next_attempt_delay(MAX_ATTEMPTS, 0.5) is None
    assert next_attempt_delay(MAX_ATTEMPTS + 100, 0.5) is None


def test_middle_jitter_gives_the_base_delay_and_the_extremes_twenty_percent_either_way() -> None:
    assert next_attempt_delay(1, 0.5) == RETRY_DELAYS[0]
    assert next_attempt_delay(3, 0.0) == pytest.approx(RETRY_DELAYS[2] * 0.8)
    assert next_attempt_delay(3, LARGEST_JITTER) == pytest.approx(RETRY_DELAYS[2] * 1.2)


@pytest.mark.parametrize("jitter", [-0.1, 1.0, 1.5, math.nan, math.inf])
def test_jitter_outside_the_unit_interval_is_refused(jitter: float) -> None:
    with pytest.raises(ValueError):
        next_attempt_delay(1, jitter)


@pytest.mark.parametrize("attempt_number", [0, -1])
def test_attempts_count_from_one(attempt_number: int) -> None:
    with pytest.raises(ValueError):
        next_attempt_delay(attempt_number, 0.5)


@given(attempt_number=retry_numbers, jitter=jitters)
def test_every_delay_stays_within_twenty_percent_of_its_base(
    attempt_number: int, jitter: float
) -> None:
    delay = next_attempt_delay(attempt_number, jitter)
    base = RETRY_DELAYS[attempt_number - 1]
    assert delay is not None
    assert base * 0.8 <= delay <= base * 1.2  # rounding can reach the upper bound itself


@given(attempt_number=retry_numbers, low=jitters, high=jitters)
def test_a_larger_jitter_never_gives_a_shorter_delay(
    attempt_number: int, low: float, high: float
) -> None:
    low, high = sorted((low, high))
    shorter = next_attempt_delay(attempt_number, low)
    longer = next_attempt_delay(attempt_number, high)
    assert shorter is not None and longer is not None
    assert shorter <= longer


@given(jitter=jitters)
def test_the_whole_schedule_spans_three_days_for_any_single_jitter(jitter: float) -> None:
    assert sum(delays(jitter)) >= MIN_RETRY_SPAN_SECONDS
