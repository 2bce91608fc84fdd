"""A run's figures per agency: an agency's finance staff see their agency's matched count and
VND per counterpart (not zero, not another agency's) through the API, the console dashboard and
the day report; deployment-wide staff see the whole run and a row per agency."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import Any

import aiohttp
import pytest
from conftest import AGENCY_ACCOUNT, Gateway
from openpyxl import load_workbook
from sqlalchemy import select
from tests_support import camt053, signed_notice, staff_login

from gateway.core.db.schema import agencies, recon_matches
from gateway.core.roles import Role
from gateway.keys import CLOCK, DATABASE, STAFF
from gateway.services.clients import create_client
from reconciliation.scope import exception_agencies

DAY = date(2026, 11, 22)  # the fixed clock's business day
RECON = "/v1/reconciliation"
HN_ACCOUNT = "0022002345678"  # the seed's collection account of HN
HN_AMOUNT = 250_000  # HN's paid payment
HN_UNKNOWN = 77_000  # a credit on HN's account that no payment explains
PASSWORD = "mat-khau-dai-du-12"


async def _pay(gateway: Gateway, who: str, account: str, **overrides: Any) -> dict[str, Any]:
    """A payment of ``who``'s agency, paid by a bank transfer into ``account``."""
    payment = await gateway.create_payment(who, **overrides)
    body, headers = signed_notice(payment, int(gateway.clock().timestamp()), account=account)
    response = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert response.status == 200, await response.text()
    return dict(await gateway.payment(payment["id"], who))


async def _upload(gateway: Gateway, statement: bytes) -> None:
    form = aiohttp.FormData()
    form.add_field("source", "camt053")
    form.add_field("file", statement, filename="sao-ke.xml", content_type="application/xml")
    response = await gateway.client.post(
        f"{RECON}/statements", data=form, headers=gateway.auth("finance")
    )
    body = await response.json()
    assert (response.status, body["status"]) == (201, "accepted"), body


async def _get(gateway: Gateway, path: str, who: str) -> Any:
    response = await gateway.client.get(f"{RECON}{path}", headers=gateway.auth(who))
    assert response.status == 200, await response.text()
    return await response.json() if path.startswith("/runs") else await response.read()


@pytest.fixture
async def day_of_two_agencies(gateway: Gateway) -> dict[str, Any]:
    """HCM and HN each have a payment paid by bank transfer on their own collection account,
    both on the day's statements; HN's statement also has a credit nobody explains. The day
    is run by the deployment-wide key; ``hn_finance`` is HN's own finance key."""
    hcm = await _pay(gateway, "portal", AGENCY_ACCOUNT, dossier_code="HS-HCM-1")
    hn = await _pay(
        gateway,
        "other",
        HN_ACCOUNT,
        agency_code="HN",
        dossier_code="HS-HN-1",
        items=[{"kind": "charge", "description": "Lệ phí cấp bản sao", "amount": HN_AMOUNT}],
    )
    assert (hcm["status"], hn["status"], hn["amount"]) == ("paid", "paid", HN_AMOUNT)
    await _upload(
        gateway,
        camt053([(str(hcm["amount"]), "CRDT", f"Nop phi {hcm['reference']}")]),
    )
    await _upload(
        gateway,
        camt053(
            [
                (str(HN_AMOUNT), "CRDT", f"Nop phi {hn['reference']}"),
                (str(HN_UNKNOWN), "CRDT", "NOP TIEN KHONG RO NOI DUNG"),
            ],
            account=HN_ACCOUNT,
        ),
    )
    response = await gateway.client.post(
        f"{RECON}/runs", json={"business_date": str(DAY)}, headers=gateway.auth("finance")
    )
    assert response.status == 201, await response.text()
    app = gateway.client.app
    _, gateway.keys["hn_finance"] = await create_client(
        app[DATABASE], app[CLOCK], name="hn_finance", role=Role.FINANCE, agency_codes=["HN"]
    )
    return {"hcm": hcm, "hn": hn}


