"""Creating fee payments: the happy path, the QR, idempotency."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from typing import Any

import pytest
from conftest import AGENCY_ACCOUNT, AGENCY_BIN, Gateway, payment_body
from sqlalchemy import delete, event, func, select, update
from tests_support import end_other_sessions

from gateway.core.db.schema import (
    agencies,
    api_client_agencies,
    attempts,
    idempotency_keys,
    notification_intake,
    payment_items,
    payments,
)
from gateway.core.errors import InvalidTransition
from gateway.core.statuses import PAYMENTS, PaymentStatus
from gateway.keys import DATABASE
from gateway.keys import PAYMENTS as PAYMENTS_SERVICE
from gateway.services import payments as payments_service
from gateway.services.clients import authenticate
from providers.payment.vietqr import decode


async def test_created_payment_totals_its_lines_and_carries_a_vietqr(gateway: Gateway) -> None:
    payment = await gateway.create_payment()

    assert payment["status"] == "pending"
    assert payment["amount"] == 185000
    assert payment["currency"] == "VND"
    assert payment["expires_at"] == "2026-11-22T02:15:00Z"
    assert payment["checkout_url"] == f"http://gateway.test/pay/{payment['id']}"
    assert [item["kind"] for item in payment["items"]] == ["charge", "fee"]
    qr = decode(payment["vietqr"]["payload"])
    assert (qr.bin, qr.account, qr.amount) == (AGENCY_BIN, AGENCY_ACCOUNT, 185000)
    assert qr.poi == "12" and qr.service == "QRIBFTTA"
    assert qr.purpose == payment["reference"]
    assert qr.bill_number == "000.00.12.H29-241122-0001"
    assert len(payment["reference"]) <= 25 and payment["reference"].isascii()


async def test_payment_can_be_read_back(gateway: Gateway) -> None:
    payment = await gateway.create_payment()
    response = await gateway.client.get(f"/v1/payments/{payment['id']}", headers=gateway.auth())
    assert response.status == 200
    assert await response.json() == payment


async def test_same_key_and_body_returns_the_same_payment(gateway: Gateway) -> None:
    first = await gateway.create_payment(key="dossier-1")
    response = await gateway.client.post(
        "/v1/payments",
        json=payment_body(),
        headers={**gateway.auth(), "Idempotency-Key": "dossier-1"},
    )
    assert response.status == 201
    assert response.headers["Idempotent-Replayed"] == "true"
    assert await response.json() == first


async def test_a_replay_answers_the_same_bytes_as_the_creation(gateway: Gateway) -> None:
    """The answer is rendered once through the Payment model; the replay renders what was
    stored through it too, so both are the same text (on PostgreSQL the stored text is it)."""
    headers = {**gateway.auth(), "Idempotency-Key": "dossier-bytes"}
    body = payment_body(metadata={"ghi_chú": "Nguyễn Văn An", "n": [1, 2.5, None, True]})
    first = await gateway.client.post("/v1/payments", json=body, headers=headers)
    replay = await gateway.client.post("/v1/payments", json=body, headers=headers)
    assert (first.status, replay.status) == (201, 201)
    assert replay.headers["Idempotent-Replayed"] == "true"
    text = await first.read()
    assert await replay.read() == text
    assert json.loads(text)["metadata"] == body["metadata"]
    async with gateway.client.app[DATABASE].read() as conn:
        stored = (await conn.execute(select(idempotency_keys.c.response_body))).scalar_one()
    assert json.loads(stored) == json.loads(text)
    if not gateway.client.app[DATABASE].is_sqlite:
        assert stored.encode() == text
    # A key stored by an earlier version (``json.dumps`` of the service's view, not the
    # model's text) still replays the same.
    app = gateway.client.app
    who = await authenticate(app[DATABASE], gateway.keys["portal"])
    view = await app[PAYMENTS_SERVICE].get(who, json.loads(text)["id"])
    earlier = json.dumps(view, ensure_ascii=False)
    assert earlier.encode() != text  # the old form really differs from the answer
    async with app[DATABASE].write() as conn:
        await conn.execute(update(idempotency_keys).values(response_body=earlier))
    again = await gateway.client.post("/v1/payments", json=body, headers=headers)
    assert await again.read() == text


async def test_same_key_with_another_body_is_refused(gateway: Gateway) -> None:
    await gateway.create_payment(key="dossier-1")
    response = await gateway.client.post(
        "/v1/payments",
        json=payment_body(dossier_code="OTHER-1"),
        headers={**gateway.auth(), "Idempotency-Key": "dossier-1"},
    )
    assert response.status == 409
    assert (await response.json())["code"] == "idempotency_key_reused"
    listing = await (await gateway.client.get("/v1/payments", headers=gateway.auth())).json()
    assert len(listing["data"]) == 1


async def test_concurrent_requests_with_one_key_create_exactly_one_payment(
    gateway: Gateway,
) -> None:
    key = uuid.uuid4().hex

    async def post() -> tuple[int, dict[str, object]]:
        response = await gateway.client.post(
            "/v1/payments", json=payment_body(), headers={**gateway.auth(), "Idempotency-Key": key}
        )
        return response.status, await response.json()

    results = await asyncio.gather(*(post() for _ in range(8)))

    assert {status for status, _ in results} == {201}
    assert len({body["id"] for _, body in results}) == 1
    listing = await (await gateway.client.get("/v1/payments", headers=gateway.auth())).json()
    assert len(listing["data"]) == 1


async def test_the_same_key_from_two_clients_is_two_payments(gateway: Gateway) -> None:
    mine = await gateway.create_payment(key="shared")
    theirs = await gateway.create_payment(who="other", key="shared", agency_code="HN")
    assert mine["id"] != theirs["id"]


async def test_each_payment_gets_its_own_reference(gateway: Gateway) -> None:
    references = {(await gateway.create_payment())["reference"] for _ in range(20)}
    assert len(references) == 20


async def test_long_dossier_code_is_kept_but_left_out_of_the_qr(gateway: Gateway) -> None:
    code = "000.00.12.H29-241122-0001-PHU-LUC-A"
    payment = await gateway.create_payment(dossier_code=code)
    assert payment["dossier_code"] == code
    assert decode(payment["vietqr"]["payload"]).bill_number is None


async def test_expiry_can_be_chosen_within_bounds(gateway: Gateway) -> None:
    payment = await gateway.create_payment(expires_in_seconds=3600)
    assert payment["expires_at"] == "2026-11-22T03:00:00Z"


async def test_metadata_and_return_url_are_echoed(gateway: Gateway) -> None:
    payment = await gateway.create_payment(
        metadata={"portal_ref": "abc", "n": 1}, return_url="https://dichvucong.example.vn/hs/1"
    )
    assert payment["metadata"] == {"portal_ref": "abc", "n": 1}
    assert payment["return_url"] == "https://dichvucong.example.vn/hs/1"


async def test_payer_contact_data_is_sealed_at_rest(gateway: Gateway) -> None:
    from sqlalchemy import select

    from gateway.core.db.schema import payments
    from gateway.keys import DATABASE

    payment = await gateway.create_payment(
        payer={
            "name": "Nguyễn Văn An",
            "phone": "0912345678",
            "email": "an@example.vn",
            "id_number": "012345678901",
        }
    )
    async with gateway.client.app[DATABASE].read() as conn:
        stored = (await conn.execute(select(payments.c.payer))).scalar_one()
    assert stored["name"] == "Nguyễn Văn An"  # shown on the checkout page
    for field, value in (
        ("phone", "0912345678"),
        ("email", "an@example.vn"),
        ("id_number", "012345678901"),
    ):
        assert stored[field].startswith("v1.t1.") and value not in stored[field]
    assert payment["payer"] == {"name": "Nguyễn Văn An"}


async def test_a_payment_whose_reference_is_taken_is_not_inserted(gateway: Gateway) -> None:
    """Payments are born through their machine, unless their reference is taken (a fresh
    one is then drawn): a second row under a taken reference is not stored, and a row is
    never born in another status than ``pending``."""
    payment = await gateway.create_payment()
    db = gateway.client.app[DATABASE]
    async with db.read() as conn:
        stored = (await conn.execute(select(payments).where(payments.c.id == payment["id"]))).one()
    twin = {**stored._mapping, "id": "pay_" + "x" * 26}
    del twin["status"]

    async def insert(reference: str, status: PaymentStatus = PaymentStatus.PENDING) -> bool:
        row = {**twin, "reference": reference}
        return await db.transaction(
            lambda conn: PAYMENTS.insert_unless_taken(conn, ["reference"], status, **row)
        )

    assert await insert(payment["reference"]) is False
    with pytest.raises(InvalidTransition):
        await insert("DVCFRESHREF0", PaymentStatus.PAID)
    async with db.read() as conn:
        count = (await conn.execute(select(func.count()).select_from(payments))).scalar_one()
    assert count == 1
    assert await insert("DVCFRESHREF0") is True
    born = await gateway.payment(twin["id"])
    assert (born["status"], born["reference"]) == ("pending", "DVCFRESHREF0")


async def test_a_payment_is_created_with_its_pending_vietqr_attempt(gateway: Gateway) -> None:
    payment = await gateway.create_payment()
    async with gateway.client.app[DATABASE].read() as conn:
        rows = (await conn.execute(select(attempts))).all()
    assert [(row.payment_id, row.channel, row.status) for row in rows] == [
        (payment["id"], "vietqr", "pending")
    ]
    assert (rows[0].provider_reference, rows[0].amount) == (payment["reference"], 185000)


async def test_a_changed_agency_account_is_used_from_the_next_payment(gateway: Gateway) -> None:
    """The agency is read again when its row changed since a payment used it (PostgreSQL
    keeps agencies in memory and checks them in the statement that creates the payment)."""
    await gateway.create_payment()
    await gateway.client.app[DATABASE].transaction(
        lambda conn: conn.execute(
            update(agencies)
            .where(agencies.c.code == "HCM")
            .values(account_number="0099009999999", name="Sở Tư pháp (mới)")
        )
    )

    payment = await gateway.create_payment()

    assert payment["vietqr"]["account_number"] == "0099009999999"
    assert decode(payment["vietqr"]["payload"]).account == "0099009999999"
    assert payment["agency_name"] == "Sở Tư pháp (mới)"
    assert await gateway.payment(payment["id"]) == payment


async def test_a_stored_request_is_replayed_even_when_it_would_now_be_refused(
    gateway: Gateway,
) -> None:
    """A retried request gets its stored response, even when the same request with a new key
    is refused now (here: the key lost its agency); another body with the key is a 409."""
    first = await gateway.create_payment(key="dossier-1")
    await gateway.client.app[DATABASE].transaction(
        lambda conn: conn.execute(delete(api_client_agencies))
    )
    gateway.clock.advance(minutes=1)  # past the verified keys' cache

    async def post(key: str, **body: object) -> tuple[int, dict[str, object]]:
        response = await gateway.client.post(
            "/v1/payments",
            json=payment_body(**body),
            headers={**gateway.auth(), "Idempotency-Key": key},
        )
        return response.status, await response.json()

    assert await post("dossier-1") == (201, first)
    status, refused = await post("dossier-2")
    assert (status, refused["code"]) == (403, "agency_not_in_scope")
    status, reused = await post("dossier-1", dossier_code="OTHER-1")
    assert (status, reused["code"]) == (409, "idempotency_key_reused")


async def test_a_creation_on_postgresql_is_one_statement(gateway: Gateway) -> None:
    """On PostgreSQL a payment's creation is one statement and one round trip, its own
    transaction (docs/design.md#idempotency); SQLite keeps its write transaction."""
    await gateway.create_payment()  # the key and the agency are read once, then kept
    db = gateway.client.app[DATABASE]
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        payment = await gateway.create_payment()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)

    if db.is_sqlite:
        assert len(statements) == 8  # BEGIN IMMEDIATE, the key, the agency, five inserts
    else:
        assert len(statements) == 1 and statements[0].startswith("WITH found AS")
    assert await gateway.payment(payment["id"]) == payment


