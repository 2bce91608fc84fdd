"""The one way a POST that creates something runs: at most once per ``Idempotency-Key``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.http.responses import respond_text
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
    keyed = keyed_request(request, who, data)

    async def created(conn: AsyncConnection) -> tuple[int, dict[str, Any]]:
        return 201, await create(conn)

    return await idempotency.run_once(
        request.app[DATABASE],
        request.app[CLOCK],
        client_id=keyed.client_id,
        key=keyed.key,
        fingerprint=keyed.fingerprint,
        create=created,
    )


def keyed_request(request: web.Request, who: Principal, data: Any) -> idempotency.Keyed:
    """The request under its ``Idempotency-Key`` (checked) and its fingerprint (method, path,
    body), for a service that runs its creation once per key itself."""
    return idempotency.Keyed(
        client_id=who.client_id,
        key=idempotency.check_key(request.headers.get("Idempotency-Key")),
        fingerprint=idempotency.request_fingerprint(request.method, request.path, data),
    )


def replay_headers(stored: idempotency.StoredResponse) -> dict[str, str] | None:
    return {"Idempotent-Replayed": "true"} if stored.replayed else None


def answer(
    stored: idempotency.StoredResponse, render: Callable[[dict[str, Any]], str]
) -> web.Response:
    """The answer of a creation run once: its body as ``render`` writes it — the text the
    creation already rendered and stored (:attr:`~idempotency.StoredResponse.text`), else
    ``render(body)`` (a replay, or a creation that did not render it) — with its status and,
    on a replay, ``Idempotent-Replayed``."""
    text = stored.text if stored.text is not None else render(stored.body)
    return respond_text(text, status=stored.status, headers=replay_headers(stored))
