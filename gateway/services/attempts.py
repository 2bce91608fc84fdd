"""Attempts: one try to take a payment's money through one channel.

A payment may have many attempts; only one can pay it. Starting an attempt is three steps so
that no database transaction waits on a provider: (1) insert the attempt as ``created`` (and
claim the POS terminal), (2) call the provider, (3) record what it said. Every later word
from a provider — callback or query — goes through :meth:`AttemptService.apply_outcome`.

Every channel's word — a VNPAY IPN or query, a POS result or query, a VietQR bank notice —
goes through :func:`apply_outcome`; what the money does to the bill is decided once, by
:func:`gateway.core.money.money_arrived`. Money that arrives through an attempt always makes
it ``succeeded`` (the money is real); if it does not fit, the attempt carries the
``review_reason``. A success after the bill was already paid through another attempt is
``duplicate_payment``: ``attempt.needs_review`` is emitted so finance staff refund it, and the
bill stays ``paid``. Money that arrives outside an attempt that could still take it — COD
collected by the postman, a further transfer to a QR that took money already — is given an
attempt of its own by :func:`record_money` and decided the same way.

A success its provider reports for an attempt it had reported ``failed`` (a late or
contradictory word: ARCHITECTURE §4) is money on a closed attempt, treated like money landing
on an ``expired`` or ``cancelled`` one: the attempt itself moves ``failed → succeeded`` (the
one backward-looking row of the attempt table, gateway/core/statuses.py) with
``review_reason = succeeded_after_failure`` — the bill goes to ``needs_review`` if it was
unpaid (``payment.needs_review``), or the money is a ``duplicate_payment``
(``attempt.needs_review``) if the bill was paid meanwhile. The provider's own reference and
transaction date stay the money's, so a refund of it goes through (VNPAY refunds by
``vnp_TxnRef`` and ``vnp_TransactionDate``) and reconciliation sees one succeeded line, as the
provider's day file has; a repeat of the success finds the attempt ``succeeded``
(``already_final``), once however often it comes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NewType, overload

import structlog
from sqlalchemy import Row, bindparam, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.channels.base import (
    AttemptRef,
    AttemptRequest,
    Bill,
    BillLine,
    Cancellable,
    Channel,
    Outcome,
    OwnReference,
    Started,
)
from gateway.core import inbox, outbox
from gateway.core.db import Database
from gateway.core.db.schema import agencies, attempts, payment_items, payments, pos_terminals
from gateway.core.errors import Conflict, FieldError, InvalidTransition, NotFound, ValidationFailed
from gateway.core.fields import iso
from gateway.core.ids import new_id
from gateway.core.inbox import EventOutcome
from gateway.core.money import (
    MONEY_AT,
    ChannelName,
    MoneyDecision,
    ReviewReason,
    lock_bill,
    lock_payment,
    money_arrived,
    money_time,
    plausible,
)
from gateway.core.statuses import ATTEMPTS, OPEN_ATTEMPTS, AttemptStatus, PaymentStatus
from gateway.models.requests import CreateAttempt
from gateway.services import payment_state as state
from gateway.services import terminals
from gateway.services.clients import Principal

log = structlog.get_logger(__name__)

#: An attempt as :func:`joined` reads it, read *by this transaction after its bill was locked*
#: (the payment, then its attempts: the one lock order of :mod:`gateway.core.money`), so
#: nothing else can change it or its payment until the commit. Built only by the locking
#: look-ups (:func:`lock_joined`, :meth:`AttemptService.find_by_reference`); what
#: :func:`apply_outcome` takes as ``locked`` instead of looking the attempt up and locking
#: it again — a row read without the lock is a plain ``Row`` and mypy refuses it there. A
#: type only (no wrapper at run time: the IPN path reads its columns many times).
LockedAttempt = NewType("LockedAttempt", Row[Any])


@dataclass(frozen=True)
class Applied:
    """What applying a provider's word did: ``applied``, ``already_final``, ``ignored``;
    ``review``: why the money it brought needs a person (``None``: it fits, or no money)."""

    result: str
    attempt_id: str
    payment_id: str
    review: ReviewReason | None = None

    @property
    def event_outcome(self) -> EventOutcome:
        """What it did in the inbox's words: money flagged for a person is ``needs_review``
        (``duplicate_payment`` for a bill settled before), else the ``result``."""
        if self.review is ReviewReason.DUPLICATE_PAYMENT:
            return EventOutcome.DUPLICATE_PAYMENT
        if self.review is not None:
            return EventOutcome.NEEDS_REVIEW
        return EventOutcome(self.result)


def attempt_view(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "payment_id": row.payment_id,
        "method": row.channel,
        "status": row.status,
        "amount": row.amount,
        "next_action": row.next_action,
        "terminal_id": row.terminal_id,
        "provider_reference": row.provider_reference,
        "provider_transaction_id": row.provider_transaction_id,
        "failure_code": row.failure_code,
        "review_reason": row.review_reason,
        "details": row.details or {},
        "expires_at": iso(row.expires_at),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "query_count": row.query_count,
        "next_query_at": iso(row.next_query_at),
        "flagged_at": iso(row.flagged_at),
    }


#: Redirect channels whose attempt has its own time on the provider's page (capped by the
#: bill's expiry; ``[vnpay] attempt_minutes``).
_TIMED_CHANNELS = frozenset({ChannelName.VNPAY, ChannelName.MOMO, ChannelName.ZALOPAY})


def reference_for(attempt_id: str) -> str:
    """The provider-facing reference of an attempt: upper-case, ≤ 32 ASCII characters
    (VNPAY's ``vnp_TxnRef`` must be unique per terminal and is shown to the payer)."""
    return attempt_id.removeprefix("att_").upper()[:20]


class AttemptService:
    def __init__(
        self,
        db: Database,
        context: state.Context,
        channels: Mapping[str, Channel],
        vnpay_minutes: int,
    ) -> None:
        self.db = db
        self.context = context
        self.clock = context.clock
        self.channels = channels
        self.vnpay_minutes = vnpay_minutes

    # -- starting ----------------------------------------------------------------------

    async def begin(
        self,
        conn: AsyncConnection,
        principal: Principal | None,
        payment_id: str,
        request: CreateAttempt,
    ) -> str:
        """Step 1, inside the caller's (idempotent) transaction: insert the attempt."""
        row = (
            await conn.execute(
                select(payments, agencies.c.code.label("agency_code"))
                .join(agencies, agencies.c.id == payments.c.agency_id)
                .where(payments.c.id == payment_id)
                .with_for_update(of=payments)
            )
        ).first()
        if row is None or (principal is not None and row.agency_id not in principal.agency_ids):
            raise NotFound("payment not found")
        channel = self.channels.get(request.method)
        if channel is None or not channel.available_for(row.agency_code):
            raise ValidationFailed(
                [
                    FieldError(
                        "method",
                        "channel_unavailable",
                        f"{request.method} is not configured for agency {row.agency_code}",
                    )
                ]
            )
        now = self.clock()
        if row.status != PaymentStatus.PENDING.value or row.expires_at <= now:
            status = "expired" if row.status == "pending" else row.status
            raise InvalidTransition(status, "attempt")
        if request.method == "pos" and not request.terminal_id:
            raise ValidationFailed(
                [FieldError("terminal_id", "required", "a POS attempt names its terminal")]
            )
        attempt_id = new_id("att")
        if request.method == "pos":
            assert request.terminal_id is not None
            await terminals.claim(conn, request.terminal_id, row.agency_id, attempt_id)
        expires_at = min(row.expires_at, now + timedelta(minutes=self.vnpay_minutes))
        timed = request.method in _TIMED_CHANNELS
        reference = (
            channel.reference(attempt_id, now)
            if isinstance(channel, OwnReference)
            else reference_for(attempt_id)
        )
        await ATTEMPTS.insert(
            conn,
            AttemptStatus.CREATED,
            id=attempt_id,
            payment_id=payment_id,
            channel=request.method,
            provider_reference=reference,
            amount=row.amount,
            terminal_id=request.terminal_id if request.method == "pos" else None,
            details={"bank_code": request.bank_code, "locale": request.locale}
            if request.method == "vnpay"
            else {},
            expires_at=expires_at if timed else row.expires_at,
            created_at=now,
            updated_at=now,
        )
        return attempt_id

    async def reuse_or_begin(self, conn: AsyncConnection, payment_id: str, method: str) -> str:
        """For the checkout page: the payment's open attempt by ``method`` with time left,
        else a new one."""
        now = self.clock()
        open_attempt = (
            await conn.execute(
                select(attempts.c.id)
                .where(
                    attempts.c.payment_id == payment_id,
                    attempts.c.channel == method,
                    attempts.c.status.in_(sorted(OPEN_ATTEMPTS)),
                    attempts.c.expires_at > now + timedelta(minutes=2),
                )
                .order_by(attempts.c.created_at.desc())
            )
        ).first()
        if open_attempt is not None:
            return str(open_attempt.id)
        request = CreateAttempt.model_validate({"method": method})
        return await self.begin(conn, None, payment_id, request)

    async def flagged(
        self, agency_ids: frozenset[int], *, all_agencies: bool = False, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Attempts the janitor handed to finance (still open past their channel's horizon),
        of ``agency_ids`` (or every agency), oldest first: a person finds out what happened."""
        scope = true() if all_agencies else payments.c.agency_id.in_(sorted(agency_ids))
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        attempts,
                        payments.c.dossier_code,
                        agencies.c.code.label("agency_code"),
                    )
                    .join(payments, payments.c.id == attempts.c.payment_id)
                    .join(agencies, agencies.c.id == payments.c.agency_id)
                    .where(
                        attempts.c.flagged_at.is_not(None),
                        attempts.c.status.in_(sorted(OPEN_ATTEMPTS)),
                        scope,
                    )
                    .order_by(attempts.c.created_at, attempts.c.id)
                    .limit(limit)
                )
            ).all()
        return [
            {**attempt_view(row), "agency_code": row.agency_code, "dossier_code": row.dossier_code}
            for row in rows
        ]

    async def start(self, attempt_id: str, client_ip: str) -> dict[str, Any]:
        """Steps 2 and 3: call the provider (outside any transaction), record its answer."""
        async with self.db.read() as conn:
            row = await self._joined(conn, attempt_id)
        if row.status != AttemptStatus.CREATED.value:
            return attempt_view(row)  # already started (a replayed request)
        details = row.details or {}
        async with self.db.read() as conn:
            bill = await load_bill(conn, row.payment_id)
        started = await self.channels[row.channel].start(
            AttemptRequest(
                attempt_id=row.id,
                provider_reference=row.provider_reference,
                agency_code=row.agency_code,
                payment_id=row.payment_id,
                payment_reference=row.payment_reference,
                amount=row.amount,
                description=f"Thanh toan ho so {row.dossier_code}",
                created_at=row.created_at,
                expires_at=row.expires_at,
                client_ip=client_ip,
                terminal_id=row.terminal_id,
                bank_code=details.get("bank_code"),
                locale=details.get("locale", "vn"),
                bill=bill,
            )
        )

        async def record(conn: AsyncConnection) -> dict[str, Any]:
            await self._record_start(conn, attempt_id, started)
            return attempt_view(await self._joined(conn, attempt_id))

        return await self.db.transaction(record)

    async def _record_start(self, conn: AsyncConnection, attempt_id: str, started: Started) -> None:
        row = await self._joined(conn, attempt_id, lock=True)
        if row.status != AttemptStatus.CREATED.value:
            return  # a callback was faster than the provider's answer to the push
        await ATTEMPTS.move(
            conn,
            attempt_id,
            AttemptStatus.CREATED,
            started.status,
            next_action=started.next_action,
            failure_code=started.failure_code,
            updated_at=self.clock(),
        )
        if started.status is AttemptStatus.FAILED:
            await _closed(conn, self.context, row, AttemptStatus.FAILED)

    # -- reading, cancelling -------------------------------------------------------------

    async def latest_failure(self, payment_id: str) -> tuple[str, str] | None:
        """``(method, failure_code)`` when the citizen's latest try (an attempt other than the
        bill's own VietQR, which lives as long as the bill) failed — the checkout page explains
        it — else ``None``."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(attempts.c.channel, attempts.c.status, attempts.c.failure_code)
                    .where(
                        attempts.c.payment_id == payment_id,
                        attempts.c.channel != ChannelName.VIETQR,
                    )
                    .order_by(attempts.c.created_at.desc(), attempts.c.id.desc())
                    .limit(1)
                )
            ).first()
        if row is None or row.status != AttemptStatus.FAILED.value or not row.failure_code:
            return None
        return str(row.channel), str(row.failure_code)

    async def money_received(self, payment_id: str) -> list[dict[str, Any]]:
        """The money that arrived for a bill, oldest first: one ``{method, amount, at,
        review_reason}`` per attempt that took money (``succeeded``). The checkout page tells
        a citizen whose bill is ``needs_review`` what was received."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        attempts.c.channel,
                        attempts.c.amount,
                        attempts.c.details,
                        attempts.c.updated_at,
                        attempts.c.review_reason,
                    )
                    .where(
                        attempts.c.payment_id == payment_id,
                        attempts.c.status == AttemptStatus.SUCCEEDED.value,
                    )
                    .order_by(attempts.c.updated_at, attempts.c.id)
                )
            ).all()
        return [
            {
                "method": str(row.channel),
                # What arrived, where it differs from what was asked (see apply_outcome).
                "amount": int((row.details or {}).get("received_amount", row.amount)),
                "at": iso(row.updated_at),
                "review_reason": row.review_reason,
            }
            for row in rows
        ]

    async def get(self, principal: Principal, payment_id: str, attempt_id: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            row = await self._owned(conn, principal, payment_id, attempt_id)
            return attempt_view(row)

    async def list(self, principal: Principal, payment_id: str) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            await state.require_owned(conn, principal.agency_ids, payment_id)
            rows = (
                await conn.execute(
                    select(attempts)
                    .where(attempts.c.payment_id == payment_id)
                    .order_by(attempts.c.created_at, attempts.c.id)
                )
            ).all()
        return [attempt_view(row) for row in rows]

    async def cancel(
        self, principal: Principal, payment_id: str, attempt_id: str
    ) -> dict[str, Any]:
        """Ask the provider to stop a running attempt. The outcome still comes from the
        provider (the card may have been faster); nothing is assumed here."""
        async with self.db.read() as conn:
            row = await self._owned(conn, principal, payment_id, attempt_id)
        channel = self.channels.get(row.channel)
        if AttemptStatus(row.status) not in OPEN_ATTEMPTS or not isinstance(channel, Cancellable):
            raise InvalidTransition(row.status, "cancelled")  # e.g. a bank transfer (VietQR)
        await channel.cancel(self.ref(row))
        return await self.get(principal, payment_id, attempt_id)

    async def stop_running(self, payment_id: str) -> int:
        """Ask the provider to stop every sale of the bill still waiting on a card terminal —
        a cancelled bill must not take a card payment afterwards. Best effort: the provider's
        answer still decides each attempt (the card may have been faster: that money is then
        reviewed like any money on a cancelled bill); one that cannot be asked now is asked
        again by :meth:`stop_sales_of_closed_bills`. Returns how many were asked."""
        return await self._stop(attempts.c.payment_id == payment_id)

    async def stop_sales_of_closed_bills(self) -> int:
        """The same for every bill no longer payable — expired by the sweep or on a read,
        cancelled, or paid through another channel — whose sale a terminal still holds: the
        citizen at the counter must not be charged for a closed bill. A terminal holds its
        sale until the provider's final word, so a sale whose stop could not be asked, or
        whose answer has not come yet, is asked again on the next sweep."""
        return await self._stop(payments.c.status != PaymentStatus.PENDING.value)

    async def _stop(self, which: Any) -> int:
        async with self.db.read() as conn:
            # Closing the bill closed its attempts here, but a terminal holds its sale until
            # the provider's final word: those are the ones still running out there.
            rows = (
                await conn.execute(
                    select(attempts.c.id)
                    .join(pos_terminals, pos_terminals.c.active_attempt_id == attempts.c.id)
                    .join(payments, payments.c.id == attempts.c.payment_id)
                    .where(which)
                )
            ).scalars()
            running = [await self._joined(conn, attempt_id) for attempt_id in rows]
        asked = 0
        for row in running:
            channel = self.channels.get(row.channel)
            if not isinstance(channel, Cancellable):
                continue  # a bank transfer or a redirect page cannot be stopped from here
            try:
                await channel.cancel(self.ref(row))
                asked += 1
            except Exception as error:  # the bill stays closed regardless
                log.warning(
                    "attempt_stop_deferred",
                    attempt_id=row.id,
                    channel=row.channel,
                    error=type(error).__name__,
                )
        return asked

    # -- what providers say --------------------------------------------------------------

    async def apply_outcome(
        self,
        conn: AsyncConnection,
        attempt_id: str,
        outcome: Outcome,
        *,
        locked: LockedAttempt | None = None,
    ) -> Applied:
        return await apply_outcome(conn, self.context, attempt_id, outcome, locked=locked)

    # -- helpers -------------------------------------------------------------------------

    def ref(self, row: Row[Any]) -> AttemptRef:
        return AttemptRef(
            attempt_id=row.id,
            provider_reference=row.provider_reference,
            agency_code=row.agency_code,
            amount=row.amount,
            terminal_id=row.terminal_id,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )

    async def _joined(
        self, conn: AsyncConnection, attempt_id: str, *, lock: bool = False
    ) -> Row[Any]:
        return await joined(conn, attempt_id, lock=lock)

    async def _owned(
        self, conn: AsyncConnection, principal: Principal, payment_id: str, attempt_id: str
    ) -> Row[Any]:
        row = await self._joined(conn, attempt_id)
        if row.payment_id != payment_id or row.agency_id not in principal.agency_ids:
            raise NotFound("attempt not found")
        return row

    @staticmethod
    def lock_by_reference(channel: str, reference: str) -> inbox.Alongside:
        """The first step of a locking :meth:`find_by_reference` — its bill found by the
        reference and locked — as a read the inbox sends with its store
        (:class:`gateway.core.inbox.Alongside`); pass it back as ``alongside``."""
        return inbox.Alongside(_LOCK_BY_REFERENCE, {"channel": channel, "reference": reference})

    @overload
    async def find_by_reference(
        self,
        conn: AsyncConnection,
        channel: str,
        reference: str,
        *,
        lock: Literal[True] = ...,
        alongside: inbox.Alongside | None = ...,
    ) -> LockedAttempt | None: ...

    @overload
    async def find_by_reference(
        self, conn: AsyncConnection, channel: str, reference: str, *, lock: Literal[False]
    ) -> Row[Any] | None: ...

    async def find_by_reference(
        self,
        conn: AsyncConnection,
        channel: str,
        reference: str,
        *,
        lock: bool = True,
        alongside: inbox.Alongside | None = None,
    ) -> LockedAttempt | Row[Any] | None:
        """The attempt of ``channel`` with provider ``reference``, as :func:`joined` reads it
        (``lock``: the bill and its attempts locked first, in the one lock order: then it is
        a :data:`LockedAttempt`). ``alongside``: :meth:`lock_by_reference` of the same
        channel and reference, given to the inbox's store in this transaction; if the store
        read it (PostgreSQL), the bill is locked already and its id is taken from it."""
        by_reference = {"channel": channel, "reference": reference}
        if lock:
            # Its payment found and locked in one statement (the lock order's first step),
            # then its attempts locked and read (docs/performance.md).
            if alongside is not None and alongside.read:
                if alongside.params != by_reference:  # pragma: no cover - a caller's mistake
                    raise ValueError("the inbox locked another reference's bill")
                payment_id = alongside.value
            else:
                payment_id = (await conn.execute(_LOCK_BY_REFERENCE, by_reference)).scalar()
            if payment_id is None:
                return None
            for row in (await conn.execute(_JOINED_LOCKING, {"payment_id": payment_id})).all():
                if row.channel == channel and row.provider_reference == reference:
                    return LockedAttempt(row)
            return None  # pragma: no cover - an attempt never changes its payment
        found = (await conn.execute(_BY_REFERENCE, by_reference)).first()
        if found is None:
            return None
        return await joined(conn, found.id)


# -- what providers say: the one way a provider's word changes an attempt and its bill -------


async def apply_outcome(
    conn: AsyncConnection,
    context: state.Context,
    attempt_id: str,
    outcome: Outcome,
    *,
    not_before: datetime | None = None,
    locked: LockedAttempt | None = None,
) -> Applied:
    """Apply a provider's word about an attempt, once — for every channel (VNPAY IPN or
    query, POS result or query, a VietQR bank notice). A final attempt never moves backwards
    (a late 'failed' after 'succeeded' is ignored); what arriving money does to the bill is
    decided by :func:`gateway.core.money.money_arrived`, and money that does not fit the bill
    puts it up for review rather than being lost. Money that lands on an attempt closed with
    its bill (``expired``, ``cancelled``) is recorded the same way. Whether it came in time
    is judged by the money's own time (:func:`gateway.core.money.money_time`; ``not_before``:
    a later bound than the bill's creation, e.g. COD's postal order). A success for an
    attempt its provider had called ``failed`` is recorded for review (the module doc).
    ``locked``: the attempt as a locking look-up read it *in this transaction*
    (:data:`LockedAttempt`, e.g. from :meth:`AttemptService.find_by_reference`), so it is
    not looked up and locked again."""
    if locked is not None and locked.id == attempt_id:
        row = locked  # the bill is locked by this transaction: the row cannot have changed
    else:
        row = await lock_joined(conn, attempt_id)
    current = AttemptStatus(row.status)
    new = outcome.status
    late: ReviewReason | None = None
    reported_failure: dict[str, Any] = {}
    if current is AttemptStatus.FAILED and new is AttemptStatus.SUCCEEDED:
        # Money on an attempt its provider had called failed (the module doc): recorded on
        # the attempt, for a person; the earlier word is kept in its details.
        log.warning("attempt_success_after_failure", attempt_id=row.id, provider=row.channel)
        late = ReviewReason.SUCCEEDED_AFTER_FAILURE
        reported_failure = {"reported_failure_code": row.failure_code}
    if new is current and new not in OPEN_ATTEMPTS:
        await _sale_over(conn, row)
        return Applied("already_final", row.id, row.payment_id)
    if not ATTEMPTS.can(current, new):
        if new in OPEN_ATTEMPTS and current in OPEN_ATTEMPTS:
            return Applied("ignored", row.id, row.payment_id)  # still waiting: nothing new
        log.warning(
            "attempt_outcome_ignored",
            attempt_id=row.id,
            current=current.value,
            reported=new.value,
        )
        if new not in OPEN_ATTEMPTS and current not in OPEN_ATTEMPTS:
            await _sale_over(conn, row)
        return Applied("already_final", row.id, row.payment_id)
    values: dict[str, Any] = {"updated_at": context.clock()}
    if new not in OPEN_ATTEMPTS:
        values["next_query_at"] = None  # the provider's final word: nothing more to ask
    if outcome.provider_transaction_id:
        values["provider_transaction_id"] = outcome.provider_transaction_id
    if outcome.failure_code:
        values["failure_code"] = outcome.failure_code
    if outcome.details or reported_failure:
        values["details"] = {**(row.details or {}), **outcome.details, **reported_failure}
    if reported_failure:
        values["failure_code"] = None  # it took the money; the failure is in ``details``
    decision: MoneyDecision | None = None
    if new is AttemptStatus.SUCCEEDED:
        moved_at = _money_time(row, outcome, context.clock(), not_before)
        if late is not None:
            # The money's own time, for reconciliation: the provider's day file has it on
            # that day, so the gateway's ledger does too (reconciliation/ledger.py).
            values["details"] = {
                **values.get("details", row.details or {}),
                MONEY_AT: iso(moved_at.astimezone(UTC)),
            }
        decision = money_arrived(
            PaymentStatus(row.payment_status),
            due=row.payment_amount,
            received=outcome.amount,
            expires_at=row.payment_expires_at,
            at=moved_at,
            review=late,
        )
        if decision.review is not None:
            values["review_reason"] = decision.review.value
        if outcome.amount != row.amount:  # what arrived, beside what was asked for
            values["details"] = {
                **values.get("details", row.details or {}),
                "received_amount": outcome.amount,
            }
    review = decision.review if decision is not None else None
    if decision is not None and decision.payment is not None:
        # The attempt first, by the bill's move (on PostgreSQL in its statement): closing the
        # bill closes only the *other* open attempts.
        await state.move(
            conn,
            context,
            row.payment_id,
            PaymentStatus(row.payment_status),
            decision.payment,
            channel=row.channel,
            others_open=row.others_open > 0,
            attempt=state.AttemptMove(row.id, current, new, values),
            **({"review_reason": review.value} if review is not None else {}),
        )
    else:
        await ATTEMPTS.move(conn, row.id, current, new, **values)
    if new not in OPEN_ATTEMPTS:
        await _closed(conn, context, row, new)
    if review is ReviewReason.DUPLICATE_PAYMENT:
        await emit_attempt(conn, context, "attempt.needs_review", row.id, row.payment_id)
    return Applied("applied", row.id, row.payment_id, review)


async def record_money(
    conn: AsyncConnection,
    context: state.Context,
    payment_id: str,
    channel: str,
    outcome: Outcome,
    *,
    provider_reference: str | None = None,
    not_before: datetime | None = None,
) -> Applied:
    """Money that arrived for a bill outside any attempt that could still take it — COD handed
    to the postman, a second transfer to a QR that already took money: in the lock order (the
    bill first), a new attempt of ``channel`` is born ``pending`` for exactly this money
    (``outcome.amount``) and the money is applied to it through :func:`apply_outcome`, so
    :func:`~gateway.core.money.money_arrived` decides what it does to the bill like for any
    other channel. ``provider_reference`` defaults to one made from the new attempt's id;
    ``not_before``: see :func:`apply_outcome`."""
    if outcome.status is not AttemptStatus.SUCCEEDED or outcome.amount is None:
        raise ValueError("record_money records money: a success with its amount")
    if not await lock_bill(conn, payment_id):
        raise NotFound("payment not found")
    attempt_id = new_id("att")
    now = context.clock()
    await ATTEMPTS.insert(
        conn,
        AttemptStatus.PENDING,
        id=attempt_id,
        payment_id=payment_id,
        channel=channel,
        provider_reference=provider_reference or reference_for(attempt_id),
        amount=outcome.amount,
        details={},
        created_at=now,
        updated_at=now,
    )
    return await apply_outcome(conn, context, attempt_id, outcome, not_before=not_before)


def _money_time(
    row: Row[Any], outcome: Outcome, received_at: datetime, not_before: datetime | None
) -> datetime:
    """When the money of ``outcome`` moved: :func:`gateway.core.money.money_time`, bounded
    below by the bill's creation (and ``not_before``)."""
    earliest = row.payment_created_at
    if not_before is not None:
        earliest = max(earliest, not_before)
    stated = outcome.paid_at
    if stated is not None and not plausible(stated, received_at=received_at, not_before=earliest):
        log.warning(
            "money_time_implausible",
            attempt_id=row.id,
            stated=iso(outcome.paid_at),
            received_at=iso(received_at),
        )
    return money_time(stated, received_at=received_at, not_before=earliest)


