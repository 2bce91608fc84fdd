"""Reading a payment as the API shows it, and changing its status — the one place where a
payment's status changes, so every change is checked against the transition table and
announced through the outbox in the same transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Update, and_, bindparam, func, select, text, type_coerce
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core import outbox
from gateway.core.db.schema import agencies, attempts, payment_items, payments
from gateway.core.errors import NotFound
from gateway.core.fields import iso
from gateway.core.ids import Clock
from gateway.core.statuses import ATTEMPTS, PAYMENTS, AttemptStatus, PaymentStatus

PAYMENT_COLUMNS = (
    payments,
    agencies.c.code.label("agency_code"),
    agencies.c.name.label("agency_name"),
    agencies.c.bank_bin,
    agencies.c.account_number,
    agencies.c.account_name,
)

# Built once, executed with parameters (no per-request statement construction): the lines
# of some payments, and one payment as the API shows it.
_ITEMS_OF = (
    select(payment_items)
    .where(payment_items.c.payment_id.in_(bindparam("payment_ids", expanding=True)))
    .order_by(payment_items.c.payment_id, payment_items.c.position)
)
_LINES_OF = (
    select(payment_items)
    .where(payment_items.c.payment_id == bindparam("payment_id"))
    .order_by(payment_items.c.position)
)
_VIEW = (
    select(*PAYMENT_COLUMNS)
    .join(agencies, agencies.c.id == payments.c.agency_id)
    .where(payments.c.id == bindparam("payment_id"))
)


def _agency(column: Any) -> Any:
    return select(column).where(agencies.c.id == payments.c.agency_id).scalar_subquery()


def _advance_and_view(statement: Update) -> Update:
    """:func:`move`'s guarded ``UPDATE``, also advancing the payment's event sequence
    (:func:`gateway.core.outbox.emit`'s ``advanced``) and returning the payment as
    :data:`PAYMENT_COLUMNS` reads it (its agency's columns as sub-queries: SQLite's
    ``RETURNING`` names only the table it updates)."""
    return statement.values(sequence=outbox.ADVANCE_PAYMENT_SEQUENCE).returning(
        payments,
        *(_agency(column).label(label) for label, column in _AGENCY_COLUMNS),
    )


def _advance_view_and_lines(statement: Update) -> Update:
    """PostgreSQL: :func:`_advance_and_view`, and the payment's lines as :func:`lines_of`
    reads them (one JSON array, in ``position`` order): one round trip fewer."""
    line = func.json_build_object(
        *(part for name in _LINE_FIELDS for part in (text(f"'{name}'"), payment_items.c[name]))
    )
    lines = (
        select(
            func.coalesce(
                func.json_agg(aggregate_order_by(line, payment_items.c.position)),
                text("'[]'::json"),
            )
        )
        .where(payment_items.c.payment_id == payments.c.id)
        .scalar_subquery()
    )
    return _advance_and_view(statement).returning(type_coerce(lines, JSON).label("lines"))


#: The fields of a payment's line, in the order the API shows them.
_LINE_FIELDS = ("kind", "code", "description", "amount", "budget_subitem")

_AGENCY_COLUMNS = (
    ("agency_code", agencies.c.code),
    ("agency_name", agencies.c.name),
    ("bank_bin", agencies.c.bank_bin),
    ("account_number", agencies.c.account_number),
    ("account_name", agencies.c.account_name),
)

#: What closing a bill does to the attempts still open on it. Once it is paid the others are
#: cancelled; money that still arrives through one of them is caught as a duplicate payment.
_CLOSES_ATTEMPTS = {
    PaymentStatus.EXPIRED: AttemptStatus.EXPIRED,
    PaymentStatus.CANCELLED: AttemptStatus.CANCELLED,
    PaymentStatus.PAID: AttemptStatus.CANCELLED,
}
_STILL_OPEN = (AttemptStatus.CREATED, AttemptStatus.PENDING)
#: The open attempts closed with their bill, by that bill's id (``w_payment_id``); built
#: once, so :meth:`~gateway.core.machines.Machine.move_all` builds its statement once.
_OF_PAYMENT = attempts.c.payment_id == bindparam("w_payment_id")


#: The open attempts a closing bill may close, by what it closes them to: only the moves the
#: attempt table allows (a ``created`` attempt, its provider call still under way, is not
#: expired with its bill; the poller settles it once its time is up).
_CLOSABLE = {
    closing: tuple(status for status in _STILL_OPEN if ATTEMPTS.can(status, closing))
    for closing in set(_CLOSES_ATTEMPTS.values())
}


#: The bill's open attempts but one (``w_except``: the attempt moved in the same statement,
#: still open in that statement's snapshot), by the bill's id (``w_payment_id``).
_OTHERS_OF_PAYMENT = and_(_OF_PAYMENT, attempts.c.id != bindparam("w_except"))


@dataclass(frozen=True)
class AttemptMove:
    """The move of the attempt whose provider's word moves the bill (``attempt_id`` from
    ``current`` to ``new``, writing ``values``), made by :func:`move` before the bill's —
    on PostgreSQL in the bill's own statement."""

    attempt_id: str
    current: AttemptStatus
    new: AttemptStatus
    values: dict[str, Any]


