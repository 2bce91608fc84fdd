"""Sandbox mode as a newcomer meets it: demo agency and keys, sandbox providers mounted, and a
full reconciliation day from statements the sandbox generates out of the gateway's own data."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from conftest import FixedClock
from tests_support import DEMO_PORTAL, sandbox_settings, start_sandbox

from reconciliation.model import BUSINESS_TZ

FINANCE = "gw_demo000002_financefinancefinancefinance0000"
APPROVER = "gw_demo000003_approverapproverapproverappr0000"


async def test_a_sandbox_day_from_payment_to_reconciliation(
    aiohttp_client: Any,
    tmp_path: Any,
    unused_tcp_port: int,
    clock: FixedClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = sandbox_settings(
        tmp_path, unused_tcp_port, finance_key=FINANCE, approver_key=APPROVER
    )
    assert settings.sandbox
    client = await start_sandbox(settings, clock)
    banner = capsys.readouterr().err
    assert f"Demo portal API key:   {DEMO_PORTAL}" in banner
    assert f"Demo finance API key:  {FINANCE}" in banner
    assert f"Demo approver API key: {APPROVER}" in banner
    assert "ketoan / " in banner and "truongphong / " in banner
    try:
        portal = {"Authorization": f"Bearer {DEMO_PORTAL}"}
        created = await client.post(
            "/v1/payments",
            headers={**portal, "Idempotency-Key": "demo-1"},
            json={
                "agency_code": "DEMO",
                "dossier_code": "H29-1",
                "payer": {"name": "An"},
                "items": [{"kind": "charge", "description": "Lệ phí", "amount": 135000}],
            },
        )
        payment = await created.json()
        transfer = await client.post(
            "/sandbox/bank/transfers",
            json={
                "bin": "970499",
                "account_number": "0011001234567",
                "amount": 135000,
                "description": payment["reference"],
            },
        )
        assert (await transfer.json())["delivered"] is True
        paid = await (await client.get(f"/v1/payments/{payment['id']}", headers=portal)).json()
        assert paid["status"] == "paid"

        day = clock().astimezone(BUSINESS_TZ).date()
        statement = await client.get(f"/sandbox/statements/{day}/camt053.xml?unknown=99000")
        assert statement.status == 200
        form = aiohttp.FormData()
        form.add_field("source", "camt053")
        form.add_field("file", await statement.read(), filename="camt053.xml")
        finance = {"Authorization": f"Bearer {FINANCE}"}
        imported = await client.post("/v1/reconciliation/statements", data=form, headers=finance)
        assert (await imported.json())["status"] == "accepted"
        run = await client.post(
            "/v1/reconciliation/runs", json={"business_date": day.isoformat()}, headers=finance
        )
        summary = (await run.json())["summary"]
        assert summary["matched"]["count"] == 1
        assert summary["exceptions"]["by_type"] == {"missing_in_gateway": 1}
    finally:
        await client.close()
