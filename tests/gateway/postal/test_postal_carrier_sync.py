"""The carrier side of postal orders: submission that survives lost answers, cancellation,
pushes that cannot be believed, and what final statuses mean for the dossier."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from conftest import VNPOST_WEBHOOK_KEY, Postal, make_settings, open_postal
from sqlalchemy import select
from tests_support import outbox_types

from gateway.app import create_app
from gateway.core.db.schema import postal_events, postal_orders, provider_events
from gateway.keys import CARRIER_SYNC, DATABASE
from providers.postal.vnpost import webhook_signature


async def carrier_orders(postal: Postal) -> list[Any]:
    async with postal.client.session.get(postal.carrier.make_url("/sandbox/orders")) as answer:
        return list(await answer.json())


async def fault(postal: Postal, *faults: str) -> None:
    url = postal.carrier.make_url("/sandbox/faults")
    async with postal.client.session.post(url, json={"create": list(faults)}) as answer:
        assert answer.status == 200


# -- submission -------------------------------------------------------------------------------


async def test_a_lost_create_answer_is_looked_up_and_adopted_never_sent_twice(
    postal: Postal,
) -> None:
    await fault(postal, "lost_answer")
    order = await postal.book()
    assert order["status"] == "submitting"
    assert order["tracking_number"] is None
    assert order["last_error"].startswith("outcome_unknown")
    assert await postal.client.app[CARRIER_SYNC].submit_due() == 0  # not due yet
    postal.clock.advance(seconds=11)
    assert await postal.client.app[CARRIER_SYNC].submit_due() == 1
    view = await postal.order(order["id"])
    at_carrier = await carrier_orders(postal)
    assert len(at_carrier) == 1
    assert view["status"] == "created"
    assert view["tracking_number"] == at_carrier[0]["item_code"]
    assert await outbox_types(postal, order["id"]) == ["postal.order.created"]


async def test_an_unavailable_carrier_is_retried_with_a_growing_wait(postal: Postal) -> None:
    await fault(postal, "unavailable", "unavailable")
    order = await postal.book()
    assert order["status"] == "submitting"
    sync = postal.client.app[CARRIER_SYNC]
    postal.clock.advance(seconds=11)
    assert await sync.submit_due() == 1  # second failure: next wait is 20 s
    postal.clock.advance(seconds=11)
    assert await sync.submit_due() == 0
    postal.clock.advance(seconds=10)
    assert await sync.submit_due() == 1
    assert (await postal.order(order["id"]))["status"] == "created"
    assert len(await carrier_orders(postal)) == 1


async def test_a_carrier_that_answers_5xx_to_every_try_leaves_the_order_for_review(
    postal: Postal,
) -> None:
    """A 5xx may come after the carrier created the order: after the last try the order is
    not declared failed (VNPost may hold it) but left for a person, with the reason."""
    await fault(postal, "unavailable", "unavailable", "unavailable")
    order = await postal.book()
    sync = postal.client.app[CARRIER_SYNC]
    for wait in (11, 21):
        postal.clock.advance(seconds=wait)
        await sync.submit_due()
    view = await postal.order(order["id"])
    assert (view["status"], view["review_reason"]) == ("needs_review", "carrier_outcome_unknown")
    assert view["last_error"].startswith("outcome_unknown")
    assert await outbox_types(postal, order["id"]) == ["postal.order.needs_review"]
    assert await carrier_orders(postal) == []
    postal.clock.advance(hours=1)
    assert await sync.submit_due() == 0  # nothing automatic moves it on


async def test_a_carrier_that_cannot_be_reached_fails_the_order_after_the_last_try(
    aiohttp_client: Any, database_url: str, clock: Any
) -> None:
    """Nothing listens at the carrier's address: no request ever left, so the order is
    ``submit_failed`` — not left ``submitting``."""
    from conftest import seed

    vnpost = {
        "base_url": "http://127.0.0.1:9",
        "password": "p",
        "webhook_key": VNPOST_WEBHOOK_KEY,
        "submit_retry_seconds": 10,
        "submit_max_attempts": 2,
    }
    app = create_app(make_settings(database_url, vnpost=vnpost), clock=clock, background=False)
    client = await aiohttp_client(app)
    keys = await seed(client)
    postal = Postal(client=client, clock=clock, keys=keys)
    order = await postal.book()
    assert (order["status"], order["last_error"][:11]) == ("submitting", "unavailable")
    clock.advance(seconds=11)
    assert await client.app[CARRIER_SYNC].submit_due() == 1
    view = await postal.order(order["id"])
    assert (view["status"], view["review_reason"]) == ("submit_failed", None)


# -- cancellation -----------------------------------------------------------------------------


async def cancel(postal: Postal, order_id: str) -> Any:
    response = await postal.client.post(
        f"/v1/postal/orders/{order_id}/cancel", headers=postal.auth()
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def test_cancel_before_pickup_is_confirmed_by_the_carrier(postal: Postal) -> None:
    order = await postal.book()
    postal.clock.advance(minutes=1)
    view = await cancel(postal, order["id"])
    assert (view["status"], view["cancel_state"]) == ("cancelled", "confirmed")
    assert (await carrier_orders(postal))[0]["status"] == 9  # pickup cancelled
    assert await outbox_types(postal, order["id"]) == [
        "postal.order.created",
        "postal.order.updated",
        "postal.order.cancelled",
    ]


async def test_cancel_while_still_submitting_withdraws_the_order(postal: Postal) -> None:
    await fault(postal, "unavailable")
    order = await postal.book()
    await fault(postal, "unavailable")  # the carrier is still down when the cancel comes
    view = await cancel(postal, order["id"])
    assert (view["status"], view["cancel_state"]) == ("cancelled", "confirmed")
    assert await carrier_orders(postal) == []


async def test_after_a_cancellation_the_dossier_can_be_booked_again(postal: Postal) -> None:
    order = await postal.book()
    await cancel(postal, order["id"])
    again = await postal.book()
    assert again["attempt"] == 2
    assert again["client_reference"] != order["client_reference"]


# -- pushes -----------------------------------------------------------------------------------


async def vnpost_events(postal: Postal) -> list[Any]:
    """The carrier pushes stored as provider events, whatever became of them."""
    async with postal.client.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(provider_events).where(provider_events.c.provider == "vnpost")
        )
        return list(rows.all())


def signed_push(item_code: str, status: int, time: str, key: str = VNPOST_WEBHOOK_KEY) -> Any:
    body = json.dumps({"item_code": item_code, "status": status, "time": time}).encode()
    signature = webhook_signature(key.encode(), item_code, status, time)
    return body, {"X-Vnpost-Signature": signature, "Content-Type": "application/json"}


async def push(postal: Postal, body: bytes, headers: dict[str, str], path: str = "") -> Any:
    response = await postal.client.post(f"/callbacks/vnpost{path}", data=body, headers=headers)
    return response.status, await response.json()


async def events(postal: Postal, order_id: str) -> list[Any]:
    async with postal.client.app[DATABASE].read() as conn:
        return list(
            (
                await conn.execute(
                    select(postal_events).where(postal_events.c.order_id == order_id)
                )
            ).all()
        )


async def test_a_forged_push_is_refused_and_changes_nothing(postal: Postal) -> None:
    order = await postal.book()
    body, headers = signed_push(order["tracking_number"], 6, "22/11/2026 09:30:00", key="wrong")
    status, problem = await push(postal, body, headers)
    assert (status, problem["code"]) == (401, "callback_rejected")
    assert (await postal.order(order["id"]))["status"] == "created"
    assert len(await events(postal, order["id"])) == 1


async def test_a_push_that_is_not_json_is_refused(postal: Postal) -> None:
    status, problem = await push(
        postal, b"item_code=EB1", {"X-Vnpost-Signature": "00", "Content-Type": "text/plain"}
    )
    assert (status, problem["code"]) == (400, "callback_malformed")


async def test_a_push_for_an_unknown_item_is_stored_acknowledged_and_not_applied(
    postal: Postal,
) -> None:
    order = await postal.book()
    body, headers = signed_push("EB999999995VN", 5, "22/11/2026 09:30:00")
    status, answer = await push(postal, body, headers)
    assert (status, answer["outcome"]) == (200, "unknown_order")
    [stored] = await vnpost_events(postal)
    assert (stored.outcome, json.loads(stored.payload)["item_code"]) == (
        "unknown_order",
        "EB999999995VN",
    )
    assert (await postal.order(order["id"]))["status"] == "created"


async def test_a_replayed_push_is_a_duplicate(postal: Postal) -> None:
    order = await postal.book()
    body, headers = signed_push(order["tracking_number"], 2, "22/11/2026 09:30:00")
    assert (await push(postal, body, headers))[1]["outcome"] == "applied"
    assert (await push(postal, body, headers))[1]["outcome"] == "duplicate"
    assert len(await events(postal, order["id"])) == 2  # accepted + one push
    assert await outbox_types(postal, order["id"]) == [
        "postal.order.created",
        "postal.order.updated",
    ]


async def test_an_out_of_order_push_is_stored_but_does_not_move_the_order(
    postal: Postal,
) -> None:
    order = await postal.book()
    item = order["tracking_number"]
    newer, headers = signed_push(item, 10, "22/11/2026 11:00:00")
    assert (await push(postal, newer, headers))[1]["outcome"] == "applied"
    older, headers = signed_push(item, 4, "22/11/2026 10:00:00")
    assert (await push(postal, older, headers))[1]["outcome"] == "stored"
    view = await postal.order(order["id"])
    assert view["status"] == "in_transit"
    assert [(e["carrier_code"], e["applied"]) for e in view["events"]][1:] == [
        (10, True),
        (4, False),
    ]


async def test_a_pushed_final_status_the_carrier_does_not_confirm_is_not_applied(
    postal: Postal,
) -> None:
    order = await postal.book()
    body, headers = signed_push(order["tracking_number"], 14, "22/11/2026 09:30:00")
    assert (await push(postal, body, headers))[1]["outcome"] == "deferred"
    await postal.sync_due()  # the carrier's own copy says: created
    assert (await postal.order(order["id"]))["status"] == "created"


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ({"callback_secret": "s3cr3t-path"}, ""),
        ({"callback_secret": "s3cr3t-path"}, "/wrong"),
        ({"callback_allowed_ips": ["10.0.0.0/8"]}, ""),
    ],
)
async def test_pushes_from_the_wrong_path_or_address_are_refused(
    aiohttp_client: Any, database_url: str, settings: dict[str, Any], path: str
) -> None:
    vnpost = {
        "base_url": "http://127.0.0.1:9",
        "password": "p",
        "webhook_key": VNPOST_WEBHOOK_KEY,
        **settings,
    }
    app = create_app(make_settings(database_url, vnpost=vnpost), background=False)
    client = await aiohttp_client(app)
    body, headers = signed_push("EB123456785VN", 5, "22/11/2026 09:30:00")
    response = await client.post(f"/callbacks/vnpost{path}", data=body, headers=headers)
    assert response.status == 401
    assert (await response.json())["code"] == "callback_rejected"


async def test_a_push_on_the_secret_path_is_accepted(
    aiohttp_client: Any, database_url: str
) -> None:
    vnpost = {
        "base_url": "http://127.0.0.1:9",
        "password": "p",
        "webhook_key": VNPOST_WEBHOOK_KEY,
        "callback_secret": "s3cr3t-path",
        "callback_allowed_ips": ["127.0.0.0/8", "::1/128"],
    }
    app = create_app(make_settings(database_url, vnpost=vnpost), background=False)
    client = await aiohttp_client(app)
    body, headers = signed_push("EB123456785VN", 5, "22/11/2026 09:30:00")
    response = await client.post("/callbacks/vnpost/s3cr3t-path", data=body, headers=headers)
    assert response.status == 200
    assert (await response.json())["outcome"] == "unknown_order"


# -- what final statuses mean -----------------------------------------------------------------


async def test_a_pickup_delivered_to_the_agency_starts_the_processing_clock(
    postal: Postal,
) -> None:
    order = await postal.book(leg="pickup")
    assert order["handed_over_at"] is None
    for code in (2, 6, 10, 12, 14):
        postal.clock.advance(minutes=30)
        await postal.advance(order["tracking_number"], code)
    await postal.sync_due()
    view = await postal.order(order["id"])
    assert view["status"] == "delivered"
    assert view["handed_over_at"] == view["status_at"]
    assert view["handed_over_at"] is not None


async def test_a_returned_result_is_marked_undelivered_and_can_be_sent_again(
    postal: Postal,
) -> None:
    order = await postal.book()
    for code in (6, 12, 15, 16, 18, 19):
        postal.clock.advance(minutes=30)
        await postal.advance(order["tracking_number"], code)
    await postal.sync_due()
    view = await postal.order(order["id"])
    assert (view["status"], view["result_undelivered"]) == ("returned", True)
    assert await outbox_types(postal, order["id"]) == [
        "postal.order.created",
        "postal.order.picked_up",
        "postal.order.updated",  # out for delivery
        "postal.order.failed",  # delivery failed
        "postal.order.updated",  # waiting to return
        "postal.order.updated",  # returning
        "postal.order.returned",
    ]
    again = await postal.book()
    assert (again["attempt"], again["status"]) == (2, "created")


async def test_cod_collected_by_the_postman_pays_the_linked_payment(postal: Postal) -> None:
    payment = await postal.create_payment(expires_in_seconds=7 * 24 * 3600)
    order = await postal.book(payment_id=payment["id"], cod_amount=payment["amount"])
    for code in (6, 12, 14, 21):  # picked up, out for delivery, delivered, COD paid out
        postal.clock.advance(minutes=30)
        await postal.advance(order["tracking_number"], code)
    pending = await postal.client.get(f"/v1/payments/{payment['id']}", headers=postal.auth())
    assert (await pending.json())["status"] == "pending"  # a push alone moves no money
    await postal.sync_due()
    view = await postal.order(order["id"])
    assert (view["status"], view["cod_collected"]) == ("delivered", payment["amount"])
    paid = await postal.client.get(f"/v1/payments/{payment['id']}", headers=postal.auth())
    assert (await paid.json())["status"] == "paid"


async def test_a_silent_order_is_read_from_the_carrier_after_a_while(postal: Postal) -> None:
    order = await postal.book()
    assert await postal.sync_due() == 0
    postal.clock.advance(hours=6, seconds=1)
    assert await postal.sync_due() == 1
    async with postal.client.app[DATABASE].read() as conn:
        due = (
            await conn.execute(
                select(postal_orders.c.sync_due_at).where(postal_orders.c.id == order["id"])
            )
        ).scalar_one()
    assert due == postal.clock() + timedelta(hours=6)  # and again after the next quiet spell


async def test_cod_collected_after_the_bill_expired_puts_the_payment_up_for_review(
    postal: Postal,
) -> None:
    payment = await postal.create_payment(expires_in_seconds=3600)
    order = await postal.book(payment_id=payment["id"], cod_amount=payment["amount"])
    for code in (6, 12, 14, 21):
        postal.clock.advance(hours=1)
        await postal.advance(order["tracking_number"], code)
    await postal.sync_due()
    assert (await postal.order(order["id"]))["cod_collected"] == payment["amount"]
    answer = await postal.client.get(f"/v1/payments/{payment['id']}", headers=postal.auth())
    view = await answer.json()
    assert (view["status"], view["review_reason"]) == ("needs_review", "paid_after_expiry")


# -- what the read-back catches -----------------------------------------------------------------


async def drop_pushes(postal: Postal, drop: bool = True) -> None:
    url = postal.carrier.make_url("/sandbox/faults")
    body = {"pushes": "drop" if drop else "send"}
    async with postal.client.session.post(url, json=body) as answer:
        assert answer.status == 200


async def test_statuses_whose_pushes_were_lost_arrive_with_the_next_read(postal: Postal) -> None:
    order = await postal.book()
    await drop_pushes(postal)
    for code in (2, 6, 10):
        postal.clock.advance(minutes=30)
        await postal.advance(order["tracking_number"], code)
    assert (await postal.order(order["id"]))["status"] == "created"
    postal.clock.advance(hours=6)
    assert await postal.sync_due() == 1
    view = await postal.order(order["id"])
    assert view["status"] == "in_transit"
    assert [e["carrier_code"] for e in view["events"] if e["source"] == "vnpost"] == [1, 2, 6, 10]


async def test_a_cancel_the_carrier_refuses_leaves_the_order_going(postal: Postal) -> None:
    order = await postal.book()
    await drop_pushes(postal)  # the postman picked it up; we have not heard yet
    postal.clock.advance(minutes=30)
    await postal.advance(order["tracking_number"], 6)
    view = await cancel(postal, order["id"])
    assert (view["status"], view["cancel_state"]) == ("created", "refused")
    await postal.sync_due()
    view = await postal.order(order["id"])
    assert (view["status"], view["cancel_state"]) == ("picked_up", "refused")
    assert "postal.order.cancelled" not in await outbox_types(postal, order["id"])


async def test_two_workers_submit_a_due_order_once(postal: Postal) -> None:
    import asyncio

    await fault(postal, "unavailable")
    order = await postal.book()
    postal.clock.advance(seconds=11)
    sync = postal.client.app[CARRIER_SYNC]
    await asyncio.gather(sync.submit_due(), sync.submit_due(), sync.submit(order["id"]))
    assert len(await carrier_orders(postal)) == 1
    assert await outbox_types(postal, order["id"]) == ["postal.order.created"]


async def test_an_oversized_push_is_refused_before_it_is_read_and_stores_nothing(
    postal: Postal,
) -> None:
    order = await postal.book()
    body, headers = signed_push(order["tracking_number"], 6, "22/11/2026 09:30:00")
    padded = body[:-1] + b',"note":"' + b"x" * 70_000 + b'"}'
    status, problem = await push(postal, padded, headers)
    assert (status, problem["code"]) == (413, "payload_too_large")
    stored = await vnpost_events(postal)
    assert stored == []
    assert (await postal.order(order["id"]))["status"] == "created"


# -- answers and codes that cannot be taken as they are -------------------------------------------


async def test_an_unusable_carrier_answer_leaves_the_order_for_review_with_the_reason(
    postal: Postal,
) -> None:
    """VNPost answered 200 without a usable item code: it may have created the order, so it
    is neither resubmitted nor failed — a person looks (and the portal is told)."""
    await fault(postal, "invalid_answer")
    order = await postal.book()
    assert (order["status"], order["review_reason"]) == ("needs_review", "carrier_invalid_answer")
    assert order["tracking_number"] is None
    assert order["last_error"].startswith("malformed")
    postal.clock.advance(hours=1)
    assert await postal.client.app[CARRIER_SYNC].submit_due() == 0
    assert len(await carrier_orders(postal)) == 1  # never sent twice
    assert await outbox_types(postal, order["id"]) == ["postal.order.needs_review"]
    operator = await postal.client.get(
        f"/v1/operator/orders/{order['id']}", headers=postal.auth("operator")
    )
    assert (await operator.json())["review_reason"] == "carrier_invalid_answer"
    accept = await postal.client.post(
        f"/v1/operator/orders/{order['id']}/accept", headers=postal.auth("operator")
    )
    assert accept.status == 409


@pytest.mark.parametrize(
    ("code", "why"),
    [(27, "no source explains it"), (100, "MyVNPost's delivered, not a partner order code")],
)
async def test_a_code_the_configured_table_does_not_explain_is_stored_as_unknown_never_applied(
    postal: Postal, code: int, why: str
) -> None:
    order = await postal.book()
    body, headers = signed_push(order["tracking_number"], code, "22/11/2026 09:30:00")
    status, answer = await push(postal, body, headers)
    assert (status, answer["outcome"]) == (200, "unknown_code"), why
    view = await postal.order(order["id"])
    assert view["status"] == "created"
    last = view["events"][-1]
    assert (last["status"], last["carrier_code"], last["applied"]) == ("unknown", code, False)
    operator = await postal.client.get(
        f"/v1/operator/orders/{order['id']}", headers=postal.auth("operator")
    )
    shown = (await operator.json())["events"][-1]
    assert (shown["status"], shown["carrier_code"]) == ("unknown", code)
    assert await outbox_types(postal, order["id"]) == ["postal.order.created"]
    [stored] = await vnpost_events(postal)
    assert (stored.outcome, stored.reason) == ("unknown_code", "unknown_code")


# -- the MyVNPost status profile --------------------------------------------------------------


@pytest.fixture
async def myvnpost(
    aiohttp_server: Any, database_url: str, clock: Any, unused_tcp_port_factory: Any
) -> Any:
    """The gateway and the sandbox carrier both configured with ``status_profile =
    "myvnpost"``."""
    opened = await open_postal(
        aiohttp_server, database_url, clock, unused_tcp_port_factory(), "myvnpost"
    )
    yield opened
    await opened.client.close()


async def test_a_myvnpost_gateway_reads_the_myvnpost_codes_and_collects_cod_on_110(
    myvnpost: Postal,
) -> None:
    postal = myvnpost
    payment = await postal.create_payment(expires_in_seconds=7 * 24 * 3600)
    order = await postal.book(payment_id=payment["id"], cod_amount=payment["amount"])
    for code in (70, 100, 110, 120):  # accepted, delivered, COD collected, COD remitted
        postal.clock.advance(minutes=30)
        await postal.advance(order["tracking_number"], code)
    await postal.sync_due()
    view = await postal.order(order["id"])
    assert (view["status"], view["cod_collected"]) == ("delivered", payment["amount"])
    assert [
        (e["carrier_code"], e["status"]) for e in view["events"] if e["source"] == "vnpost"
    ] == [
        (70, "picked_up"),  # pushed
        (20, "created"),  # the rest from the read-back of the carrier's history
        (100, "delivered"),
        (110, "delivered"),
        (120, "delivered"),
    ]
    collected_at = postal.clock() - timedelta(minutes=30)  # 110, not the read-back
    assert view["cod_collected_at"] == collected_at.isoformat().replace("+00:00", "Z")
    paid = await postal.client.get(f"/v1/payments/{payment['id']}", headers=postal.auth())
    assert (await paid.json())["status"] == "paid"


async def test_a_partner_order_code_pushed_to_a_myvnpost_gateway_is_unknown(
    myvnpost: Postal,
) -> None:
    postal = myvnpost
    order = await postal.book()
    body, headers = signed_push(order["tracking_number"], 14, "22/11/2026 09:30:00")
    status, answer = await push(postal, body, headers)
    assert (status, answer["outcome"]) == (200, "unknown_code")  # not "delivered"
    view = await postal.order(order["id"])
    assert (view["status"], view["events"][-1]["status"]) == ("created", "unknown")


# -- a person's decision about an order the gateway could not settle ----------------------------


async def review(postal: Postal, order_id: str, who: str = "portal", **body: Any) -> Any:
    return await postal.client.post(
        f"/v1/postal/orders/{order_id}/review", json=body, headers=postal.auth(who)
    )


async def audit_of(postal: Postal, order_id: str) -> list[Any]:
    from gateway.core.db.schema import audit_log

    async with postal.client.app[DATABASE].read() as conn:
        rows = await conn.execute(select(audit_log).where(audit_log.c.object_id == order_id))
        return list(rows)


async def test_an_order_vnpost_holds_after_an_unusable_answer_is_adopted_and_then_followed(
    postal: Postal,
) -> None:
    """The back office checks with VNPost, which holds the order: adopting it under that
    item code makes it an ordinary order the carrier's statuses move, and the portal hears."""
    await fault(postal, "invalid_answer")
    order = await postal.book()
    [held] = await carrier_orders(postal)
    answer = await review(
        postal, order["id"], decision="adopt", tracking_number=held["item_code"],
        reason="VNPost CSKH xác nhận đã nhận đơn",
    )  # fmt: skip
    assert answer.status == 200, await answer.text()
    view = await answer.json()
    assert (view["status"], view["tracking_number"], view["review_reason"]) == (
        "created",
        held["item_code"],
        None,
    )
    assert await outbox_types(postal, order["id"]) == [
        "postal.order.needs_review",
        "postal.order.created",
    ]
    [entry] = await audit_of(postal, order["id"])
    assert (entry.action, entry.details["decision"]) == ("postal_order_reviewed", "adopt")
    await postal.advance(held["item_code"], 3)  # the postman picks it up
    assert (await postal.order(order["id"]))["status"] != "created"
    again = await review(postal, order["id"], decision="withdraw", reason="đổi ý")
    assert (again.status, (await again.json())["code"]) == (409, "not_under_review")


