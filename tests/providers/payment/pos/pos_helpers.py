"""Small real doubles shared by the POS tests: a callback receiver and a cardholder."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from providers.payment.pos import codec
from providers.payment.pos.codec import SaleResult

SECRET = b"pos-merchant-secret"
MERCHANT_ID = "HCM-DVC-01"


def approved(**overrides: Any) -> dict[str, Any]:
    """The cloud's result for an approved card sale, every field present."""
    return {
        "sale_id": "att_01JD4",
        "status": "approved",
        "amount": 185000,
        "approval_code": "042817",
        "masked_pan": "970436******1234",
        "card_brand": "NAPAS",
        "rrn": "633021123456",
        "decline_reason": None,
        "completed_at": "2026-11-22T09:00:12+07:00",
        **overrides,
    }


class Receiver:
    """The merchant's callback endpoint: records every delivery, answers as told (then 200)."""

    def __init__(self) -> None:
        self.calls: list[tuple[CIMultiDict[str], bytes]] = []
        self.answers: list[int] = []
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/pos/callbacks", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        self.calls.append((request.headers.copy(), await request.read()))
        return web.Response(status=self.answers.pop(0) if self.answers else 200)

    def opened(self, index: int, now: int, secret: bytes = SECRET) -> SaleResult:
        """Delivery ``index`` verified the way the gateway will, then parsed."""
        headers, body = self.calls[index]
        codec.verify(
            secret,
            timestamp=headers.get(codec.TIMESTAMP_HEADER),
            signature=headers.get(codec.SIGNATURE_HEADER),
            body=body,
            now=now,
        )
        return codec.parse_result(body)


class Cardholder:
    """Plays the person at the terminal through the sandbox's unsigned control routes."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def script(self, terminal_id: str, outcome: str, **extra: Any) -> Any:
        response = await self.session.post(
            f"/sandbox/terminals/{terminal_id}/script", json={"outcome": outcome, **extra}
        )
        assert response.status == 200, await response.text()
        return await response.json()

    async def complete(self, terminal_id: str, outcome: str, **extra: Any) -> Any:
        response = await self.session.post(
            f"/sandbox/terminals/{terminal_id}/complete", json={"outcome": outcome, **extra}
        )
        return response.status, await response.json()

    async def sales(self) -> Any:
        return await (await self.session.get("/sandbox/sales")).json()
