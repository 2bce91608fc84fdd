"""The postal operators' API: a feed of their offices' orders, accepting, events with their own
ids, handovers with the identity check sealed, and COD collected on delivery."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from conftest import Postal
from sqlalchemy import func, select
from tests_support import (
    ID_NUMBER,
    book_demo_delivery,
    handover_body,
    outbox_types,
    sandbox_settings,
    signed_notice,
    start_sandbox,
)

from gateway.core.db.schema import attempts, outbox_events, postal_events, postal_handovers
from gateway.core.roles import Role
from gateway.keys import DATABASE, OPERATORS, SERVICES, STAFF
from gateway.services.clients import create_client
from gateway.services.postal import offices
from gateway.services.postal import state as postal_state

ORDERS = "/v1/operator/orders"


def at(postal: Postal) -> str:
    return postal.clock().isoformat()


async def feed(postal: Postal, who: str = "operator", **query: Any) -> Any:
    response = await postal.client.get(ORDERS, params=query, headers=postal.auth(who))
    assert response.status == 200, await response.text()
    return await response.json()


async def post(postal: Postal, path: str, body: Any = None, who: str = "operator") -> Any:
    response = await postal.client.post(path, json=body or {}, headers=postal.auth(who))
    return response.status, await response.json(), response.headers


async def report(
    postal: Postal, order_id: str, status: str, who: str = "operator", **extra: Any
) -> Any:
    body = {
        "event_id": extra.pop("event_id", uuid.uuid4().hex),
        "status": status,
        "occurred_at": at(postal),
        **extra,
    }
    return await post(postal, f"{ORDERS}/{order_id}/events", body, who)


async def handover(postal: Postal, order_id: str, kind: str, **overrides: Any) -> Any:
    body = handover_body(postal, kind, **overrides)
    return await post(postal, f"{ORDERS}/{order_id}/handovers", body)


async def emitted(postal: Postal, order_id: str) -> list[str]:
    """The order's outbox events in order, without the ``postal.order.`` every type starts with."""
    types = await outbox_types(postal, order_id)
    assert all(name.startswith("postal.order.") for name in types), types
    return [name.removeprefix("postal.order.") for name in types]


async def count(postal: Postal, table: Any, *where: Any) -> int:
    async with postal.client.app[DATABASE].read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one()
        )


async def payment_status(postal: Postal, payment_id: str) -> str:
    response = await postal.client.get(f"/v1/payments/{payment_id}", headers=postal.auth())
    return str((await response.json())["status"])


# -- the feed ----------------------------------------------------------------------------


async def test_an_operator_sees_only_the_orders_of_their_offices_with_full_addresses(
    postal: Postal,
) -> None:
    hcm = await postal.book()
    hn = await postal.book(who="other", agency_code="HN")

    mine = await feed(postal)
    assert [order["id"] for order in mine["data"]] == [hcm["id"]]
    order = mine["data"][0]
    assert order["tracking_number"] == hcm["tracking_number"]
    assert order["post_office"] == {"code": "BC-HCM", "name": "Bưu cục Sài Gòn"}
    recipient = order["recipient"]
    assert (recipient["phone"], recipient["phone_national"]) == ("+84912345678", "0912345678")
    assert recipient["address"]["street"] == "12 Lê Lợi"
    assert recipient["address"]["province_name"] == "Thành phố Hồ Chí Minh"
    assert order["handovers"] == [] and order["accepted_at"] is None

    assert [order["id"] for order in (await feed(postal, "operator_hn"))["data"]] == [hn["id"]]
    response = await postal.client.get(f"{ORDERS}/{hcm['id']}", headers=postal.auth("operator_hn"))
    assert response.status == 404
    assert (await response.json())["code"] == "not_found"


