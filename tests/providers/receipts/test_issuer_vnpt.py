"""VNPT as a receipt issuer: a receipt document goes in, the receipt VNPT numbered comes out,
once, however often the gateway asks; VNPT can cancel but not replace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from providers.receipts.document import ReceiptDocument, ReceiptLine, RelatedReceipt
from providers.receipts.issuer import (
    CancellingIssuer,
    IssuedReceipt,
    ReceiptIssuer,
    ReplacingIssuer,
)
from providers.receipts.vnpt import VnptAccount, VnptClient, VnptError
from providers.receipts.vnpt.codec import invoice_from_document
from providers.receipts.words import amount_in_words
from providers.sandbox.vnpt_receipts import SandboxVnptConfig, create_vnpt_receipts_app

DOCUMENT = ReceiptDocument(
    receipt_id="rct_01JDEMO0000000000000000001",
    template_code="EBL01",
    symbol="26TAB",
    number=1,
    issued_at=datetime(2026, 11, 22, 17, 30, tzinfo=UTC),  # 23/11 in Vietnam
    agency_name="Sở Tư pháp tỉnh Demo",
    agency_tax_code="0312345678",
    agency_address=None,
    payer_name="Nguyễn Văn An",
    payer_id_number="079200001234",
    payer_tax_code=None,
    payer_address="12 Lê Lợi, phường Bến Thành",
    dossier_code="H29.22-241122-0001",
    procedure_name="Cấp đổi giấy phép lái xe",
    channel="vietqr",
    transaction_reference="DVC8K2M4",
    lines=(
        ReceiptLine("fee", "P01", "Phí thẩm định hồ sơ", 50_000),
        ReceiptLine("charge", "L01", "Lệ phí cấp đổi giấy phép lái xe", 135_000),
    ),
    total=185_000,
    amount_in_words=amount_in_words(185_000),
)


@pytest.fixture
async def vnpt(aiohttp_server: Any) -> AsyncIterator[tuple[VnptClient, aiohttp.ClientSession]]:
    config = SandboxVnptConfig("svc", "svc-pass", "admin", "admin-pass")
    server: TestServer = await aiohttp_server(create_vnpt_receipts_app(config))
    account = VnptAccount(str(server.make_url("/")), "svc", "svc-pass", "admin", "admin-pass")
    async with (
        aiohttp.ClientSession() as session,
        aiohttp.ClientSession(server.make_url("/")) as tenant,
    ):
        yield VnptClient(session, account, 2, read_wait_seconds=0.01), tenant


def test_the_document_maps_onto_vnpts_shape() -> None:
    invoice = invoice_from_document(DOCUMENT)

    assert invoice.fkey == DOCUMENT.receipt_id
    assert invoice.arising_date.isoformat() == "2026-11-23"  # the date in Vietnam
    assert [(line.name, line.is_charge) for line in invoice.lines] == [
        ("Phí thẩm định hồ sơ", False),
        ("Lệ phí cấp đổi giấy phép lái xe", True),
    ]
    assert invoice.amount_in_words == "Một trăm tám mươi lăm nghìn đồng"
    assert invoice.payment_method == "CK"
    assert invoice.extra2 == "vietqr DVC8K2M4"
    assert "079200001234" not in repr(invoice)  # the ID number has no place at VNPT


async def test_issue_publishes_once_and_returns_vnpts_number_and_xml(
    vnpt: tuple[VnptClient, aiohttp.ClientSession],
) -> None:
    client, tenant = vnpt
    issuer: ReceiptIssuer = client

    issued = await issuer.issue(DOCUMENT)
    again = await issuer.issue(DOCUMENT)

    assert isinstance(issued, IssuedReceipt)
    assert (issued.provider, issued.external_key, issued.number) == ("vnpt", DOCUMENT.receipt_id, 1)
    assert "<InvoiceNo>1</InvoiceNo>" in issued.xml.decode()
    assert again == issued
    async with tenant.get("/sandbox/receipts") as response:
        assert len(await response.json()) == 1


async def test_the_next_document_gets_the_next_number(
    vnpt: tuple[VnptClient, aiohttp.ClientSession],
) -> None:
    client, _ = vnpt
    await client.issue(DOCUMENT)
    second = await client.issue(replace(DOCUMENT, receipt_id="rct_01JDEMO0000000000000000002"))
    assert second.number == 2


async def test_vnpt_replaces_a_receipt_it_issued_once(
    vnpt: tuple[VnptClient, aiohttp.ClientSession],
) -> None:
    client, tenant = vnpt
    assert isinstance(client, ReplacingIssuer)
    original = await client.issue(DOCUMENT)
    assert original.external_key is not None and original.number is not None
    related = RelatedReceipt("EBL01", "26TAB", original.number, DOCUMENT.issued_at)
    document = replace(DOCUMENT, receipt_id="rct_01JDEMO0000000000000000002", replaces=related)

    replacement = await client.replace(original.external_key, document)
    again = await client.replace(original.external_key, document)

    assert (replacement.external_key, replacement.number) == (document.receipt_id, 2)
    assert again == replacement  # the fkey holds it: adopted, not numbered again
    assert "<ReplacedFkey>rct_01JDEMO0000000000000000001</ReplacedFkey>" in replacement.xml.decode()
    state = await client.lookup(original.external_key)
    assert state is not None and state.state == "replaced"
    async with tenant.get("/sandbox/receipts") as response:
        assert len(await response.json()) == 2


async def test_vnpt_cancels(
    vnpt: tuple[VnptClient, aiohttp.ClientSession],
) -> None:
    client, _ = vnpt
    assert isinstance(client, CancellingIssuer)

    issued = await client.issue(DOCUMENT)
    assert issued.external_key is not None
    await client.cancel(issued.external_key)

    state = await client.lookup(issued.external_key)
    assert state is not None and state.state == "cancelled"
    with pytest.raises(VnptError) as caught:  # the fkey now holds a cancelled receipt
        await client.issue(DOCUMENT)
    assert caught.value.code == "duplicate_key"
