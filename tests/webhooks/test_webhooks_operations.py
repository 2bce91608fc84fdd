"""Webhook operations for the endpoint's owner: a test event on demand, and sending again
everything that failed since a time (after an outage of the portal)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import Gateway, Portal
from sqlalchemy import select
from standardwebhooks import Webhook
from test_webhooks_delivery import cancelled_payment, deliver, hooks, register

from gateway.core.db.schema import deliveries
from gateway.keys import DATABASE

__all__ = ["hooks"]  # the fixture of the delivery tests


async def post(gateway: Gateway, path: str, who: str = "portal", **body: Any) -> Any:
    return await gateway.client.post(path, json=body, headers=gateway.auth(who))


async def statuses(gateway: Gateway) -> list[tuple[str, str]]:
    """(event id, status) of every delivery, oldest first."""
    async with gateway.client.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(deliveries.c.event_id, deliveries.c.status).order_by(deliveries.c.id)
        )
        return [(row.event_id, row.status) for row in rows]


async def until_given_up(gateway: Gateway) -> None:
    """Deliver, a retry delay at a time, until no delivery is open (the portal is down)."""
    for _ in range(40):
        await deliver(gateway)
        if all(status == "failed" for _, status in await statuses(gateway)):
            return
        gateway.clock.advance(hours=15)  # longer than the longest delay with its jitter
    raise AssertionError("deliveries still open")


async def failed_deliveries(
    gateway: Gateway, portal: tuple[Portal, str], payments: int = 1
) -> tuple[Portal, dict[str, Any]]:
    """The portal is down: an endpoint registered, ``payments`` cancelled payments, and their
    events delivered until given up. The receiver and the endpoint."""
    receiver, url = portal
    receiver.answers = [500] * 1000
    endpoint = await register(gateway, url)
    for _ in range(payments):
        await cancelled_payment(gateway)
    await until_given_up(gateway)
    return receiver, endpoint


async def test_a_test_event_goes_to_that_endpoint_only_signed_like_any_event(
    hooks: Gateway, portal: tuple[Portal, str]
) -> None:
    receiver, url = portal
    endpoint = await register(hooks, url)
    await register(hooks, url + "?second")  # subscribed to everything too: gets nothing
    response = await post(hooks, f"/v1/webhook-endpoints/{endpoint['id']}/test")
    assert response.status == 202
    view = await response.json()
    assert view["event"]["type"] == "webhook.test"
    assert [d["endpoint_id"] for d in view["deliveries"]] == [endpoint["id"]]

    assert await deliver(hooks) == 1
    [(headers, body)] = receiver.received
    verified = Webhook(endpoint["secret"]).verify(body, headers)
    assert verified["data"] == {"endpoint_id": endpoint["id"], "sequence": 1}

    # Redelivering it sends it to the same endpoint again, not to the other one.
    response = await post(hooks, f"/v1/events/{verified['id']}/redeliver")
    assert response.status == 202
    assert await deliver(hooks) == 1
    assert len(receiver.received) == 2


async def test_everything_that_failed_since_a_time_is_sent_again_and_nothing_older(
    hooks: Gateway, portal: tuple[Portal, str]
) -> None:
    receiver, endpoint = await failed_deliveries(hooks, portal)
    since = hooks.clock() + timedelta(seconds=1)
    hooks.clock.advance(minutes=5)
    await cancelled_payment(hooks)
    await until_given_up(hooks)
    [(older, _), (newer, _)] = await statuses(hooks)

    receiver.answers = []  # back up
    path = f"/v1/webhook-endpoints/{endpoint['id']}/recover"
    response = await post(hooks, path, since=since.isoformat())
    assert response.status == 202
    assert await response.json() == {"recovered": 1}
    received = len(receiver.received)
    assert await deliver(hooks) == 1
    assert receiver.bodies()[received]["id"] == newer
    assert await statuses(hooks) == [(older, "failed"), (newer, "succeeded")]

    # Again: nothing failed since then.
    response = await post(hooks, path, since=since.isoformat())
    assert await response.json() == {"recovered": 0}


async def test_what_counts_is_when_a_delivery_failed_not_when_its_event_was_created(
    hooks: Gateway, portal: tuple[Portal, str]
) -> None:
    # Both events created and failed long ago.
    receiver, endpoint = await failed_deliveries(hooks, portal, payments=2)
    [(first, _), (second, _)] = await statuses(hooks)
    hooks.clock.advance(days=3)
    since = hooks.clock()
    # The second, old event is sent again by hand during the new outage and fails again.
    response = await post(hooks, f"/v1/events/{second}/redeliver")
    assert response.status == 202
    await until_given_up(hooks)

    receiver.answers = []  # back up
    path = f"/v1/webhook-endpoints/{endpoint['id']}/recover"
    response = await post(hooks, path, since=since.isoformat())
    assert await response.json() == {"recovered": 1}
    received = len(receiver.received)
    assert await deliver(hooks) == 1
    assert receiver.bodies()[received]["id"] == second
    assert await statuses(hooks) == [(first, "failed"), (second, "succeeded")]


async def test_recovering_with_a_bad_time_is_refused_and_changes_nothing(
    hooks: Gateway, portal: tuple[Portal, str]
) -> None:
    receiver, url = portal
    receiver.answers = [500] * 100
    endpoint = await register(hooks, url)
    await cancelled_payment(hooks)
    await until_given_up(hooks)
    path = f"/v1/webhook-endpoints/{endpoint['id']}/recover"
    for body in ({}, {"since": "yesterday"}, {"since": "2026-11-22T09:00:00"}):
        response = await post(hooks, path, **body)
        assert response.status == 422, body
        assert (await response.json())["code"] == "validation_failed"
    assert [status for _, status in await statuses(hooks)] == ["failed"]


async def test_another_clients_or_a_disabled_endpoint_cannot_be_tested_or_recovered(
    hooks: Gateway, portal: tuple[Portal, str]
) -> None:
    _, url = portal
    endpoint = await register(hooks, url)
    since = {"since": hooks.clock().isoformat()}
    for action, body in (("test", {}), ("recover", since)):
        path = f"/v1/webhook-endpoints/{endpoint['id']}/{action}"
        assert (await post(hooks, path, "other", **body)).status == 404
        assert (await post(hooks, f"/v1/webhook-endpoints/we_nope/{action}", **body)).status == 404
    response = await hooks.client.delete(
        f"/v1/webhook-endpoints/{endpoint['id']}", headers=hooks.auth()
    )
    assert response.status == 204
    for action, body in (("test", {}), ("recover", since)):
        response = await post(hooks, f"/v1/webhook-endpoints/{endpoint['id']}/{action}", **body)
        assert response.status == 409
        assert (await response.json())["code"] == "invalid_transition"
    assert await statuses(hooks) == []