async def test_the_feed_pages_with_a_cursor_and_a_changed_order_comes_again(postal: Postal) -> None:
    booked = []
    for number in range(3):
        booked.append(await postal.book(dossier_code=f"000.00.12.H29-241122-000{number}"))
        postal.clock.advance(seconds=1)

    first = await feed(postal, limit=2)
    assert [o["id"] for o in first["data"]] == [o["id"] for o in booked[:2]]
    assert first["has_more"] is True
    second = await feed(postal, limit=2, cursor=first["next_cursor"])
    assert [o["id"] for o in second["data"]] == [booked[2]["id"]]
    assert second["has_more"] is False
    quiet = await feed(postal, cursor=second["next_cursor"])
    assert (quiet["data"], quiet["next_cursor"]) == ([], second["next_cursor"])

    postal.clock.advance(minutes=5)
    await postal.advance(booked[0]["tracking_number"], 2)
    changed = await feed(postal, cursor=quiet["next_cursor"])
    assert [(o["id"], o["status"]) for o in changed["data"]] == [
        (booked[0]["id"], "pickup_assigned")
    ]


async def test_a_made_up_cursor_is_refused(postal: Postal) -> None:
    response = await postal.client.get(
        ORDERS, params={"cursor": "not-a-cursor"}, headers=postal.auth("operator")
    )
    assert response.status == 400
    assert (await response.json())["code"] == "invalid_cursor"


async def test_a_portal_key_cannot_use_the_operator_api(postal: Postal) -> None:
    response = await postal.client.get(ORDERS, headers=postal.auth("portal"))
    assert response.status == 403
    assert (await response.json())["code"] == "forbidden"


# -- accepting ---------------------------------------------------------------------------


async def test_accepting_an_order_is_recorded_once_and_announced(postal: Postal) -> None:
    order = await postal.book()
    postal.clock.advance(minutes=1)
    status, view, _ = await post(postal, f"{ORDERS}/{order['id']}/accept")
    assert status == 200
    assert view["accepted_at"] == "2026-11-22T02:01:00Z"
    assert view["accepted_by"] == "operator"  # the client's name

    postal.clock.advance(minutes=1)
    status, again, _ = await post(postal, f"{ORDERS}/{order['id']}/accept")
    assert (status, again["accepted_at"]) == (200, view["accepted_at"])
    assert await emitted(postal, order["id"]) == ["created", "updated"]

    db, clock = postal.client.app[DATABASE], postal.clock
    client_id, postal.keys["colleague"] = await create_client(
        db, clock, name="colleague", role=Role.POSTAL_OPERATOR, agency_codes=[]
    )
    await offices.scope_client(db, client_id, ["BC-HCM"])
    status, problem, _ = await post(postal, f"{ORDERS}/{order['id']}/accept", who="colleague")
    assert (status, problem["code"]) == (409, "already_accepted")


async def test_a_cancelled_order_cannot_be_accepted(postal: Postal) -> None:
    order = await postal.book()
    cancelled = await postal.client.post(
        f"/v1/postal/orders/{order['id']}/cancel", headers=postal.auth()
    )
    assert (await cancelled.json())["status"] == "cancelled"
    status, problem, _ = await post(postal, f"{ORDERS}/{order['id']}/accept")
    assert (status, problem["code"]) == (409, "order_not_acceptable")


# -- events ------------------------------------------------------------------------------


async def test_an_operator_event_moves_the_order_and_an_older_one_is_only_stored(
    postal: Postal,
) -> None:
    order = await postal.book()
    postal.clock.advance(minutes=10)
    status, answer, _ = await report(postal, order["id"], "picked_up", note="Đã nhận hồ sơ")
    assert (status, answer["applied"]) == (201, True)
    assert answer["order"]["status"] == "picked_up"

    older = {"occurred_at": "2026-11-22T02:05:00Z"}
    status, answer, _ = await report(postal, order["id"], "picking_up", **older)
    assert (status, answer["applied"]) == (201, False)

    view = await postal.order(order["id"])
    assert view["status"] == "picked_up"
    assert [(e["source"], e["status"], e["applied"]) for e in view["events"]][1:] == [
        ("operator", "picked_up", True),
        ("operator", "picking_up", False),
    ]
    assert await emitted(postal, order["id"]) == ["created", "picked_up"]


