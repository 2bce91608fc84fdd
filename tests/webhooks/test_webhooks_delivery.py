"""Outbound webhooks end to end: a state change → outbox → signed delivery to the portal,
retries with persisted back-off, 410 disables, manual redelivery, secret rotation, and the
events of one payment arriving in ``sequence`` order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import Channels, FixedClock, Gateway, Portal, make_settings, seed
from sqlalchemy import select
from standardwebhooks import Webhook
from tests_support import pay_at_vnpay

from gateway.app import create_app
from gateway.core.db.schema import deliveries, idempotency_keys
from gateway.core.errors import InvalidTransition
from gateway.core.statuses import DELIVERIES, DeliveryStatus
from gateway.keys import DATABASE, DELIVERY


@pytest.fixture
async def hooks(aiohttp_client: Any, database_url: str) -> Gateway:
    # Real time: the standardwebhooks verifier checks the timestamp against the real clock.
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    settings = make_settings(database_url, webhooks={"allow_private_urls": True})
    client = await aiohttp_client(create_app(settings, clock=clock, background=False))
    return Gateway(client=client, clock=clock, keys=await seed(client))


async def register(gateway: Gateway, url: str, events: list[str] | None = None) -> dict[str, Any]:
    response = await gateway.client.post(
        "/v1/webhook-endpoints",
        json={"url": url, "events": events or ["*"]},
        headers={**gateway.auth(), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status == 201, await response.text()
    return await response.json()


async def endpoint_call(
    gateway: Gateway, method: str, endpoint: dict[str, Any], action: str = ""
) -> Any:
    """``method`` on the portal's endpoint (or on ``action`` below it), as the portal."""
    path = f"/v1/webhook-endpoints/{endpoint['id']}{action}"
    return await gateway.client.request(method, path, headers=gateway.auth())


@pytest.fixture
async def subscribed(hooks: Gateway, portal: tuple[Portal, str]) -> tuple[Portal, dict[str, Any]]:
    """The portal subscribed to every event: its receiver, and the endpoint as created."""
    receiver, url = portal
    return receiver, await register(hooks, url)


async def one_event_sent(hooks: Gateway, portal: tuple[Portal, str]) -> str:
    """The portal subscribed to everything, one payment cancelled, and its event sent once;
    returns the event's id."""
    receiver, url = portal
    await register(hooks, url)
    await cancelled_payment(hooks)
    assert await deliver(hooks) == 1
    return str(receiver.received[0][0]["webhook-id"])


async def deliver(gateway: Gateway) -> int:
    return await gateway.client.app[DELIVERY].run_until_idle()


async def cancel(gateway: Gateway, payment_id: str) -> None:
    response = await gateway.client.post(
        f"/v1/payments/{payment_id}/cancel", headers=gateway.auth()
    )
    assert response.status == 200


async def cancelled_payment(gateway: Gateway) -> dict[str, Any]:
    """A new payment, cancelled at once: one ``payment.cancelled`` event to deliver."""
    payment = await gateway.create_payment()
    await cancel(gateway, payment["id"])
    return payment


async def test_cancelled_payment_is_announced_with_a_verifiable_signature(
    hooks: Gateway, subscribed: tuple[Portal, dict[str, Any]]
) -> None:
    receiver, endpoint = subscribed
    assert endpoint["secret"].startswith("whsec_")
    payment = await cancelled_payment(hooks)

    assert await deliver(hooks) == 1
    [(headers, body)] = receiver.received
    verified = Webhook(endpoint["secret"]).verify(body, headers)
    assert verified["type"] == "payment.cancelled"
    assert verified["data"]["payment"]["id"] == payment["id"]
    assert verified["data"]["payment"]["status"] == "cancelled"
    assert verified["data"]["sequence"] == 1
    assert headers["webhook-id"] == verified["id"]


async def test_sequence_grows_per_payment(
    hooks: Gateway, subscribed: tuple[Portal, dict[str, Any]]
) -> None:
    receiver, _ = subscribed
    payment = await cancelled_payment(hooks)
    other = await hooks.create_payment()
    hooks.clock.advance(minutes=16)
    await hooks.client.get(f"/v1/payments/{other['id']}", headers=hooks.auth())  # expires it
    await deliver(hooks)
    sequences = {
        (e["data"]["payment"]["id"], e["type"]): e["data"]["sequence"] for e in receiver.bodies()
    }
    assert sequences == {
        (payment["id"], "payment.cancelled"): 1,
        (other["id"], "payment.expired"): 1,
    }


async def test_endpoint_receives_only_the_events_it_subscribed_to(
    hooks: Gateway, portal: tuple[Portal, str]
) -> None:
    receiver, url = portal
    await register(hooks, url, events=["payment.paid"])
    await cancelled_payment(hooks)
    assert await deliver(hooks) == 0
    assert receiver.received == []


