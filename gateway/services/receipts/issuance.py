"""Issuing receipts at the moment of payment (NĐ 254/2026 Điều 24: at the time of
collection; ``/work/shared/specs/e-receipts.md`` §2, §4, §11).

:meth:`ReceiptIssuance.issue_for_payment` runs inside the transaction of
:func:`gateway.services.payment_state.move` that makes a payment ``paid`` — the one place a
payment becomes paid, for every channel — so a receipt exists exactly when the payment is
paid: a rolled-back payment rolls back its receipt and its number (gapless numbering, see
:mod:`.numbering`). A payment becomes paid once, so money arriving for a bill already paid
(a duplicate payment) never gets a second receipt.

Per agency (``[receipts.agencies.<code>]``): one receipt with the phí and lệ phí lines
(``single``), or one for the phí lines and one for the lệ phí lines (``split``), each with its
own number. Postal lines (cước bưu chính) are a service price, not a fee or charge: they are
not on the receipt (the carrier invoices them).

Paperwork never refuses money: when a receipt cannot be numbered or signed now — no symbol for
the year (1 January without the new year's symbol), every range of the point used up, the
certificate expired while running — the payment still becomes paid and the receipt is born
``pending`` with its ``pending_reason``, an alert (metric and a structlog error) is raised, and
:meth:`ReceiptIssuance.issue_pending` numbers and signs it, in order, once that is fixed (a range
added, a certificate renewed).

An agency with ``issued_as = "delegate"`` (spec §8, :mod:`.delegations`): the gateway operator
issues as the agency's delegate, so a receipt is numbered only inside a recorded agreement in
force on the day of issue, notified to the tax offices 3 days before, whose number range holds
the number taken; otherwise it waits ``pending`` (no number consumed) like any other. The
receipt names the delegate (``[receipts.delegate]``, snapshot on the row and in the XML).

An agency with ``issuer = "vnpt"`` (docs/receipts.md, "Issuers"; spec §6): VNPT numbers and
signs its receipts, and VNPT must not be awaited inside the payment's transaction. The
receipt is born ``pending`` with :data:`EXTERNAL_ISSUER` (no number drawn from our ranges) and
the pending-receipts loop publishes it outside any transaction
(:meth:`ReceiptIssuance.external_document`, :meth:`ReceiptIssuance.publish`), then records
VNPT's number in one short transaction (:meth:`ReceiptIssuance.record_published`). The
publish is keyed by the receipt's id (VNPT's fkey), so a lost answer or two loops at once
adopt the one receipt VNPT holds.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from config import ReceiptSettings
from config.settings import ReceiptAgencySettings
from gateway.core import outbox
from gateway.core.db.schema import agencies, payment_items, payments, receipts
from gateway.core.errors import ReceiptNotIssuable
from gateway.core.ids import Clock, new_id
from gateway.core.money import CHANNEL_LABELS, paying_attempt
from gateway.core.statuses import RECEIPTS, ReceiptStatus
from gateway.services.receipts import delegations
from gateway.services.receipts.numbering import Point, point_of, take_number
from gateway.services.receipts.render import render
from gateway.services.sealing import Sealer
from providers.common.errors import ProviderError
from providers.receipts.document import Delegate, ReceiptDocument, ReceiptLine, RelatedReceipt
from providers.receipts.errors import ReceiptError
from providers.receipts.issuer import IssuedReceipt, ReceiptIssuer, ReplacingIssuer
from providers.receipts.words import amount_in_words

log = structlog.get_logger(__name__)
BUSINESS_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


#: Why a receipt waits (``receipts.pending_reason``): stable codes.
NO_SYMBOL_FOR_YEAR = "no_symbol_for_year"
RANGE_EXHAUSTED = "receipt_range_exhausted"
#: Born waiting for the external provider (VNPT) that numbers and signs it: not an alert.
EXTERNAL_ISSUER = "external_issuer"

#: What a replacement copies from the receipt it replaces (the rest is new or corrected).
_COPIED = (
    "payment_id",
    "agency_id",
    "tax_code",
    "agency_name",
    "agency_address",
    "template_code",
    "point",
    "kind",
    "paid_at",
    "channel",
    "transaction_reference",
)

#: The payment's line kinds each kind of receipt carries (``receipts.kind``): one receipt with
#: the phí and lệ phí lines, or one for each. Postal lines are on no receipt.
LINE_KINDS: Mapping[str, frozenset[str]] = {
    "all": frozenset({"fee", "charge"}),
    "fee": frozenset({"fee"}),
    "charge": frozenset({"charge"}),
}
#: The receipts of a payment, by split mode.
RECEIPTS_BY_MODE: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {
    "single": (("all", LINE_KINDS["all"]),),
    "split": (("fee", LINE_KINDS["fee"]), ("charge", LINE_KINDS["charge"])),
}


# The statements of issuing at payment, built once and executed with parameters: no
# per-payment statement construction, coercion or cache key (docs/performance.md).
_PAYMENT = (
    select(payments, agencies.c.code.label("agency_code"))
    .join(agencies, agencies.c.id == payments.c.agency_id)
    .where(payments.c.id == bindparam("payment_id"))
)
_ALREADY = select(receipts.c.id).where(
    receipts.c.payment_id == bindparam("payment_id"), receipts.c.replaces.is_(None)
)
_LINES = (
    select(payment_items)
    .where(payment_items.c.payment_id == bindparam("payment_id"))
    .order_by(payment_items.c.position)
)
_ISSUED = (
    select(receipts, agencies.c.code.label("agency_code"))
    .join(agencies, agencies.c.id == receipts.c.agency_id)
    .where(receipts.c.id == bindparam("receipt_id"))
)


@dataclass(frozen=True)
class ToPublish:
    """A pending receipt's document, for the agency's external provider; a replacement also
    carries the provider's key of the receipt it replaces (``replaces_key``)."""

    agency_code: str
    document: ReceiptDocument
    replaces_key: str | None = None


