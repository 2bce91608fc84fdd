"""Sandbox mode with no configuration: the demo agency pays with MoMo and ZaloPay through the
mounted sandboxes (``/sandbox/momo``, ``/sandbox/zalopay``) with the credentials of
``config/default.toml``, IPN and callback included."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FixedClock
from tests_support import DEMO_PORTAL, sandbox_settings, start_sandbox


@pytest.mark.parametrize(
    ("method", "reference_field"), [("momo", "order_id"), ("zalopay", "app_trans_id")]
)
async def test_the_demo_agency_pays_with_a_wallet_in_sandbox_mode(
    tmp_path: Any, unused_tcp_port: int, clock: FixedClock, method: str, reference_field: str
) -> None:
    client = await start_sandbox(sandbox_settings(tmp_path, unused_tcp_port), clock)
    try:
        portal = {"Authorization": f"Bearer {DEMO_PORTAL}"}
        created = await client.post(
            "/v1/payments",
            headers={**portal, "Idempotency-Key": "demo-wallet"},
            json={
                "agency_code": "DEMO",
                "dossier_code": "H29-2",
                "payer": {"name": "An"},
                "items": [{"kind": "charge", "description": "Lệ phí", "amount": 135000}],
            },
        )
        payment = await created.json()
        started = await client.post(
            f"/v1/payments/{payment['id']}/attempts",
            headers={**portal, "Idempotency-Key": "demo-wallet-1"},
            json={"method": method},
        )
        attempt = await started.json()
        assert started.status == 201, attempt
        assert f"/sandbox/{method}/pay?" in attempt["next_action"]["url"]
        simulated = await client.post(
            f"/sandbox/{method}/simulate",
            json={reference_field: attempt["provider_reference"], "outcome": "success"},
        )
        assert simulated.status == 200, await simulated.text()
        paid = await (await client.get(f"/v1/payments/{payment['id']}", headers=portal)).json()
        assert paid["status"] == "paid"
        page = await (await client.get(f"/pay/{payment['id']}")).text()
        assert "Thanh toán qua Ví MoMo" in page and "Thanh toán qua ZaloPay" in page
    finally:
        await client.close()


@pytest.mark.parametrize(
    "path",
    ["/sandbox/vnpay/paymentv2/simulate", "/sandbox/momo/simulate", "/sandbox/zalopay/simulate"],
)
async def test_a_control_request_that_is_not_a_json_object_is_400(
    tmp_path: Any, unused_tcp_port: int, clock: FixedClock, path: str
) -> None:
    client = await start_sandbox(sandbox_settings(tmp_path, unused_tcp_port), clock)
    try:
        for body in (b"[1, 2]", b"not json"):
            answer = await client.post(
                path,
                data=body,
                headers={"Content-Type": "application/json"},
            )
            assert answer.status == 400, (body, await answer.text())
    finally:
        await client.close()
