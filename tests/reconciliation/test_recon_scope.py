"""Agency scope in reconciliation: finance staff of one agency (HN) see, decide, import and
report only their agency's items; another agency's (HCM) exception is "not found"; a
deployment-wide key sees every agency. Also: approval by the maker (by person) answers
``self_approval``, and reports speak Vietnamese."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
import pytest
from conftest import AGENCY_ACCOUNT, Gateway
from openpyxl import load_workbook
from sqlalchemy import func, select, update
from tests_support import camt053, signed_notice, staff_login

from gateway.core.db.schema import recon_exceptions, statement_imports
from gateway.core.roles import Role
from gateway.keys import CLOCK, DATABASE, STAFF
from gateway.services.clients import create_client
from providers.sandbox.statements import PaidPayment, treasury_csv

DAY = date(2026, 11, 22)  # the fixed clock's business day
RECON = "/v1/reconciliation"
HN_ACCOUNT = "0022002345678"  # the seed's collection account of HN
NOBODYS_ACCOUNT = "0099009999999"  # a collection account no agency owns
PASSWORD = "mat-khau-dai-du-12"


async def _key(gateway: Gateway, who: str, role: Role, agencies: list[str], **more: Any) -> None:
    app = gateway.client.app
    _, gateway.keys[who] = await create_client(
        app[DATABASE], app[CLOCK], name=who, role=role, agency_codes=agencies, **more
    )


async def _upload(
    gateway: Gateway, who: str, data: bytes, source: str = "camt053", account: str = ""
) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("source", source)
    if account:
        form.add_field("account", account)
    form.add_field("file", data, filename="sao-ke.xml", content_type="application/xml")
    response = await gateway.client.post(
        f"{RECON}/statements", data=form, headers=gateway.auth(who)
    )
    return response.status, await response.json()


async def _call(
    gateway: Gateway, method: str, path: str, who: str, body: Any = None
) -> tuple[int, Any]:
    response = await gateway.client.request(
        method, f"{RECON}{path}", json=body, headers=gateway.auth(who)
    )
    return response.status, await response.json()


async def _exceptions(gateway: Gateway, who: str, **params: str) -> dict[str, dict[str, Any]]:
    status, body = await _call(
        gateway,
        "GET",
        f"/exceptions?business_date={DAY}&" + "&".join(f"{k}={v}" for k, v in params.items()),
        who,
    )
    assert status == 200, body
    return {item["id"]: item for item in body["data"]}


@pytest.fixture
async def two_agencies(gateway: Gateway) -> dict[str, str]:
    """A reconciled day with differences of HCM (a paid payment the bank never reported; an
    unknown credit on HCM's account), of HN (an unknown credit on its account) and of no
    agency (a credit on an account nobody owns); HN's own finance keys. Returns the
    exceptions' ids by name."""
    payment = await gateway.create_payment(dossier_code="HS-SCOPE-1")  # HCM's portal
    body, headers = signed_notice(payment, int(gateway.clock().timestamp()))
    response = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert response.status == 200, await response.text()
    statements = [
        camt053([("99000", "CRDT", "CHUYEN TIEN KHONG RO NOI DUNG")], account=AGENCY_ACCOUNT),
        camt053([("77000", "CRDT", "NOP TIEN KHONG RO NOI DUNG")], account=HN_ACCOUNT),
        camt053([("55000", "CRDT", "KHONG RO TAI KHOAN")], account=NOBODYS_ACCOUNT),
    ]
    for statement in statements:  # the provincial finance department imports all three
        status, imported = await _upload(gateway, "finance", statement)
        assert (status, imported["status"]) == (201, "accepted"), imported
    status, run = await _call(gateway, "POST", "/runs", "finance", {"business_date": str(DAY)})
    assert status == 201, run
    await _key(gateway, "hn_finance", Role.FINANCE, ["HN"])
    await _key(gateway, "hn_approver", Role.FINANCE_APPROVER, ["HN"])

    everything = await _exceptions(gateway, "finance")
    by_what = {(item["agency"], item["amount"]): exc_id for exc_id, item in everything.items()}
    assert set(by_what) == {
        ("HCM", payment["amount"]),  # the ledger side: the payment's agency
        ("HCM", 99000),  # the statement line: the owner of the collection account
        ("HN", 77000),
        (None, 55000),  # no agency owns the account
    }
    return {
        "hcm_payment": by_what[("HCM", payment["amount"])],
        "hcm_credit": by_what[("HCM", 99000)],
        "hn_credit": by_what[("HN", 77000)],
        "nobodys": by_what[(None, 55000)],
    }


async def test_an_agency_key_sees_none_of_another_agencys_exceptions(
    gateway: Gateway, two_agencies: dict[str, str]
) -> None:
    ids = two_agencies
    assert set(await _exceptions(gateway, "hn_finance")) == {ids["hn_credit"]}
    assert set(await _exceptions(gateway, "hn_finance", agency="HCM")) == set()
    # HCM's own key: its two, not HN's, not the one of no agency.
    assert set(await _exceptions(gateway, "finance2")) == {ids["hcm_payment"], ids["hcm_credit"]}
    # The deployment-wide key: all four; the agency filter narrows it.
    assert set(await _exceptions(gateway, "finance")) == set(ids.values())
    assert set(await _exceptions(gateway, "finance", agency="HN")) == {ids["hn_credit"]}

    status, own = await _call(gateway, "GET", f"/exceptions/{ids['hn_credit']}", "hn_finance")
    assert (status, own["agency"], own["amount"]) == (200, "HN", 77000)
    for other in (ids["hcm_credit"], ids["nobodys"]):
        status, problem = await _call(gateway, "GET", f"/exceptions/{other}", "hn_finance")
        assert (status, problem["code"]) == (404, "not_found")


async def test_an_exceptions_candidate_lines_of_another_agency_are_not_shown(
    gateway: Gateway, two_agencies: dict[str, str]
) -> None:
    """An ambiguous amount may have candidates on several agencies' accounts: an agency's
    staff see only theirs."""
    ids = two_agencies
    status, hcm = await _call(gateway, "GET", f"/exceptions/{ids['hcm_credit']}", "finance")
    status, hn = await _call(gateway, "GET", f"/exceptions/{ids['hn_credit']}", "finance")
    candidates = [*hcm["line_ids"], *hn["line_ids"]]
    async with gateway.client.app[DATABASE].write() as conn:
        await conn.execute(
            update(recon_exceptions)
            .where(recon_exceptions.c.id == ids["hn_credit"])
            .values(candidates=candidates)
        )
    status, seen = await _call(gateway, "GET", f"/exceptions/{ids['hn_credit']}", "hn_finance")
    assert status == 200
    assert seen["candidates"] == hn["line_ids"]
    assert {line["account"] for line in seen["lines"]} == {HN_ACCOUNT}
    status, wide = await _call(gateway, "GET", f"/exceptions/{ids['hn_credit']}", "finance")
    assert wide["candidates"] == candidates
    assert {line["account"] for line in wide["lines"]} == {HN_ACCOUNT, AGENCY_ACCOUNT}


async def test_another_agencys_exception_cannot_be_decided_and_answers_not_found(
    gateway: Gateway, two_agencies: dict[str, str]
) -> None:
    hcm = two_agencies["hcm_credit"]
    decision = {"resolution": "write_off", "reason": "Không phải của đơn vị"}
    status, problem = await _call(
        gateway, "POST", f"/exceptions/{hcm}/resolve", "hn_finance", decision
    )
    assert (status, problem["code"]) == (404, "not_found")
    status, resolved = await _call(
        gateway, "POST", f"/exceptions/{hcm}/resolve", "finance2", decision
    )
    assert (status, resolved["status"]) == (200, "resolved")
    for action, body in (("approve", None), ("reject", {"reason": "Thiếu chứng từ"})):
        status, problem = await _call(
            gateway, "POST", f"/exceptions/{hcm}/{action}", "hn_approver", body
        )
        assert (status, problem["code"]) == (404, "not_found"), action
    async with gateway.client.app[DATABASE].read() as conn:
        row = (
            await conn.execute(select(recon_exceptions).where(recon_exceptions.c.id == hcm))
        ).one()
    assert (row.status, row.resolved_by, row.approved_by) == ("resolved", row.resolved_by, None)


async def test_a_report_holds_only_the_callers_agencies(
    gateway: Gateway, two_agencies: dict[str, str]
) -> None:
    ids = two_agencies
    response = await gateway.client.get(
        f"{RECON}/days/{DAY}/report.csv", headers=gateway.auth("hn_finance")
    )
    assert response.status == 200
    text = (await response.read()).decode("utf-8-sig")
    assert ids["hn_credit"] in text and HN_ACCOUNT in text
    for other in (ids["hcm_payment"], ids["hcm_credit"], ids["nobodys"], AGENCY_ACCOUNT):
        assert other not in text
    # The run's figures are HN's: nothing of HN's was matched (HCM's payment was not).
    assert "Số giao dịch khớp,0" in text.splitlines()

    response = await gateway.client.get(
        f"{RECON}/days/{DAY}/report.xlsx", headers=gateway.auth("finance")
    )
    book = load_workbook(io.BytesIO(await response.read()))
    listed = {row[0] for row in book["Ngoại lệ"].iter_rows(min_row=2, values_only=True)}
    assert listed == set(ids.values())


async def test_a_run_by_an_agency_key_summarises_only_its_agency_and_only_deployment_wide_closes(
    gateway: Gateway, two_agencies: dict[str, str]
) -> None:
    status, run = await _call(gateway, "POST", "/runs", "hn_finance", {"business_date": str(DAY)})
    assert status == 201
    assert run["summary"]["exceptions"] == {
        "count": 1,
        "by_type": {"missing_in_gateway": 1},
        "amount_by_type": {"missing_in_gateway": 77000},
    }
    assert run["summary"]["matched"] == {"count": 0, "amount": 0}
    status, wide = await _call(gateway, "GET", f"/runs?business_date={DAY}", "finance")
    assert (status, wide["id"], wide["summary"]["exceptions"]["count"]) == (200, run["id"], 4)
    # The re-run (new exceptions, the old ones superseded) kept every exception's agency.
    seen = await _exceptions(gateway, "hn_finance")
    assert [(item["agency"], item["amount"]) for item in seen.values()] == [("HN", 77000)]

    for who in ("hn_approver", "approver2"):  # approvers of one agency
        status, problem = await _call(gateway, "POST", f"/days/{DAY}/close", who)
        assert (status, problem["code"]) == (403, "deployment_wide_only"), who
    status, problem = await _call(gateway, "POST", f"/days/{DAY}/close", "approver")
    assert (status, problem["code"]) == (409, "open_exceptions")  # allowed; the day is not done


async def _count_imports(gateway: Gateway) -> int:
    async with gateway.client.app[DATABASE].read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(statement_imports))).scalar_one()
        )


