"""DvcqgClient against a scripted platform: what is retried (QUERY, GET_BILL) and what is not
(INIT), and how answers of the wrong kind are reported."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from providers.payment.dvcqg import Bill, DvcqgClient, DvcqgError, DvcqgPartner, FeeLine, checksum

SECRET = "client-secret"
AT = datetime(2026, 7, 1, 2, 30, 15, tzinfo=UTC)
BILL = Bill(
    dossier_code="H1",
    procedure_code="1.1",
    procedure_name="Thủ tục",
    agency_code="HCM",
    agency_name="Sở",
    beneficiary_account="001",
    beneficiary_bank="970499",
    beneficiary_name="SO",
    payer_name="An",
    lines=(FeeLine("phi", "P", "Phí", 1000),),
)


class Script:
    """Answers each path with the next scripted (status, body, content type)."""

    def __init__(self, **answers: list[tuple[int, Any, str]]) -> None:
        self.answers = answers
        self.calls: dict[str, int] = {}

    async def handle(self, request: web.Request) -> web.Response:
        name = request.path.strip("/")
        self.calls[name] = self.calls.get(name, 0) + 1
        status, body, content_type = self.answers[name].pop(0)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return web.Response(status=status, body=data, content_type=content_type)


async def client_for(aiohttp_server: Any, script: Script) -> tuple[DvcqgClient, Any]:
    app = web.Application()
    for name in ("init", "query", "getbill"):
        app.router.add_post(f"/{name}", script.handle)
    server = await aiohttp_server(app)
    partner = DvcqgPartner(
        "P1",
        SECRET,
        str(server.make_url("/init")),
        str(server.make_url("/query")),
        str(server.make_url("/getbill")),
    )
    session = aiohttp.ClientSession()
    return DvcqgClient(session, partner, retry_wait_seconds=0), session


def paid_answer() -> dict[str, str]:
    answer = {"LoaiBanTin": "QUERY", "MaLoi": "00", "MaDoiTac": "P1", "MaThamChieu": "R1",
              "SoTien": "1000", "TrangThaiGD": "1"}  # fmt: skip
    answer["MaXacThuc"] = checksum(answer, "QUERY_RESPONSE", SECRET)
    return answer


async def test_query_is_retried_after_a_5xx_and_a_query_not_processed(aiohttp_server: Any) -> None:
    script = Script(
        query=[
            (502, {}, "application/json"),
            (200, {"MaLoi": "01"}, "application/json"),
            (200, paid_answer(), "application/json"),
        ]
    )
    client, session = await client_for(aiohttp_server, script)
    async with session:
        result = await client.query(reference="R1", transaction_time="20260701093015")
    assert (result.state, result.amount, script.calls["query"]) == ("1", 1000, 3)


async def test_query_gives_up_after_three_tries_with_a_retryable_error(
    aiohttp_server: Any,
) -> None:
    script = Script(query=[(503, {}, "application/json")] * 3)
    client, session = await client_for(aiohttp_server, script)
    async with session:
        with pytest.raises(DvcqgError) as caught:
            await client.query(reference="R1", transaction_time="20260701093015")
    assert (caught.value.code, caught.value.retryable, script.calls["query"]) == (
        "provider_unavailable",
        True,
        3,
    )


async def test_init_is_sent_once(aiohttp_server: Any) -> None:
    script = Script(init=[(500, {}, "application/json"), (200, {}, "application/json")])
    client, session = await client_for(aiohttp_server, script)
    async with session:
        with pytest.raises(DvcqgError) as caught:
            await client.init(reference="R1", bill=BILL, transaction_time=AT, ip="10.0.0.1")
    assert (caught.value.code, script.calls["init"]) == ("provider_unavailable", 1)


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ((200, b"not json", "text/plain"), "malformed"),
        ((404, {}, "application/json"), "malformed"),
    ],
)
async def test_an_init_answer_that_is_not_one_is_malformed(
    aiohttp_server: Any, answer: tuple[int, Any, str], code: str
) -> None:
    client, session = await client_for(aiohttp_server, Script(init=[answer]))
    async with session:
        with pytest.raises(DvcqgError) as caught:
            await client.init(reference="R1", bill=BILL, transaction_time=AT, ip="10.0.0.1")
    assert caught.value.code == code


async def test_get_bill_returns_the_pdf_and_refuses_a_json_error(aiohttp_server: Any) -> None:
    script = Script(
        getbill=[
            (200, b"%PDF-1.4 receipt", "application/pdf"),
            (200, {"MaLoi": "01"}, "application/json"),
        ]
    )
    client, session = await client_for(aiohttp_server, script)
    async with session:
        pdf = await client.get_bill(reference="R1", transaction_time="20260701093015")
        with pytest.raises(DvcqgError) as caught:
            await client.get_bill(reference="R1", transaction_time="20260701093015")
    assert pdf == b"%PDF-1.4 receipt"
    assert caught.value.code == "not_a_pdf"