async def test_a_duplicate_operator_event_id_with_other_content_is_refused_and_changes_nothing(
    postal: Postal,
) -> None:
    order = await postal.book()
    postal.clock.advance(minutes=10)
    status, _, _ = await report(postal, order["id"], "pickup_assigned", event_id="ev-1")
    assert status == 201
    events_before = await count(postal, postal_events)
    outbox_before = await count(postal, outbox_events)

    postal.clock.advance(minutes=10)
    status, problem, _ = await report(postal, order["id"], "picked_up", event_id="ev-1")
    assert (status, problem["code"]) == (409, "duplicate_event")
    assert (await postal.order(order["id"]))["status"] == "pickup_assigned"
    assert await count(postal, postal_events) == events_before
    assert await count(postal, outbox_events) == outbox_before


async def test_the_same_event_sent_again_is_answered_with_the_first_result(postal: Postal) -> None:
    order = await postal.book()
    postal.clock.advance(minutes=10)
    body = {"event_id": "ev-7", "status": "picked_up", "occurred_at": at(postal), "note": "ok"}
    path = f"{ORDERS}/{order['id']}/events"
    status, first, _ = await post(postal, path, body)
    assert status == 201
    postal.clock.advance(minutes=1)
    status, again, headers = await post(postal, path, body)
    assert status == 200
    assert headers["Idempotent-Replayed"] == "true"
    assert (again["event"], again["applied"]) == (first["event"], True)
    assert await count(postal, postal_events, postal_events.c.source.like("operator:%")) == 1


async def test_an_event_for_an_order_outside_the_operators_offices_is_not_found(
    postal: Postal,
) -> None:
    order = await postal.book()
    postal.clock.advance(minutes=10)
    status, problem, _ = await report(postal, order["id"], "picked_up", who="operator_hn")
    assert (status, problem["code"]) == (404, "not_found")
    # Even a report that would be refused for itself says nothing about another office's order.
    status, problem, _ = await report(
        postal, order["id"], "picked_up", who="operator_hn", occurred_at="2026-11-23T03:00:00Z"
    )
    assert (status, problem["code"]) == (404, "not_found")
    assert (await postal.order(order["id"]))["status"] == "created"
    assert await count(postal, postal_events, postal_events.c.source.like("operator:%")) == 0


async def test_an_event_from_the_future_is_refused(postal: Postal) -> None:
    order = await postal.book()
    status, problem, _ = await report(
        postal, order["id"], "picked_up", occurred_at="2026-11-22T03:00:00Z"
    )
    assert (status, problem["code"]) == (422, "validation_failed")
    assert problem["errors"][0]["field"] == "occurred_at"


async def test_a_handover_dated_before_the_order_was_booked_is_refused(postal: Postal) -> None:
    """Its time is when the COD was collected: a time before the order existed is refused,
    and nothing is stored (the bill stays as it was)."""
    payment = await postal.create_payment(expires_in_seconds=3600)
    order = await postal.book(payment_id=payment["id"], cod_amount=payment["amount"])
    booked = postal.clock()
    postal.clock.advance(hours=2)
    for early, code in ((timedelta(minutes=11), 422), (timedelta(minutes=9), 201)):
        status, problem, _ = await handover(
            postal,
            order["id"],
            "delivered",
            at=(booked - early).isoformat(),
            cod_collected=payment["amount"],
        )
        assert status == code, problem
        if code == 422:
            assert [(e["field"], e["code"]) for e in problem["errors"]] == [("at", "before_order")]
            assert await count(postal, postal_handovers) == 0
            # Not paid by it (reading the bill after its time expires it).
            assert await payment_status(postal, payment["id"]) == "expired"
    # Within the skew the handover is kept, but its time is not believed for the money:
    # the COD counts from when it was reported, after the expiry.
    bill = await (
        await postal.client.get(f"/v1/payments/{payment['id']}", headers=postal.auth())
    ).json()
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "paid_after_expiry")


async def test_an_event_dated_before_the_order_was_booked_is_refused(postal: Postal) -> None:
    order = await postal.book()
    early = (postal.clock() - timedelta(hours=1)).isoformat()
    status, problem, _ = await report(postal, order["id"], "picked_up", occurred_at=early)
    assert (status, problem["errors"][0]["field"], problem["errors"][0]["code"]) == (
        422,
        "occurred_at",
        "before_order",
    )
    assert (await postal.order(order["id"]))["status"] == "created"


