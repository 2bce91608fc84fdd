"""Reading receipts: the list with filters and a cursor, the signing certificate, the
citizen's page behind its token, the checkout page's paid state, COD at the door, and a
service that refuses to start without a usable certificate."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import receipt_support
from conftest import Channels, make_settings
from receipt_support import (
    LEGAL_NAME,
    TAX_CODE,
    Identity,
    receipt_settings,
    receipts_of,
)
from tests_support import signed_notice

from config import ConfigError
from gateway.services.receipts.signing import load_issuers

#: The gateway issuing receipts for HCM (the shared fixture).
receipting = receipt_support.receipting


async def paid(gateway: Channels, **overrides: Any) -> dict[str, Any]:
    payment = await gateway.create_payment(**overrides)
    body, headers = signed_notice(payment, int(gateway.clock().timestamp()))
    response = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert response.status == 200, await response.text()
    return payment


async def get(gateway: Channels, path: str, who: str = "portal") -> Any:
    response = await gateway.client.get(path, headers=gateway.auth(who))
    return response.status, await response.json()


async def test_the_list_filters_and_pages_with_a_cursor_newest_first(receipting: Channels) -> None:
    first = await paid(receipting)
    receipting.clock.advance(minutes=1)
    second = await paid(receipting)
    receipting.clock.advance(minutes=1)
    third = await paid(receipting)

    status, page = await get(receipting, "/v1/receipts?limit=2&status=issued&symbol=26TAB")
    assert status == 200
    assert [r["payment_id"] for r in page["data"]] == [third["id"], second["id"]]
    status, rest = await get(receipting, f"/v1/receipts?limit=2&cursor={page['next_cursor']}")
    assert [r["payment_id"] for r in rest["data"]] == [first["id"]]
    assert rest["next_cursor"] is None
    _, by_finance = await get(receipting, "/v1/receipts?agency_code=HCM", who="finance2")
    assert len(by_finance["data"]) == 3
    _, other = await get(receipting, "/v1/receipts", who="other")
    assert other["data"] == []
    _, later = await get(receipting, "/v1/receipts?issued_from=2026-11-22T02:01:00Z")
    assert [r["number"] for r in later["data"]] == [3, 2]
    _, none_pending = await get(receipting, "/v1/receipts?status=pending")
    assert none_pending["data"] == []
    status, problem = await get(receipting, "/v1/receipts?cursor=bm90LWEtY3Vyc29y")
    assert (status, problem["code"]) == (400, "invalid_cursor")
    status, problem = await get(receipting, "/v1/receipts?status=lost")
    assert (status, problem["code"]) == (422, "validation_failed")


async def test_one_receipt_reads_as_the_payment_lists_it(receipting: Channels) -> None:
    payment = await paid(receipting)
    [listed] = await receipts_of(receipting, payment["id"])

    status, receipt = await get(receipting, f"/v1/receipts/{listed['id']}")

    assert status == 200 and receipt == listed
    status, problem = await get(receipting, "/v1/receipts/rct_aaaaaaaaaaaaaaaaaaaaaaaaaa")
    assert (status, problem["code"]) == (404, "not_found")


async def test_the_signing_certificate_is_served_as_pem(
    receipting: Channels, identity: Identity
) -> None:
    response = await receipting.client.get(
        "/v1/receipts/signing-certificate", headers=receipting.auth()
    )
    assert response.status == 200
    assert await response.read() == identity.certificate_file.read_bytes()
    response = await receipting.client.get(
        "/v1/receipts/signing-certificate", headers=receipting.auth("other")
    )
    assert response.status == 404  # HN issues no receipts through the gateway


async def test_the_receipt_page_shows_the_receipt_to_whoever_has_its_link(
    receipting: Channels,
) -> None:
    payment = await paid(receipting, payer={"name": "Nguyễn Văn An", "id_number": "079204001234"})
    [receipt] = await receipts_of(receipting, payment["id"])
    assert receipt["payer"] == {"name": "Nguyễn Văn An", "id_number": "********1234"}
    path = receipt["view_url"].removeprefix(str(receipting.client.make_url("")).rstrip("/"))

    page = await receipting.client.get(path)

    assert page.status == 200
    html = await page.text()
    for shown in (
        "BIÊN LAI THU PHÍ, LỆ PHÍ",
        "EBL01",
        "26TAB",
        "00000001",
        LEGAL_NAME,
        TAX_CODE,
        "185.000 ₫",
        "Một trăm tám mươi lăm nghìn đồng",
        "Nguyễn Văn An",
        "********1234",
        "000.00.12.H29-241122-0001",
        "Chuyển khoản VietQR",
        receipt["transaction_reference"],
        "22/11/2026 09:00",
        "đã được ký số",
    ):
        assert shown in html, shown
    assert "079204001234" not in html
    for wrong in (path[:-1] + ("A" if path[-1] != "A" else "B"), path.split("?")[0]):
        response = await receipting.client.get(wrong)
        assert response.status == 404
        assert "Không tìm thấy biên lai" in await response.text()


async def test_the_paid_checkout_page_names_the_receipt_and_links_to_it(
    receipting: Channels,
) -> None:
    payment = await paid(receipting)
    [receipt] = await receipts_of(receipting, payment["id"])

    html = await (await receipting.client.get(f"/pay/{payment['id']}")).text()
    status = await (await receipting.client.get(f"/pay/{payment['id']}/status")).json()

    path = receipt["view_url"].removeprefix(str(receipting.client.make_url("")).rstrip("/"))
    assert f'href="{path}"' in html
    assert "26TAB" in html and "00000001" in html and "Chuyển khoản VietQR" in html
    assert status["receipts"] == [
        {
            "symbol": "26TAB",
            "number": "00000001",
            "issued_at": "22/11/2026 09:00",
            "channel": "Chuyển khoản VietQR",
            "amount": "185.000 ₫",
            "url": path,
            "replaces": None,
        }
    ]
    assert status["receipts_pending"] is False


def test_outside_sandbox_mode_an_expired_or_missing_certificate_stops_start_up(
    identity: Identity, tmp_path: Path
) -> None:
    settings = make_settings("sqlite+aiosqlite://", receipts=receipt_settings(identity))
    load_issuers(settings, datetime(2026, 11, 22, tzinfo=UTC))  # valid: no error

    with pytest.raises(ConfigError) as expired:
        load_issuers(settings, datetime(2028, 2, 1, tzinfo=UTC))
    assert expired.value.key == "receipts.agencies.HCM"
    assert "expired" in str(expired.value)

    missing = receipt_settings(identity, certificate_file=str(tmp_path / "nowhere.pem"))
    with pytest.raises(ConfigError) as unreadable:
        load_issuers(make_settings("sqlite+aiosqlite://", receipts=missing), datetime.now(UTC))
    assert unreadable.value.key == "receipts.agencies.HCM"

    unsigned = receipt_settings(identity, key_file=None, certificate_file=None)
    with pytest.raises(ConfigError, match="pkcs12_file or key_file"):
        make_settings("sqlite+aiosqlite://", receipts=unsigned)