async def _sale_over(conn: AsyncConnection, row: Row[Any]) -> None:
    """The provider's final word about an attempt that was closed before (its bill expired or
    was cancelled while the card was waiting): the terminal's sale is over, so it is free."""
    if row.terminal_id:
        await terminals.release(conn, row.terminal_id, row.id)


async def _closed(
    conn: AsyncConnection, context: state.Context, row: Row[Any], status: AttemptStatus
) -> None:
    if row.terminal_id:
        await terminals.release(conn, row.terminal_id, row.id)
    if status is AttemptStatus.FAILED:
        await emit_attempt(conn, context, "attempt.failed", row.id, row.payment_id)


async def emit_attempt(
    conn: AsyncConnection, context: state.Context, type: str, attempt_id: str, payment_id: str
) -> None:
    attempt = (await conn.execute(select(attempts).where(attempts.c.id == attempt_id))).one()
    await outbox.emit(
        conn,
        now=context.clock(),
        type=type,
        payment_id=payment_id,
        data={"attempt": attempt_view(attempt), "payment_id": payment_id},
    )


async def load_bill(conn: AsyncConnection, payment_id: str) -> Bill:
    """The payment as a channel that carries the whole bill sees it (:class:`Bill`)."""
    row = (
        await conn.execute(
            select(
                payments.c.dossier_code,
                payments.c.procedure_code,
                payments.c.procedure_name,
                payments.c.payer,
                agencies.c.code.label("agency_code"),
                agencies.c.name.label("agency_name"),
                agencies.c.bank_bin,
                agencies.c.account_number,
                agencies.c.account_name,
                agencies.c.revenue_account,
            )
            .join(agencies, agencies.c.id == payments.c.agency_id)
            .where(payments.c.id == payment_id)
        )
    ).one()
    items = (
        await conn.execute(
            select(payment_items)
            .where(payment_items.c.payment_id == payment_id)
            .order_by(payment_items.c.position)
        )
    ).all()
    return Bill(
        dossier_code=row.dossier_code,
        procedure_code=row.procedure_code,
        procedure_name=row.procedure_name,
        agency_code=row.agency_code,
        agency_name=row.agency_name,
        bank_bin=row.bank_bin,
        account_number=row.account_number,
        account_name=row.account_name,
        revenue_account=row.revenue_account,
        payer_name=str((row.payer or {}).get("name", "")),  # the only field kept in clear
        lines=tuple(BillLine(i.kind, i.code, i.description, i.amount) for i in items),
    )


