"""Citizen notifications by Zalo ZNS and SMS, driven by the outbox: the gateway and the
messages sandbox as real servers, the bank's signed credit notice paying the bill, nothing
patched. The worker is run by hand (``run_until_idle``) as the background loop would."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import FixedClock, Gateway, make_settings, seed
from sqlalchemy import func, select
from structlog.testing import capture_logs
from tests_support import (
    DEMO_PORTAL,
    SMS_SECRET,
    ZNS_SECRET,
    messages_sandbox,
    sandbox_messages,
    sandbox_settings,
    signed_notice,
    start_sandbox,
)

from gateway.app import create_app
from gateway.core.db.schema import (
    notification_intake,
    notification_opt_outs,
    notifications,
    provider_events,
)
from gateway.keys import DATABASE, NOTIFICATIONS
from gateway.services.wiring import build_services

PHONE = "0912345678"
ZALO_PHONE = "84912345678"

AGENCY = {
    "channels": ["zns", "sms"],
    "events": {
        "payment_paid": {
            "zns_template_id": "HCM_PAID",
            "zns_data": {"ma_ho_so": "{dossier_code}", "so_tien": "{amount}"},
            "sms_text": "{agency_name}: đã nhận {amount} đồng cho hồ sơ {dossier_code}.",
        },
        "payment_created": {
            "zns": False,
            "sms_text": "Hồ sơ {dossier_code}: nộp {amount} đồng tại {checkout_url}",
        },
        "payment_expiring": {
            "zns": False,
            "sms_text": "Hồ sơ {dossier_code}: hạn nộp là {expires_at}.",
        },
    },
}


@dataclass
class Notified(Gateway):
    sandbox: Any = None
    settings: Any = None

    async def pay(self, payment: dict[str, Any]) -> None:
        body, headers = signed_notice(payment, int(self.clock().timestamp()))
        response = await self.client.post("/callbacks/bank/testbank", data=body, headers=headers)
        assert response.status == 200, await response.text()

    async def run_worker(self) -> int:
        return int(await self.client.app[NOTIFICATIONS].run_until_idle())

    async def received(self) -> list[dict[str, Any]]:
        return await sandbox_messages(self.client, self.sandbox)

    async def switch(self, **switches: Any) -> None:
        url = self.sandbox.make_url("/switches")
        async with self.client.session.post(url, json=switches) as response:
            assert response.status == 200

    async def deliver(self, message_id: str) -> dict[str, Any]:
        """The handset got the message: the sandbox sends its receipt to the gateway."""
        url = self.sandbox.make_url(f"/{message_id}/receipt")
        async with self.client.session.post(url) as response:
            assert response.status == 200
            return dict(await response.json())

    async def listed(self, payment_id: str, who: str = "portal") -> Any:
        response = await self.client.get(
            f"/v1/notifications?payment_id={payment_id}", headers=self.auth(who)
        )
        return response.status, await response.json()


@pytest.fixture
async def notified(
    aiohttp_server: Any, database_url: str, clock: FixedClock, unused_tcp_port_factory: Any
) -> AsyncIterator[Notified]:
    port = unused_tcp_port_factory()
    base = f"http://127.0.0.1:{port}"
    sandbox, notify = await messages_sandbox(aiohttp_server, clock, base, {"HCM": AGENCY})
    settings = make_settings(database_url, public_base_url=base, notifications=notify)
    app = create_app(settings, clock=clock, background=False)
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    keys = await seed(client)
    yield Notified(client=client, clock=clock, keys=keys, sandbox=sandbox, settings=settings)
    await client.close()


async def _rows(notified: Notified) -> list[Any]:
    async with notified.client.app[DATABASE].read() as conn:
        return list(
            (await conn.execute(select(notifications).order_by(notifications.c.created_at))).all()
        )


async def test_a_paid_vietqr_payment_tells_the_payer_once_by_zns_and_its_receipt_once(
    notified: Notified,
) -> None:
    with capture_logs() as logs:
        payment = await notified.create_payment()
        await notified.pay(payment)
        await notified.run_worker()
        await notified.run_worker()  # nothing more to send

    sent = [m for m in await notified.received() if m["channel"] == "zns"]
    assert len(sent) == 1
    assert sent[0]["phone"] == ZALO_PHONE
    assert sent[0]["template_id"] == "HCM_PAID"
    assert sent[0]["template_data"] == {"ma_ho_so": payment["dossier_code"], "so_tien": "185.000"}
    status, listed = await notified.listed(payment["id"])
    assert status == 200
    paid = [n for n in listed["data"] if n["kind"] == "payment_paid"]
    assert [(n["channel"], n["status"]) for n in paid] == [("zns", "sent")]
    assert paid[0]["id"] == sent[0]["tracking_id"]
    assert paid[0]["phone_masked"] == "091****678"
    # The phone number never reaches a log line, and is sealed at rest.
    assert "912345678" not in json.dumps(logs, default=str)
    rows = await _rows(notified)
    assert rows and all("912345678" not in row.phone for row in rows)

    first = await notified.deliver(sent[0]["message_id"])
    again = await notified.deliver(sent[0]["message_id"])  # the provider sends it again
    assert first["gateway_answer"]["outcome"] == "applied"
    assert again["gateway_answer"]["outcome"] == "duplicate"
    _, listed = await notified.listed(payment["id"])
    paid = [n for n in listed["data"] if n["kind"] == "payment_paid"]
    assert paid[0]["status"] == "delivered"
    async with notified.client.app[DATABASE].read() as conn:
        stored = (
            await conn.execute(select(provider_events).where(provider_events.c.provider == "zns"))
        ).all()
    assert len(stored) == 1


async def test_a_number_without_zalo_is_told_by_sms_without_diacritics(
    notified: Notified,
) -> None:
    await notified.switch(no_zalo_account=[ZALO_PHONE])
    payment = await notified.create_payment()
    await notified.pay(payment)
    await notified.run_worker()

    _, listed = await notified.listed(payment["id"])
    paid = [(n["channel"], n["status"], n["reason"]) for n in listed["data"]]
    assert ("zns", "failed", "no_zalo_account") in paid
    assert ("sms", "sent", None) in paid
    texts = [m["text"] for m in await notified.received() if m["channel"] == "sms"]
    expected = (
        f"So Tu phap TP. Ho Chi Minh: da nhan 185.000 dong cho ho so {payment['dossier_code']}."
    )
    assert expected in texts
    sms = next(n for n in listed["data"] if n["channel"] == "sms" and n["kind"] == "payment_paid")
    assert sms["content"]["segments"] == 1

    # eSMS's delivery report (an unsigned GET to the secret path) marks it delivered.
    message = next(m for m in await notified.received() if m["tracking_id"] == sms["id"])
    answer = await notified.deliver(message["message_id"])
    assert answer["gateway_answer"]["outcome"] == "applied"
    _, listed = await notified.listed(payment["id"])
    assert next(n for n in listed["data"] if n["id"] == sms["id"])["status"] == "delivered"


async def test_an_opted_out_number_is_sent_nothing_and_the_decision_is_recorded(
    notified: Notified,
) -> None:
    for expected in (201, 200):  # recording it again answers the first record
        response = await notified.client.post(
            "/v1/notifications/opt-outs", json={"phone": "+84 912 345 678"}, headers=notified.auth()
        )
        assert response.status == expected, await response.text()
        assert (await response.json())["phone_masked"] == "091****678"
    payment = await notified.create_payment()
    await notified.pay(payment)
    await notified.run_worker()

    assert await notified.received() == []
    _, listed = await notified.listed(payment["id"])
    assert {(n["status"], n["reason"]) for n in listed["data"]} == {("failed", "opted_out")}
    async with notified.client.app[DATABASE].read() as conn:
        kept = (await conn.execute(select(notification_opt_outs))).all()
    assert [row.phone_masked for row in kept] == ["091****678"]
    assert "912345678" not in kept[0].phone_hash


async def test_a_malformed_number_fails_with_its_reason_and_nothing_is_sent(
    notified: Notified,
) -> None:
    payment = await notified.create_payment(payer={"name": "Nguyễn Văn An", "phone": "0123 456 78"})
    await notified.pay(payment)
    await notified.run_worker()

    assert await notified.received() == []
    _, listed = await notified.listed(payment["id"])
    assert {(n["status"], n["reason"]) for n in listed["data"]} == {("failed", "invalid_phone")}


async def test_an_opt_out_for_a_malformed_number_is_refused(notified: Notified) -> None:
    response = await notified.client.post(
        "/v1/notifications/opt-outs", json={"phone": "12345"}, headers=notified.auth()
    )
    assert response.status == 422
    problem = await response.json()
    assert problem["errors"][0]["code"] == "invalid_phone"


async def test_a_template_the_provider_rejects_fails_with_its_reason(notified: Notified) -> None:
    await notified.switch(reject_templates=["HCM_PAID"])
    payment = await notified.create_payment()
    await notified.pay(payment)
    await notified.run_worker()

    assert [m for m in await notified.received() if m["channel"] == "zns"] == []
    _, listed = await notified.listed(payment["id"])
    paid = [
        (n["channel"], n["status"], n["reason"])
        for n in listed["data"]
        if n["kind"] == "payment_paid"
    ]
    # No SMS instead: a rejected template is the agency's to fix, not the citizen's number.
    assert paid == [("zns", "failed", "template_rejected")]


async def test_a_receipt_for_an_unknown_message_is_stored_and_ignored_with_a_code(
    notified: Notified,
) -> None:
    event = {
        "event_name": "user_received_message",
        "message": {"msg_id": "not-ours-0001", "delivery_time": "1795000000000"},
    }
    response = await notified.client.post(f"/callbacks/zns/{ZNS_SECRET}", json=event)
    assert response.status == 200
    assert await response.json() == {
        "status": "accepted",
        "outcome": "unmatched",
        "code": "unknown_message",
    }
    refused = await notified.client.post("/callbacks/zns/wrong-secret", json=event)
    assert refused.status == 401
    assert (await refused.json())["code"] == "callback_rejected"
    async with notified.client.app[DATABASE].read() as conn:
        stored = (await conn.execute(select(provider_events))).all()
    assert [(row.provider, row.outcome, row.reason) for row in stored] == [
        ("zns", "unmatched", "unknown_message")
    ]


async def test_two_workers_send_each_notification_once(notified: Notified) -> None:
    for _ in range(3):
        await notified.pay(await notified.create_payment())
    async with build_services(notified.settings, clock=notified.clock) as other:
        await asyncio.gather(
            notified.client.app[NOTIFICATIONS].run_until_idle(),
            other.notifications.run_until_idle(),
        )
    received = await notified.received()
    assert [m["sends"] for m in received] == [1] * len(received)
    rows = await _rows(notified)
    assert len([m for m in received if m["channel"] == "zns"]) == 3
    assert sorted(r.status for r in rows if r.kind == "payment_paid") == ["sent"] * 3


async def test_a_long_lived_bill_is_announced_and_reminded_before_it_expires(
    notified: Notified,
) -> None:
    payment = await notified.create_payment(key=uuid.uuid4().hex, expires_in_seconds=3 * 24 * 3600)
    await notified.run_worker()
    _, listed = await notified.listed(payment["id"])
    by_kind = {n["kind"]: n for n in listed["data"]}
    assert by_kind["payment_created"]["status"] == "sent"
    assert by_kind["payment_expiring"]["status"] == "queued"
    assert payment["checkout_url"] in by_kind["payment_created"]["content"]["text"]

    notified.clock.advance(days=2, minutes=1)
    await notified.run_worker()
    _, listed = await notified.listed(payment["id"])
    by_kind = {n["kind"]: n for n in listed["data"]}
    assert by_kind["payment_expiring"]["status"] == "sent"


async def test_a_paid_bill_is_not_reminded(notified: Notified) -> None:
    payment = await notified.create_payment(expires_in_seconds=3 * 24 * 3600)
    await notified.pay(payment)
    notified.clock.advance(days=2, minutes=1)
    await notified.run_worker()
    _, listed = await notified.listed(payment["id"])
    by_kind = {n["kind"]: n for n in listed["data"]}
    assert (by_kind["payment_expiring"]["status"], by_kind["payment_expiring"]["reason"]) == (
        "failed",
        "payment_not_pending",
    )
    sms_texts = [m["text"] for m in await notified.received() if m["channel"] == "sms"]
    assert not any("han nop" in text for text in sms_texts)


async def test_notifications_of_another_agencys_payment_are_not_found(notified: Notified) -> None:
    payment = await notified.create_payment()
    status, _ = await notified.listed(payment["id"], who="other")
    assert status == 404
    response = await notified.client.get("/v1/notifications", headers=notified.auth())
    assert response.status == 422


async def test_a_provider_that_does_not_answer_is_tried_again_after_a_back_off(
    notified: Notified,
) -> None:
    payment = await notified.create_payment(payer={"name": "Nguyễn Văn An", "phone": PHONE})
    await notified.run_worker()  # the bill's announcement goes out first
    await notified.switch(unavailable=1)
    await notified.pay(payment)
    await notified.run_worker()
    _, listed = await notified.listed(payment["id"])
    paid = next(n for n in listed["data"] if n["kind"] == "payment_paid")
    assert (paid["status"], paid["reason"], paid["attempt_count"]) == (
        "queued",
        "retrying:unavailable",
        1,
    )

    notified.clock.advance(seconds=10)  # past the first back-off (5 s ± 20 %)
    await notified.run_worker()
    _, listed = await notified.listed(payment["id"])
    paid = next(n for n in listed["data"] if n["kind"] == "payment_paid")
    assert (paid["status"], paid["attempt_count"]) == ("sent", 2)


async def test_the_sandbox_tells_the_demo_payer_and_shows_the_message(
    tmp_path: Any, unused_tcp_port: int, clock: FixedClock
) -> None:
    """`gateway serve` with no configuration: the demo agency's templates, the mounted
    messages sandbox, its page and its JSON list."""
    settings = sandbox_settings(tmp_path, unused_tcp_port)
    client = await start_sandbox(settings, clock)
    try:
        created = await client.post(
            "/v1/payments",
            headers={"Authorization": f"Bearer {DEMO_PORTAL}", "Idempotency-Key": "n-1"},
            json={
                "agency_code": "DEMO",
                "dossier_code": "H29-1",
                "payer": {"name": "Nguyễn Văn An", "phone": PHONE},
                "items": [{"kind": "charge", "description": "Lệ phí", "amount": 135000}],
            },
        )
        payment = await created.json()
        transfer = await client.post(
            "/sandbox/bank/transfers",
            json={
                "bin": "970499",
                "account_number": "0011001234567",
                "amount": 135000,
                "description": payment["reference"],
            },
        )
        assert (await transfer.json())["delivered"] is True
        await client.app[NOTIFICATIONS].run_until_idle()

        listed = await (await client.get("/sandbox/messages/list")).json()
        assert [(m["channel"], m["template_id"]) for m in listed] == [
            ("zns", "DEMO_BILL_CREATED"),
            ("zns", "DEMO_BILL_PAID"),
        ]
        assert listed[1]["template_data"]["so_tien"] == "135.000"
        # The paid message links the bill's e-receipt (the demo agency issues them), and the
        # link opens the receipt page.
        [receipt] = (
            await (
                await client.get(
                    f"/v1/payments/{payment['id']}/receipts",
                    headers={"Authorization": f"Bearer {DEMO_PORTAL}"},
                )
            ).json()
        )["data"]
        assert listed[1]["template_data"]["bien_lai"] == receipt["view_url"]
        link = urlsplit(receipt["view_url"])
        assert (await client.get(f"{link.path}?{link.query}")).status == 200
        page = await client.get("/sandbox/messages/")
        assert page.status == 200
        assert "DEMO_BILL_PAID" in await page.text()
    finally:
        await client.close()


async def _receipts_state(notified: Notified) -> tuple[list[Any], list[Any]]:
    """What a receipt can change: the notifications' statuses and the stored receipts."""
    async with notified.client.app[DATABASE].read() as conn:
        rows = (await conn.execute(select(notifications.c.id, notifications.c.status))).all()
        events = (
            await conn.execute(select(provider_events.c.provider, provider_events.c.reason))
        ).all()
    return sorted(tuple(r) for r in rows), sorted(tuple(e) for e in events)


