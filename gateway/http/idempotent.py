"""The one way a POST that creates something runs: at most once per ``Idempotency-Key``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.keys import CLOCK, DATABASE
from gateway.services import idempotency
from gateway.services.clients import Principal


async def create_once(
    request: web.Request,
    who: Principal,
    data: Any,
    create: Callable[[AsyncConnection], Awaitable[dict[str, Any]]],
) -> idempotency.StoredResponse:
    """Run ``create`` in a write transaction with the request's key (201), or answer the
    response stored for the same key and body; another body with the key is a 409."""
    key = idempotency.check_key(request.headers.get("Idempotency-Key"))

    async def created(conn: AsyncConnection) -> tuple[int, dict[str, Any]]:
        return 201, await create(conn)

    return await idempotency.run_once(
        request.app[DATABASE],
        request.app[CLOCK],
        client_id=who.client_id,
        key=key,
        fingerprint=idempotency.request_fingerprint(request.method, request.path, data),
        create=created,
    )


def replay_headers(stored: idempotency.StoredResponse) -> dict[str, str] | None:
    return {"Idempotent-Replayed": "true"} if stored.replayed else None
