"""Sandbox mode with no configuration: the demo agency issues receipts from its seeded ranges,
signed with a throwaway CA made in the data directory, whose certificate the API serves."""

from __future__ import annotations

from typing import Any

from conftest import FixedClock
from tests_support import DEMO_PORTAL, pay_demo_bill, sandbox_settings, start_sandbox

from providers.receipts.signer import verify_xml


async def test_a_sandbox_payment_gets_a_receipt_signed_by_the_sandbox_ca(
    tmp_path: Any, unused_tcp_port: int, clock: FixedClock
) -> None:
    settings = sandbox_settings(tmp_path, unused_tcp_port)
    client = await start_sandbox(settings, clock)
    try:
        portal = {"Authorization": f"Bearer {DEMO_PORTAL}"}
        payment = await pay_demo_bill(client, "demo-receipt", 135_000)

        listed = await client.get(f"/v1/payments/{payment['id']}/receipts", headers=portal)
        [receipt] = (await listed.json())["data"]
        assert (receipt["symbol"], receipt["number"], receipt["status"]) == ("26TAB", 1, "issued")
        assert receipt["amount_in_words"] == "Một trăm ba mươi lăm nghìn đồng"
        signed = await (
            await client.get(f"/v1/receipts/{receipt['id']}.xml", headers=portal)
        ).read()
        ca_file = (tmp_path / "receipts" / "DEMO" / "sandbox-ca.pem").read_bytes()
        ca_pem = ca_file[ca_file.index(b"-----BEGIN CERTIFICATE") :]  # the file holds its key too
        verify_xml(signed, ca_pem)
        served = await client.get("/v1/receipts/signing-certificate", headers=portal)
        assert served.status == 200
        pem = await served.read()
        assert pem.count(b"BEGIN CERTIFICATE") == 2 and pem.endswith(ca_pem)
    finally:
        await client.close()