async def test_failed_delivery_is_retried_later_with_the_same_webhook_id(
    hooks: Gateway, portal: tuple[Portal, str]
) -> None:
    receiver, url = portal
    receiver.answers = [500, 503]
    await register(hooks, url)
    await cancelled_payment(hooks)

    assert await deliver(hooks) == 1  # 500, then nothing is due until the back-off passes
    assert await deliver(hooks) == 0
    hooks.clock.advance(seconds=7)  # first back-off is 5 s ± 20 %
    assert await deliver(hooks) == 1  # 503
    hooks.clock.advance(seconds=37)  # second is 30 s ± 20 %
    assert await deliver(hooks) == 1  # 200

    ids = {headers["webhook-id"] for headers, _ in receiver.received}
    stamps = [int(headers["webhook-timestamp"]) for headers, _ in receiver.received]
    assert len(receiver.received) == 3 and len(ids) == 1
    assert stamps == sorted(stamps) and stamps[0] < stamps[-1]  # timestamp of each attempt
    event_id = ids.pop()
    view = await (await hooks.client.get(f"/v1/events/{event_id}", headers=hooks.auth())).json()
    [delivery] = view["deliveries"]
    assert delivery["status"] == "succeeded"
    assert [attempt["status_code"] for attempt in delivery["attempts"]] == [500, 503, 200]


async def test_delivery_gives_up_after_the_schedule_spanning_three_days(
    hooks: Gateway, portal: tuple[Portal, str]
) -> None:
    receiver, url = portal
    receiver.answers = [500] * 100
    await register(hooks, url)
    await cancelled_payment(hooks)
    started = hooks.clock()
    # Hour by hour until the delivery is final; the schedule with its ±20 % jitter lasts at
    # most about five days, so eight days bound the loop.
    while hooks.clock() - started < timedelta(days=8):
        await deliver(hooks)
        async with hooks.client.app[DATABASE].read() as conn:
            [row] = (await conn.execute(select(deliveries))).all()
        if row.status == "failed":
            break
        hooks.clock.advance(hours=1)
    assert row.status == "failed"
    assert row.attempt_count == len(receiver.received) == 17
    first, last = (
        int(h["webhook-timestamp"]) for h in (receiver.received[0][0], receiver.received[-1][0])
    )
    assert last - first >= 72 * 3600


async def test_410_disables_the_endpoint(
    hooks: Gateway, subscribed: tuple[Portal, dict[str, Any]]
) -> None:
    receiver, endpoint = subscribed
    receiver.answers = [410]
    for _ in range(2):
        await cancelled_payment(hooks)
    await deliver(hooks)
    listing = await (await hooks.client.get("/v1/webhook-endpoints", headers=hooks.auth())).json()
    [view] = listing["data"]
    assert (view["id"], view["status"], view["disabled_reason"]) == (
        endpoint["id"],
        "disabled",
        "gone",
    )
    await cancelled_payment(hooks)
    await deliver(hooks)
    assert len(receiver.received) <= 2  # nothing after the 410 answer's batch


async def test_manual_redelivery_sends_a_delivered_event_again(
    hooks: Gateway, portal: tuple[Portal, str]
) -> None:
    receiver, _ = portal
    event_id = await one_event_sent(hooks, portal)

    response = await hooks.client.post(f"/v1/events/{event_id}/redeliver", headers=hooks.auth())
    assert response.status == 202
    await deliver(hooks)
    assert [headers["webhook-id"] for headers, _ in receiver.received] == [event_id, event_id]
    assert receiver.received[0][1] == receiver.received[1][1]  # the very same body


async def test_redelivery_of_an_event_waiting_for_its_retry_sends_it_now(
    hooks: Gateway, portal: tuple[Portal, str]
) -> None:
    receiver, _ = portal
    receiver.answers = [500]
    event_id = await one_event_sent(hooks, portal)  # 500: the next try is seconds away

    response = await hooks.client.post(f"/v1/events/{event_id}/redeliver", headers=hooks.auth())
    assert response.status == 202
    assert await deliver(hooks) == 1  # now, without waiting for the back-off
    view = await (await hooks.client.get(f"/v1/events/{event_id}", headers=hooks.auth())).json()
    [delivery] = view["deliveries"]
    assert (delivery["status"], delivery["attempt_count"]) == ("succeeded", 1)


