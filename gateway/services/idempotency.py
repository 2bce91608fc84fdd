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
from types import SimpleNamespace
from typing import Any

from sqlalchemy import CTE, Insert, Select, bindparam, insert, literal_column, select
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
    #: ``body`` as the JSON text the creation rendered for its answer and stored under the key,
    #: when it rendered it before storing (a payment's creation on PostgreSQL); else ``None``
    #: and the answer renders ``body`` (:func:`gateway.http.idempotent.answer`).
    text: str | None = None


@dataclass(frozen=True)
class Keyed:
    """A request that creates something, under its client's ``Idempotency-Key``."""

    client_id: str
    key: str
    fingerprint: str


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
    return None if row is None else _replay(row, fingerprint)


def _replay(row: Any, fingerprint: str) -> StoredResponse:
    """The stored response of a key (a row of ``idempotency_keys``), if it was stored for the
    same request; another request with the key is :class:`IdempotencyKeyReused`."""
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    return StoredResponse(row.status_code, json.loads(row.response_body), replayed=True)


def _record(
    client_id: str, key: str, fingerprint: str, status: int, body: Any, now: Any
) -> dict[str, Any]:
    """The row that stores a response under its key."""
    return {
        "client_id": client_id,
        "key": key,
        "request_hash": fingerprint,
        "status_code": status,
        "response_body": json.dumps(body, ensure_ascii=False),
        "created_at": now,
    }


# -- the same, inside one statement (PostgreSQL) ------------------------------------------------
#
# A creation that is a single statement (``WITH … INSERT … RETURNING``, one round trip and its
# own transaction) looks its key up and stores its response in that statement: FOUND is the
# stored row, if any (the statement then creates nothing: ``stored_none`` guards its first
# insert); ``store_after(created)`` stores the response once per row ``created`` returns (none
# when nothing was created). Two such statements with one key race as two transactions do:
# the second one's insert of the key waits for the first and fails (IntegrityError, see
# :func:`after_conflict`), so everything it wrote is undone.

FOUND: CTE = (
    select(
        idempotency_keys.c.request_hash,
        idempotency_keys.c.status_code,
        idempotency_keys.c.response_body,
    )
    .where(
        idempotency_keys.c.client_id == bindparam("key_client_id"),
        idempotency_keys.c.key == bindparam("key_key"),
    )
    .cte("found")
)


def stored_none() -> Any:
    """The condition "no response is stored under the key" of the one statement."""
    return ~select(literal_column("1")).select_from(FOUND).exists()


def store_after(created: CTE, status: int, created_at: Any) -> Insert:
    """Store the response (status ``status``) for each row of ``created``; ``created_at``: an
    expression of the time (the creation's own parameter)."""
    row: Select[Any] = select(
        bindparam("key_client_id", type_=idempotency_keys.c.client_id.type),
        bindparam("key_key", type_=idempotency_keys.c.key.type),
        bindparam("key_request_hash", type_=idempotency_keys.c.request_hash.type),
        literal_column(str(int(status)), idempotency_keys.c.status_code.type),
        bindparam("key_response_body", type_=idempotency_keys.c.response_body.type),
        created_at,
    ).select_from(created)
    return insert(idempotency_keys).from_select(
        ["client_id", "key", "request_hash", "status_code", "response_body", "created_at"], row
    )


def key_params(keyed: Keyed, text: str) -> dict[str, Any]:
    """The one statement's parameters of the key: who, which key, and the response to store
    (``text``: its body as JSON)."""
    return {
        "key_client_id": keyed.client_id,
        "key_key": keyed.key,
        "key_request_hash": keyed.fingerprint,
        "key_response_body": text,
    }


def found_in(row: Any, keyed: Keyed) -> StoredResponse | None:
    """What the one statement found stored under the key (its ``found_*`` columns), if any."""
    if row.found_request_hash is None:
        return None
    stored = SimpleNamespace(
        request_hash=row.found_request_hash,
        status_code=row.found_status_code,
        response_body=row.found_response_body,
    )
    return _replay(stored, keyed.fingerprint)


def found_columns() -> list[Any]:
    """The one statement's result columns of what is stored under the key (NULL if nothing)."""
    return [
        select(FOUND.c[name]).scalar_subquery().label(f"found_{name}")
        for name in ("request_hash", "status_code", "response_body")
    ]


async def lookup(db: Database, keyed: Keyed) -> StoredResponse | None:
    """The response stored under the key, if any (409 if it was for another request)."""
    async with db.read() as conn:
        return await _stored(conn, keyed.client_id, keyed.key, keyed.fingerprint)


async def after_conflict(db: Database, keyed: Keyed, error: IntegrityError) -> StoredResponse:
    """A creation failed on a unique constraint: if a concurrent request with the key stored
    its response meanwhile, that response; otherwise the error stands."""
    found = await lookup(db, keyed)
    if found is None:
        raise error
    return found


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
            await conn.execute(_STORE, _record(client_id, key, fingerprint, status, body, clock()))
            return StoredResponse(status, body, replayed=False)
    except IntegrityError as exc:
        return await after_conflict(db, Keyed(client_id, key, fingerprint), exc)
