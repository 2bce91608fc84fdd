"""Handovers (biên bản bàn giao): the postman takes the parcel (``collected``) or hands it over
(``delivered``), with the document checklist, seal, who was on the other side, the identity
check and the proof, and on a delivery the COD collected.

Everything of one handover happens in the caller's one transaction:

1. the handover row, the identity number sealed (field ``postal.handover.id_number``) and
   masked — the number never appears in clear in the database or in an answer;
2. the COD, if any, through :func:`gateway.services.postal.state.collect_cod` (money for the
   linked payment, decided like through any channel: paid, or up for review with its reason);
3. the matching event through :func:`gateway.services.postal.state.record_event`
   (``collected`` → ``picked_up``, ``delivered`` → ``delivered``; source
   ``operator:<client>``/``staff:<user>``, external id ``handover:<handover_id>``), judged by
   rank and time like any other report.

COD is refused unless it is right: on an order without COD (``422 cod_not_expected``), on a
``collected`` handover (same code: money changes hands on delivery only), an amount other
than the order's ``cod_amount`` (``422 cod_amount_mismatch``), or on an order whose COD is
already recorded — by an earlier handover or by the carrier (``409 cod_already_collected``,
the first record unchanged); then nothing is stored.

A ``handover_id`` is the reporter's own id: sent again with the same content it is recognised
(the first handover is answered, nothing is stored again); with other content it is refused
with ``409 duplicate_handover``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db.schema import postal_handovers, postal_orders
from gateway.core.errors import (
    CodAlreadyCollected,
    CodAmountMismatch,
    CodNotExpected,
    DuplicateHandover,
)
from gateway.core.ids import new_id
from gateway.core.postal.orders import mask_id_number
from gateway.models.postal_requests import Handover
from gateway.services.postal import state
from gateway.services.sealing import Sealer
from providers.common.postal import PostalStatus

ID_NUMBER_FIELD = "postal.handover.id_number"
#: The external id of a handover's event: this prefix and the reporter's handover id.
HANDOVER_EVENT_PREFIX = "handover:"

#: The status a handover reports.
HANDOVER_STATUS = {"collected": PostalStatus.PICKED_UP, "delivered": PostalStatus.DELIVERED}


class HandoverRecorder:
    def __init__(self, context: state.PostalContext, sealer: Sealer) -> None:
        self.context = context
        self.sealer = sealer

    async def record(
        self, conn: AsyncConnection, reporter: str, order: Any, report: Handover
    ) -> tuple[str, bool]:
        """Record ``report`` about ``order`` (a row of :func:`state.load`, locked); return the
        handover's id and whether it had been recorded before."""
        earlier = (
            await conn.execute(
                select(postal_handovers).where(
                    postal_handovers.c.recorded_by == reporter,
                    postal_handovers.c.external_id == report.handover_id,
                )
            )
        ).first()
        if earlier is not None:
            if not self._same(earlier, order.id, report):
                raise DuplicateHandover(f"handover {report.handover_id} was reported before")
            return earlier.id, True
        _check_cod(order, report)
        now = self.context.clock()
        handover_id = new_id("hov")
        identity = report.identity
        await conn.execute(
            insert(postal_handovers).values(
                id=handover_id,
                order_id=order.id,
                recorded_by=reporter,
                external_id=report.handover_id,
                kind=report.kind,
                at=report.at,
                documents=[document.model_dump() for document in report.documents],
                seal_number=report.seal_number,
                counterpart_name=report.counterpart_name,
                counterpart_role=report.counterpart_role,
                id_type=identity.id_type if identity else None,
                id_number_masked=mask_id_number(identity.id_number) if identity else None,
                id_number_sealed=(
                    self.sealer.seal(identity.id_number, ID_NUMBER_FIELD) if identity else None
                ),
                proof_reference=report.proof_reference,
                cod_collected=report.cod_collected,
                created_at=now,
            )
        )
        collected = report.cod_collected is not None
        if collected:
            # Before the event, so the announcement of the delivery shows the money too.
            await state.collect_cod(conn, self.context, order, order.cod_amount, report.at)
        event = state.NewEvent(
            source=reporter,
            external_id=f"{HANDOVER_EVENT_PREFIX}{report.handover_id}",
            status=HANDOVER_STATUS[report.kind],
            occurred_at=report.at,
        )
        outcome = await state.record_event(conn, self.context, order, event)
        if outcome is state.Outcome.DUPLICATE:
            raise DuplicateHandover(f"an event for handover {report.handover_id} exists already")
        if outcome is state.Outcome.STORED:
            # The order did not move, yet it changed for the operators (and for the portal
            # when money was collected).
            await conn.execute(
                update(postal_orders).where(postal_orders.c.id == order.id).values(updated_at=now)
            )
            if collected:
                await state.announce(conn, self.context, order.id, "postal.order.updated")
        return handover_id, False

    def _same(self, stored: Any, order_id: str, report: Handover) -> bool:
        identity = report.identity
        stored_number = (
            self.sealer.open(stored.id_number_sealed, ID_NUMBER_FIELD)
            if stored.id_number_sealed
            else None
        )
        return bool(
            stored.order_id == order_id
            and stored.kind == report.kind
            and stored.at == report.at
            and stored.documents == [document.model_dump() for document in report.documents]
            and stored.seal_number == report.seal_number
            and stored.counterpart_name == report.counterpart_name
            and stored.counterpart_role == report.counterpart_role
            and stored.id_type == (identity.id_type if identity else None)
            and stored_number == (identity.id_number if identity else None)
            and stored.proof_reference == report.proof_reference
            and stored.cod_collected == report.cod_collected
        )


def _check_cod(order: Any, report: Handover) -> None:
    amount = report.cod_collected
    if amount is None:
        return
    if order.cod_amount is None:
        raise CodNotExpected("this order collects no COD")
    if report.kind != "delivered":
        raise CodNotExpected("COD is collected when the result is delivered, not on collection")
    if amount != order.cod_amount:
        raise CodAmountMismatch(
            f"the order collects {order.cod_amount} VND, not {amount}",
            cod_amount=order.cod_amount,
        )
    if order.cod_collected is not None:
        raise CodAlreadyCollected(
            f"{order.cod_collected} VND of COD was already recorded for this order"
        )
