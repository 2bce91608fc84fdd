"""COD: the postman collects the fees at the door, the bill is paid through the ``cod``
channel and its receipt is numbered from the agency's postal range."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import FixedClock, Identity, Postal, make_settings, sandbox_carrier, seed
from receipt_support import receipt_settings, receipts_of
from tests_support import handover_body

from gateway.app import create_app
from gateway.core.roles import Role
from gateway.keys import DATABASE, RECEIPTS
from gateway.services.clients import create_client
from gateway.services.postal import offices


@pytest.fixture
async def postal(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
    identity: Identity,
) -> AsyncIterator[Postal]:
    """As conftest's ``postal`` (post office BC-HCM serves HCM, operator key ``operator``),
    with HCM issuing receipts from a postal range 7001..8000."""
    port = unused_tcp_port_factory()
    carrier, vnpost = await sandbox_carrier(aiohttp_server, clock, port)
    settings = make_settings(
        database_url,
        public_base_url=f"http://127.0.0.1:{port}",
        vnpost=vnpost,
        receipts=receipt_settings(identity),
    )
    client = TestClient(
        TestServer(create_app(settings, clock=clock, background=False), host="127.0.0.1", port=port)
    )
    await client.start_server()
    keys = await seed(client)
    db = client.app[DATABASE]
    await offices.add_post_office(db, clock, "BC-HCM", "Bưu cục Sài Gòn")
    await offices.serve_agency(db, "HCM", "BC-HCM")
    client_id, keys["operator"] = await create_client(
        db, clock, name="operator", role=Role.POSTAL_OPERATOR, agency_codes=[]
    )
    await offices.scope_client(db, client_id, ["BC-HCM"])
    await client.app[RECEIPTS].add_range("HCM", "26TAB", "postal", 7001, 8000)
    yield Postal(client=client, clock=clock, keys=keys, carrier=carrier)
    await client.close()


async def handover(postal: Postal, order_id: str, kind: str, **overrides: Any) -> None:
    response = await postal.client.post(
        f"/v1/operator/orders/{order_id}/handovers",
        json=handover_body(postal, kind, **overrides),
        headers=postal.auth("operator"),
    )
    assert response.status == 201, await response.text()


async def test_cod_collected_at_the_door_gets_a_receipt_from_the_postal_range(
    postal: Postal,
) -> None:
    payment = await postal.create_payment(expires_in_seconds=7 * 24 * 3600)
    order = await postal.book(payment_id=payment["id"], cod_amount=payment["amount"])
    postal.clock.advance(minutes=30)
    await handover(postal, order["id"], "collected", counterpart_role="agency_officer")
    postal.clock.advance(hours=2)

    await handover(postal, order["id"], "delivered", cod_collected=payment["amount"])

    assert (await postal.payment(payment["id"]))["status"] == "paid"
    [receipt] = await receipts_of(postal, payment["id"])
    assert (receipt["channel"], receipt["point"], receipt["number"]) == ("cod", "postal", 7001)
    assert receipt["transaction_reference"] == order["tracking_number"]
    assert receipt["issued_at"] == "2026-11-22T04:30:00Z"
