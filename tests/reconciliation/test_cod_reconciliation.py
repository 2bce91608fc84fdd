"""COD in reconciliation: every collection the gateway's postal orders recorded is one ``cod``
ledger line on its Asia/Ho_Chi_Minh day (linked to a payment or not, never twice), and a day
is reconciled against VNPost's remittance uploaded through the API.

Postal orders with COD collected are written straight into the tables, as
``gateway.services.postal.state.collect_cod`` leaves them: the order's ``cod_collected`` and
``cod_collected_at`` and, for an order linked to a payment, a ``cod`` attempt for the same
money (the payment paid when it fitted)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import Gateway
from sqlalchemy import insert, select, update

from gateway.core.db.schema import agencies, api_clients, attempts, payments, postal_orders
from gateway.keys import DATABASE, LEDGER, SETTINGS
from gateway.sandbox_statements import add_statement_routes
from providers.sandbox.statements import Discrepancies
from providers.sandbox.statements_cod import CodCollection, vnpost_cod_csv
from providers.sandbox.vnpost import s10_item_code
from reconciliation.ledger import ledger
from reconciliation.model import Direction, Source

DAY = date(2026, 11, 22)
MORNING = datetime(2026, 11, 22, 3, 15, tzinfo=UTC)  # 10:15 in Asia/Ho_Chi_Minh


@dataclass(frozen=True)
class Collected:
    order_id: str
    reference: str
    item_code: str
    amount: int
    at: datetime

    def as_collection(self) -> CodCollection:
        return CodCollection(self.item_code, self.reference, self.amount, self.at)


async def _collected(
    gateway: Gateway,
    number: int,
    amount: int,
    at: datetime | None,
    *,
    payment: dict[str, Any] | None = None,
    fits: bool = True,
) -> Collected:
    """A delivery order whose COD the postman collected at ``at`` (None: not yet), linked to
    ``payment`` if given; ``fits`` says whether the collection paid it."""
    order = Collected(
        f"pso_cod{number:024d}",
        f"BCD1-COD{number:012d}",
        s10_item_code("EB", 26112200 + number, "VN"),
        amount,
        at or MORNING,
    )
    async with gateway.client.app[DATABASE].write() as conn:
        agency_id = (
            await conn.execute(select(agencies.c.id).where(agencies.c.code == "HCM"))
        ).scalar_one()
        client_id = (
            await conn.execute(select(api_clients.c.id).where(api_clients.c.name == "portal"))
        ).scalar_one()
        await conn.execute(
            insert(postal_orders).values(
                id=order.order_id,
                client_id=client_id,
                agency_id=agency_id,
                dossier_code=f"HS-COD-{number}",
                leg="delivery",
                attempt=1,
                client_reference=order.reference,
                carrier="vnpost",
                service="standard",
                status="delivered" if at else "out_for_delivery",
                status_at=order.at,
                tracking_number=order.item_code,
                sender={},
                recipient={},
                weight_grams=500,
                cod_amount=amount,
                cod_collected=amount if at else None,
                cod_collected_at=at,
                payment_id=payment["id"] if payment else None,
                note="",
                created_at=MORNING,
                updated_at=order.at,
            )
        )
        if payment is not None and at is not None:
            await conn.execute(
                insert(attempts).values(
                    id=f"att_cod{number:024d}",
                    payment_id=payment["id"],
                    channel="cod",
                    status="succeeded",
                    provider_reference=order.reference,
                    provider_transaction_id=order.item_code,
                    amount=amount,
                    details={"postal_order_id": order.order_id},
                    review_reason=None if fits else "amount_mismatch",
                    created_at=at,
                    updated_at=at,
                )
            )
            if fits:
                await conn.execute(
                    update(payments)
                    .where(payments.c.id == payment["id"])
                    .values(status="paid", paid_at=at, updated_at=at)
                )
    return order


async def _ledger(gateway: Gateway, day: date, counterpart: Source) -> tuple[list[Any], list[str]]:
    async with gateway.client.app[DATABASE].read() as conn:
        return await ledger(conn, day, counterpart)


# -- the ledger ------------------------------------------------------------------------------


async def test_every_cod_collection_is_one_cod_line_whether_or_not_it_paid_a_payment(
    gateway: Gateway,
) -> None:
    paid_by_cod = await gateway.create_payment(dossier_code="HS-COD-1")
    already_paid = await gateway.create_payment(dossier_code="HS-COD-2")
    unlinked = await _collected(gateway, 0, 150000, MORNING)
    linked = await _collected(gateway, 1, 185000, MORNING.replace(hour=4), payment=paid_by_cod)
    misfit = await _collected(
        gateway, 2, 190000, MORNING.replace(hour=5), payment=already_paid, fits=False
    )
    await _collected(gateway, 3, 99000, None)  # not collected yet: no money, no line

    lines, keys = await _ledger(gateway, DAY, Source.COD)

    assert keys == [f"postal:{o.order_id}" for o in (unlinked, linked, misfit)]
    assert [
        (line.amount, line.direction, line.reference, line.provider_txn_id, line.agency_code)
        for line in lines
    ] == [
        (o.amount, Direction.CREDIT, o.reference, o.item_code, "HCM")
        for o in (unlinked, linked, misfit)
    ]
    assert {(line.source, line.booking_date, line.status) for line in lines} == {
        (Source.GATEWAY, DAY, "succeeded")
    }
    # The linked orders' `cod` attempts are the same money: no other counterpart lists them.
    for counterpart in (Source.BANK, Source.VNPAY, Source.POS):
        assert await _ledger(gateway, DAY, counterpart) == ([], [])


@pytest.mark.parametrize(
    ("collected_at", "business_day"),
    [
        (datetime(2026, 11, 22, 17, 30, tzinfo=UTC), date(2026, 11, 23)),  # 00:30 on the 23rd
        (datetime(2026, 11, 22, 16, 59, 59, tzinfo=UTC), date(2026, 11, 22)),  # 23:59:59
        (datetime(2026, 11, 21, 17, 0, tzinfo=UTC), date(2026, 11, 22)),  # midnight opens it
    ],
)
async def test_a_collection_is_on_its_asia_ho_chi_minh_business_day_only(
    gateway: Gateway, collected_at: datetime, business_day: date
) -> None:
    order = await _collected(gateway, 4, 185000, collected_at)

    for day in (date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 23)):
        lines, keys = await _ledger(gateway, day, Source.COD)
        expected = [f"postal:{order.order_id}"] if day == business_day else []
        assert keys == expected, day
        assert [line.booking_date for line in lines] == [business_day] * len(expected)


# -- a day end to end, through the API ------------------------------------------------------


async def _upload(gateway: Gateway, data: bytes, source: str = "vnpost_cod") -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("source", source)
    form.add_field("file", data, filename="bang-ke-cod.csv", content_type="text/csv")
    response = await gateway.client.post(
        "/v1/reconciliation/statements", data=form, headers=gateway.auth("finance")
    )
    return response.status, await response.json()


async def _run(gateway: Gateway, day: date = DAY) -> dict[str, Any]:
    response = await gateway.client.post(
        "/v1/reconciliation/runs",
        json={"business_date": day.isoformat()},
        headers=gateway.auth("finance"),
    )
    assert response.status == 201, await response.text()
    return await response.json()


async def _exceptions(gateway: Gateway, day: date = DAY) -> set[tuple[str, int, tuple[str, ...]]]:
    response = await gateway.client.get(
        "/v1/reconciliation/exceptions",
        params={"business_date": day.isoformat()},
        headers=gateway.auth("finance"),
    )
    return {
        (item["type"], item["amount"], tuple(item["internal_keys"]))
        for item in (await response.json())["data"]
    }


@pytest.fixture
async def cod_day(gateway: Gateway) -> list[Collected]:
    """Three collections on DAY: one unlinked, one that paid its payment, one that did not fit."""
    return [
        await _collected(gateway, 0, 150000, MORNING),
        await _collected(
            gateway,
            1,
            185000,
            MORNING.replace(hour=6),
            payment=await gateway.create_payment(dossier_code="HS-COD-1"),
        ),
        await _collected(
            gateway,
            2,
            190000,
            MORNING.replace(hour=8),
            payment=await gateway.create_payment(dossier_code="HS-COD-2"),
            fits=False,
        ),
    ]


def _remittance(day: list[Collected], **problems: Any) -> bytes:
    return vnpost_cod_csv(
        [order.as_collection() for order in day],
        DAY,
        fee_per_item=5000,
        problems=Discrepancies(**problems),
    )


async def test_remittance_of_every_collection_matches_the_day(
    gateway: Gateway, cod_day: list[Collected]
) -> None:
    status, imported = await _upload(gateway, _remittance(cod_day))
    assert (status, imported["status"], imported["line_count"]) == (201, "accepted", 3)

    run = await _run(gateway)

    assert await _exceptions(gateway) == set()
    assert run["summary"]["sources"]["cod"] == {
        "matched": 3,
        "matched_amount": 525000,
        "exceptions": 0,
        "carried": 0,
        "within_tolerance": 0,
        "tolerated_difference": 0,
    }


async def test_a_remitted_item_without_our_sale_order_code_matches_by_item_code(
    gateway: Gateway, cod_day: list[Collected]
) -> None:
    unlinked, _, _ = cod_day
    text = _remittance(cod_day).decode()
    assert f",{unlinked.reference}," in text
    await _upload(gateway, text.replace(f",{unlinked.reference},", ",,").encode())

    run = await _run(gateway)

    assert await _exceptions(gateway) == set()
    assert run["summary"]["sources"]["cod"]["matched"] == 3


async def test_a_collection_missing_from_the_remittance_is_missing_in_cod(
    gateway: Gateway, cod_day: list[Collected]
) -> None:
    _, linked, _ = cod_day
    await _upload(gateway, _remittance(cod_day, drop=frozenset({linked.reference})))

    run = await _run(gateway)

    # The remittance is dated the next day: VNPost has reported past DAY, so it is missing.
    assert await _exceptions(gateway) == {
        ("missing_in_cod", linked.amount, (f"postal:{linked.order_id}",))
    }
    assert run["summary"]["sources"]["cod"]["matched"] == 2


async def test_a_remitted_amount_other_than_the_collected_one_is_an_amount_mismatch(
    gateway: Gateway, cod_day: list[Collected]
) -> None:
    unlinked, _, _ = cod_day
    await _upload(gateway, _remittance(cod_day, amount_delta={unlinked.reference: -10000}))

    await _run(gateway)

    assert await _exceptions(gateway) == {
        ("amount_mismatch", unlinked.amount, (f"postal:{unlinked.order_id}",))
    }


async def test_an_item_the_gateway_never_collected_is_missing_in_gateway(
    gateway: Gateway, cod_day: list[Collected]
) -> None:
    await _upload(gateway, _remittance(cod_day, unknown_credits=(70000,)))

    await _run(gateway)

    assert await _exceptions(gateway) == {("missing_in_gateway", 70000, ())}


async def test_a_collection_on_the_remittance_day_itself_is_expected_in_transit(
    gateway: Gateway, cod_day: list[Collected]
) -> None:
    _, linked, _ = cod_day
    same_day = vnpost_cod_csv(
        [order.as_collection() for order in cod_day],
        DAY,
        remittance_lag_days=0,
        problems=Discrepancies(drop=frozenset({linked.reference})),
    )
    await _upload(gateway, same_day)

    await _run(gateway)

    assert await _exceptions(gateway) == {
        ("expected_in_transit", linked.amount, (f"postal:{linked.order_id}",))
    }


async def test_the_same_remittance_twice_is_one_import(
    gateway: Gateway, cod_day: list[Collected]
) -> None:
    remittance = _remittance(cod_day)
    first_status, first = await _upload(gateway, remittance)
    again_status, again = await _upload(gateway, remittance)

    assert (first_status, again_status) == (201, 200)
    assert (again["id"], again["duplicate"]) == (first["id"], True)
    run = await _run(gateway)
    assert run["summary"]["sources"]["cod"]["matched"] == 3  # its lines stored once


async def test_a_remittance_with_bad_rows_is_quarantined_with_their_line_numbers(
    gateway: Gateway, cod_day: list[Collected]
) -> None:
    text = _remittance(cod_day).decode()
    broken = text.replace('"150,000","5,000","145,000"', '"150,000","5,000","150,000"')
    assert broken != text

    status, imported = await _upload(gateway, broken.encode())

    assert (status, imported["status"], imported["line_count"]) == (422, "quarantined", 0)
    assert [(e["line_no"], e["code"]) for e in imported["row_errors"]] == [
        (5, "details_do_not_tie")
    ]
    await _run(gateway)
    assert {kind for kind, _, _ in await _exceptions(gateway)} == set()  # nothing to compare


async def test_the_sandbox_serves_the_days_remittance_from_the_postal_orders(
    gateway: Gateway, cod_day: list[Collected], aiohttp_client: Any
) -> None:
    """The demo's route, on a small app sharing the gateway's database and settings."""
    sandbox = web.Application()
    sandbox[DATABASE] = gateway.client.app[DATABASE]
    sandbox[SETTINGS] = gateway.client.app[SETTINGS]
    add_statement_routes(sandbox)
    client = await aiohttp_client(sandbox)
    _, linked, _ = cod_day

    response = await client.get(f"/sandbox/statements/{DAY}/vnpost_cod.csv?drop={linked.reference}")
    assert response.status == 200
    status, imported = await _upload(gateway, await response.read())
    assert (status, imported["line_count"], imported["account"]) == (201, 2, "DEMO-KH001")
    await _run(gateway)

    assert await _exceptions(gateway) == {
        ("missing_in_cod", linked.amount, (f"postal:{linked.order_id}",))
    }


async def test_the_console_shows_the_postal_order_behind_a_cod_line(
    gateway: Gateway, cod_day: list[Collected]
) -> None:
    from gateway.pages.console_ledger import ledger_entries

    _, linked, _ = cod_day
    (entry,) = await ledger_entries(gateway.client.app[LEDGER], [f"postal:{linked.order_id}"])
    assert (entry.found, entry.kind, entry.amount) == (True, "Thu hộ COD", linked.amount)
    assert entry.reference == linked.reference
    assert linked.item_code in entry.detail