async def test_an_agency_key_cannot_import_another_agencys_bank_statement(
    gateway: Gateway,
) -> None:
    await _key(gateway, "hn_finance", Role.FINANCE, ["HN"])
    hcm_statement = camt053([("120000", "CRDT", "NOP PHI")], account=AGENCY_ACCOUNT)
    before = await _count_imports(gateway)
    for account in ("", HN_ACCOUNT):  # the form cannot vouch for another agency's file
        status, problem = await _upload(gateway, "hn_finance", hcm_statement, account=account)
        assert (status, problem["code"]) == (403, "account_not_in_scope"), account
    status, problem = await _upload(gateway, "hn_finance", b"VNPAY", source="vnpay_day")
    assert (status, problem["code"]) == (403, "deployment_wide_only")
    assert await _count_imports(gateway) == before  # nothing stored

    status, imported = await _upload(
        gateway, "hn_finance", camt053([("120000", "CRDT", "NOP PHI")], account=HN_ACCOUNT)
    )
    assert (status, imported["status"]) == (201, "accepted")
    # HCM's statement imported by HCM: HN re-uploading the same bytes learns nothing of it.
    status, _ = await _upload(gateway, "finance2", hcm_statement)
    assert status == 201
    status, problem = await _upload(gateway, "hn_finance", hcm_statement)
    assert (status, problem["code"]) == (403, "account_not_in_scope")


