"""What the tests of messages to the tax authority share (the same-day summaries, the notices
of receipt errors): the gateway issuing receipts for HCM beside the tax authority's sandbox,
which verifies every signature against the test CA."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestServer
from conftest import Channels, FixedClock, open_channels
from receipt_support import TAX_CODE, Identity, receipt_settings, receipts_of
from tests_support import signed_notice

from gateway.keys import METRICS, RECEIPT_SUMMARIES, RECEIPT_TAX_NOTICES, RECEIPTS
from providers.receipts.errors import InvalidSignature
from providers.receipts.signer import verify_xml
from providers.sandbox.tax_authority import SandboxTaxAuthorityConfig, create_tax_authority_app


@dataclass
class World:
    gateway: Channels
    tax: TestServer

    @property
    def summaries(self) -> Any:
        return self.gateway.client.app[RECEIPT_SUMMARIES]

    @property
    def notices(self) -> Any:
        return self.gateway.client.app[RECEIPT_TAX_NOTICES]

    async def pay(self) -> dict[str, Any]:
        payment = await self.gateway.create_payment()
        body, headers = signed_notice(payment, int(self.gateway.clock().timestamp()))
        response = await self.gateway.client.post(
            "/callbacks/bank/testbank", data=body, headers=headers
        )
        assert response.status == 200, await response.text()
        return payment

    async def script(self, *outcomes: dict[str, Any]) -> None:
        async with self.gateway.client.session.post(
            self.tax.make_url("/sandbox/faults"), json={"next": list(outcomes)}
        ) as response:
            assert response.status == 200, await response.text()

    async def received(self) -> list[dict[str, Any]]:
        async with self.gateway.client.session.get(
            self.tax.make_url("/sandbox/messages")
        ) as response:
            return list(await response.json())

    async def listed(self, **query: str) -> list[dict[str, Any]]:
        response = await self.gateway.client.get(
            "/v1/receipts/summaries", params=query, headers=self.gateway.auth("finance")
        )
        assert response.status == 200, await response.text()
        return list((await response.json())["data"])

    async def correct(self, payment: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        """Propose a correction of the payment's valid receipt and have another person approve
        it; the approved correction."""
        [receipt] = [
            r for r in await receipts_of(self.gateway, payment["id"]) if r["status"] != "replaced"
        ]
        proposed = await self.gateway.client.post(
            f"/v1/receipts/{receipt['id']}/corrections",
            json={"reason": "Sai sót", "fields": fields},
            headers={**self.gateway.auth("finance2"), "Idempotency-Key": uuid.uuid4().hex},
        )
        assert proposed.status == 201, await proposed.text()
        correction_id = (await proposed.json())["id"]
        approved = await self.gateway.client.post(
            f"/v1/receipt-corrections/{correction_id}/approve",
            headers={**self.gateway.auth("approver2"), "Idempotency-Key": uuid.uuid4().hex},
        )
        assert approved.status == 200, await approved.text()
        return dict(await approved.json())

    def sends(self, outcome: str, metric_name: str = "receipt_summary_sends") -> float:
        metric = getattr(self.gateway.client.app[METRICS], metric_name)
        return float(metric.labels("HCM", outcome)._value.get())


@contextlib.asynccontextmanager
async def open_world(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    port: int,
    identity: Identity,
    *,
    timeout_seconds: float = 0.3,
) -> AsyncIterator[World]:
    def verify(document: bytes) -> bool:
        try:
            verify_xml(document, identity.ca_pem)
        except InvalidSignature:
            return False
        return True

    tax = await aiohttp_server(
        create_tax_authority_app(
            SandboxTaxAuthorityConfig(verify_signature=verify, hold_seconds=5, clock=clock)
        )
    )
    gateway = await open_channels(
        aiohttp_server,
        database_url,
        clock,
        port,
        receipts=receipt_settings(identity),
        tax_authority={
            "base_url": str(tax.make_url("")),
            "sender_code": "K" + TAX_CODE,
            "timeout_seconds": timeout_seconds,
            "retry_seconds": 600,
        },
    )
    await gateway.client.app[RECEIPTS].add_range("HCM", "26TAB", "online", 1, 1000)
    try:
        yield World(gateway, tax)
    finally:
        await gateway.client.close()


async def reconcile(gateway: Channels, day: str) -> None:
    """Run the day and decide every exception (maker, then checker), so it may close."""
    finance, approver = gateway.auth("finance"), gateway.auth("approver")
    run = await gateway.client.post(
        "/v1/reconciliation/runs", json={"business_date": day}, headers=finance
    )
    assert run.status == 201, await run.text()
    listed = await gateway.client.get(
        "/v1/reconciliation/exceptions", params={"business_date": day}, headers=finance
    )
    for exception in (await listed.json())["data"]:
        path = f"/v1/reconciliation/exceptions/{exception['id']}"
        resolved = await gateway.client.post(
            f"{path}/resolve",
            json={"resolution": "write_off", "reason": "Kiểm tra xong"},
            headers=finance,
        )
        assert resolved.status == 200, await resolved.text()
        approved = await gateway.client.post(f"{path}/approve", headers=approver)
        assert approved.status == 200, await approved.text()