async def test_endpoint_deleted_while_a_delivery_is_in_flight_is_not_retried(
    hooks: Gateway, subscribed: tuple[Portal, dict[str, Any]]
) -> None:
    receiver, endpoint = subscribed
    receiver.answers = [500]

    async def delete_endpoint() -> None:
        path = f"/v1/webhook-endpoints/{endpoint['id']}"
        assert (await hooks.client.delete(path, headers=hooks.auth())).status == 204

    receiver.meanwhile = delete_endpoint
    await cancelled_payment(hooks)
    assert await deliver(hooks) == 1
    receiver.meanwhile = None

    hooks.clock.advance(hours=1)
    assert await deliver(hooks) == 0  # the 500 did not put it back in the retry queue
    async with hooks.client.app[DATABASE].read() as conn:
        [row] = (await conn.execute(select(deliveries))).all()
    assert (row.status, row.last_error) == ("failed", "endpoint deleted")


async def test_other_clients_cannot_see_or_redeliver_an_event(
    hooks: Gateway, portal: tuple[Portal, str]
) -> None:
    event_id = await one_event_sent(hooks, portal)
    for method in ("get", "post"):
        path = f"/v1/events/{event_id}" + ("/redeliver" if method == "post" else "")
        response = await getattr(hooks.client, method)(path, headers=hooks.auth("other"))
        assert response.status == 404


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    hooks: Gateway, subscribed: tuple[Portal, dict[str, Any]]
) -> None:
    receiver, endpoint = subscribed
    rotated = await (await endpoint_call(hooks, "POST", endpoint, "/rotate-secret")).json()
    assert rotated["secret"] != endpoint["secret"]
    await cancelled_payment(hooks)
    await deliver(hooks)
    [(headers, body)] = receiver.received
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(endpoint["secret"]).verify(body, headers)
    Webhook(rotated["secret"]).verify(body, headers)

    hooks.clock.advance(hours=25)  # the overlap is over: only the new secret signs
    receiver.received.clear()
    await cancelled_payment(hooks)
    await deliver(hooks)
    [(headers, _)] = receiver.received
    assert len(headers["webhook-signature"].split(" ")) == 1


async def test_deleted_endpoint_gets_nothing_more(
    hooks: Gateway, subscribed: tuple[Portal, dict[str, Any]]
) -> None:
    _, endpoint = subscribed
    response = await endpoint_call(hooks, "DELETE", endpoint)
    assert response.status == 204
    await cancelled_payment(hooks)
    assert await deliver(hooks) == 0
    listing = await (await hooks.client.get("/v1/webhook-endpoints", headers=hooks.auth())).json()
    assert listing["data"] == []
    again = await endpoint_call(hooks, "DELETE", endpoint)
    assert again.status == 404


async def test_endpoint_deliveries_are_listed_with_their_attempts(
    hooks: Gateway, subscribed: tuple[Portal, dict[str, Any]]
) -> None:
    _, endpoint = subscribed
    for _ in range(3):
        await cancelled_payment(hooks)
    await deliver(hooks)
    path = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"
    first = await (await hooks.client.get(path, params={"limit": "2"}, headers=hooks.auth())).json()
    second = await (
        await hooks.client.get(
            path, params={"limit": "2", "cursor": first["next_cursor"]}, headers=hooks.auth()
        )
    ).json()
    listed = first["data"] + second["data"]
    assert len(listed) == 3 and second["next_cursor"] is None
    assert all(item["status"] == "succeeded" and len(item["attempts"]) == 1 for item in listed)
    other = await hooks.client.get(path, headers=hooks.auth("other"))
    assert other.status == 404


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://portal.example.vn/hooks", "scheme_not_allowed"),
        ("not a url", "invalid_url"),
        ("http://127.0.0.1:9/hooks", "address_not_allowed"),
        ("http://169.254.169.254/latest/meta-data", "address_not_allowed"),
        ("http://10.1.2.3/hooks", "address_not_allowed"),
        ("https://user:pw@portal.example.vn/hooks", "invalid_url"),
    ],
)
async def test_forbidden_endpoint_urls_are_refused_outside_sandbox(
    gateway: Gateway, url: str, code: str
) -> None:
    response = await gateway.client.post(
        "/v1/webhook-endpoints",
        json={"url": url, "events": ["*"]},
        headers={**gateway.auth(), "Idempotency-Key": uuid.uuid4().hex},
    )
    problem = await response.json()
    assert response.status == 422
    assert problem["errors"][0]["field"] == "url" and problem["errors"][0]["code"] == code
    listing = await (
        await gateway.client.get("/v1/webhook-endpoints", headers=gateway.auth())
    ).json()
    assert listing["data"] == []


async def test_unknown_event_type_is_refused(hooks: Gateway, portal: tuple[Portal, str]) -> None:
    _, url = portal
    response = await hooks.client.post(
        "/v1/webhook-endpoints",
        json={"url": url, "events": ["payment.teleported"]},
        headers={**hooks.auth(), "Idempotency-Key": "k"},
    )
    assert response.status == 422
    assert (await response.json())["errors"][0]["code"] == "unknown_event_type"


