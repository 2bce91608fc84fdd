"""The sandbox card acquirer's settlement file: a bill paid at the demo terminal appears in
``/sandbox/statements/{day}/pos_settlement.csv``, the file imports as ``pos_settlement`` and
reconciles against the gateway's ledger, with the same discrepancy parameters as the other
statement kinds."""

from __future__ import annotations

from typing import Any

import aiohttp
from conftest import FixedClock
from tests_support import DEMO_PORTAL, create_demo_bill, sandbox_settings, start_sandbox

from reconciliation.model import BUSINESS_TZ

FINANCE = "gw_demo000002_financefinancefinancefinance0000"
PORTAL = {"Authorization": f"Bearer {DEMO_PORTAL}"}
TERMINAL = "DEMO-POS-01"


async def _paid_at_the_counter(client: Any, key: str, amount: int) -> dict[str, Any]:
    payment = await create_demo_bill(client, key, amount)
    script = f"/sandbox/pos/sandbox/terminals/{TERMINAL}/script"
    assert (await client.post(script, json={"outcome": "no_answer"})).status == 200
    pushed = await client.post(
        f"/v1/payments/{payment['id']}/attempts",
        headers={**PORTAL, "Idempotency-Key": f"{key}-pos"},
        json={"method": "pos", "terminal_id": TERMINAL},
    )
    assert pushed.status == 201, await pushed.text()
    complete = f"/sandbox/pos/sandbox/terminals/{TERMINAL}/complete"
    assert (await client.post(complete, json={"outcome": "approve"})).status == 200
    read = await client.get(f"/v1/payments/{payment['id']}", headers=PORTAL)
    paid: dict[str, Any] = await read.json()
    assert paid["status"] == "paid"
    return paid


async def _import_and_run(client: Any, body: bytes, day: str) -> dict[str, Any]:
    finance = {"Authorization": f"Bearer {FINANCE}"}
    form = aiohttp.FormData()
    form.add_field("source", "pos_settlement")
    form.add_field("file", body, filename="pos_settlement.csv")
    imported = await client.post("/v1/reconciliation/statements", data=form, headers=finance)
    assert (await imported.json())["status"] == "accepted", await imported.text()
    run = await client.post("/v1/reconciliation/runs", json={"business_date": day}, headers=finance)
    summary: dict[str, Any] = (await run.json())["summary"]
    return summary


async def test_a_card_payment_is_in_the_acquirers_file_and_reconciles(
    tmp_path: Any, unused_tcp_port: int, clock: FixedClock
) -> None:
    settings = sandbox_settings(tmp_path, unused_tcp_port, finance_key=FINANCE)
    client = await start_sandbox(settings, clock)
    try:
        first = await _paid_at_the_counter(client, "pos-1", 135000)
        await _paid_at_the_counter(client, "pos-2", 50000)
        day = clock().astimezone(BUSINESS_TZ).date().isoformat()

        response = await client.get(f"/sandbox/statements/{day}/pos_settlement.csv")
        assert response.status == 200
        assert "attachment" in response.headers["Content-Disposition"]
        body = await response.read()
        records = [line.split(",") for line in body.decode().splitlines()]
        assert records[0][0] == "HDR"
        # Both sales at the test clock's one instant: in RRN order, which is random.
        assert sorted(r[6] for r in records if r[0] == "DTL") == ["135000", "50000"]
        assert records[-1][0] == "TRL" and records[-1][3:] == ["2", "185000"]

        # The first sale is reported 5,000 VND short, and a sale nobody booked appears.
        problems = f"delta={first['reference']}:-5000&unknown=77000"
        odd = await client.get(f"/sandbox/statements/{day}/pos_settlement.csv?{problems}")
        summary = await _import_and_run(client, await odd.read(), day)
        assert summary["matched"]["count"] == 1
        assert summary["exceptions"]["by_type"] == {
            "amount_mismatch": 1,
            "missing_in_gateway": 1,
        }
    finally:
        await client.close()


async def test_a_sale_named_failed_is_written_as_void_and_the_file_still_ties(
    tmp_path: Any, unused_tcp_port: int, clock: FixedClock
) -> None:
    client = await start_sandbox(sandbox_settings(tmp_path, unused_tcp_port), clock)
    try:
        paid = await _paid_at_the_counter(client, "pos-void", 90000)
        day = clock().astimezone(BUSINESS_TZ).date().isoformat()
        response = await client.get(
            f"/sandbox/statements/{day}/pos_settlement.csv?failed={paid['reference']}"
        )
        lines = (await response.text()).splitlines()
        assert lines[1].endswith(",VOID")
        assert lines[-1].endswith(",1,0")  # one record, nothing settled
    finally:
        await client.close()


async def test_bad_discrepancy_parameters_are_refused(
    tmp_path: Any, unused_tcp_port: int, clock: FixedClock
) -> None:
    client = await start_sandbox(sandbox_settings(tmp_path, unused_tcp_port), clock)
    try:
        response = await client.get("/sandbox/statements/2026-11-22/pos_settlement.csv?delta=X:y")
        assert response.status == 422
        assert (await response.json())["code"] == "validation_failed"
    finally:
        await client.close()
