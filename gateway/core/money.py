"""Arriving money: the one lock order, and (below) the one decision of what money does to a bill.

Lock order
----------
Every transaction that changes a payment or its attempts takes its row locks in this order,
on every path (bank notice, VNPAY IPN, POS result, query, expiry, cancellation):

1. the inbox row of the inbound message (``provider_events``; its unique key is what makes a
   second copy of the same message wait for, then see, the first);
2. the **payment** (``SELECT … FOR UPDATE``);
3. **all attempts of that payment**, in ``id`` order (:func:`lock_bill`);
4. then whatever hangs off them: the POS terminal, refunds, the outbox.

Two paths that took the payment and an attempt in opposite orders deadlocked on PostgreSQL
(a bank notice and a VNPAY IPN for one bill at the same moment). With one order they queue
instead; a deadlock or serialization failure that still happens is retried by
:meth:`gateway.core.db.Database.transaction` before any answer is sent.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db.schema import attempts, payments


async def lock_bill(conn: AsyncConnection, payment_id: str) -> bool:
    """Lock the payment, then all its attempts in ``id`` order; ``False`` if there is no such
    payment. On SQLite (one writer at a time) the statements run without ``FOR UPDATE``."""
    found = (
        await conn.execute(
            select(payments.c.id).where(payments.c.id == payment_id).with_for_update()
        )
    ).first()
    if found is None:
        return False
    await conn.execute(
        select(attempts.c.id)
        .where(attempts.c.payment_id == payment_id)
        .order_by(attempts.c.id)
        .with_for_update()
    )
    return True