async def test_an_event_id_of_the_handovers_own_kind_is_refused(postal: Postal) -> None:
    order = await postal.book()
    status, problem, _ = await report(postal, order["id"], "picked_up", event_id="handover:h1")
    assert (status, problem["errors"][0]["field"], problem["errors"][0]["code"]) == (
        422,
        "event_id",
        "reserved",
    )


# -- handovers ---------------------------------------------------------------------------


async def test_a_handover_keeps_the_identity_number_sealed_and_masked(postal: Postal) -> None:
    order = await postal.book(leg="pickup")
    postal.clock.advance(minutes=30)
    status, answer, _ = await handover(postal, order["id"], "collected")
    assert status == 201
    recorded = answer["handover"]
    assert recorded["identity"] == {"id_type": "cccd", "id_number_masked": "********1234"}
    assert recorded["documents"][1] == {
        "item": "Bản sao giấy khai sinh",
        "original": False,
        "count": 2,
    }
    assert recorded["seal_number"] == "NP-000123"
    assert answer["order"]["status"] == "picked_up"
    assert ID_NUMBER not in json.dumps(answer)

    async with postal.client.app[DATABASE].read() as conn:
        row = (await conn.execute(select(postal_handovers))).one()
    assert ID_NUMBER not in json.dumps([str(value) for value in row], ensure_ascii=False)
    assert row.id_number_masked == "********1234"
    assert row.id_number_sealed.startswith("v1.t1.")
    assert await emitted(postal, order["id"]) == ["created", "picked_up"]


async def test_a_handover_sent_again_is_recognised_and_another_with_its_id_refused(
    postal: Postal,
) -> None:
    order = await postal.book()
    postal.clock.advance(minutes=30)
    body = handover_body(postal, "collected", counterpart_role="agency_officer")
    path = f"{ORDERS}/{order['id']}/handovers"
    status, first, _ = await post(postal, path, body)
    assert status == 201
    status, again, headers = await post(postal, path, body)
    assert (status, headers["Idempotent-Replayed"]) == (200, "true")
    assert again["handover"] == first["handover"]

    status, problem, _ = await post(postal, path, {**body, "seal_number": "NP-999"})
    assert (status, problem["code"]) == (409, "duplicate_handover")
    assert await count(postal, postal_handovers) == 1


async def test_cod_collected_on_delivery_pays_the_linked_payment(postal: Postal) -> None:
    payment = await postal.create_payment(expires_in_seconds=7 * 24 * 3600)
    order = await postal.book(payment_id=payment["id"], cod_amount=payment["amount"])
    postal.clock.advance(minutes=30)
    await handover(postal, order["id"], "collected", counterpart_role="agency_officer")
    postal.clock.advance(hours=2)
    status, answer, _ = await handover(
        postal, order["id"], "delivered", cod_collected=payment["amount"]
    )
    assert status == 201, answer
    assert answer["handover"]["cod_collected"] == payment["amount"]

    view = await postal.order(order["id"])
    assert (view["status"], view["cod_collected"]) == ("delivered", payment["amount"])
    assert await payment_status(postal, payment["id"]) == "paid"
    assert await emitted(postal, order["id"]) == ["created", "picked_up", "delivered"]
    assert await cod_attempts(postal, payment["id"]) == [
        ("succeeded", payment["amount"], order["tracking_number"], None)
    ]


async def cod_attempts(postal: Postal, payment_id: str) -> list[tuple[Any, ...]]:
    """The payment's ``cod`` attempts as the portal reads them: status, amount, the parcel
    they came with and why they need a person."""
    answer = await postal.client.get(f"/v1/payments/{payment_id}/attempts", headers=postal.auth())
    return [
        (a["status"], a["amount"], a["provider_transaction_id"], a["review_reason"])
        for a in (await answer.json())["data"]
        if a["method"] == "cod"
    ]


