"""A DNS resolver for outbound webhook connections that refuses non-public addresses.

The URL policy checks an endpoint when it is registered; a host can change its DNS answer
afterwards (rebinding). Connecting through this resolver applies the same rule at connect
time, so a delivery can never reach loopback, private or metadata addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from webhooks.url_policy import address_problem


class PublicOnlyResolver(AbstractResolver):
    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [
            result
            for result in results
            if address_problem(ipaddress.ip_address(result["host"])) is None
        ]
        if not allowed:
            raise OSError(f"{host} resolves only to addresses webhooks may not reach")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def connector_options(allow_private: bool) -> dict[str, Any]:
    """Keyword arguments for ``aiohttp.TCPConnector``."""
    return {} if allow_private else {"resolver": PublicOnlyResolver()}
