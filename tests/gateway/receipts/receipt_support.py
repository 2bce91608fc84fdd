"""What the receipt tests share: the ``[receipts]`` settings for agency HCM (signing with the
session's ``identity`` from conftest), and the gateway (with the sandbox VNPAY and POS cloud)
issuing receipts."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import IN_CI, LEGAL_NAME, TAX_CODE, Channels, Identity, open_channels
from sqlalchemy import select

from gateway.core.db.schema import outbox_events
from gateway.keys import DATABASE, RECEIPTS

__all__ = ["LEGAL_NAME", "TAX_CODE", "Identity"]  # re-exported for the tests


def receipt_settings(identity: Identity, **hcm: Any) -> dict[str, Any]:
    return {
        "agencies": {
            "HCM": {
                "tax_code": TAX_CODE,
                "legal_name": LEGAL_NAME,
                "address": "141 Pasteur, Phường Xuân Hòa, Thành phố Hồ Chí Minh",
                "template_code": "EBL01",
                "symbols": {"2026": "26TAB"},
                "split": "single",
                "key_file": str(identity.key_file),
                "certificate_file": str(identity.certificate_file),
                **hcm,
            }
        }
    }


async def open_receipting(
    aiohttp_server: Any,
    database_url: str,
    clock: Any,
    port: int,
    identity: Identity,
    ranges: tuple[tuple[str, int, int], ...] = (("online", 1, 1000), ("counter", 5001, 6000)),
    symbol: str = "26TAB",
    **hcm: Any,
) -> Channels:
    """The gateway with VNPAY and POS sandboxes, issuing receipts for HCM from ``ranges``
    ((point, first, last) of ``symbol``)."""
    channels = await open_channels(
        aiohttp_server, database_url, clock, port, receipts=receipt_settings(identity, **hcm)
    )
    for point, first, last in ranges:
        await channels.client.app[RECEIPTS].add_range("HCM", symbol, point, first, last)
    return channels


@pytest.fixture
async def receipting(
    aiohttp_server: Any,
    database_url: str,
    clock: Any,
    unused_tcp_port_factory: Any,
    identity: Identity,
) -> Any:
    """The gateway issuing receipts for HCM (``open_receipting`` with its default ranges);
    a test module uses it by importing it."""
    opened = await open_receipting(
        aiohttp_server, database_url, clock, unused_tcp_port_factory(), identity
    )
    yield opened
    await opened.client.close()


async def receipts_of(gateway: Any, payment_id: str, who: str = "portal") -> list[dict[str, Any]]:
    response = await gateway.client.get(
        f"/v1/payments/{payment_id}/receipts", headers=gateway.auth(who)
    )
    assert response.status == 200, await response.text()
    return list((await response.json())["data"])


async def receipt_xml(gateway: Any, receipt: dict[str, Any]) -> bytes:
    response = await gateway.client.get(f"/v1/receipts/{receipt['id']}.xml", headers=gateway.auth())
    assert response.status == 200, await response.text()
    assert response.content_type == "application/xml"
    return await response.read()


async def event_types(gateway: Any, payment_id: str) -> list[str]:
    async with gateway.client.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(outbox_events.c.type)
            .where(outbox_events.c.payment_id == payment_id)
            .order_by(outbox_events.c.sequence)
        )
        return list(rows.scalars())


def xmlsec1() -> str:
    """Debian's ``xmlsec1``: an implementation independent of the signer. Missing, the test
    skips on a developer machine and fails in CI."""
    found = shutil.which("xmlsec1")
    if found is None:
        message = "xmlsec1 is missing: install Debian's xmlsec1 package"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def xmlsec1_verifies(
    signed: bytes, ca_file: Path, workdir: Path, at: datetime
) -> subprocess.CompletedProcess[str]:
    """``xmlsec1 --verify`` of the signed receipt, trusting only the CA, with the Id
    attributes the references point at declared, at the signing time ``at``."""
    document = workdir / "receipt.xml"
    document.write_bytes(signed)
    return subprocess.run(  # noqa: S603 — a fixed program with our own arguments
        [
            xmlsec1(),
            "--verify",
            "--trusted-pem",
            str(ca_file),
            "--id-attr:Id",
            "TTChung",
            "--id-attr:Id",
            "DLieu",
            "--id-attr:Id",
            "http://www.w3.org/2000/09/xmldsig#:Object",
            "--verification-gmt-time",
            at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            str(document),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