async def _post_with_one_key_and_two_bodies(gateway: Gateway, key: str) -> list[asyncio.Task[Any]]:
    """Eight POSTs at once with one Idempotency-Key, alternating two bodies: (status,
    replayed?, raw body) of each."""
    bodies = [payment_body(), payment_body(dossier_code="OTHER-1")]

    async def post(index: int) -> tuple[int, bool, bytes]:
        response = await gateway.client.post(
            "/v1/payments",
            json=bodies[index % 2],
            headers={**gateway.auth(), "Idempotency-Key": key},
        )
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        return response.status, replayed, await response.read()

    return [asyncio.ensure_future(post(index)) for index in range(8)]


async def _one_payment_and_replays_or_409s(
    gateway: Gateway, results: list[tuple[int, bool, bytes]]
) -> None:
    """One payment was created; every other answer is that 201,
    replayed byte for byte, or a 409 idempotency_key_reused; never a 500."""
    assert {status for status, _, _ in results} <= {201, 409}, results
    created = [raw for status, replayed, raw in results if status == 201 and not replayed]
    replays = [raw for status, replayed, raw in results if status == 201 and replayed]
    refused = [json.loads(raw)["code"] for status, _, raw in results if status == 409]
    assert len(created) == 1
    assert replays == [created[0]] * len(replays)
    assert refused == ["idempotency_key_reused"] * len(refused)
    assert len(replays) + len(refused) == 7
    async with gateway.client.app[DATABASE].read() as conn:
        ids = (await conn.execute(select(payments.c.id))).scalars().all()
    assert ids == [json.loads(created[0])["id"]]