async def test_retried_creation_returns_the_same_endpoint_and_its_current_secret(
    hooks: Gateway, portal: tuple[Portal, str]
) -> None:
    _, url = portal
    headers = {**hooks.auth(), "Idempotency-Key": "create-once"}
    body = {"url": url, "events": ["*"]}
    first = await (
        await hooks.client.post("/v1/webhook-endpoints", json=body, headers=headers)
    ).json()
    rotated = await (await endpoint_call(hooks, "POST", first, "/rotate-secret")).json()
    replay = await hooks.client.post("/v1/webhook-endpoints", json=body, headers=headers)
    again = await replay.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert (again["id"], again["secret"]) == (first["id"], rotated["secret"])
    async with hooks.client.app[DATABASE].read() as conn:
        stored = (await conn.execute(select(idempotency_keys.c.response_body))).scalars().all()
    assert all(first["secret"] not in text and rotated["secret"] not in text for text in stored)


async def test_deleted_endpoint_deliveries_are_gone_too(
    hooks: Gateway, subscribed: tuple[Portal, dict[str, Any]]
) -> None:
    _, endpoint = subscribed
    await endpoint_call(hooks, "DELETE", endpoint)
    response = await endpoint_call(hooks, "GET", endpoint, "/deliveries")
    assert response.status == 404


async def test_an_endpoint_disabled_by_410_cannot_be_rotated(
    hooks: Gateway, subscribed: tuple[Portal, dict[str, Any]]
) -> None:
    receiver, endpoint = subscribed
    receiver.answers = [410]
    await cancelled_payment(hooks)
    await deliver(hooks)
    response = await endpoint_call(hooks, "POST", endpoint, "/rotate-secret")
    assert (response.status, (await response.json())["code"]) == (409, "invalid_transition")


# -- order: the events of one resource, per endpoint, in sequence order ----------------------


async def paid_twice(channels: Channels) -> str:
    """A bill paid through VNPAY twice: ``payment.paid`` (sequence 1), then
    ``attempt.needs_review`` (sequence 2) for the second money."""
    payment = await channels.create_payment()
    _, first = await channels.attempt(payment["id"], method="vnpay")
    _, second = await channels.attempt(payment["id"], method="vnpay")
    await pay_at_vnpay(channels, first, "success")
    await pay_at_vnpay(channels, second, "success")
    return str(payment["id"])


async def paid_twice_refusing_the_first_paid(
    channels: Channels, portal: tuple[Portal, str]
) -> Portal:
    """``paid_twice`` with the portal subscribed, its first ``payment.paid`` answered 500."""
    receiver, url = portal
    receiver.refuse_first = {"payment.paid"}
    await register(channels, url)
    await paid_twice(channels)
    return receiver


async def deliver_all(channels: Channels) -> None:
    """Run the worker, letting the clock pass each back-off, until nothing is left."""
    for _ in range(10):
        await deliver(channels)
        channels.clock.advance(seconds=7)  # the first back-off is 5 s ± 20 %
    assert await deliver(channels) == 0


async def test_paid_reaches_the_portal_before_the_review_even_when_its_first_try_fails(
    channels: Channels, portal: tuple[Portal, str]
) -> None:
    receiver = await paid_twice_refusing_the_first_paid(channels, portal)

    await deliver_all(channels)

    assert receiver.answered == [
        ("payment.paid", 1, 500),
        ("payment.paid", 1, 200),
        ("attempt.needs_review", 2, 200),
    ]


async def test_a_failing_payment_does_not_hold_back_another_payment(
    channels: Channels, portal: tuple[Portal, str]
) -> None:
    receiver = await paid_twice_refusing_the_first_paid(channels, portal)
    await cancelled_payment(channels)

    await deliver(channels)  # the paid bill waits for its back-off; the other is delivered

    assert sorted(receiver.answered) == [("payment.cancelled", 1, 200), ("payment.paid", 1, 500)]
    await deliver_all(channels)
    assert receiver.answered[2:] == [("payment.paid", 1, 200), ("attempt.needs_review", 2, 200)]


async def test_a_batch_status_move_the_delivery_table_forbids_changes_nothing(
    hooks: Gateway, subscribed: tuple[Portal, dict[str, Any]]
) -> None:
    await cancelled_payment(hooks)
    await deliver(hooks)
    db = hooks.client.app[DATABASE]
    async with db.read() as conn:
        [before] = (await conn.execute(select(deliveries))).all()
    assert before.status == "succeeded"

    with pytest.raises(InvalidTransition):
        async with db.write() as conn:
            await DELIVERIES.move_each(
                conn,
                DeliveryStatus.SUCCEEDED,
                [(before.id, DeliveryStatus.FAILED, {"last_error": "x"})],
            )
    async with db.read() as conn:
        [after] = (await conn.execute(select(deliveries))).all()
    assert after == before