async def test_an_agency_key_sees_its_agencys_matched_figures_and_not_another_agencys(
    gateway: Gateway, day_of_two_agencies: dict[str, Any]
) -> None:
    hcm_amount = day_of_two_agencies["hcm"]["amount"]
    hn = (await _get(gateway, f"/runs?business_date={DAY}", "hn_finance"))["summary"]
    assert hn["matched"] == {"count": 1, "amount": HN_AMOUNT}
    assert hn["exceptions"] == {
        "count": 1,
        "by_type": {"missing_in_gateway": 1},
        "amount_by_type": {"missing_in_gateway": HN_UNKNOWN},
    }
    assert hn["sources"]["bank"] == {
        "matched": 1,
        "matched_amount": HN_AMOUNT,
        "exceptions": 1,
        "carried": 0,
        "within_tolerance": 0,
        "tolerated_difference": 0,
    }
    hcm = (await _get(gateway, f"/runs?business_date={DAY}", "finance2"))["summary"]
    assert hcm["matched"] == {"count": 1, "amount": hcm_amount}
    assert hcm["exceptions"]["count"] == 0
    wide = (await _get(gateway, f"/runs?business_date={DAY}", "finance"))["summary"]
    assert wide["matched"] == {"count": 2, "amount": hcm_amount + HN_AMOUNT}
    assert wide["sources"]["bank"]["matched_amount"] == hcm_amount + HN_AMOUNT
    assert "agencies" not in wide  # the per-agency part is the report's, not the API's

    # Each match records its agency (the ledger side's) and our amount.
    async with gateway.client.app[DATABASE].read() as conn:
        rows = (
            await conn.execute(
                select(agencies.c.code, recon_matches.c.amount).join(
                    agencies, agencies.c.id == recon_matches.c.agency_id
                )
            )
        ).all()
    assert sorted(rows) == [("HCM", hcm_amount), ("HN", HN_AMOUNT)]


async def test_a_run_by_an_agency_key_answers_with_its_agencys_figures(
    gateway: Gateway, day_of_two_agencies: dict[str, Any]
) -> None:
    response = await gateway.client.post(
        f"{RECON}/runs", json={"business_date": str(DAY)}, headers=gateway.auth("hn_finance")
    )
    assert response.status == 201
    summary = (await response.json())["summary"]
    assert summary["matched"] == {"count": 1, "amount": HN_AMOUNT}
    assert summary["sources"]["bank"]["matched_amount"] == HN_AMOUNT


async def _dashboard(gateway: Gateway, username: str, **scope: Any) -> str:
    await gateway.client.app[STAFF].create_user(
        username=username, display_name=username, role=Role.FINANCE, password=PASSWORD, **scope
    )
    session = await staff_login(gateway.client, username, PASSWORD, "/console")
    return await (await gateway.client.get(f"/console?date={DAY}", headers=session.cookie)).text()


def _by_agency(page: str) -> list[list[str]]:
    """The dashboard's per-agency table: agency code, then the numbers."""
    table = page.split('data-testid="by-agency"', 1)[1].split("</table>", 1)[0]
    return [
        [
            *re.findall(r'<span class="mono">([^<]*)</span>', row)[:1],
            *re.findall(r'<td class="num">([^<]*)</td>', row),
        ]
        for row in table.split("<tr>")[2:]
    ]


async def test_an_agency_console_user_sees_its_agencys_matched_figures_on_the_dashboard(
    gateway: Gateway, day_of_two_agencies: dict[str, Any]
) -> None:
    page = await _dashboard(gateway, "ketoan.hn", agency_codes=["HN"])
    assert '<div class="stat" data-testid="matched-count">1</div>' in page
    assert '<div class="muted" data-testid="matched-amount">250.000 ₫</div>' in page
    table = page.split('data-testid="by-source"', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table.split("<td>Ngân hàng</td>", 1)[1])[:3]
    assert cells == ["1", "250.000 ₫", "1"]  # matched, amount, exceptions
    assert _by_agency(page) == [["HN", "1", "250.000 ₫", "1", "77.000 ₫"]]