async def test_an_agency_key_can_neither_save_nor_read_another_agencys_bank_layout(
    gateway: Gateway,
) -> None:
    """A saved layout is read into the account's statements: it is the account's agency's."""
    await _key(gateway, "hn_finance", Role.FINANCE, ["HN"])
    layout = {"date": "Ngày", "text": "Nội dung", "amount": "Số tiền"}
    status, saved = await _call(
        gateway, "PUT", f"/bank-mappings/{AGENCY_ACCOUNT}", "finance2", layout
    )
    assert status == 200, saved
    for method, body in (
        ("PUT", {**layout, "text": "Diễn giải"}),
        ("GET", None),
    ):
        status, problem = await _call(
            gateway, method, f"/bank-mappings/{AGENCY_ACCOUNT}", "hn_finance", body
        )
        assert (status, problem["code"]) == (403, "account_not_in_scope"), method
    status, kept = await _call(gateway, "GET", f"/bank-mappings/{AGENCY_ACCOUNT}", "finance2")
    assert (status, kept["mapping"]["text"]) == (200, "Nội dung")  # HN changed nothing
    status, own = await _call(gateway, "PUT", f"/bank-mappings/{HN_ACCOUNT}", "hn_finance", layout)
    assert status == 200, own


def _paid(agency: str, number: int) -> PaidPayment:
    return PaidPayment(
        reference=f"DVC{number:011d}",
        amount=185000,
        paid_at=datetime(2026, 11, 22, 2, 0, tzinfo=UTC),
        channel="vietqr",
        provider_txn_id=f"FT2611220{number:04d}",
        agency_code=agency,
        fee_lines=(("charge", 135000), ("fee", 50000)),
    )