async def test_one_key_with_two_bodies_at_once_is_one_payment_and_409s(gateway: Gateway) -> None:
    """Eight POSTs at once with one Idempotency-Key and two bodies (docs/design.md#idempotency):
    one payment; every answer is the first 201, replayed byte for byte, or a 409."""
    racing = await _post_with_one_key_and_two_bodies(gateway, uuid.uuid4().hex)
    await _one_payment_and_replays_or_409s(gateway, await asyncio.gather(*racing))


class _RepeatedDraws:
    """The random bytes payment references are drawn from, given in order; then random."""

    def __init__(self, *draws: bytes) -> None:
        self.draws = list(draws)
        self.count = 0

    def token_bytes(self, size: int) -> bytes:
        self.count += 1
        return self.draws.pop(0) if self.draws else secrets.token_bytes(size)


async def _written_for(gateway: Gateway, payment_id: str, key: str) -> dict[str, int]:
    """How many rows of each kind a creation wrote for ``payment_id`` and ``key``."""
    counted = {
        "payments": select(func.count()).where(payments.c.id == payment_id),
        "items": select(func.count()).where(payment_items.c.payment_id == payment_id),
        "attempts": select(func.count()).where(attempts.c.payment_id == payment_id),
        "intake": select(func.count()).where(notification_intake.c.payment_id == payment_id),
        "keys": select(func.count()).where(idempotency_keys.c.key == key),
    }
    async with gateway.client.app[DATABASE].read() as conn:
        return {name: (await conn.execute(query)).scalar_one() for name, query in counted.items()}


