"""Sandbox mode with no configuration: the demo agency pays through the mounted sandbox DVCQG
platform (/sandbox/dvcqg), whose callback and QUERY reach the gateway itself."""

from __future__ import annotations

from typing import Any

from conftest import FixedClock
from tests_support import DEMO_PORTAL, sandbox_settings, start_sandbox


async def test_the_demo_agency_pays_through_the_sandbox_platform(
    tmp_path: Any, unused_tcp_port: int, clock: FixedClock
) -> None:
    client = await start_sandbox(sandbox_settings(tmp_path, unused_tcp_port), clock)
    portal = {"Authorization": f"Bearer {DEMO_PORTAL}"}
    try:
        created = await client.post(
            "/v1/payments",
            headers={**portal, "Idempotency-Key": "demo-dvcqg"},
            json={
                "agency_code": "DEMO",
                "dossier_code": "H29-2",
                "procedure_code": "1.001234",
                "payer": {"name": "An"},
                "items": [{"kind": "charge", "description": "Lệ phí", "amount": 135000}],
            },
        )
        payment = await created.json()
        started = await client.post(
            f"/v1/payments/{payment['id']}/attempts",
            headers={**portal, "Idempotency-Key": "demo-dvcqg-1"},
            json={"method": "dvcqg"},
        )
        attempt = await started.json()
        assert started.status == 201 and attempt["status"] == "pending", attempt
        page = await client.session.get(attempt["next_action"]["url"])
        assert page.status == 200
        done = await client.post(
            "/sandbox/dvcqg/simulate",
            json={"MaThamChieu": attempt["provider_reference"], "outcome": "success"},
        )
        assert (await done.json())["callbacks"] == [{"http_status": 200, "MaLoi": "00"}]
        paid = await (await client.get(f"/v1/payments/{payment['id']}", headers=portal)).json()
        assert paid["status"] == "paid"
    finally:
        await client.close()