async def test_cod_for_a_bill_already_paid_is_reviewed_as_a_duplicate_payment_never_lost(
    postal: Postal,
) -> None:
    payment = await postal.create_payment(expires_in_seconds=7 * 24 * 3600)
    order = await postal.book(payment_id=payment["id"], cod_amount=payment["amount"])
    body, headers = signed_notice(payment, int(postal.clock().timestamp()))
    paid = await postal.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert paid.status == 200  # the citizen paid by bank transfer meanwhile
    postal.clock.advance(hours=2)
    status, answer, _ = await handover(
        postal, order["id"], "delivered", cod_collected=payment["amount"]
    )
    assert status == 201, answer

    assert await payment_status(postal, payment["id"]) == "paid"
    assert await cod_attempts(postal, payment["id"]) == [
        ("succeeded", payment["amount"], order["tracking_number"], "duplicate_payment")
    ]
    async with postal.client.app[DATABASE].read() as conn:
        types = (
            await conn.execute(
                select(outbox_events.c.type).where(outbox_events.c.payment_id == payment["id"])
            )
        ).scalars()
        assert sorted(types) == ["attempt.needs_review", "payment.paid"]


async def test_cod_of_another_amount_than_the_bill_puts_it_up_for_review(postal: Postal) -> None:
    """The carrier reports COD collected for another amount than the bill (the operator API
    refuses such a handover; a carrier's report is believed): the money is reviewed."""
    payment = await postal.create_payment(expires_in_seconds=7 * 24 * 3600)
    order = await postal.book(payment_id=payment["id"], cod_amount=payment["amount"])
    context = postal.client.app[OPERATORS].context

    async def collect(conn: Any) -> None:
        row = await postal_state.load(conn, order["id"], for_update=True)
        await postal_state.collect_cod(conn, context, row, 150_000, postal.clock())

    await postal.client.app[DATABASE].transaction(collect)

    bill = await postal.client.get(f"/v1/payments/{payment['id']}", headers=postal.auth())
    view = await bill.json()
    assert (view["status"], view["review_reason"]) == ("needs_review", "amount_mismatch")
    assert await cod_attempts(postal, payment["id"]) == [
        ("succeeded", 150_000, order["tracking_number"], "amount_mismatch")
    ]
    assert (await postal.order(order["id"]))["cod_collected"] == 150_000


async def _cod_late(postal: Postal, *, collected_after: timedelta, swept: bool) -> Any:
    """A bill due in an hour, its COD collected ``collected_after`` its creation and reported
    by the postman two hours later (a handset offline); ``swept``: the bill was read, so
    expired, before the report came. Returns the bill as the portal reads it."""
    payment = await postal.create_payment(expires_in_seconds=3600)
    created = postal.clock()
    order = await postal.book(payment_id=payment["id"], cod_amount=payment["amount"])
    postal.clock.advance(hours=2)
    if swept:
        assert await payment_status(postal, payment["id"]) == "expired"
    status, answer, _ = await handover(
        postal,
        order["id"],
        "delivered",
        at=(created + collected_after).isoformat(),
        cod_collected=payment["amount"],
    )
    assert status == 201, answer
    response = await postal.client.get(f"/v1/payments/{payment['id']}", headers=postal.auth())
    bill = await response.json()
    [cod] = await cod_attempts(postal, payment["id"])
    assert cod[3] == bill["review_reason"]  # the attempt carries the bill's reason
    return bill


async def test_cod_collected_in_time_and_reported_late_pays_the_bill(postal: Postal) -> None:
    """Judged by when the postman collected the money, not when the gateway heard of it."""
    bill = await _cod_late(postal, collected_after=timedelta(minutes=50), swept=False)
    assert (bill["status"], bill["review_reason"]) == ("paid", None)


async def test_cod_collected_after_the_expiry_is_reviewed_as_paid_after_expiry(
    postal: Postal,
) -> None:
    bill = await _cod_late(postal, collected_after=timedelta(minutes=70), swept=False)
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "paid_after_expiry")


async def test_cod_collected_in_time_for_a_bill_expired_meanwhile_says_it_was_in_time(
    postal: Postal,
) -> None:
    bill = await _cod_late(postal, collected_after=timedelta(minutes=50), swept=True)
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "reported_after_expiry")