async def test_a_treasury_file_is_imported_only_when_every_line_is_of_the_callers_agencies(
    gateway: Gateway,
) -> None:
    await _key(gateway, "hn_finance", Role.FINANCE, ["HN"])
    both = treasury_csv([_paid("HCM", 1), _paid("HN", 2)], DAY)
    before = await _count_imports(gateway)
    status, problem = await _upload(gateway, "hn_finance", both, source="treasury_csv")
    assert (status, problem["code"]) == (403, "agency_not_in_scope")
    assert await _count_imports(gateway) == before
    status, imported = await _upload(
        gateway, "hn_finance", treasury_csv([_paid("HN", 3)], DAY), source="treasury_csv"
    )
    assert (status, imported["status"]) == (201, "accepted")
    status, imported = await _upload(gateway, "finance", both, source="treasury_csv")
    assert (status, imported["status"]) == (201, "accepted")  # deployment-wide


async def test_a_console_user_of_one_agency_sees_none_of_another_agencys_exceptions(
    gateway: Gateway, two_agencies: dict[str, str]
) -> None:
    await gateway.client.app[STAFF].create_user(
        username="ketoan.hn",
        display_name="Kế toán Hà Nội",
        role=Role.FINANCE_APPROVER,
        password=PASSWORD,
        agency_codes=["HN"],
    )
    session = await staff_login(gateway.client, "ketoan.hn", PASSWORD, "/console")
    page = await gateway.client.get(
        "/console/exceptions", params={"date": str(DAY)}, headers=session.cookie
    )
    text = await page.text()
    assert two_agencies["hn_credit"] in text
    assert two_agencies["hcm_credit"] not in text and two_agencies["nobodys"] not in text
    assert '<td data-testid="exception-agency">HN</td>' in text
    page = await gateway.client.get(
        "/console/exceptions", params={"date": str(DAY), "agency": "HCM"}, headers=session.cookie
    )
    text = await page.text()
    assert "Không có ngoại lệ nào phù hợp." in text and two_agencies["hcm_credit"] not in text
    page = await gateway.client.get(
        f"/console/exceptions/{two_agencies['hn_credit']}", headers=session.cookie
    )
    agency = (await page.text()).split('data-testid="exception-agency">', 1)[1].split("</dd>")[0]
    assert "Sở Tư pháp Hà Nội" in agency and '<span class="mono">HN</span>' in agency
    hcm = two_agencies["hcm_credit"]
    response = await gateway.client.get(f"/console/exceptions/{hcm}", headers=session.cookie)
    assert response.status == 404
    response = await gateway.client.post(
        f"/console/exceptions/{hcm}/resolve",
        data={"csrf": session.csrf, "resolution": "write_off", "reason": "x"},
        headers=session.cookie,
        allow_redirects=False,
    )
    assert response.status == 404
    response = await gateway.client.get(f"/console/days/{DAY}/report.csv", headers=session.cookie)
    text = (await response.read()).decode("utf-8-sig")
    assert two_agencies["hn_credit"] in text and hcm not in text