# Built once, executed with parameters: no per-request statement construction, coercion or
# cache key (docs/performance.md). An attempt by its provider reference; its payment; the
# attempt with what it needs of its payment and agency (joined).
_BY_REFERENCE = select(attempts.c.id, attempts.c.payment_id).where(
    attempts.c.channel == bindparam("channel"),
    attempts.c.provider_reference == bindparam("reference"),
)

# The payment of the attempt with that reference, locked (``lock_payment``'s statement, found
# by the reference: the attempt's payment never changes, so this statement's snapshot, taken
# before it waits for the lock, finds the right one; the attempts are read by the next).
_LOCK_BY_REFERENCE = (
    select(payments.c.id)
    .where(
        payments.c.id == _BY_REFERENCE.with_only_columns(attempts.c.payment_id).scalar_subquery()
    )
    .with_for_update(of=payments)
)
_PAYMENT_OF = select(attempts.c.payment_id).where(attempts.c.id == bindparam("attempt_id"))
_JOINED_ALL = (
    select(
        attempts,
        payments.c.status.label("payment_status"),
        payments.c.amount.label("payment_amount"),
        payments.c.expires_at.label("payment_expires_at"),
        payments.c.created_at.label("payment_created_at"),
        payments.c.reference.label("payment_reference"),
        payments.c.dossier_code,
        payments.c.agency_id,
        agencies.c.code.label("agency_code"),
    )
    .join(payments, payments.c.id == attempts.c.payment_id)
    .join(agencies, agencies.c.id == payments.c.agency_id)
)
_JOINED = _JOINED_ALL.where(attempts.c.id == bindparam("attempt_id"))
# Every attempt of a locked payment, locked in id order (lock_bill's second statement) and
# read joined at once; only the attempts' rows are locked (the payment is, by then). With
# each, how many *other* attempts of its payment are still open (``others_open``): read
# after the payment's lock was taken (its own statement, before this one), and an attempt
# is born or opened only under that lock, so the count cannot grow before the commit —
# closing the bill skips its attempts' ``UPDATE`` when it is 0 (docs/performance.md).
_OTHERS = attempts.alias("others")
_JOINED_LOCKING = (
    _JOINED_ALL.add_columns(
        select(func.count())
        .where(
            _OTHERS.c.payment_id == attempts.c.payment_id,
            _OTHERS.c.id != attempts.c.id,
            # Not ``in_``: a list there is rendered into the SQL at every execution.
            or_(*(_OTHERS.c.status == status.value for status in sorted(OPEN_ATTEMPTS))),
        )
        .scalar_subquery()
        .label("others_open")
    )
    .where(attempts.c.payment_id == bindparam("payment_id"))
    .order_by(attempts.c.id)
    .with_for_update(of=attempts)
)


