"""Identifiers and the clock, injected so tests can fix them."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """``prefix_`` + 26 lower-case base-32 characters (130 random bits): unguessable, so a
    payment id can appear in a public checkout URL."""
    token = base64.b32encode(secrets.token_bytes(17)).decode().rstrip("=").lower()[:26]
    return f"{prefix}_{token}"