async def test_an_order_vnpost_never_received_can_be_booked_again(postal: Postal) -> None:
    await fault(postal, "unavailable", "unavailable", "unavailable")
    order = await postal.book()
    sync = postal.client.app[CARRIER_SYNC]
    for wait in (11, 21):
        postal.clock.advance(seconds=wait)
        await sync.submit_due()
    answer = await review(
        postal, order["id"], decision="not_at_carrier", reason="VNPost không có đơn này"
    )
    view = await answer.json()
    assert (answer.status, view["status"], view["last_error"]) == (
        200,
        "submit_failed",
        "review: VNPost không có đơn này",
    )
    again = await postal.book()  # the same dossier and leg
    assert again["status"] == "created"


async def test_review_decisions_that_do_not_fit_change_nothing(postal: Postal) -> None:
    await fault(postal, "invalid_answer")
    stuck = await postal.book()
    moving = await postal.book(dossier_code="000.00.12.H29-241122-0002")
    [held, _] = await carrier_orders(postal)
    refused = {
        "adopt without an item code": (stuck["id"], "portal", {"decision": "adopt"}, 422),
        "an item code without adopt": (
            stuck["id"], "portal", {"decision": "withdraw", "tracking_number": "EB123456789VN"}, 422
        ),
        "no reason": (stuck["id"], "portal", {"decision": "withdraw", "reason": ""}, 422),
        "an unknown decision": (stuck["id"], "portal", {"decision": "delete"}, 422),
        "another order's item code": (
            stuck["id"], "portal",
            {"decision": "adopt", "tracking_number": moving["tracking_number"]}, 409,
        ),
        "acknowledge on needs_review": (stuck["id"], "portal", {"decision": "acknowledge"}, 409),
        "an order with nothing to decide": (moving["id"], "portal", {"decision": "withdraw"}, 409),
        "another agency's order": (stuck["id"], "other", {"decision": "withdraw"}, 404),
        "an operator's key": (stuck["id"], "operator", {"decision": "withdraw"}, 403),
        "an unknown order": ("pso_unknown", "portal", {"decision": "withdraw"}, 404),
    }  # fmt: skip
    for why, (order_id, who, body, status) in refused.items():
        answer = await review(postal, order_id, who, **{"reason": "kiểm tra", **body})
        assert answer.status == status, (why, await answer.text())
    assert (await postal.order(stuck["id"]))["status"] == "needs_review"
    assert (await postal.order(moving["id"]))["status"] == "created"
    assert await audit_of(postal, stuck["id"]) == []
    assert held["item_code"] != moving["tracking_number"]