def _with_attempts(attempt: Update | None, close: Update | None) -> Callable[[Update], Update]:
    """PostgreSQL: :func:`_advance_view_and_lines`, with in the same statement the attempt's
    own move (``WITH moved AS (UPDATE attempts … RETURNING id)``, returning how many rows it
    moved as ``attempt_moved``) and the bill's other open attempts closed (``closed``), both
    through the attempts' machine (:meth:`~gateway.core.machines.Machine.move_within`,
    :meth:`~gateway.core.machines.Machine.move_all_statement`). PostgreSQL runs a
    data-modifying ``WITH`` to completion; if the payment's move finds no row,
    :class:`StaleStatus` rolls the transaction back, the attempts' moves with it."""

    def extend(statement: Update) -> Update:
        statement = _advance_view_and_lines(statement)
        if attempt is not None:
            moved = attempt.cte("moved")
            count = select(func.count()).select_from(moved).scalar_subquery()
            statement = statement.add_cte(moved).returning(count.label("attempt_moved"))
        if close is not None:
            statement = statement.add_cte(close.cte("closed"))
        return statement

    return extend


@dataclass(frozen=True)
class Context:
    """What rendering and changing payments needs besides a connection."""

    clock: Clock
    base_url: str
    #: Told the channel of every payment that becomes paid (the metrics counter). It runs
    #: inside the transaction, so a rare rollback after it would count one too many.
    on_paid: Callable[[str], None] = field(default=lambda channel: None)
    #: Issues the receipts of a payment that becomes paid, in the same transaction
    #: (:meth:`gateway.services.receipts.issuance.ReceiptIssuance.issue_for_payment`): given
    #: the connection, the payment id, the channel and the time; returns the API views of
    #: the receipts issued, announced as ``receipt.issued`` after ``payment.paid``.
    issue_receipts: (
        Callable[[AsyncConnection, str, str, datetime], Awaitable[list[dict[str, Any]]]] | None
    ) = None


async def items_of(
    conn: AsyncConnection, payment_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    if not payment_ids:
        return {}
    rows = (await conn.execute(_ITEMS_OF, {"payment_ids": list(payment_ids)})).all()
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row.payment_id, []).append(_line(row))
    return grouped


async def lines_of(conn: AsyncConnection, payment_id: str) -> list[dict[str, Any]]:
    """The lines of one payment as :func:`items_of` gives them (a statement without the
    expanding ``IN``, which SQLAlchemy renders into the SQL at every execution)."""
    rows = (await conn.execute(_LINES_OF, {"payment_id": payment_id})).all()
    return [_line(row) for row in rows]


def _line(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _LINE_FIELDS}


def render(row: Any, lines: list[dict[str, Any]], base_url: str) -> dict[str, Any]:
    """The API view of a payment row (a database row, or the values just inserted)."""
    pay_url = f"{base_url}/pay/{row.id}"
    return {
        "id": row.id,
        "status": row.status,
        "review_reason": row.review_reason,
        "amount": row.amount,
        "currency": row.currency,
        "reference": row.reference,
        "agency_code": row.agency_code,
        "agency_name": row.agency_name,
        "dossier_code": row.dossier_code,
        "procedure_code": row.procedure_code,
        "procedure_name": row.procedure_name,
        "payer": {"name": row.payer.get("name")},
        "items": lines,
        "expires_at": iso(row.expires_at),
        "created_at": iso(row.created_at),
        "paid_at": iso(row.paid_at),
        "return_url": row.return_url,
        "metadata": row.metadata,
        "checkout_url": pay_url,
        "vietqr": {
            "payload": row.vietqr_payload,
            "bank_bin": row.bank_bin,
            "account_number": row.account_number,
            "account_name": row.account_name,
            "png_url": f"{pay_url}/qr.png",
            "svg_url": f"{pay_url}/qr.svg",
        },
    }


async def require_owned(conn: AsyncConnection, agency_ids: frozenset[int], payment_id: str) -> None:
    """404 unless the payment exists and belongs to one of ``agency_ids`` (the caller's)."""
    owner = (
        await conn.execute(select(payments.c.agency_id).where(payments.c.id == payment_id))
    ).scalar()
    if owner is None or owner not in agency_ids:
        raise NotFound("payment not found")


async def view(conn: AsyncConnection, payment_id: str, base_url: str) -> dict[str, Any]:
    row = (await conn.execute(_VIEW, {"payment_id": payment_id})).one()
    return render(row, await lines_of(conn, payment_id), base_url)


