"""Sandbox mode mounts the tax authority and the VNPT e-receipt tenant: the connectors reach
them with nothing but the settings' defaults."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import aiohttp
from conftest import FixedClock
from tests_support import sandbox_settings, start_sandbox

from providers.receipts.tax_authority import Rejected, TaxAuthorityClient, TaxAuthorityEndpoint
from providers.receipts.vnpt import VnptAccount, VnptClient, VnptInvoice, VnptLine


async def test_sandbox_mode_serves_the_tax_authority_and_a_vnpt_tenant(
    tmp_path: Any, unused_tcp_port: int, clock: FixedClock
) -> None:
    settings = sandbox_settings(tmp_path, unused_tcp_port)
    client = await start_sandbox(settings, clock)
    try:
        base = str(client.make_url("/sandbox")).rstrip("/")
        tax = settings.tax_authority
        vnpt = settings.receipts.vnpt
        async with aiohttp.ClientSession() as session:
            authority = TaxAuthorityClient(
                session,
                TaxAuthorityEndpoint(f"{base}/tax-authority", tax.sender_code, path=tax.path),
                tax.timeout_seconds,
            )
            answer = await authority.send_summary(
                b"<BTHDLieu/>", tax_code="0312345678", uuid=UUID(int=7, version=4)
            )
            assert isinstance(answer, Rejected)  # unsigned
            assert [r.code for r in answer.reasons] == ["UNSIGNED"]

            account = VnptAccount(
                f"{base}/vnpt-receipts",
                vnpt.username,
                vnpt.password.get_secret_value(),
                vnpt.account,
                vnpt.ac_pass.get_secret_value(),
            )
            receipts = VnptClient(session, account, vnpt.timeout_seconds)
            line = VnptLine("Lệ phí cấp đổi giấy phép lái xe", 135_000, is_charge=True)
            invoice = VnptInvoice(
                "rct_demo_1",
                "H29-1",
                "Nguyễn Văn An",
                clock().date(),
                (line,),
                135_000,
                "Một trăm ba mươi lăm nghìn đồng",
            )
            published = await receipts.publish(invoice, "EBL01", "26TAB")
            assert published.number == 1

        listed = await client.get("/sandbox/tax-authority/sandbox/messages")
        assert [m["outcome"] for m in await listed.json()] == ["rejected"]
    finally:
        await client.close()