async def test_cod_reported_late_by_the_carrier_counts_from_its_collection_time(
    postal: Postal,
) -> None:
    """VNPost's COD code is believed only once read back, hours later: the time VNPost gives
    the event counts, not the time of the read-back. The partner order API has no "COD
    collected" code: its 21 (COD paid out) proves the money was collected, at the delivery
    (14) — collect-on-delivery money changes hands there — even when paid out after the
    bill's expiry."""
    payment = await postal.create_payment(expires_in_seconds=3600)
    order = await postal.book(payment_id=payment["id"], cod_amount=payment["amount"])
    postal.clock.advance(minutes=50)
    await postal.advance(order["tracking_number"], 14)  # delivered: deferred to a read-back
    assert await payment_status(postal, payment["id"]) == "pending"
    postal.clock.advance(minutes=40)
    await postal.advance(order["tracking_number"], 21)  # COD paid out, after the expiry
    postal.clock.advance(hours=2)  # the read-back comes after the expiry

    await postal.sync_due()

    [cod] = await cod_attempts(postal, payment["id"])
    assert cod == ("succeeded", payment["amount"], order["tracking_number"], None)
    assert await payment_status(postal, payment["id"]) == "paid"


async def test_cod_of_another_amount_is_refused_and_changes_nothing(postal: Postal) -> None:
    payment = await postal.create_payment(expires_in_seconds=7 * 24 * 3600)
    order = await postal.book(payment_id=payment["id"], cod_amount=payment["amount"])
    postal.clock.advance(minutes=30)
    status, problem, _ = await handover(postal, order["id"], "delivered", cod_collected=100_000)
    assert (status, problem["code"]) == (422, "cod_amount_mismatch")

    view = await postal.order(order["id"])
    assert (view["status"], view["cod_collected"]) == ("created", None)
    assert await payment_status(postal, payment["id"]) == "pending"
    assert await count(postal, postal_handovers) == 0
    assert await count(postal, attempts, attempts.c.channel == "cod") == 0
    assert await emitted(postal, order["id"]) == ["created"]


async def test_cod_on_an_order_without_cod_is_refused(postal: Postal) -> None:
    order = await postal.book()
    postal.clock.advance(minutes=30)
    status, problem, _ = await handover(postal, order["id"], "delivered", cod_collected=50_000)
    assert (status, problem["code"]) == (422, "cod_not_expected")
    assert await count(postal, postal_handovers) == 0


async def test_a_dossier_handed_to_the_agency_starts_the_processing_clock(postal: Postal) -> None:
    order = await postal.book(leg="pickup")
    postal.clock.advance(minutes=30)
    await handover(postal, order["id"], "collected")
    postal.clock.advance(hours=1)
    handed_at = at(postal)
    status, _, _ = await handover(
        postal,
        order["id"],
        "delivered",
        counterpart_name="Trần Thị Bình",
        counterpart_role="agency_officer",
        identity=None,
    )
    assert status == 201

    view = await postal.order(order["id"])
    assert view["status"] == "delivered"
    assert view["handed_over_at"] == handed_at.replace("+00:00", "Z")
    assert await emitted(postal, order["id"]) == ["created", "picked_up", "delivered"]
    detail = await postal.client.get(f"{ORDERS}/{order['id']}", headers=postal.auth("operator"))
    kinds = [h["kind"] for h in (await detail.json())["handovers"]]
    assert kinds == ["collected", "delivered"]


# -- the sandbox -------------------------------------------------------------------------


async def test_the_sandbox_post_office_serves_the_demo_agency_with_a_fresh_key_each_start(
    tmp_path: Any, unused_tcp_port: int, clock: Any
) -> None:
    client = await start_sandbox(sandbox_settings(tmp_path, unused_tcp_port), clock)
    app = client.app
    try:
        old_key, _ = await app[SERVICES].demo.seed_operator()
        key, password = await app[SERVICES].demo.seed_operator()  # the next start
        await book_demo_delivery(client, "demo-1")
        answer = await client.get(ORDERS, headers={"Authorization": f"Bearer {key}"})
        orders = (await answer.json())["data"]
        assert [o["post_office"]["code"] for o in orders] == ["BC-DEMO"]
        revoked = await client.get(ORDERS, headers={"Authorization": f"Bearer {old_key}"})
        assert revoked.status == 401
        _, user = await app[STAFF].login("buucuc", password)
        assert user.role is Role.POSTAL_OPERATOR
    finally:
        await client.close()


