"""Booking a postal order and following it: the carrier accepts it, pushes statuses, and
final or money statuses are believed only once read back from the carrier."""

from __future__ import annotations

import json
from typing import Any

from conftest import METRICS_AUTH
from sqlalchemy import select
from tests_support import outbox_types

from gateway.core.db.schema import outbox_events, postal_orders, provider_events
from gateway.keys import DATABASE


async def _pushed(postal: Any, item: str, *codes: int) -> None:
    """The carrier pushes ``codes`` in turn, five minutes apart."""
    for code in codes:
        postal.clock.advance(minutes=5)
        await postal.advance(item, code)


async def test_a_booked_delivery_is_accepted_by_the_carrier_with_a_tracking_number(
    postal: Any,
) -> None:
    order = await postal.book()
    assert order["status"] == "created"
    assert order["tracking_number"].endswith("VN")
    assert order["leg"] == "delivery" and order["attempt"] == 1
    assert order["client_reference"].startswith("BCD1-")
    assert order["recipient"]["phone"] == "091****678"
    assert order["recipient"]["address"]["province_name"] == "Thành phố Hồ Chí Minh"
    assert "street" not in order["recipient"]["address"]
    assert order["warnings"] == []
    assert await outbox_types(postal, order["id"]) == ["postal.order.created"]


async def test_phones_and_streets_are_sealed_at_rest(postal: Any) -> None:
    order = await postal.book()
    async with postal.client.app[DATABASE].read() as conn:
        row = (
            await conn.execute(select(postal_orders).where(postal_orders.c.id == order["id"]))
        ).one()
    stored = json.dumps([row.sender, row.recipient], ensure_ascii=False)
    assert "0912345678" not in stored and "+84912345678" not in stored
    assert "Lê Lợi" not in stored and "Pasteur" not in stored
    assert row.recipient["phone"].startswith("v1.t1.")


async def test_carrier_pushes_move_the_order_by_rank(postal: Any) -> None:
    order = await postal.book()
    item = order["tracking_number"]
    await _pushed(postal, item, 2, 6)
    view = await postal.order(order["id"])
    assert view["status"] == "picked_up"
    assert [e["carrier_code"] for e in view["events"]] == [None, 2, 6]
    assert await outbox_types(postal, order["id"]) == [
        "postal.order.created",
        "postal.order.updated",
        "postal.order.picked_up",
    ]


async def test_a_pushed_delivery_is_confirmed_by_reading_the_order_back(postal: Any) -> None:
    order = await postal.book()
    item = order["tracking_number"]
    await _pushed(postal, item, 12, 14)
    assert (await postal.order(order["id"]))["status"] == "out_for_delivery"
    assert await postal.sync_due() == 1
    view = await postal.order(order["id"])
    assert view["status"] == "delivered"
    assert await outbox_types(postal, order["id"]) == [
        "postal.order.created",
        "postal.order.updated",
        "postal.order.delivered",
    ]
    async with postal.client.app[DATABASE].read() as conn:
        outcomes = (
            (
                await conn.execute(
                    select(provider_events.c.outcome).where(provider_events.c.provider == "vnpost")
                )
            )
            .scalars()
            .all()
        )
    assert sorted(outcomes) == ["applied", "deferred"]


async def test_the_outbox_sequence_grows_per_order(postal: Any) -> None:
    first = await postal.book()
    second = await postal.book(dossier_code="000.00.12.H29-241122-0002")
    postal.clock.advance(minutes=1)
    await postal.advance(first["tracking_number"], 2)
    async with postal.client.app[DATABASE].read() as conn:
        rows = (
            await conn.execute(
                select(outbox_events.c.postal_order_id, outbox_events.c.sequence).order_by(
                    outbox_events.c.created_at, outbox_events.c.sequence
                )
            )
        ).all()
    by_order: dict[str, list[int]] = {}
    for row in rows:
        by_order.setdefault(row.postal_order_id, []).append(row.sequence)
    assert by_order == {first["id"]: [1, 2], second["id"]: [1]}


async def test_phones_and_streets_never_reach_the_logs(postal: Any) -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        order = await postal.book()
        await _pushed(postal, order["tracking_number"], 12, 14)
        await postal.sync_due()
    text = json.dumps(logs, ensure_ascii=False, default=str)
    assert "postal_order_booked" in text and "postal_push_received" in text
    for secret in ("0912345678", "912345678", "Lê Lợi", "Pasteur", "02838290230"):
        assert secret not in text


async def test_metrics_count_orders_by_the_status_they_reach(postal: Any) -> None:
    order = await postal.book()
    await _pushed(postal, order["tracking_number"], 6)
    text = await (await postal.client.get("/metrics", headers=METRICS_AUTH)).text()
    assert 'gateway_postal_order_statuses_total{status="created"} 1.0' in text
    assert 'gateway_postal_order_statuses_total{status="picked_up"} 1.0' in text
    assert 'gateway_provider_notices_total{outcome="applied",provider="vnpost"} 1.0' in text


async def test_orders_booked_before_an_office_served_the_agency_reach_it_later(
    postal: Any,
) -> None:
    from gateway.core.db.schema import agency_post_offices
    from gateway.services.postal import offices

    db = postal.client.app[DATABASE]
    async with db.write() as conn:
        await conn.execute(agency_post_offices.delete())  # no office serves HCM any more
    order = await postal.book()
    feed = await postal.client.get("/v1/operator/orders", headers=postal.auth("operator"))
    assert (await feed.json())["data"] == []
    assert await offices.serve_agency(db, "HCM", "BC-HCM") == 1
    feed = await postal.client.get("/v1/operator/orders", headers=postal.auth("operator"))
    assert [o["id"] for o in (await feed.json())["data"]] == [order["id"]]