async def test_a_deployment_wide_console_user_sees_the_run_and_a_row_per_agency(
    gateway: Gateway, day_of_two_agencies: dict[str, Any]
) -> None:
    page = await _dashboard(gateway, "ketoan.tinh", agency_codes=[], all_agencies=True)
    assert '<div class="stat" data-testid="matched-count">2</div>' in page
    assert '<div class="muted" data-testid="matched-amount">435.000 ₫</div>' in page
    assert _by_agency(page) == [
        ["HCM", "1", "185.000 ₫", "0", "0 ₫"],
        ["HN", "1", "250.000 ₫", "1", "77.000 ₫"],
    ]


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _table(rows: list[list[str]], first_header: str) -> list[list[str]]:
    """The rows under the header row starting with ``first_header``, up to a blank row."""
    start = next(i for i, row in enumerate(rows) if row and row[0] == first_header) + 1
    end = next((i for i in range(start, len(rows)) if not rows[i]), len(rows))
    return rows[start:end]


async def test_the_report_holds_the_matched_figures_of_the_callers_scope(
    gateway: Gateway, day_of_two_agencies: dict[str, Any]
) -> None:
    hcm_amount = day_of_two_agencies["hcm"]["amount"]
    hn = _csv_rows(await _get(gateway, f"/days/{DAY}/report.csv", "hn_finance"))
    assert ["Số giao dịch khớp", "1"] in hn
    assert ["Số tiền khớp (VND)", str(HN_AMOUNT)] in hn
    assert ["Ngân hàng", "1", str(HN_AMOUNT), "1", "0", "0", "0"] in _table(hn, "Nguồn")
    assert _table(hn, "Mã đơn vị") == [
        ["HN", "Sở Tư pháp Hà Nội", "1", str(HN_AMOUNT), "1", str(HN_UNKNOWN)]
    ]

    book = load_workbook(io.BytesIO(await _get(gateway, f"/days/{DAY}/report.xlsx", "finance")))
    summary = {row[0]: row[1] for row in book["Tổng hợp"].iter_rows(values_only=True) if row}
    assert summary["Số tiền khớp (VND)"] == hcm_amount + HN_AMOUNT
    by_source = [list(row) for row in book["Theo nguồn"].iter_rows(min_row=2, values_only=True)]
    assert ["Ngân hàng", 2, hcm_amount + HN_AMOUNT, 1, 0, 0, 0] in by_source
    by_agency = [list(row) for row in book["Theo đơn vị"].iter_rows(min_row=2, values_only=True)]
    assert by_agency == [
        ["HCM", "Sở Tư pháp TP. Hồ Chí Minh", 1, hcm_amount, 0, 0],
        ["HN", "Sở Tư pháp Hà Nội", 1, HN_AMOUNT, 1, HN_UNKNOWN],
    ]


async def test_the_agencies_of_a_day_of_many_matches_are_found_on_both_databases(
    gateway: Gateway, day_of_two_agencies: dict[str, Any]
) -> None:
    """Every match of a day is looked up: more ledger keys and statement lines than one
    statement's bound parameters (PostgreSQL takes 32,767) still resolve."""
    hn, hcm = day_of_two_agencies["hn"], day_of_two_agencies["hcm"]
    async with gateway.client.app[DATABASE].read() as conn:
        by_code = dict((await conn.execute(select(agencies.c.code, agencies.c.id))).all())
        lines = (await conn.execute(select(recon_matches.c.line_id))).scalars().all()
        unknown = [f"payment:pay_unknown{n}" for n in range(40_000)]
        owners = await exception_agencies(
            conn,
            [
                ([f"payment:{hn['id']}"], []),
                ([f"payment:{hcm['id']}"], []),
                (unknown, []),
                ([], [*lines, *range(10**9, 10**9 + 40_000)]),  # both agencies' lines
            ],
        )
    assert owners == [by_code["HN"], by_code["HCM"], None, None]