# -- reports that contradict what is recorded ------------------------------------------------


async def test_a_second_cod_handover_is_refused_and_the_first_record_stays(
    postal: Postal,
) -> None:
    payment = await postal.create_payment(expires_in_seconds=7 * 24 * 3600)
    order = await postal.book(payment_id=payment["id"], cod_amount=payment["amount"])
    postal.clock.advance(minutes=30)
    first_at = at(postal)
    status, first, _ = await handover(postal, order["id"], "delivered", cod_collected=185000)
    assert status == 201, first
    postal.clock.advance(minutes=10)
    status, problem, _ = await handover(postal, order["id"], "delivered", cod_collected=185000)
    assert (status, problem["code"]) == (409, "cod_already_collected")

    view = await postal.order(order["id"])
    assert (view["cod_collected"], view["cod_collected_at"]) == (
        185000,
        first_at.replace("+00:00", "Z"),
    )
    assert await count(postal, postal_handovers) == 1
    assert await cod_attempts(postal, payment["id"]) == [
        ("succeeded", 185000, order["tracking_number"], None)
    ]
    assert await emitted(postal, order["id"]) == ["created", "delivered"]


async def test_a_cod_handover_after_the_carrier_reported_the_cod_is_refused(
    postal: Postal,
) -> None:
    order = await postal.book(cod_amount=185000)
    for code in (6, 12, 14, 21):  # delivered, then VNPost paid the COD out
        postal.clock.advance(minutes=30)
        await postal.advance(order["tracking_number"], code)
    await postal.sync_due()
    assert (await postal.order(order["id"]))["cod_collected"] == 185000
    status, problem, _ = await handover(postal, order["id"], "delivered", cod_collected=185000)
    assert (status, problem["code"]) == (409, "cod_already_collected")
    assert await count(postal, postal_handovers) == 0


async def test_a_delivery_reported_after_the_return_is_kept_flagged_and_moves_nothing(
    postal: Postal,
) -> None:
    order = await postal.book()
    for code in (6, 12, 15, 15, 16, 18, 19):  # … two failed attempts, returned to the agency
        # Two working days between the attempts (Circular 17/2017), else the return is flagged.
        if code == 15:
            postal.clock.advance(days=2)
        else:
            postal.clock.advance(minutes=30)
        await postal.advance(order["tracking_number"], code)
    await postal.sync_due()
    returned = await postal.order(order["id"])
    assert (returned["status"], returned["review_reason"]) == ("returned", None)
    before = await emitted(postal, order["id"])

    postal.clock.advance(minutes=30)
    status, answer, _ = await report(postal, order["id"], "delivered")
    assert (status, answer["applied"]) == (201, False), answer

    view = await postal.order(order["id"])
    assert (view["status"], view["review_reason"]) == ("returned", "delivered_after_return")
    assert view["result_undelivered"] is True
    last = view["events"][-1]
    assert (last["status"], last["source"], last["applied"]) == ("delivered", "operator", False)
    assert await emitted(postal, order["id"]) == [*before, "updated"]  # the portal is told
    operator = await postal.client.get(f"{ORDERS}/{order['id']}", headers=postal.auth("operator"))
    assert (await operator.json())["review_reason"] == "delivered_after_return"

    # The agency looks and acknowledges: the flag goes, the order stays returned.
    review = f"/v1/postal/orders/{order['id']}/review"
    body = {"decision": "acknowledge", "reason": "Đã gọi công dân, kết quả còn ở cơ quan"}
    moving = await postal.client.post(
        review, json={**body, "decision": "withdraw"}, headers=postal.auth()
    )
    assert (moving.status, (await moving.json())["code"]) == (409, "not_under_review")
    answer = await postal.client.post(review, json=body, headers=postal.auth())
    view = await answer.json()
    assert (answer.status, view["status"], view["review_reason"]) == (200, "returned", None)
    assert await emitted(postal, order["id"]) == [*before, "updated", "updated"]
    again = await postal.client.post(review, json=body, headers=postal.auth())
    assert (again.status, (await again.json())["code"]) == (409, "not_under_review")
