"""The lookup the national portal's payment platform calls: is there something to pay for
this dossier, and what (``specs/dvcqg-payment-platform.md`` §10, OpenCPS's
``dptracuuthanhtoanhs``: ``{"error_code": 1 | 0, "message": {…} | []}``).

Always HTTP 200 in the platform's shape (§10); only a caller that is not the platform
(authentication, role) gets our 401/403. A ``platform`` credential sees only its agencies'
dossiers: a dossier of another agency is answered exactly like one that does not exist
(``error_code`` -1), so a credential learns nothing about other agencies. ``error_code`` 1:
a pending bill, with its ``ThongTinBienLai`` fields; 0: nothing payable (paid, expired,
cancelled, or no DVCQG partner for the agency); -1: no such dossier, ``MaHoSo`` missing or
unreadable, or an internal failure. ``paid`` (the gateway's addition) says whether the
dossier's fees are paid.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.channels.dvcqg import DvcqgChannel, platform_bill
from gateway.core.db import Database
from gateway.core.db.schema import payments
from gateway.core.ids import Clock
from gateway.core.statuses import PaymentStatus
from gateway.services.attempts import load_bill
from gateway.services.clients import Principal
from providers.payment import dvcqg
from providers.payment.dvcqg.codec import receipt_info


def not_found() -> dict[str, Any]:
    """§10's ``-1``: dossier not found, ``MaHoSo`` missing, or an internal error."""
    return {"error_code": -1, "message": [], "paid": False}


_PAID = frozenset({PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED})


class DvcqgLookup:
    def __init__(self, db: Database, clock: Clock, channel: DvcqgChannel | None) -> None:
        self.db = db
        self.clock = clock
        self.channel = channel

    async def by_dossier(self, principal: Principal, dossier_code: str) -> dict[str, Any]:
        now = self.clock()
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(payments.c.id, payments.c.status, payments.c.expires_at)
                    .where(
                        payments.c.dossier_code == dossier_code,
                        payments.c.agency_id.in_(sorted(principal.agency_ids)),
                    )
                    .order_by(payments.c.created_at.desc(), payments.c.id.desc())
                )
            ).all()
            if not rows:
                return not_found()
            paid = any(PaymentStatus(row.status) in _PAID for row in rows)
            payable = next(
                (
                    row
                    for row in rows
                    if row.status == PaymentStatus.PENDING.value and row.expires_at > now
                ),
                None,
            )
            if payable is None:  # an earlier bill paid does not hide a later one to pay
                return {"error_code": 0, "message": [], "paid": paid}
            bill = await load_bill(conn, payable.id)
            reference, created_at, amount = (
                await conn.execute(
                    select(payments.c.reference, payments.c.created_at, payments.c.amount).where(
                        payments.c.id == payable.id
                    )
                )
            ).one()
        channel = self.channel
        if channel is None or not channel.available_for(bill.agency_code):
            return {"error_code": 0, "message": [], "paid": False}
        try:
            info = receipt_info(platform_bill(bill))
        except dvcqg.DvcqgError:  # a line that is neither phí nor lệ phí
            return {"error_code": 0, "message": [], "paid": False}
        message = {
            "transaction_id": reference,
            "client_id": channel.partner_code_for(bill.agency_code),
            "MaTraCuuTT": f"{bill.dossier_code}{dvcqg.format_time(created_at)}",
            "SoTien": str(amount),
            **info,
        }
        return {"error_code": 1, "message": message, "paid": False}