async def move(
    conn: AsyncConnection,
    context: Context,
    payment_id: str,
    current: PaymentStatus,
    new: PaymentStatus,
    *,
    channel: str | None = None,
    others_open: bool = True,
    attempt: AttemptMove | None = None,
    **values: Any,
) -> None:
    """Move a payment from ``current`` to ``new`` (checked against the table), close its open
    attempts if the bill closes, emit ``payment.<new>``, and — if it becomes paid — issue its
    receipts (then ``receipt.issued`` per receipt), in the same transaction.

    Both go through their machines (:data:`PAYMENTS`, :data:`ATTEMPTS`): the update is
    guarded by ``current``, so if another transaction moved the payment first,
    :class:`~gateway.core.machines.StaleStatus` (a :class:`Conflict`) is raised rather than
    overwriting its decision.

    ``others_open=False``: the caller read, after locking the bill in this transaction, that
    none of the payment's attempts other than the one it moved is open (``others_open`` of
    :func:`gateway.services.attempts.lock_joined`'s row): closing the bill then has no
    attempt to close, and its ``UPDATE`` is not sent.

    ``attempt``: the move of the attempt that moves the bill, made first (its machine's
    check, :class:`StaleStatus` if the attempt is no longer in its ``current``); closing the
    bill closes the *other* open attempts. On PostgreSQL the attempts' moves and the bill's
    are one statement.
    """
    now = context.clock()
    if new is PaymentStatus.PAID:
        values.setdefault("paid_at", now)
    on_postgresql = conn.dialect.name == "postgresql"
    closing = _CLOSES_ATTEMPTS.get(new) if others_open else None
    if on_postgresql:
        # One statement (docs/performance.md): the attempt's move, the guarded move of the
        # bill, its event's sequence advanced, the payment as the API shows it read back
        # with its lines, and its other open attempts closed.
        params: dict[str, Any] = {}
        shape = "view+lines"
        attempt_move: Update | None = None
        if attempt is not None:
            attempt_move, attempt_params = ATTEMPTS.move_within(
                attempt.attempt_id, attempt.current, attempt.new, prefix="a_", **attempt.values
            )
            params.update(attempt_params)
            shape += f"+attempt:{','.join(attempt.values)}"
        close: Update | None = None
        if closing is not None:
            # Only the moves the attempt table allows (:data:`_CLOSABLE`); closed by our
            # side, not by its provider: ``next_query_at`` asks the janitor to ask the
            # provider whether money moved all the same (gateway/services/polling.py).
            where = _OF_PAYMENT if attempt is None else _OTHERS_OF_PAYMENT
            close = ATTEMPTS.move_all_statement(
                where, _CLOSABLE[closing], closing, ("updated_at", "next_query_at"), prefix="c_"
            )
            params.update(w_payment_id=payment_id, c_updated_at=now, c_next_query_at=now)
            if attempt is not None:
                params["w_except"] = attempt.attempt_id
            shape += f"+close:{closing.value}"
        moved = await PAYMENTS.move_returning(
            conn,
            shape,
            _with_attempts(attempt_move, close),
            payment_id,
            current,
            new,
            extra_params=params,
            updated_at=now,
            **values,
        )
        if attempt is not None and moved.attempt_moved != 1:
            raise ATTEMPTS.stale(attempt.attempt_id, attempt.current)
    else:
        if attempt is not None:  # the attempt first: closing the bill closes the others
            await ATTEMPTS.move(
                conn, attempt.attempt_id, attempt.current, attempt.new, **attempt.values
            )
        # One statement: the guarded move, the event's sequence advanced, and the payment
        # as the API shows it read back (docs/performance.md).
        moved = await PAYMENTS.move_returning(
            conn, "view", _advance_and_view, payment_id, current, new, updated_at=now, **values
        )
        if closing is not None:
            await ATTEMPTS.move_all(
                conn,
                _OF_PAYMENT,
                _CLOSABLE[closing],
                closing,
                where_params={"w_payment_id": payment_id},
                updated_at=now,
                next_query_at=now,
            )
    if new is PaymentStatus.PAID:
        context.on_paid(channel or "unknown")
    lines = moved.lines if on_postgresql else await lines_of(conn, payment_id)
    await outbox.emit(
        conn,
        now=now,
        type=f"payment.{new.value}",
        payment_id=payment_id,
        data={"payment": render(moved, lines, context.base_url)},
        advanced=(moved.sequence, moved.client_id),
    )
    if new is not PaymentStatus.PAID or context.issue_receipts is None:
        return
    # The receipts last: numbering locks the agency's number range until the commit, so
    # every payment of the agency waits for it — the less this transaction does after it,
    # the shorter that wait (docs/performance.md). Their events follow ``payment.paid``.
    issued = await context.issue_receipts(conn, payment_id, channel or "unknown", now)
    for receipt in issued:
        await outbox.emit(
            conn, now=now, type="receipt.issued", payment_id=payment_id, data={"receipt": receipt}
        )
