"""Identifiers and the clock, injected so tests can fix them."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]

#: RFC 4648 base-32, lower case; every pair of symbols (10 bits) as one string.
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_PAIRS = tuple(first + second for first in _BASE32 for second in _BASE32)
_SHIFTS = tuple(range(120, -1, -10))  # 13 pairs: 130 bits, most significant first


def system_clock() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """``prefix_`` + 26 lower-case base-32 characters (130 random bits): unguessable, so a
    payment id can appear in a public checkout URL."""
    return f"{prefix}_{id_token(secrets.token_bytes(17))}"


def id_token(random_bytes: bytes) -> str:
    """The 26 characters of an id from 17 random bytes: the first 26 of their base-32
    (``base64.b32encode``, lower case), i.e. their first 130 bits. Written out here because
    ``base64.b32encode`` is pure Python and cost a payment's creation two calls of 4.6 µs."""
    number = int.from_bytes(random_bytes[:17], "big") >> 6
    return "".join([_PAIRS[(number >> shift) & 1023] for shift in _SHIFTS])
