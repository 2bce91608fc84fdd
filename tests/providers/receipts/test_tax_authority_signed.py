"""A real signed 01/TH-BLĐT summary through the envelope: the tax authority takes it out of
``DLieu`` and its XML-DSig still verifies; a tampered one is rejected."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from providers.receipts.errors import InvalidSignature
from providers.receipts.sandbox_ca import ensure_sandbox_identity
from providers.receipts.signer import sign_xml, verify_xml
from providers.receipts.summary import DailySummary, SummaryRow, build_summary_xml
from providers.receipts.tax_authority import (
    Accepted,
    Rejected,
    TaxAuthorityClient,
    TaxAuthorityEndpoint,
)
from providers.sandbox.tax_authority import (
    SandboxTaxAuthorityConfig,
    create_tax_authority_app,
    sandbox_ca_verifier,
)

NOW = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
TAX_CODE = "0312345678"


@pytest.fixture
def signed_summary(tmp_path: Path) -> tuple[bytes, bytes]:
    identity, ca_pem = ensure_sandbox_identity(
        tmp_path, agency_name="Sở Tư pháp tỉnh Demo", tax_code=TAX_CODE, now=NOW
    )
    row = SummaryRow(
        "EBL01",
        "26TAB",
        1,
        date(2026, 11, 22),
        "Lệ phí cấp đổi giấy phép lái xe",
        135_000,
        None,
        "Mới",
        None,
        None,
        None,
        None,
    )
    summary = DailySummary("Sở Tư pháp tỉnh Demo", TAX_CODE, date(2026, 11, 22), (row,), NOW)
    return sign_xml(build_summary_xml(summary), identity, NOW), ca_pem


@pytest.fixture
async def client(
    aiohttp_server: Any, signed_summary: tuple[bytes, bytes]
) -> AsyncIterator[TaxAuthorityClient]:
    _, ca_pem = signed_summary

    def verify(document: bytes) -> bool:
        try:
            verify_xml(document, ca_pem)
        except InvalidSignature:
            return False
        return True

    config = SandboxTaxAuthorityConfig(verify_signature=verify, clock=lambda: NOW)
    server: TestServer = await aiohttp_server(create_tax_authority_app(config))
    endpoint = TaxAuthorityEndpoint(str(server.make_url("/")), "K" + TAX_CODE)
    async with aiohttp.ClientSession() as session:
        yield TaxAuthorityClient(session, endpoint, 5)


async def test_a_signed_summary_still_verifies_inside_the_envelope(
    client: TaxAuthorityClient, signed_summary: tuple[bytes, bytes]
) -> None:
    signed, _ = signed_summary
    answer = await client.send_summary(signed, tax_code=TAX_CODE, uuid=UUID(int=4, version=4))
    assert isinstance(answer, Accepted)


async def test_a_tampered_summary_is_rejected_for_its_signature(
    client: TaxAuthorityClient, signed_summary: tuple[bytes, bytes]
) -> None:
    signed, _ = signed_summary
    tampered = signed.replace(b"135000", b"13500")
    assert tampered != signed

    answer = await client.send_summary(tampered, tax_code=TAX_CODE, uuid=UUID(int=4, version=4))

    assert isinstance(answer, Rejected)
    assert [(r.code, r.message_vi) for r in answer.reasons] == [
        ("BAD_SIGNATURE", "Chữ ký số trên bảng tổng hợp không hợp lệ")
    ]


def test_in_sandbox_mode_a_summary_verifies_against_the_gateways_sandbox_ca(
    tmp_path: Path,
) -> None:
    receipts = tmp_path / "receipts"
    identity, _ = ensure_sandbox_identity(
        receipts / "DEMO", agency_name="Sở Tư pháp tỉnh Demo", tax_code=TAX_CODE, now=NOW
    )
    stranger, _ = ensure_sandbox_identity(
        tmp_path / "elsewhere", agency_name="Không rõ", tax_code="0100109106", now=NOW
    )
    summary = build_summary_xml(
        DailySummary("Sở Tư pháp tỉnh Demo", TAX_CODE, date(2026, 11, 22), (), NOW)
    )
    signed = sign_xml(summary, identity, NOW)
    body = signed.split(b"?>", 1)[1].strip()

    assert sandbox_ca_verifier(tmp_path / "nothing-yet")(body)  # no CA: presence only
    verify = sandbox_ca_verifier(receipts)
    assert verify(body)
    assert not verify(body.replace(b"2026-11-22", b"2026-11-23"))
    assert not verify(sign_xml(summary, stranger, NOW).split(b"?>", 1)[1].strip())
