"""A secret a connector holds (a hash key, a password): its ``repr`` and ``str`` are redacted,
so it cannot leak into a log line or a traceback; the value is read on purpose only, with
:meth:`Secret.reveal` (text) or :meth:`Secret.encode` (bytes, for an HMAC key)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Secret:
    _value: str = field(repr=False)

    @classmethod
    def of(cls, value: Secret | str | bytes) -> Secret:
        """``value`` as a Secret (bytes are UTF-8), for a connector's settings to accept
        the plain value its caller holds."""
        if isinstance(value, Secret):
            return value
        return cls(value.decode() if isinstance(value, bytes) else value)

    def reveal(self) -> str:
        return self._value

    def encode(self) -> bytes:
        return self._value.encode()

    def __str__(self) -> str:
        return "**********"

    def __repr__(self) -> str:
        return "Secret('**********')"