async def joined(conn: AsyncConnection, attempt_id: str, *, lock: bool = False) -> Row[Any]:
    """The attempt with what it needs of its payment and agency. ``lock``: in the one lock
    order (:mod:`gateway.core.money`) — the payment, then its attempts (:func:`lock_joined`)."""
    if lock:
        return await lock_joined(conn, attempt_id)
    row = (await conn.execute(_JOINED, {"attempt_id": attempt_id})).first()
    if row is None:
        raise NotFound("attempt not found")
    return row


async def lock_joined(conn: AsyncConnection, attempt_id: str) -> LockedAttempt:
    """The attempt as :func:`joined` reads it, its bill locked first in the one lock order
    (:mod:`gateway.core.money`): the payment, then its attempts."""
    payment_id = (await conn.execute(_PAYMENT_OF, {"attempt_id": attempt_id})).scalar()
    if payment_id is None:
        raise NotFound("attempt not found")
    return await _lock_joined(conn, payment_id, attempt_id)


async def _lock_joined(conn: AsyncConnection, payment_id: str, attempt_id: str) -> LockedAttempt:
    """Lock the payment (its own statement: :func:`~gateway.core.money.lock_payment`), then
    its attempts in ``id`` order *and* read them joined in one statement (``FOR UPDATE OF
    attempts`` over the join; one statement fewer than :func:`~gateway.core.money.lock_bill`
    followed by :func:`joined`; docs/performance.md); the one asked for is returned."""
    if not await lock_payment(conn, payment_id):
        raise NotFound("attempt not found")
    for row in (await conn.execute(_JOINED_LOCKING, {"payment_id": payment_id})).all():
        if row.id == attempt_id:
            return LockedAttempt(row)
    raise NotFound("attempt not found")


__all__ = [
    "Applied",
    "AttemptService",
    "Conflict",
    "LockedAttempt",
    "apply_outcome",
    "attempt_view",
    "emit_attempt",
    "joined",
    "load_bill",
    "lock_joined",
    "record_money",
    "reference_for",
]
