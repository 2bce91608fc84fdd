"""A secret a connector holds (a hash key, a password): its ``repr`` and ``str`` are redacted,
so it cannot leak into a log line or a traceback; the value is read on purpose only."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Secret:
    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def encode(self) -> bytes:
        return self._value.encode()

    def __str__(self) -> str:
        return "**********"

    def __repr__(self) -> str:
        return "Secret('**********')"
