"""Small helpers shared by test modules (not fixtures)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp
from conftest import AGENCY_ACCOUNT, AGENCY_BIN, BANK_SECRET, VNPAY_SECRET, VNPAY_TMN
from sqlalchemy import select

from gateway.core.db.schema import outbox_events
from gateway.keys import DATABASE
from providers.payment.vietqr import notice as wire
from providers.payment.vnpay import canonical_query, sign


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


def signed_notice(
    payment: dict[str, Any], now: int, amount: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """What the bank posts to ``/callbacks/bank/testbank`` for a transfer paying ``payment``."""
    body = json.dumps(
        {
            "transaction_id": f"FT{uuid.uuid4().hex[:12].upper()}",
            "bin": AGENCY_BIN,
            "account_number": AGENCY_ACCOUNT,
            "amount": payment["amount"] if amount is None else amount,
            "description": f"Nop phi {payment['reference']}",
            "booked_at": "2026-11-22T02:00:00+00:00",
        }
    ).encode()
    headers = {
        wire.TIMESTAMP_HEADER: str(now),
        wire.SIGNATURE_HEADER: wire.sign(BANK_SECRET.encode(), now, body),
        "Content-Type": "application/json",
    }
    return body, headers


def vnpay_ipn(
    attempt: dict[str, Any], secret: str = VNPAY_SECRET, **changes: str
) -> dict[str, str]:
    """VNPAY's success IPN for a VNPAY attempt, signed with `secret`. `changes` replace
    fields before signing; a field changed to "<drop>" is left out."""
    params = {
        "vnp_Amount": str(attempt["amount"] * 100),
        "vnp_BankCode": "NCB",
        "vnp_OrderInfo": "Thanh toan",
        "vnp_PayDate": "20261122091500",
        "vnp_ResponseCode": "00",
        "vnp_TmnCode": VNPAY_TMN,
        "vnp_TransactionNo": "14422574",
        "vnp_TransactionStatus": "00",
        "vnp_TxnRef": attempt["provider_reference"],
        **changes,
    }
    params = {name: value for name, value in params.items() if value != "<drop>"}
    return {**params, "vnp_SecureHash": sign(secret, canonical_query(params))}


def signed_ipn(attempt: dict[str, Any]) -> dict[str, str]:
    """VNPAY's success IPN for a VNPAY attempt (a fresh transaction number each time)."""
    return vnpay_ipn(attempt, vnp_TransactionNo=str(uuid.uuid4().int % 10**8))
