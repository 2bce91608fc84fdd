"""The inbox: the one inbound pipeline for every provider message (bank credit notices,
VNPAY IPNs, POS results, VNPost pushes).

``verify → receive(store once → apply) → acknowledge``. Each provider module owns only the
first and last step — its verification and its reply format; :func:`receive` does the rest
the same way for all of them, in one transaction (retried on a deadlock by
:meth:`gateway.core.db.Database.transaction`, so a message is never applied twice):

1. the raw message is inserted into ``provider_events`` with ``INSERT … ON CONFLICT DO
   NOTHING`` on ``(provider, event_key)`` — the one duplicate strategy. If a row came back the
   message is new; otherwise it was received before (a concurrent first copy is waited for)
   and nothing is applied: the answer is made from the first copy's record, or — for a
   provider whose reply depends on what the message is about *now* — by the caller's
   ``replay``, in the same transaction;
2. the caller's ``apply`` runs in the same transaction and says what it did (:class:`Settled`);
3. the outcome — one vocabulary, :class:`EventOutcome` — is recorded on the inbox row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.db.schema import provider_events

R = TypeVar("R")


class EventOutcome(StrEnum):
    """What an inbound message did (``provider_events.outcome``), for every provider."""

    RECEIVED = "received"  # stored; applied in the same transaction (never seen committed)
    APPLIED = "applied"  # it changed what it is about
    NEEDS_REVIEW = "needs_review"  # money arrived that does not fit the bill
    DUPLICATE_PAYMENT = "duplicate_payment"  # money for a bill already paid
    ALREADY_FINAL = "already_final"  # about something already final: nothing changed
    IGNORED = "ignored"  # nothing new (still waiting)
    DUPLICATE = "duplicate"  # the same event again, from another message (postal)
    STORED = "stored"  # kept as history only (an older or lower-ranked postal status)
    DEFERRED = "deferred"  # believed only after the carrier's own read-back
    DEFERRED_TO_QUERY = "deferred_to_query"  # contradictory: the provider will be queried
    UNMATCHED = "unmatched"  # about nothing we know (reference, account)
    UNKNOWN_ORDER = "unknown_order"  # a postal push for an order we do not have
    UNKNOWN_CODE = "unknown_code"  # a postal status code no table explains: stored, not applied
    #: Earlier records only: money of another amount is now ``needs_review`` like any money
    #: that does not fit (the provider is still told the amount was wrong).
    AMOUNT_MISMATCH = "amount_mismatch"
    REJECTED = "rejected"  # refused for another reason (see ``reason``)


@dataclass(frozen=True)
class Settled(Generic[R]):
    """What ``apply`` did, and the provider-specific ``value`` its caller replies from."""

    outcome: EventOutcome
    value: R
    reason: str | None = None
    payment_id: str | None = None


@dataclass(frozen=True)
class Received(Generic[R]):
    outcome: EventOutcome
    reason: str | None
    payment_id: str | None
    #: The message was received before: this is the first copy's record, nothing was applied
    #: this time, and ``value`` is what ``replay`` answered (``None`` without a ``replay``).
    duplicate: bool
    value: R | None = None


# The statements of every message, built once with the row as parameters: no per-message
# construction, coercion or cache key (docs/performance.md).
_STORE = {
    name: dialect_insert(provider_events)
    .on_conflict_do_nothing(index_elements=["provider", "event_key"])
    .returning(provider_events.c.id)
    for name, dialect_insert in (("sqlite", sqlite_insert), ("postgresql", postgres_insert))
}
_SETTLE = (
    update(provider_events)
    .where(provider_events.c.id == bindparam("event_id"))
    .values(
        outcome=bindparam("outcome"),
        reason=bindparam("reason"),
        payment_id=bindparam("payment_id"),
    )
)
_STORED_COLUMNS = ("provider", "event_key", "received_at", "payload", "outcome", "amount")


class Alongside:
    """A locking read the caller's ``apply`` (and ``replay``) starts with, sent on PostgreSQL
    with the store in one statement (one round trip fewer; docs/performance.md):
    ``statement``, a one-column ``SELECT`` built once (at import) with bound parameters, and
    ``params``, their values. :func:`receive` sets ``read`` (it was sent, in this
    transaction) and ``value`` (its scalar, ``None`` for no row); on SQLite it is not sent
    and ``apply`` reads it itself. Its result is read by the store's statement, whose snapshot
    is taken before the message's copy is waited for: a read it locks is fresh (``FOR
    UPDATE``), the rest must be read by a later statement."""

    __slots__ = ("params", "read", "statement", "value")

    def __init__(self, statement: Select[Any], params: Mapping[str, Any]) -> None:
        self.statement = statement
        self.params = params
        self.read = False
        self.value: Any = None


#: PostgreSQL: the store with an :class:`Alongside` read, by the read's statement (kept, so its
#: id is not reused): ``WITH stored AS (INSERT … RETURNING id) SELECT (SELECT id FROM
#: stored), (<the read>)``. PostgreSQL promises no order between the store and the read (a
#: data-modifying CTE runs to completion whatever the outer query reads); nothing depends on
#: it: every copy of a message sends this same statement, and a deadlock is retried.
_STORE_WITH: dict[int, tuple[Select[Any], Select[Any]]] = {}


def _store_with(statement: Select[Any]) -> Select[Any]:
    built = _STORE_WITH.get(id(statement))
    if built is None or built[0] is not statement:
        stored = (
            postgres_insert(provider_events)
            .values(
                {
                    name: bindparam(name, type_=provider_events.c[name].type)
                    for name in _STORED_COLUMNS
                }
            )
            .on_conflict_do_nothing(index_elements=["provider", "event_key"])
            .returning(provider_events.c.id)
            .cte("stored")
        )
        combined: Select[Any] = select(
            select(stored.c.id).scalar_subquery().label("event_id"),
            statement.scalar_subquery().label("alongside"),
        )
        built = (statement, combined)
        _STORE_WITH[id(statement)] = built
    return built[1]


_FIND = select(provider_events).where(
    provider_events.c.provider == bindparam("provider"),
    provider_events.c.event_key == bindparam("event_key"),
)


async def receive(
    db: Database,
    *,
    provider: str,
    event_key: str,
    raw: str,
    received_at: datetime,
    apply: Callable[[AsyncConnection], Awaitable[Settled[R]]],
    amount: int | None = None,
    replay: Callable[[AsyncConnection], Awaitable[R]] | None = None,
    alongside: Alongside | None = None,
) -> Received[R]:
    """Store a verified message once and apply it once (see the module docstring).
    ``replay`` answers a second copy from the current state (it must change nothing).
    ``alongside``: the read ``apply`` and ``replay`` start with, sent with the store on
    PostgreSQL (:class:`Alongside`)."""

    async def work(conn: AsyncConnection) -> Received[R]:
        event_id = await _store(conn, provider, event_key, raw, received_at, amount, alongside)
        if event_id is None:
            first = await find(conn, provider, event_key)
            if first is None:  # pragma: no cover - the conflicting row is committed
                raise RuntimeError(f"{provider} {event_key} conflicted but is not stored")
            value = None if replay is None else await replay(conn)
            return Received(first.outcome, first.reason, first.payment_id, True, value)
        settled = await apply(conn)
        await conn.execute(
            _SETTLE,
            {
                "event_id": event_id,
                "outcome": settled.outcome.value,
                "reason": settled.reason,
                "payment_id": settled.payment_id,
            },
        )
        return Received(settled.outcome, settled.reason, settled.payment_id, False, settled.value)

    return await db.transaction(work)


async def _store(
    conn: AsyncConnection,
    provider: str,
    event_key: str,
    raw: str,
    received_at: datetime,
    amount: int | None,
    alongside: Alongside | None = None,
) -> int | None:
    """Insert the message; ``None`` if it was stored before. ``alongside``: read with it on
    PostgreSQL (:class:`Alongside`)."""
    params = {
        "provider": provider,
        "event_key": event_key,
        "received_at": received_at,
        "payload": raw,
        "outcome": EventOutcome.RECEIVED.value,
        "amount": amount,
    }
    if alongside is not None and conn.dialect.name == "postgresql":
        row = (
            await conn.execute(_store_with(alongside.statement), {**params, **alongside.params})
        ).one()
        alongside.read, alongside.value = True, row.alongside
        return None if row.event_id is None else int(row.event_id)
    result = await conn.execute(_STORE[conn.dialect.name], params)
    event_id = result.scalar()
    return None if event_id is None else int(event_id)


@dataclass(frozen=True)
class StoredEvent:
    id: int
    outcome: EventOutcome
    reason: str | None
    payment_id: str | None


async def find(conn: AsyncConnection, provider: str, event_key: str) -> StoredEvent | None:
    row: Any = (await conn.execute(_FIND, {"provider": provider, "event_key": event_key})).first()
    if row is None:
        return None
    return StoredEvent(row.id, EventOutcome(row.outcome), row.reason, row.payment_id)