@dataclass(frozen=True)
class Alerts:
    """Told of what an operator must act on (the metrics)."""

    issued: Callable[[str], None] = lambda agency: None
    pending: Callable[[str, str], None] = lambda agency, reason: None


class ReceiptIssuance:
    def __init__(
        self,
        settings: ReceiptSettings,
        issuers: Mapping[str, ReceiptIssuer],
        sealer: Sealer,
        clock: Clock,
        base_url: str,
        alerts: Alerts | None = None,
    ) -> None:
        self.settings = settings
        #: Per agency code: who signs its receipts (the gateway's own signer).
        self.issuers = dict(issuers)
        self.sealer = sealer
        self.clock = clock
        self.base_url = base_url
        self.alerts = alerts or Alerts()

    # -- at the moment of payment -----------------------------------------------------

    async def issue_for_payment(
        self, conn: AsyncConnection, payment_id: str, channel: str, now: datetime
    ) -> list[dict[str, Any]]:
        """Write the payment's receipts (issued, or pending with a reason) in the caller's
        transaction; return the API views of those issued now (for ``receipt.issued``)."""
        if not self.settings.agencies:
            return []  # no agency issues receipts through the gateway: nothing to look up
        by_payment = {"payment_id": payment_id}
        payment = (await conn.execute(_PAYMENT, by_payment)).one()
        config = self.settings.agencies.get(payment.agency_code)
        if config is None:
            return []  # this agency's receipts are issued elsewhere
        already = (await conn.execute(_ALREADY, by_payment)).first()
        if already is not None:
            return []  # a payment is paid once; this guards the rule, it does not rely on it
        lines = (await conn.execute(_LINES, by_payment)).all()
        reference = await _transaction_reference(conn, payment_id)
        issued = []
        for kind, kinds in RECEIPTS_BY_MODE[config.split]:
            chosen = [line for line in lines if line.kind in kinds]
            if not chosen:
                continue
            items = [
                {
                    "kind": line.kind,
                    "code": line.code,
                    "description": line.description,
                    "amount": line.amount,
                }
                for line in chosen
            ]
            amount = sum(item["amount"] for item in items)
            token = secrets.token_urlsafe(24)
            receipt_id = new_id("rct")
            values = {
                "id": receipt_id,
                "payment_id": payment_id,
                "agency_id": payment.agency_id,
                "tax_code": config.tax_code,
                "agency_name": config.legal_name,
                "agency_address": config.address,
                "template_code": config.template_code,
                "point": point_of(channel).value,
                "kind": kind,
                "paid_at": payment.paid_at or now,
                "items": items,
                "amount": amount,
                "amount_in_words": amount_in_words(amount),
                "payer": _payer_snapshot(payment.payer),
                "channel": channel,
                "transaction_reference": reference,
                "view_token_hash": token_hash(token),
                "view_token_sealed": self.sealer.seal(token, "receipt.view_token"),
                "provider": self.issuers[payment.agency_code].name,
                "created_at": now,
                "updated_at": now,
            }
            if config.issuer != "gateway":  # published after the commit (the module's doc)
                values["pending_reason"] = EXTERNAL_ISSUER
                await RECEIPTS.insert(conn, ReceiptStatus.PENDING, **values)
                continue
            numbered = await self._number_and_sign(conn, payment, config, values, now)
            if numbered is None:
                await RECEIPTS.insert(conn, ReceiptStatus.PENDING, **values)
                continue
            await RECEIPTS.insert(conn, ReceiptStatus.ISSUED, **{**values, **numbered})
            issued.append(await self._issued(conn, receipt_id, payment.agency_code))
        return issued

    # -- later, for receipts left pending ---------------------------------------------

    async def issue_pending(self, conn: AsyncConnection, receipt_id: str) -> bool:
        """Number and sign one pending receipt now if it can be (in the caller's
        transaction, the payment locked first, as in the one lock order); emits
        ``receipt.issued``. ``False`` if it still waits (or is no longer pending)."""
        locked = await self._lock_pending(conn, receipt_id)
        if locked is None:
            return False
        payment, receipt = locked
        config = self.settings.agencies.get(payment.agency_code)
        if config is None or config.issuer != "gateway":  # never our numbers for VNPT's
            return False
        now = self.clock()
        values = dict(receipt._mapping)
        numbered = await self._number_and_sign(conn, payment, config, values, now)
        if numbered is None:
            await self._still_waiting(conn, receipt, values["pending_reason"], now)
            return False
        await self._now_issued(conn, payment, receipt_id, numbered, now)
        return True

    # -- through an external provider (VNPT), outside any transaction ---------------------

    async def external_document(
        self, conn: AsyncConnection, receipt_id: str
    ) -> ToPublish | str | None:
        """For a pending receipt of an agency issuing through an external provider: the
        document to publish now, or the reason it must still wait (no symbol for the year).
        ``None`` for any other receipt (the gateway's own: :meth:`issue_pending`). Reads
        only; the caller publishes after its transaction ends."""
        found = (
            await conn.execute(
                select(receipts, agencies.c.code.label("agency_code"))
                .join(agencies, agencies.c.id == receipts.c.agency_id)
                .where(
                    receipts.c.id == receipt_id,
                    receipts.c.status == ReceiptStatus.PENDING.value,
                )
            )
        ).first()
        config = self.settings.agencies.get(found.agency_code) if found else None
        if found is None or config is None or config.issuer == "gateway":
            return None
        payment = (
            await conn.execute(select(payments).where(payments.c.id == found.payment_id))
        ).one()
        now = self.clock()
        year = now.astimezone(BUSINESS_TZ).year
        symbol = config.symbols.get(str(year))
        if symbol is None:
            return NO_SYMBOL_FOR_YEAR
        related, replaces_key = None, None
        if found.replaces is not None:  # a replacement names the receipt it replaces
            original = (
                await conn.execute(select(receipts).where(receipts.c.id == found.replaces))
            ).one()
            related = _related(original)
            replaces_key = original.external_key
        # VNPT numbers the receipt: the document's number is not sent (the codec leaves it).
        document = self._document(payment, dict(found._mapping), symbol, 0, now, related)
        return ToPublish(found.agency_code, document, replaces_key)

    async def publish(self, prepared: ToPublish) -> IssuedReceipt | str:
        """Publish the document at the agency's provider (idempotent by its receipt id, the
        fkey); the provider's receipt, or the stable code of why it failed (the provider's
        name and its error code, e.g. ``vnpt_rejected``). Never inside a transaction."""
        issuer = self.issuers[prepared.agency_code]
        try:
            if prepared.replaces_key is None:
                issued = await issuer.issue(prepared.document)
            elif isinstance(issuer, ReplacingIssuer):
                issued = await issuer.replace(prepared.replaces_key, prepared.document)
            else:  # refused at approval; a configuration changed since cannot replace either
                return f"{issuer.name}_cannot_replace"
        except ProviderError as exc:  # VnptError: unavailable, outcome_unknown, rejected, …
            log.warning(
                "receipt_publish_failed",
                receipt_id=prepared.document.receipt_id,
                agency_code=prepared.agency_code,
                provider=issuer.name,
                error=repr(exc),
            )
            return f"{issuer.name}_{exc.code}"
        if issued.number is None:  # an external provider always numbers the receipt
            return f"{issuer.name}_malformed"
        return issued

    async def record_published(
        self,
        conn: AsyncConnection,
        receipt_id: str,
        prepared: ToPublish | None,
        outcome: IssuedReceipt | str,
    ) -> bool:
        """In one short transaction, the payment locked first and the receipt re-checked:
        the provider's receipt (``outcome``, published from ``prepared``) makes the pending
        receipt issued with the provider's number and ``receipt.issued``; a failure code
        leaves it pending with that reason (alerted when the reason is new). ``False`` when
        it still waits or another round recorded it first."""
        locked = await self._lock_pending(conn, receipt_id)
        if locked is None:
            return False
        payment, receipt = locked
        now = self.clock()
        if isinstance(outcome, str) or prepared is None:
            values = dict(receipt._mapping)
            self._wait(values, payment.agency_code, str(outcome))
            await self._still_waiting(conn, receipt, values["pending_reason"], now)
            return False
        document = prepared.document
        numbered = {
            "symbol": document.symbol,
            "number": outcome.number,
            "issued_at": document.issued_at,
            "xml_sealed": self.sealer.seal(outcome.xml.decode("utf-8"), "receipt.xml"),
            "provider": outcome.provider,
            "external_key": outcome.external_key,
        }
        await self._now_issued(conn, payment, receipt_id, numbered, now)
        if receipt.replaces is not None:
            await self._now_replaced(conn, payment, receipt.replaces, receipt_id, now)
        return True

    async def _now_replaced(
        self,
        conn: AsyncConnection,
        payment: Any,
        original_id: str,
        replacement_id: str,
        now: datetime,
    ) -> None:
        """The provider published the replacement of ``original_id``: the original becomes
        ``replaced`` only now, with ``receipt.replaced`` (both), in the publish's transaction;
        until then it stayed as it was, so a replacement the provider refuses leaves it valid
        (docs/receipts.md, "Issuer")."""
        original = (
            await conn.execute(
                select(receipts.c.status).where(receipts.c.id == original_id).with_for_update()
            )
        ).one()
        current = ReceiptStatus(original.status)
        if current is not ReceiptStatus.REPLACED:
            await RECEIPTS.move(conn, original_id, current, ReceiptStatus.REPLACED, updated_at=now)
        await outbox.emit(
            conn,
            now=now,
            type="receipt.replaced",
            payment_id=payment.id,
            data={
                "receipt": await self._view(conn, replacement_id),
                "replaced": await self._view(conn, original_id),
            },
        )

    async def pending_replacement(self, conn: AsyncConnection, original_id: str) -> str | None:
        """The replacement of ``original_id`` still waiting for its provider, if any."""
        found = await conn.execute(
            select(receipts.c.id).where(
                receipts.c.replaces == original_id,
                receipts.c.status == ReceiptStatus.PENDING.value,
            )
        )
        return found.scalar_one_or_none()

    async def _lock_pending(self, conn: AsyncConnection, receipt_id: str) -> tuple[Any, Any] | None:
        """The payment, then the receipt, locked (the one lock order); ``None`` unless the
        receipt is still pending."""
        row = (
            await conn.execute(select(receipts.c.payment_id).where(receipts.c.id == receipt_id))
        ).first()
        if row is None:
            return None
        payment = (
            await conn.execute(
                select(payments, agencies.c.code.label("agency_code"))
                .join(agencies, agencies.c.id == payments.c.agency_id)
                .where(payments.c.id == row.payment_id)
                .with_for_update(of=payments)
            )
        ).one()
        receipt = (
            await conn.execute(
                select(receipts).where(receipts.c.id == receipt_id).with_for_update()
            )
        ).one()
        if receipt.status != ReceiptStatus.PENDING.value:
            return None
        return payment, receipt

    async def _still_waiting(
        self, conn: AsyncConnection, receipt: Any, reason: str, now: datetime
    ) -> None:
        if reason != receipt.pending_reason:  # waits for another reason
            await conn.execute(
                update(receipts)
                .where(receipts.c.id == receipt.id)
                .values(pending_reason=reason, updated_at=now)
            )

    async def _now_issued(
        self,
        conn: AsyncConnection,
        payment: Any,
        receipt_id: str,
        numbered: dict[str, Any],
        now: datetime,
    ) -> None:
        await RECEIPTS.move(
            conn,
            receipt_id,
            ReceiptStatus.PENDING,
            ReceiptStatus.ISSUED,
            pending_reason=None,
            updated_at=now,
            **numbered,
        )
        view = await self._issued(conn, receipt_id, payment.agency_code)
        await outbox.emit(
            conn,
            now=now,
            type="receipt.issued",
            payment_id=payment.id,
            data={"receipt": view},
        )

    # -- a replacement receipt (TT 91/2026 Điều 20) ---------------------------------------

    async def issue_replacement(
        self,
        conn: AsyncConnection,
        original: Any,
        changes: Mapping[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        """Issue the receipt that replaces ``original`` (a locked ``receipts`` row, its
        payment locked before it), a copy with ``changes`` (``items``, ``payer``) applied:
        a new number from the same point's ranges and the symbol of the year of issue, a new
        view token, ``replaces`` = the original, the original named in the signed XML. In the
        caller's transaction; returns the new receipt's view. Raises
        :class:`ReceiptNotIssuable` (with the reason) when it cannot be numbered or signed
        now: a replacement the gateway signs is never left pending, the correction waits
        instead. An agency whose provider numbers and signs (VNPT, a
        :class:`ReplacingIssuer`) gets its replacement born ``pending`` like every receipt of
        that provider, published by the pending-receipts loop as the replacement of the
        original's key; a provider that cannot replace is ``issuer_cannot_replace``."""
        payment = (
            await conn.execute(
                select(payments, agencies.c.code.label("agency_code"))
                .join(agencies, agencies.c.id == payments.c.agency_id)
                .where(payments.c.id == original.payment_id)
            )
        ).one()
        config = self.settings.agencies.get(payment.agency_code)
        if config is None:
            raise ReceiptNotIssuable(
                "this agency's receipts are not issued by the gateway", reason="not_configured"
            )
        self.check_replaceable(payment.agency_code)
        issuer = self.issuers[payment.agency_code]
        external = config.issuer != "gateway"
        if external and not isinstance(issuer, ReplacingIssuer):
            raise ReceiptNotIssuable(
                "this agency's receipts are replaced at its provider's portal",
                reason="issuer_cannot_replace",
            )
        if external and (original.provider != issuer.name or not original.external_key):
            # e.g. a receipt the gateway signed before the agency moved to VNPT: VNPT holds
            # no receipt to replace, and the gateway no longer signs for the agency.
            raise ReceiptNotIssuable(
                "the receipt was not issued by the agency's provider", reason="not_at_provider"
            )
        items = list(changes.get("items", original.items))
        amount = sum(int(item["amount"]) for item in items)
        token = secrets.token_urlsafe(24)
        receipt_id = new_id("rct")
        values = {
            **{column: getattr(original, column) for column in _COPIED},
            "id": receipt_id,
            "items": items,
            "amount": amount,
            "amount_in_words": amount_in_words(amount),
            "payer": changes.get("payer", original.payer),
            "replaces": original.id,
            "view_token_hash": token_hash(token),
            "view_token_sealed": self.sealer.seal(token, "receipt.view_token"),
            "provider": issuer.name,
            "created_at": now,
            "updated_at": now,
        }
        if external:
            # The provider numbers and signs it, and is not awaited in this transaction: born
            # pending like the provider's other receipts, published by the pending-receipts
            # loop as the replacement of the original's key (:meth:`publish`).
            values["pending_reason"] = EXTERNAL_ISSUER
            await RECEIPTS.insert(conn, ReceiptStatus.PENDING, **values)
            return await self._view(conn, receipt_id)
        related = _related(original)
        numbered = await self._number_and_sign(conn, payment, config, values, now, related)
        if numbered is None:
            reason = values["pending_reason"]
            raise ReceiptNotIssuable(
                f"the replacement cannot be issued now: {reason}", reason=reason
            )
        await RECEIPTS.insert(conn, ReceiptStatus.ISSUED, **{**values, **numbered})
        return await self._issued(conn, receipt_id, payment.agency_code)

    def check_replaceable(self, agency_code: str) -> None:
        """Refuse replacing a receipt of a VNPT agency whose ``vnpt_replacements`` is off
        (the default until VNPT confirms the operation; docs/receipts.md, "Issuer")."""
        config = self.settings.agencies.get(agency_code)
        if config is not None and config.issuer == "vnpt" and not config.vnpt_replacements:
            raise ReceiptNotIssuable(
                "this agency's receipts are replaced at VNPT's portal until VNPT confirms "
                "replacing through its web service (vnpt_replacements)",
                reason="vnpt_replacements_off",
            )

    # -- the one way a receipt gets its number and signature ----------------------------

    async def _number_and_sign(
        self,
        conn: AsyncConnection,
        payment: Any,
        config: ReceiptAgencySettings,
        values: dict[str, Any],
        now: datetime,
        replaces: RelatedReceipt | None = None,
    ) -> dict[str, Any] | None:
        """The number, symbol, time and signed XML of a receipt issued ``now`` (a replacement
        names the receipt it ``replaces``); ``None`` when it must wait, with
        ``values["pending_reason"]`` set and the alert raised. The number is taken in a
        savepoint: a signature that fails gives it back."""
        agency = payment.agency_code
        year = now.astimezone(BUSINESS_TZ).year
        symbol = config.symbols.get(str(year))
        if symbol is None:
            self._wait(values, agency, NO_SYMBOL_FOR_YEAR, year=year)
            return None
        point = Point(values["point"])
        template = values["template_code"]
        agreements: list[Any] = []
        if config.issued_as == "delegate":  # never outside an agreement (spec §8)
            day = delegations.business_day(now)
            agreements, refused = await delegations.usable(
                conn, payment.agency_id, values["tax_code"], template, symbol, day
            )
            if refused is not None:
                self._wait(values, agency, refused, symbol=symbol, day=day.isoformat())
                return None
        savepoint = await conn.begin_nested()
        number = await take_number(conn, payment.agency_id, template, symbol, point)
        if number is None:
            await savepoint.rollback()
            self._wait(values, agency, RANGE_EXHAUSTED, symbol=symbol, point=point.value)
            return None
        delegate: dict[str, Any] = {}
        if config.issued_as == "delegate":
            agreement = delegations.covering(agreements, number)
            if agreement is None:  # the number goes back: nothing is consumed
                await savepoint.rollback()
                self._wait(values, agency, delegations.OUTSIDE_RANGE, symbol=symbol, number=number)
                return None
            delegate = self._delegate_snapshot(agreement.id)
        document = self._document(payment, {**values, **delegate}, symbol, number, now, replaces)
        try:
            # The gateway's own signer only: it signs in-process. An external provider (VNPT)
            # must not be awaited inside the payment's transaction (an outbox step would).
            issued = await self.issuers[agency].issue(document)
        except ReceiptError as exc:
            await savepoint.rollback()
            self._wait(values, agency, exc.code, symbol=symbol)
            return None
        await savepoint.commit()
        return {
            "symbol": symbol,
            "number": number,
            "issued_at": now,
            "xml_sealed": self.sealer.seal(issued.xml.decode("utf-8"), "receipt.xml"),
            "provider": issued.provider,
            "external_key": issued.external_key,
            **delegate,
        }

    def _delegate_snapshot(self, delegation_id: str) -> dict[str, Any]:
        """The delegate as the receipt names it (``[receipts.delegate]`` now) and the
        agreement that covers the receipt."""
        operator = self.settings.delegate
        if operator is None:  # the settings refuse a delegate agency without it
            raise ValueError("[receipts.delegate] is not configured")
        return {
            "delegation_id": delegation_id,
            "delegate_name": operator.name,
            "delegate_address": operator.address,
            "delegate_tax_code": operator.tax_code,
        }

    def _wait(self, values: dict[str, Any], agency: str, reason: str, **facts: Any) -> None:
        """Record why the receipt waits; alert when it starts waiting or waits for another
        reason (not again at every retry of the same wait)."""
        if values.get("pending_reason") == reason:
            return
        values["pending_reason"] = reason
        self.alerts.pending(agency, reason)
        log.error(
            "receipt_pending",
            receipt_id=values["id"],
            payment_id=values["payment_id"],
            agency_code=agency,
            reason=reason,
            **facts,
        )

    def _document(
        self,
        payment: Any,
        values: dict[str, Any],
        symbol: str,
        number: int,
        now: datetime,
        replaces: RelatedReceipt | None,
    ) -> ReceiptDocument:
        payer = values["payer"]
        id_number = payer.get("id_number")
        address = payer.get("address")
        return ReceiptDocument(
            receipt_id=values["id"],
            template_code=values["template_code"],
            symbol=symbol,
            number=number,
            issued_at=now,
            agency_name=values["agency_name"],
            agency_tax_code=values["tax_code"],
            agency_address=values["agency_address"],
            payer_name=payer["name"],
            payer_id_number=self.sealer.open(id_number, "payer.id_number") if id_number else None,
            payer_tax_code=None,
            payer_address=self.sealer.open(address, "payer.address") if address else None,
            dossier_code=payment.dossier_code,
            procedure_name=payment.procedure_name,
            channel=CHANNEL_LABELS.get(values["channel"], values["channel"]),
            transaction_reference=values["transaction_reference"],
            lines=tuple(
                ReceiptLine(
                    kind=item["kind"],
                    code=item["code"],
                    name=item["description"],
                    amount=item["amount"],
                )
                for item in values["items"]
            ),
            total=values["amount"],
            amount_in_words=values["amount_in_words"],
            replaces=replaces,
            delegate=Delegate(
                name=values["delegate_name"],
                address=values["delegate_address"],
                tax_code=values["delegate_tax_code"],
            )
            if values.get("delegate_name")
            else None,
        )

    async def _view(self, conn: AsyncConnection, receipt_id: str) -> dict[str, Any]:
        row = (await conn.execute(_ISSUED, {"receipt_id": receipt_id})).one()
        return render(row, self.base_url, self.sealer)

    async def _issued(self, conn: AsyncConnection, receipt_id: str, agency: str) -> dict[str, Any]:
        self.alerts.issued(agency)
        row = (await conn.execute(_ISSUED, {"receipt_id": receipt_id})).one()
        log.info(
            "receipt_issued",
            receipt_id=receipt_id,
            payment_id=row.payment_id,
            agency_code=agency,
            symbol=row.symbol,
            number=row.number,
        )
        return render(row, self.base_url, self.sealer)


async def receipt_share(conn: AsyncConnection, payment_id: str, kind: str) -> int:
    """The money the payment collected for what a receipt of ``kind`` covers: its phí and/or
    lệ phí lines (a payment becomes paid for its whole bill). A replacement of that receipt
    must total exactly this (docs/receipts.md, "Corrections")."""
    total = (
        await conn.execute(
            select(func.coalesce(func.sum(payment_items.c.amount), 0)).where(
                payment_items.c.payment_id == payment_id,
                payment_items.c.kind.in_(sorted(LINE_KINDS[kind])),
            )
        )
    ).scalar_one()
    return int(total)


def _related(original: Any) -> RelatedReceipt:
    """The receipt a replacement replaces, as its document names it."""
    return RelatedReceipt(
        template_code=original.template_code,
        symbol=original.symbol,
        number=original.number,
        issued_at=original.issued_at,
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _payer_snapshot(payer: dict[str, Any]) -> dict[str, Any]:
    """The payer as the receipt keeps it: the name, and the ID number still sealed (the
    token is bound to ``payer.id_number``, which is the field it is opened as)."""
    snapshot = {"name": payer.get("name") or ""}
    if payer.get("id_number"):
        snapshot["id_number"] = payer["id_number"]
    return snapshot


async def _transaction_reference(conn: AsyncConnection, payment_id: str) -> str | None:
    """The provider's reference of the money that paid the bill (:func:`paying_attempt`)."""
    row = await paying_attempt(conn, payment_id)
    if row is None:
        return None
    return str(row.provider_transaction_id or row.provider_reference)
