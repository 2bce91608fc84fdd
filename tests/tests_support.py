"""Small helpers shared by test modules (not fixtures)."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import select

from gateway.core.db.schema import outbox_events
from gateway.keys import DATABASE


async def outbox_types(gateway: Any, postal_order_id: str) -> list[str]:
    """The event types emitted about a postal order, in sequence order."""
    async with gateway.client.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(outbox_events.c.type)
            .where(outbox_events.c.postal_order_id == postal_order_id)
            .order_by(outbox_events.c.sequence)
        )
        return list(rows.scalars())


async def pay_at_vnpay(channels: Any, attempt: dict[str, Any], outcome: str) -> dict[str, Any]:
    """What the citizen does: open VNPAY's page (the sandbox), then pay, fail or cancel there;
    the sandbox sends its IPN to the gateway before answering."""
    async with aiohttp.ClientSession() as browser:
        page = await browser.get(attempt["next_action"]["url"])
        assert page.status == 200, await page.text()
        done = await browser.post(
            channels.vnpay.make_url("/paymentv2/simulate"),
            json={"txn_ref": attempt["provider_reference"], "outcome": outcome},
        )
        assert done.status == 200, await done.text()
        result: dict[str, Any] = await done.json()
        return result