async def test_one_person_cannot_approve_through_the_console_what_they_resolved_with_a_key(
    gateway: Gateway, two_agencies: dict[str, str]
) -> None:
    """Maker ≠ checker by person, over HTTP both ways: Lan's API key and console user."""
    await _key(gateway, "lan_key", Role.FINANCE_APPROVER, ["HN"], person="lan@stc")
    await gateway.client.app[STAFF].create_user(
        username="lan",
        display_name="Trần Thị Lan",
        role=Role.FINANCE_APPROVER,
        password=PASSWORD,
        agency_codes=["HN"],
        person="lan@stc",
    )
    hn = two_agencies["hn_credit"]
    decision = {"resolution": "write_off", "reason": "Khoản nộp nhầm, đã hoàn"}
    status, _ = await _call(gateway, "POST", f"/exceptions/{hn}/resolve", "lan_key", decision)
    assert status == 200
    session = await staff_login(gateway.client, "lan", PASSWORD, "/console")
    response = await gateway.client.post(
        f"/console/exceptions/{hn}/approve",
        data={"csrf": session.csrf},
        headers=session.cookie,
        allow_redirects=False,
    )
    assert response.status == 409
    assert "Không thể tự phê duyệt xử lý của chính mình" in await response.text()

    # The other way round: resolved as the console user, approved with the key.
    status, _ = await _call(
        gateway, "POST", f"/exceptions/{hn}/reject", "hn_approver", {"reason": "Làm lại"}
    )
    assert status == 200
    response = await gateway.client.post(
        f"/console/exceptions/{hn}/resolve",
        data={"csrf": session.csrf, **decision},
        headers=session.cookie,
        allow_redirects=False,
    )
    assert response.status == 303
    status, problem = await _call(gateway, "POST", f"/exceptions/{hn}/approve", "lan_key")
    assert (status, problem["code"]) == (409, "self_approval")
    status, approved = await _call(gateway, "POST", f"/exceptions/{hn}/approve", "hn_approver")
    assert (status, approved["status"]) == (200, "approved")


async def test_report_cells_carry_vietnamese_labels(
    gateway: Gateway, two_agencies: dict[str, str]
) -> None:
    ids = two_agencies
    decision = {"resolution": "write_off", "reason": "Phí ngân hàng"}
    status, _ = await _call(
        gateway, "POST", f"/exceptions/{ids['hn_credit']}/resolve", "finance", decision
    )
    assert status == 200
    response = await gateway.client.get(
        f"{RECON}/days/{DAY}/report.xlsx", headers=gateway.auth("finance")
    )
    book = load_workbook(io.BytesIO(await response.read()))
    assert book.sheetnames == ["Tổng hợp", "Ngoại lệ", "Theo nguồn", "Theo đơn vị"]
    rows = {row[0]: row for row in book["Ngoại lệ"].iter_rows(min_row=2, values_only=True)}
    assert rows[ids["hn_credit"]][1:6] == (
        "HN",
        "Ngân hàng",
        "Không có trên cổng",
        "Chờ phê duyệt",
        "Ghi giảm",
    )
    # No agency, no resolution: empty cells.
    assert rows[ids["nobodys"]][1:6] == (
        None,
        "Ngân hàng",
        "Không có trên cổng",
        "Chưa xử lý",
        None,
    )

    response = await gateway.client.get(
        f"{RECON}/days/{DAY}/report.csv", headers=gateway.auth("finance")
    )
    table = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    by_id = {row[0]: row for row in table if row and row[0] in ids.values()}
    assert by_id[ids["hn_credit"]][1:6] == [
        "HN",
        "Ngân hàng",
        "Không có trên cổng",
        "Chờ phê duyệt",
        "Ghi giảm",
    ]
    assert ["Đơn vị", "Tất cả đơn vị"] in table
