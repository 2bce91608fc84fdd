"""``Idempotency-Key`` for POSTs that create something.

The stored response is written in the same transaction as what the request created, so a
retried request either finds the committed response or creates everything afresh. Two
concurrent requests with one key: the second one's insert of the key conflicts (PostgreSQL
waits for the first to commit), its transaction rolls back, and it returns the stored response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.db.schema import idempotency_keys
from gateway.core.errors import FieldError, IdempotencyKeyReused, ValidationFailed
from gateway.core.ids import Clock

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    replayed: bool


def request_fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise ValidationFailed(
            [FieldError("Idempotency-Key", "required", "this POST needs an Idempotency-Key header")]
        )
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            [FieldError("Idempotency-Key", "invalid", "1–255 printable characters")]
        )
    return key


#: Built once, executed with parameters: every POST that creates something runs both, and a
#: statement built per request costs its construction and cache key each time.
_STORED = select(idempotency_keys).where(
    idempotency_keys.c.client_id == bindparam("client_id"),
    idempotency_keys.c.key == bindparam("key"),
)
_STORE = insert(idempotency_keys)


async def _stored(
    conn: AsyncConnection, client_id: str, key: str, fingerprint: str
) -> StoredResponse | None:
    row = (await conn.execute(_STORED, {"client_id": client_id, "key": key})).first()
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    return StoredResponse(row.status_code, json.loads(row.response_body), replayed=True)


async def run_once(
    db: Database,
    clock: Clock,
    *,
    client_id: str,
    key: str,
    fingerprint: str,
    create: Callable[[AsyncConnection], Awaitable[tuple[int, dict[str, Any]]]],
) -> StoredResponse:
    """Run ``create`` at most once per ``(client_id, key)`` and return its response.

    The key is looked up inside the write transaction only: a separate read first would cost
    every new request a checkout and a transaction to make rare replays a little cheaper."""
    try:
        async with db.write() as conn:
            found = await _stored(conn, client_id, key, fingerprint)
            if found is not None:
                return found
            status, body = await create(conn)
            await conn.execute(
                _STORE,
                {
                    "client_id": client_id,
                    "key": key,
                    "request_hash": fingerprint,
                    "status_code": status,
                    "response_body": json.dumps(body, ensure_ascii=False),
                    "created_at": clock(),
                },
            )
            return StoredResponse(status, body, replayed=False)
    except IntegrityError:
        async with db.read() as conn:
            found = await _stored(conn, client_id, key, fingerprint)
        if found is None:
            raise
        return found
