"""The sandbox MoMo checks requests as MoMo does (spec §A): the signature (13), the request
type and amount (20/22), a repeated ``requestId`` (40) or ``orderId`` (41); an unknown order
queried is 42."""

from __future__ import annotations

from typing import Any

from providers.common.secrets import Secret
from providers.payment.momo import MomoMerchant, create_request, query_request
from providers.sandbox.momo import SandboxMomoConfig, create_momo_app

MERCHANT = MomoMerchant("MOMOT", Secret("acc"), Secret("sec"), "http://unused")
GUESSED = MomoMerchant("MOMOT", Secret("acc"), Secret("guessed"), "http://unused")


def _create(order_id: str, request_id: str, merchant: MomoMerchant = MERCHANT, **kw: Any) -> Any:
    return create_request(
        merchant,
        order_id=order_id,
        request_id=request_id,
        amount=kw.get("amount", 185000),
        order_info="Thanh toán hồ sơ",
        redirect_url="http://gw/pay/p",
        ipn_url="http://gw/callbacks/momo/ipn",
    )


async def test_create_and_query_answer_momos_codes(aiohttp_client: Any) -> None:
    client = await aiohttp_client(
        create_momo_app(SandboxMomoConfig(partner_code="MOMOT", access_key="acc", secret_key="sec"))
    )

    async def code(path: str, body: dict[str, Any]) -> int:
        answer = await (await client.post(f"/v2/gateway/api/{path}", json=body)).json()
        return int(answer["resultCode"])

    assert await code("create", _create("O1", "r1")) == 0
    assert await code("create", _create("O2", "r2", GUESSED)) == 13
    assert await code("create", _create("O3", "r3", amount=999)) == 22
    assert await code("create", _create("O4", "r1")) == 40
    assert await code("create", _create("O1", "r5")) == 41
    assert await code("query", query_request(MERCHANT, order_id="O1", request_id="q1")) == 1000
    assert await code("query", query_request(MERCHANT, order_id="NO", request_id="q2")) == 42
