"""The gateway with the sandbox DVCQG payment platform as a real server (beside the sandbox
VNPAY and POS cloud of ``conftest.open_channels``), and what a citizen and the platform do."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from conftest import Channels, FixedClock, open_channels

from providers.payment.dvcqg import checksum, format_time
from providers.sandbox.dvcqg import TRANSACTIONS, SandboxDvcqgConfig, create_dvcqg_app

PARTNER = "TEST-DVCQG"
SECRET = "test-dvcqg-secret"
HN_PARTNER = "TEST-DVCQG-HN"
HN_SECRET = "test-dvcqg-secret-hn"


@dataclass
class Platform(Channels):
    platform: Any = None  # the sandbox platform's TestServer

    async def pay(self, attempt: dict[str, Any], outcome: str, **extra: Any) -> dict[str, Any]:
        """The citizen opens the platform's page and finishes there (the sandbox sends its
        callback before answering, unless it is lost)."""
        async with aiohttp.ClientSession() as browser:
            page = await browser.get(attempt["next_action"]["url"])
            assert page.status == 200, await page.text()
            done = await browser.post(
                self.platform.make_url("/simulate"),
                json={"MaThamChieu": attempt["provider_reference"], "outcome": outcome, **extra},
            )
            assert done.status == 200, await done.text()
            result: dict[str, Any] = await done.json()
            return result

    def transaction(self, attempt: dict[str, Any]) -> Any:
        return self.platform.app[TRANSACTIONS][attempt["provider_reference"]]

    def callback(self, attempt: dict[str, Any], secret: str = SECRET, **fields: Any) -> bytes:
        """A Confirm callback for ``attempt`` as the platform signs it (``fields`` change it
        before signing; ``MaXacThuc`` given in ``fields`` replaces the checksum)."""
        body: dict[str, Any] = {
            "LoaiBanTin": "CONFIRM",
            "MaLoi": "00",
            "MaDoiTac": PARTNER,
            "MaThamChieu": attempt["provider_reference"],
            "SoTien": str(attempt["amount"]),
            "MaTienTe": "VND",
            "MaGiaoDich": "PP000000000001",
            "MaNganHang": "VCB",
            "ThoiGianGD": format_time(self.clock()),
            "ThongTinGiaoDich": "THANH TOAN HO SO 000.00.12.H29-241122-0001",
        }
        forced = fields.pop("MaXacThuc", None)
        body.update(fields)
        body["MaXacThuc"] = forced or checksum(body, "CALLBACK", secret)
        return json.dumps(body).encode()

    async def post_callback(self, raw: bytes) -> tuple[int, dict[str, Any], str]:
        """Post a Confirm callback: the HTTP status, the reply body, and our stable code (the
        ``X-Gateway-Outcome`` header when processed, ``X-Gateway-Error`` when refused)."""
        response = await self.client.post(
            "/callbacks/dvcqg", data=raw, headers={"Content-Type": "application/json"}
        )
        headers = response.headers
        code = headers.get("X-Gateway-Outcome") or headers.get("X-Gateway-Error", "")
        return response.status, await response.json(), code


async def open_platform(
    aiohttp_server: Any, database_url: str, clock: FixedClock, port: int, **settings: Any
) -> Platform:
    base = f"http://127.0.0.1:{port}"
    platform = await aiohttp_server(
        create_dvcqg_app(
            SandboxDvcqgConfig(
                partner_code=PARTNER,
                secret_key=SECRET,
                callback_url=f"{base}/callbacks/dvcqg",
                return_url=f"{base}/callbacks/dvcqg/return",
                clock=clock,
            )
        )
    )
    dvcqg = {
        "init_url": str(platform.make_url("/init")),
        "query_url": str(platform.make_url("/query")),
        "bill_url": str(platform.make_url("/getbill")),
        "partner_code": PARTNER,
        "secret_key": SECRET,
        **settings.pop("dvcqg", {}),
    }
    opened = await open_channels(aiohttp_server, database_url, clock, port, dvcqg=dvcqg, **settings)
    fields = {name: getattr(opened, name) for name in Channels.__dataclass_fields__}
    return Platform(**fields, platform=platform)