async def test_a_taken_reference_is_drawn_again_within_the_creation(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second payment's first reference is the first payment's: a fresh one is drawn
    (on PostgreSQL: the one statement runs again); everything is written once."""
    draws = _RepeatedDraws(b"\x01" * 8, b"\x01" * 8)
    monkeypatch.setattr(payments_service, "secrets", draws)
    first = await gateway.create_payment()

    second = await gateway.create_payment(key="dossier-2")

    assert draws.count == 3
    assert second["reference"] != first["reference"]
    assert decode(second["vietqr"]["payload"]).purpose == second["reference"]
    assert await _written_for(gateway, second["id"], "dossier-2") == {
        "payments": 1,
        "items": 2,
        "attempts": 1,
        "intake": 1,
        "keys": 1,
    }
    async with gateway.client.app[DATABASE].read() as conn:
        attempt = (
            await conn.execute(select(attempts).where(attempts.c.payment_id == second["id"]))
        ).one()
    assert attempt.provider_reference == second["reference"]
    assert await gateway.payment(second["id"]) == second
    replay = await gateway.client.post(
        "/v1/payments",
        json=payment_body(),
        headers={**gateway.auth(), "Idempotency-Key": "dossier-2"},
    )
    assert (replay.status, replay.headers["Idempotent-Replayed"]) == (201, "true")
    assert await replay.json() == second


async def test_no_free_reference_in_five_draws_is_503_with_nothing_written(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five references drawn, all taken: 503 database_busy, nothing written; the portal's
    retry with its key then creates the payment."""
    draws = _RepeatedDraws(*[b"\x01" * 8] * 6)
    monkeypatch.setattr(payments_service, "secrets", draws)
    await gateway.create_payment()

    async def post() -> Any:
        return await gateway.client.post(
            "/v1/payments",
            json=payment_body(),
            headers={**gateway.auth(), "Idempotency-Key": "dossier-2"},
        )

    refused = await post()

    assert (refused.status, (await refused.json())["code"]) == (503, "database_busy")
    assert draws.count == 6
    async with gateway.client.app[DATABASE].read() as conn:
        counts = [
            (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for table in (payments, payment_items, attempts, notification_intake, idempotency_keys)
        ]
    assert counts == [1, 2, 1, 1, 1]  # the first payment's only
    retried = await post()
    assert (retried.status, retried.headers.get("Idempotent-Replayed")) == (201, None)
    payment = await retried.json()
    assert await _written_for(gateway, payment["id"], "dossier-2") == {
        "payments": 1,
        "items": 2,
        "attempts": 1,
        "intake": 1,
        "keys": 1,
    }


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite has no server
async def test_a_creation_on_a_connection_the_server_dropped_is_503_then_created(
    gateway: Gateway,
) -> None:
    """PostgreSQL ended the gateway's pooled connections (a restart, a failover): the
    creation that meets a dead connection is answered 503 ``service_unavailable`` with
    nothing written, and the portal's retry with its key creates the payment."""
    db = gateway.client.app[DATABASE]
    await gateway.create_payment()  # a pooled connection, kept
    assert await end_other_sessions(db.url) >= 1

    async def post() -> Any:
        return await gateway.client.post(
            "/v1/payments",
            json=payment_body(),
            headers={**gateway.auth(), "Idempotency-Key": "after-restart"},
        )

    refused = await post()
    assert (refused.status, (await refused.json())["code"]) == (503, "service_unavailable")
    retried = await post()
    assert (retried.status, retried.headers.get("Idempotent-Replayed")) == (201, None)
    payment = await retried.json()
    assert await _written_for(gateway, payment["id"], "after-restart") == {
        "payments": 1,
        "items": 2,
        "attempts": 1,
        "intake": 1,
        "keys": 1,
    }