async def _assert_refused_and_unchanged(
    notified: Notified,
    response: Any,
    expected: tuple[int, str],
    before: tuple[list[Any], list[Any]],
    channel: str,
) -> None:
    """The answer has the expected status and code; no notification moved, and only a
    receipt about a message we did not send is stored."""
    assert (response.status, (await response.json())["code"]) == expected
    rows, events = await _receipts_state(notified)
    assert rows == before[0]
    stored = [(channel, "unknown_message")] if expected[1] == "unknown_message" else []
    assert events == sorted(before[1] + stored)


_RECEIVED = {"event_name": "user_received_message", "message": {"msg_id": "M"}}


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("wrong_secret", 401, "callback_rejected"),
        ("not_json", 400, "callback_malformed"),
        ("an_array", 400, "callback_malformed"),
        ("deeply_nested", 400, "callback_malformed"),
        ("nul_in_message_id", 400, "callback_malformed"),
        ("message_id_not_a_string", 400, "callback_malformed"),
        ("delivery_time_out_of_range", 400, "callback_malformed"),
        ("oversized", 413, "payload_too_large"),
        ("unknown_message", 200, "unknown_message"),
    ],
)
async def test_a_bad_zns_receipt_gets_a_stable_code_and_changes_nothing(
    notified: Notified, case: str, status: int, code: str
) -> None:
    payment = await notified.create_payment()
    await notified.pay(payment)
    await notified.run_worker()  # the ZNS message is sent, waiting for its receipt
    [sent] = [m for m in await notified.received() if m["channel"] == "zns"]
    ours = {**_RECEIVED, "message": {"msg_id": sent["message_id"]}}
    before = await _receipts_state(notified)
    secret, body = ZNS_SECRET, json.dumps(ours).encode()
    if case == "wrong_secret":
        secret = "wrong-secret"
    elif case == "not_json":
        body = b"event_name=user_received_message"
    elif case == "an_array":
        body = b'["user_received_message"]'
    elif case == "deeply_nested":
        body = b'{"a": ' * 2000 + b"1" + b"}" * 2000
    elif case == "nul_in_message_id":
        body = json.dumps({**_RECEIVED, "message": {"msg_id": "M\x00"}}).encode()
    elif case == "message_id_not_a_string":
        body = json.dumps({**_RECEIVED, "message": {"msg_id": 12345}}).encode()
    elif case == "delivery_time_out_of_range":
        message = {"msg_id": sent["message_id"], "delivery_time": "9" * 30}
        body = json.dumps({**_RECEIVED, "message": message}).encode()
    elif case == "oversized":
        body = json.dumps({**ours, "padding": "x" * 70_000}).encode()
    elif case == "unknown_message":
        body = json.dumps({**_RECEIVED, "message": {"msg_id": "not-ours-1"}}).encode()

    response = await notified.client.post(
        f"/callbacks/zns/{secret}", data=body, headers={"Content-Type": "application/json"}
    )

    await _assert_refused_and_unchanged(notified, response, (status, code), before, "zns")


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("wrong_secret", 401, "callback_rejected"),
        ("no_sms_id", 400, "callback_malformed"),
        ("sms_id_too_long", 400, "callback_malformed"),
        ("nul_in_sms_id", 400, "callback_malformed"),
        ("count_not_ascii_digits", 400, "callback_malformed"),
        ("oversized_status", 200, "unknown_message"),
        ("unknown_message", 200, "unknown_message"),
    ],
)
async def test_a_bad_sms_report_gets_a_stable_code_and_changes_nothing(
    notified: Notified, case: str, status: int, code: str
) -> None:
    await notified.switch(no_zalo_account=[ZALO_PHONE])
    payment = await notified.create_payment()
    await notified.pay(payment)
    await notified.run_worker()  # the SMS is sent, waiting for its report
    sent = next(m for m in await notified.received() if m["channel"] == "sms")
    before = await _receipts_state(notified)
    secret = SMS_SECRET
    query = {"SMSID": sent["message_id"], "SendStatus": "5", "SendSuccess": "1"}
    if case == "wrong_secret":
        secret = "wrong-secret"
    elif case == "no_sms_id":
        del query["SMSID"]
    elif case == "sms_id_too_long":
        query["SMSID"] = "9" * 65
    elif case == "nul_in_sms_id":
        query["SMSID"] = sent["message_id"] + "\x00"
    elif case == "count_not_ascii_digits":
        query["SendSuccess"] = "²"  # str.isdigit() says yes, int() says no
    elif case == "oversized_status":
        query = {"SMSID": "not-ours-1", "SendStatus": "5" * 4000, "SendSuccess": "1"}
    elif case == "unknown_message":
        query["SMSID"] = "not-ours-1"

    response = await notified.client.get(f"/callbacks/sms/{secret}", params=query)

    await _assert_refused_and_unchanged(notified, response, (status, code), before, "sms")


async def test_switched_off_notifications_take_and_drop_each_event(gateway: Gateway) -> None:
    """Notifications off (the default outside the sandbox's demo): the worker still takes
    every waiting event, tells no one, and leaves the intake empty (a round once failed on
    every event and the intake grew without end)."""
    await gateway.create_payment()
    app = gateway.client.app
    assert await app[NOTIFICATIONS].take_events() == 1
    async with app[DATABASE].read() as conn:
        waiting = (
            await conn.execute(select(func.count()).select_from(notification_intake))
        ).scalar()
        told = (await conn.execute(select(func.count()).select_from(notifications))).scalar()
    assert (waiting, told) == (0, 0)
