"""A reconciliation day end to end: payments paid through the sandbox bank, statements made
by the sandbox generator with chosen discrepancies, uploaded through the API, run, reported.
The test states exactly which exceptions must appear."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import (
    AGENCY_ACCOUNT,
    FixedClock,
    Gateway,
    make_settings,
    seed,
)
from openpyxl import load_workbook
from sqlalchemy import func, select
from tests_support import signed_notice, staff_login

from gateway.app import create_app
from gateway.core.db.schema import (
    attempts,
    audit_log,
    day_closes,
    payments,
    recon_exceptions,
    recon_matches,
    statement_imports,
)
from gateway.core.roles import Role
from gateway.keys import CLOCK, DATABASE, STAFF, WORKFLOW
from providers.sandbox.statements import (
    ICT,
    Discrepancies,
    PaidPayment,
    camt053,
    treasury_csv,
)
from reconciliation.ledger import ledger
from reconciliation.model import Source
from reconciliation.runs import RunService, SourceRules
from reconciliation.scope import EVERYWHERE
from reconciliation.workflow import Actor

STAFF_PASSWORD = "mat-khau-thu-nghiem-2026"
DAY = date(2026, 11, 22)  # the fixed clock is 09:00 on this day in Asia/Ho_Chi_Minh


async def _pay_by_transfer(gateway: Gateway, payment: dict[str, Any], number: int) -> None:
    """The bank's signed credit notice for a transfer of the whole amount."""
    now = int(gateway.clock().timestamp())
    body, headers = signed_notice(payment, now, transaction_id=f"FT26112200{number:04d}")
    response = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert (await response.json())["outcome"] == "applied"


async def _paid(gateway: Gateway) -> list[PaidPayment]:
    """The gateway's paid payments, as the sandbox generator wants them."""
    async with gateway.client.app[DATABASE].read() as conn:
        rows = (
            await conn.execute(
                select(payments, attempts.c.provider_transaction_id)
                .join(attempts, attempts.c.payment_id == payments.c.id)
                .where(payments.c.status == "paid", attempts.c.status == "succeeded")
                .order_by(payments.c.created_at, payments.c.id)
            )
        ).all()
    return [
        PaidPayment(
            reference=row.reference,
            amount=row.amount,
            paid_at=row.paid_at,
            channel="vietqr",
            provider_txn_id=row.provider_transaction_id,
            agency_code="HCM",
            fee_lines=(("charge", 135000), ("fee", 50000)),
            account_number=AGENCY_ACCOUNT,
        )
        for row in rows
    ]


async def _upload(
    gateway: Gateway, source: str, data: bytes, name: str = "file"
) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("source", source)
    form.add_field("account", AGENCY_ACCOUNT)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
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


async def _exceptions(gateway: Gateway, day: date = DAY, **params: str) -> list[dict[str, Any]]:
    response = await gateway.client.get(
        "/v1/reconciliation/exceptions",
        params={"business_date": day.isoformat(), **params},
        headers=gateway.auth("finance"),
    )
    assert response.status == 200, await response.text()
    return (await response.json())["data"]


@pytest.fixture
async def paid_day(gateway: Gateway) -> list[PaidPayment]:
    for number in range(3):
        payment = await gateway.create_payment(dossier_code=f"HS-{number}")
        await _pay_by_transfer(gateway, payment, number)
    return await _paid(gateway)


async def test_bank_statement_with_discrepancies_yields_exactly_the_expected_exceptions(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    first, second, third = paid_day
    statement = camt053(
        AGENCY_ACCOUNT,
        paid_day,
        DAY,
        opening_balance=1_000_000,
        problems=Discrepancies(
            drop=frozenset({second.reference}),
            amount_delta={third.reference: -5000},
            unknown_credits=(99000,),
        ),
    )
    status, imported = await _upload(gateway, "camt053", statement, "sao-ke.xml")
    assert (status, imported["status"]) == (201, "accepted")
    # The bank has also reported the next day (nothing for these payments in it).
    next_day = camt053(AGENCY_ACCOUNT, paid_day, date(2026, 11, 23), opening_balance=0)
    assert (await _upload(gateway, "camt053", next_day, "sao-ke-23.xml"))[0] == 201

    run = await _run(gateway)
    found = {(item["type"], item["amount"]) for item in await _exceptions(gateway)}
    assert found == {
        ("missing_in_bank", second.amount),
        ("amount_mismatch", third.amount),  # the ledger's amount; the bank's differs by 5,000
        ("missing_in_gateway", 99000),
    }
    assert run["summary"]["matched"]["count"] == 1
    assert run["summary"]["matched"]["amount"] == first.amount


async def test_a_payment_not_yet_on_the_statement_is_expected_in_transit(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    _, second, _ = paid_day
    statement = camt053(
        AGENCY_ACCOUNT,
        paid_day,
        DAY,
        opening_balance=0,
        problems=Discrepancies(drop=frozenset({second.reference})),
    )
    await _upload(gateway, "camt053", statement)  # the bank has reported only this day
    await _run(gateway)
    found = {(item["type"], item["amount"]) for item in await _exceptions(gateway)}
    assert found == {("expected_in_transit", second.amount)}


async def test_the_same_file_twice_is_one_import(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    statement = camt053(AGENCY_ACCOUNT, paid_day, DAY, opening_balance=0)
    status, first = await _upload(gateway, "camt053", statement)
    again_status, again = await _upload(gateway, "camt053", statement)
    assert (status, again_status) == (201, 200)
    assert again["id"] == first["id"] and again["duplicate"] is True


async def test_a_rerun_supersedes_and_keeps_decisions(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    statement = camt053(
        AGENCY_ACCOUNT,
        paid_day,
        DAY,
        opening_balance=0,
        problems=Discrepancies(unknown_credits=(42000,)),
    )
    await _upload(gateway, "camt053", statement)
    first_run = await _run(gateway)
    [unknown] = await _exceptions(gateway)
    await gateway.client.post(
        f"/v1/reconciliation/exceptions/{unknown['id']}/resolve",
        json={"resolution": "refund_requested", "reason": "Người nộp chuyển nhầm"},
        headers=gateway.auth("finance"),
    )
    second_run = await _run(gateway)
    assert second_run["id"] != first_run["id"]
    [carried] = await _exceptions(gateway)
    assert (carried["status"], carried["resolution"]) == ("resolved", "refund_requested")
    assert carried["run_id"] == second_run["id"]


async def test_a_rerun_after_some_exceptions_were_decided_keeps_every_decision(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    """Issue 10 item 1: one exception approved, one resolved, one open; re-running the day
    answered 500 (rows of one insert with different columns) or wiped the decisions."""
    statement = camt053(
        AGENCY_ACCOUNT,
        paid_day,
        DAY,
        opening_balance=0,
        problems=Discrepancies(unknown_credits=(42000, 57000, 61000)),
    )
    await _upload(gateway, "camt053", statement)
    await _run(gateway)
    by_amount = {item["amount"]: item["id"] for item in await _exceptions(gateway)}
    for amount in (42000, 57000):
        response = await gateway.client.post(
            f"/v1/reconciliation/exceptions/{by_amount[amount]}/resolve",
            json={"resolution": "refund_requested", "reason": "Người nộp chuyển nhầm"},
            headers=gateway.auth("finance"),
        )
        assert response.status == 200, await response.text()
    response = await gateway.client.post(
        f"/v1/reconciliation/exceptions/{by_amount[42000]}/approve",
        headers=gateway.auth("approver"),
    )
    assert response.status == 200, await response.text()

    for _ in range(2):  # a second re-run carries what the first carried
        run = await _run(gateway)
        carried = {item["amount"]: item for item in await _exceptions(gateway)}
        assert {amount: item["run_id"] for amount, item in carried.items()} == {
            42000: run["id"],
            57000: run["id"],
            61000: run["id"],
        }
        assert [
            (carried[amount]["status"], carried[amount]["resolution"])
            for amount in (42000, 57000, 61000)
        ] == [("approved", "refund_requested"), ("resolved", "refund_requested"), ("open", None)]
        assert carried[42000]["approved_by"] is not None


async def test_a_rerun_keeps_decisions_taken_first_middle_and_last_in_the_runs_order(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    """The positions of decided exceptions among the run's rows: the first, a middle and the
    last are decided (approved, resolved, approved), the others open."""
    credits = (41000, 42000, 43000, 44000, 45000)  # in this order on the statement
    await _statement(gateway, paid_day, DAY, unknown_credits=credits)
    await _run(gateway)
    raised = sorted(await _exceptions(gateway), key=lambda item: item["line_ids"])
    assert [item["amount"] for item in raised] == list(credits)
    decided = {0: "approved", 2: "resolved", 4: "approved"}
    for position, status in decided.items():
        if status == "approved":
            await _decide(gateway, raised[position]["id"], "refund_requested")
        else:
            response = await gateway.client.post(
                f"/v1/reconciliation/exceptions/{raised[position]['id']}/resolve",
                json={"resolution": "manual_match", "reason": "Khớp với chứng từ giấy"},
                headers=gateway.auth("finance"),
            )
            assert response.status == 200, await response.text()
    before = sorted(await _exceptions(gateway), key=lambda item: item["line_ids"])
    decision = ("resolution", "resolution_reason", "resolved_by", "resolved_at")
    decision += ("approved_by", "approved_at")

    for _ in range(2):
        run = await _run(gateway)
        after = sorted(await _exceptions(gateway), key=lambda item: item["line_ids"])
        assert [item["status"] for item in after] == [
            decided.get(position, "open") for position in range(len(credits))
        ]
        assert all(item["run_id"] == run["id"] for item in after)
        assert [[item[field] for field in decision] for item in after] == [
            [item[field] for field in decision] for item in before
        ]
        assert all(item["previous_decision"] is None for item in after)


async def test_a_decided_exception_whose_lines_changed_is_open_again_showing_the_decision(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    """Issue 10: a late file brings the line of a payment written off as missing in the bank,
    with another amount: the same difference, other lines. The new exception is open and
    shows the earlier decision; a written-off payment whose line arrived whole is matched and
    its decision is recorded as superseded. Never silently."""
    _, second, third = paid_day
    await _statement(gateway, paid_day, DAY, drop=frozenset({second.reference, third.reference}))
    await _statement(gateway, paid_day, NEXT)  # the bank reported the next day without them
    await _run(gateway)
    decided = {item["internal_keys"][0]: item for item in await _exceptions(gateway)}
    assert {item["type"] for item in decided.values()} == {"missing_in_bank"}
    for item in decided.values():
        await _decide(gateway, item["id"])
    late = camt053(
        AGENCY_ACCOUNT,
        [second, third],
        DAY,
        opening_balance=0,
        problems=Discrepancies(amount_delta={second.reference: -5000}),
    )
    assert (await _upload(gateway, "camt053", late, "sao-ke-bo-sung.xml"))[0] == 201

    reruns = []
    for _ in range(2):  # a second re-run keeps showing the decision, and audits nothing again
        reruns.append((await _run(gateway))["id"])
        [changed] = await _exceptions(gateway)
        assert (changed["type"], changed["status"], changed["resolution"]) == (
            "amount_mismatch",
            "open",
            None,
        )
        [key] = changed["internal_keys"]
        old = decided[key]
        [gone] = [item for other, item in decided.items() if other != key]
        earlier = changed["previous_decision"]
        assert earlier["exception_id"] == old["id"]
        assert (earlier["type"], earlier["status"], earlier["resolution"]) == (
            "missing_in_bank",
            "superseded",
            "write_off",
        )
        assert earlier["resolution_reason"] == "Tiền chuyển nhầm, ngân hàng đã xác nhận"
        assert earlier["resolved_by"] and earlier["approved_by"]
        assert earlier["resolved_at"] and earlier["approved_at"]
        detail = await gateway.client.get(
            f"/v1/reconciliation/exceptions/{changed['id']}", headers=gateway.auth("finance")
        )
        assert (await detail.json())["previous_decision"] == earlier
        entries = await _rows(gateway, audit_log, audit_log.c.action == "decision_superseded")
        # Each superseded decision is named once, by the re-run that superseded it.
        assert sorted(
            (entry.object_id, entry.details["why"], entry.details["run_id"]) for entry in entries
        ) == sorted(
            [(old["id"], "lines_changed", reruns[0]), (gone["id"], "difference_gone", reruns[0])]
        )
        [named] = [entry for entry in entries if entry.details["why"] == "lines_changed"]
        assert (named.details["resolution"], named.details["status"]) == ("write_off", "approved")
    [first_changed] = await _rows(
        gateway, recon_exceptions, recon_exceptions.c.id == named.details["new_exception_id"]
    )
    assert first_changed.run_id == reruns[0] and first_changed.previous_id == old["id"]

    # The console's exception page shows the earlier decision beside the form to decide anew.
    await gateway.client.app[STAFF].create_user(
        username="truongphong",
        display_name="Trưởng phòng",
        role=Role.FINANCE_APPROVER,
        password=STAFF_PASSWORD,
        agency_codes=[],
        all_agencies=True,
    )
    session = await staff_login(gateway.client, "truongphong", STAFF_PASSWORD, "/console")
    page = await gateway.client.get(
        f"/console/exceptions/{changed['id']}",
        headers=session.cookie,
    )
    text = await page.text()
    section = text.split('data-testid="previous-decision"', 1)[1].split("</section>", 1)[0]
    assert "Tiền chuyển nhầm, ngân hàng đã xác nhận" in section and old["id"] in section
    assert 'data-testid="resolve"' in text  # open: to be decided again


async def test_closing_a_day_whose_run_is_older_than_a_statement_that_could_change_it_is_refused(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    await _statement(gateway, paid_day, DAY)
    await _statement(gateway, paid_day, NEXT)
    await _run(gateway)
    gateway.clock.advance(hours=1)
    far = camt053(AGENCY_ACCOUNT, [], DAY + timedelta(days=10), opening_balance=0)
    assert (await _upload(gateway, "camt053", far, "sao-ke-xa.xml"))[0] == 201
    gateway.clock.advance(hours=1)
    late = camt053(
        AGENCY_ACCOUNT,
        [],
        DAY,
        opening_balance=0,
        problems=Discrepancies(unknown_credits=(42000,)),
    )
    status, imported = await _upload(gateway, "camt053", late, "sao-ke-muon.xml")
    assert status == 201, imported

    close = await gateway.client.post(
        f"/v1/reconciliation/days/{DAY}/close", headers=gateway.auth("approver")
    )
    assert close.status == 409
    problem = await close.json()
    assert (problem["code"], problem["import_id"]) == ("stale_run", imported["id"])
    assert await _rows(gateway, day_closes) == []

    await _run(gateway)  # the re-run finds the late credit; decided, the day closes
    [unknown] = await _exceptions(gateway)
    assert (unknown["type"], unknown["amount"]) == ("missing_in_gateway", 42000)
    await _decide(gateway, unknown["id"])
    close = await gateway.client.post(
        f"/v1/reconciliation/days/{DAY}/close", headers=gateway.auth("approver")
    )
    assert close.status == 200, await close.text()


async def test_treasury_receives_the_days_fees_by_kind(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    await _upload(gateway, "camt053", camt053(AGENCY_ACCOUNT, paid_day, DAY, opening_balance=0))
    status, imported = await _upload(gateway, "treasury_csv", treasury_csv(paid_day, DAY))
    assert (status, imported["status"]) == (201, "accepted")
    run = await _run(gateway)
    assert await _exceptions(gateway) == []
    assert run["summary"]["sources"]["treasury"]["exceptions"] == 0


async def test_day_report_downloads_as_xlsx_and_csv(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    await _upload(
        gateway, "camt053", camt053(AGENCY_ACCOUNT, paid_day, DAY, opening_balance=1_000_000)
    )
    await _run(gateway)
    xlsx = await gateway.client.get(
        f"/v1/reconciliation/days/{DAY}/report.xlsx", headers=gateway.auth("finance")
    )
    assert xlsx.status == 200
    book = load_workbook(io.BytesIO(await xlsx.read()))
    cells = {row[0]: row[1] for row in book["Tổng hợp"].iter_rows(values_only=True) if row}
    assert cells["Số giao dịch khớp"] == 3
    credits = sum(p.amount for p in paid_day)
    account_rows = [
        row
        for row in book["Tổng hợp"].iter_rows(values_only=True)
        if row and row[0] == AGENCY_ACCOUNT
    ]
    assert account_rows == [(AGENCY_ACCOUNT, 1_000_000, credits, 0, 1_000_000 + credits)]
    csv_response = await gateway.client.get(
        f"/v1/reconciliation/days/{DAY}/report.csv", headers=gateway.auth("finance")
    )
    text = (await csv_response.read()).decode("utf-8-sig")
    assert "Số giao dịch khớp,3" in text and AGENCY_ACCOUNT in text


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<Document><Stmt>", "malformed_xml"),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
            "external_entity",
        ),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"/>',
            "unsupported_namespace",
        ),
    ],
)
async def test_a_bad_file_is_quarantined_with_its_reason_and_adds_nothing(
    gateway: Gateway, data: bytes, reason: str
) -> None:
    status, imported = await _upload(gateway, "camt053", data)
    assert (status, imported["status"]) == (422, "quarantined")
    assert imported["reason"].startswith(reason) and imported["line_count"] == 0
    assert "root:" not in str(imported)  # nothing of /etc/passwd leaked


async def test_a_file_for_a_closed_day_is_refused(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    await _upload(gateway, "camt053", camt053(AGENCY_ACCOUNT, paid_day, DAY, opening_balance=0))
    await _run(gateway)
    close = await gateway.client.post(
        f"/v1/reconciliation/days/{DAY}/close", headers=gateway.auth("approver")
    )
    assert close.status == 200, await close.text()
    late = camt053(AGENCY_ACCOUNT, paid_day, DAY, opening_balance=5)
    status, problem = await _upload(gateway, "camt053", late)
    assert (status, problem["code"]) == (409, "day_closed")


async def test_an_unknown_source_is_refused(gateway: Gateway) -> None:
    status, problem = await _upload(gateway, "swift_mt999", b"x")
    assert (status, problem["errors"][0]["field"]) == (422, "source")


async def test_report_cells_a_spreadsheet_would_run_as_formulas_stay_text(
    gateway: Gateway,
) -> None:
    """A statement's account comes from outside: in the exported report it must not become a
    live formula (CSV/formula injection) in Excel or LibreOffice."""
    hostile = '=HYPERLINK("//x.vn","Mở")'
    statement = camt053(
        hostile, [], DAY, opening_balance=5_000, problems=Discrepancies(unknown_credits=(70_000,))
    )
    await _upload(gateway, "camt053", statement)
    await _run(gateway)
    xlsx = await gateway.client.get(
        f"/v1/reconciliation/days/{DAY}/report.xlsx", headers=gateway.auth("finance")
    )
    book = load_workbook(io.BytesIO(await xlsx.read()))
    [cell] = [row[0] for row in book["Tổng hợp"].iter_rows() if hostile in str(row[0].value)]
    assert (cell.data_type, cell.value) == ("s", "'" + hostile)
    csv_response = await gateway.client.get(
        f"/v1/reconciliation/days/{DAY}/report.csv", headers=gateway.auth("finance")
    )
    rows = list(csv.reader(io.StringIO((await csv_response.read()).decode("utf-8-sig"))))
    assert ["'" + hostile, "", "70000", "0", ""] in rows
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


async def test_a_statement_value_longer_than_its_column_is_quarantined_not_a_500(
    gateway: Gateway,
) -> None:
    """An account of 40 characters (the column holds an IBAN's 34) is the outside world's
    mistake: the file is quarantined with the field named, and nothing is imported."""
    statement = camt053("9" * 40, [], DAY, 0, problems=Discrepancies(unknown_credits=(70_000,)))
    status, imported = await _upload(gateway, "camt053", statement)
    assert (status, imported["status"], imported["line_count"]) == (422, "quarantined", 0)
    assert imported["reason"].startswith("bad_field:") and "34" in imported["reason"]
    run = await _run(gateway)
    assert run["summary"]["sources"].get("bank", {}).get("exceptions", 0) == 0


# -- bank CSV/XLSX exports: a shipped layout or a mapping ----------------------------------

SAMPLE_BANK_CSV = (
    Path(__file__).resolve().parents[2] / "docs" / "samples" / "bank_statement_2024-05-15.csv"
).read_bytes()
SAMPLE_MAPPING = {
    "date": "Ngày giao dịch",
    "text": "Mô tả",
    "credit": "Ghi có",
    "debit": "Ghi nợ",
    "reference": "Số bút toán",
}


async def _upload_bank(gateway: Gateway, data: bytes, **fields: str) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("source", "bank_csv")
    form.add_field("account", AGENCY_ACCOUNT)
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", data, filename="saoke.csv", content_type="text/csv")
    response = await gateway.client.post(
        "/v1/reconciliation/statements", data=form, headers=gateway.auth("finance")
    )
    return response.status, await response.json()


async def test_the_sample_bank_csv_imports_with_the_shipped_layout(gateway: Gateway) -> None:
    status, imported = await _upload_bank(gateway, SAMPLE_BANK_CSV, bank_profile="vn_standard")
    assert (status, imported["status"], imported["line_count"]) == (201, "accepted", 3)


async def test_a_bank_csv_imports_with_a_mapping_given_with_the_upload(gateway: Gateway) -> None:
    status, imported = await _upload_bank(
        gateway, SAMPLE_BANK_CSV, mapping=json.dumps(SAMPLE_MAPPING, ensure_ascii=False)
    )
    assert (status, imported["status"], imported["line_count"]) == (201, "accepted", 3)


async def test_a_mapping_naming_absent_headers_quarantines_the_file(gateway: Gateway) -> None:
    mapping = {**SAMPLE_MAPPING, "text": "Nội dung"}
    status, imported = await _upload_bank(gateway, SAMPLE_BANK_CSV, mapping=json.dumps(mapping))
    assert (status, imported["status"], imported["line_count"]) == (422, "quarantined", 0)
    assert imported["reason"].startswith("missing_column")


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({}, "bank_profile", "required"),
        ({"bank_profile": "vcb_2019"}, "bank_profile", "invalid_choice"),
        ({"mapping": "{date: Ngày"}, "mapping", "invalid_format"),
        ({"mapping": '["date"]'}, "mapping", "not_object"),
        ({"mapping": '{"date": "A", "txt": "B", "amount": "C"}'}, "mapping", "unknown_field"),
        ({"mapping": '{"date": "A", "amount": "C"}'}, "mapping", "invalid"),
        ({"mapping": '{"date": "A", "text": "B", "amount": 3}'}, "mapping", "not_string"),
        (
            {"mapping": '{"date": "A", "text": "B", "amount": "C", "encoding": "x"}'},
            "mapping",
            "invalid",
        ),
        ({"bank_profile": "generic", "mapping": "{}"}, "mapping", "invalid"),
    ],
)
async def test_a_bank_export_without_a_usable_layout_is_refused_and_stores_nothing(
    gateway: Gateway, fields: dict[str, str], field: str, code: str
) -> None:
    status, problem = await _upload_bank(gateway, SAMPLE_BANK_CSV, **fields)
    assert (status, problem["code"]) == (422, "validation_failed")
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [(field, code)]
    async with gateway.client.app[DATABASE].read() as conn:
        stored = (await conn.execute(select(func.count()).select_from(statement_imports))).scalar()
    assert stored == 0


# -- each difference belongs to one day (issue 10) -----------------------------------------

NEXT, AFTER = DAY + timedelta(days=1), DAY + timedelta(days=2)


async def _decide(gateway: Gateway, exception_id: str, resolution: str = "write_off") -> None:
    response = await gateway.client.post(
        f"/v1/reconciliation/exceptions/{exception_id}/resolve",
        json={"resolution": resolution, "reason": "Tiền chuyển nhầm, ngân hàng đã xác nhận"},
        headers=gateway.auth("finance"),
    )
    assert response.status == 200, await response.text()
    response = await gateway.client.post(
        f"/v1/reconciliation/exceptions/{exception_id}/approve", headers=gateway.auth("approver")
    )
    assert response.status == 200, await response.text()


async def _statement(gateway: Gateway, paid: list[PaidPayment], day: date, **problems: Any) -> None:
    statement = camt053(
        AGENCY_ACCOUNT, paid, day, opening_balance=0, problems=Discrepancies(**problems)
    )
    status, imported = await _upload(gateway, "camt053", statement, f"sao-ke-{day}.xml")
    assert (status, imported["status"]) == (201, "accepted"), imported


async def _rows(gateway: Gateway, table: Any, *where: Any) -> list[Any]:
    async with gateway.client.app[DATABASE].read() as conn:
        return list((await conn.execute(select(table).where(*where))).all())


async def test_a_written_off_bank_line_is_an_exception_of_its_own_day_only(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    """An unknown credit of DAY: an open exception of DAY, never raised by the next days' runs
    (before or after the write-off), and after the write-off never again anything but DAY's
    approved exception — re-running DAY keeps it, once."""
    await _statement(gateway, paid_day, DAY, unknown_credits=(99000,))
    await _statement(gateway, paid_day, NEXT)
    await _statement(gateway, paid_day, AFTER)
    await _run(gateway)
    [unknown] = await _exceptions(gateway)
    assert (unknown["type"], unknown["amount"], unknown["status"]) == (
        "missing_in_gateway",
        99000,
        "open",
    )

    next_run = await _run(gateway, NEXT)  # while DAY's exception is open: carried, not raised
    assert await _exceptions(gateway, NEXT) == []
    assert next_run["summary"]["exceptions"]["count"] == 0
    assert next_run["summary"]["sources"]["bank"]["carried"] == 1

    await _decide(gateway, unknown["id"])
    runs = [await _run(gateway, NEXT), await _run(gateway, AFTER), await _run(gateway)]
    assert [await _exceptions(gateway, day) for day in (NEXT, AFTER)] == [[], []]
    [kept] = await _exceptions(gateway)
    assert (kept["status"], kept["resolution"], kept["line_ids"]) == (
        "approved",
        "write_off",
        unknown["line_ids"],
    )
    counted = [run["summary"]["exceptions"]["amount_by_type"] for run in runs]
    assert counted == [{}, {}, {"missing_in_gateway": 99000}]  # the 99,000 counted once
    # NEXT and AFTER are no longer offered the line at all (DAY wrote it off).
    assert [run["summary"]["sources"].get("bank", {}).get("carried", 0) for run in runs] == [
        0,
        0,
        0,
    ]
    close = await gateway.client.post(
        f"/v1/reconciliation/days/{DAY}/close", headers=gateway.auth("approver")
    )
    assert close.status == 200, await close.text()
    for day in (NEXT, AFTER):  # the next days still close on their own
        close = await gateway.client.post(
            f"/v1/reconciliation/days/{day}/close", headers=gateway.auth("approver")
        )
        assert close.status == 200, await close.text()


async def test_an_unknown_credit_is_raised_on_its_booking_day_not_on_an_earlier_days_run(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    await _statement(gateway, paid_day, DAY)
    await _statement(gateway, paid_day, NEXT, unknown_credits=(77000,))
    day_run = await _run(gateway)
    assert await _exceptions(gateway) == []
    assert day_run["summary"]["sources"]["bank"]["carried"] == 1  # NEXT's, seen in the window
    await _run(gateway, NEXT)
    assert [(e["type"], e["amount"]) for e in await _exceptions(gateway, NEXT)] == [
        ("missing_in_gateway", 77000)
    ]
    await _run(gateway)  # a re-run of DAY still leaves it to NEXT
    assert await _exceptions(gateway) == []


@pytest.mark.parametrize("short", [0, 5000])
async def test_a_credit_whose_payment_the_gateway_recorded_the_next_day_is_taken_then_and_recorded(
    gateway: Gateway, paid_day: list[PaidPayment], short: int
) -> None:
    """The bank booked the transfer on DAY; the gateway heard of it only on NEXT. DAY's run
    raises the credit as missing_in_gateway; NEXT's run matches it (or, 5,000 short, raises it
    as NEXT's amount_mismatch), and DAY's exception is superseded with an audit entry naming
    NEXT's run — never left open beside it."""
    gateway.clock.advance(days=1)
    late = await gateway.create_payment(dossier_code="HS-late")
    booked_by_bank = PaidPayment(
        reference=late["reference"],
        amount=late["amount"] - short,
        paid_at=datetime.combine(DAY, time(16, 0), tzinfo=ICT),
        channel="vietqr",
        provider_txn_id="FT261122009999",
        agency_code="HCM",
        account_number=AGENCY_ACCOUNT,
    )
    await _statement(gateway, [*paid_day, booked_by_bank], DAY)
    await _run(gateway)
    [early] = await _exceptions(gateway)
    assert (early["type"], early["amount"]) == ("missing_in_gateway", late["amount"] - short)

    await _pay_by_transfer(gateway, late, 9999)  # paid on NEXT in the gateway's books
    next_run = await _run(gateway, NEXT)
    found = [(e["type"], e["amount"]) for e in await _exceptions(gateway, NEXT)]
    if short:
        assert found == [("amount_mismatch", late["amount"])]
        assert next_run["summary"]["matched"]["count"] == 0
    else:
        assert found == []
        assert next_run["summary"]["matched"] == {"count": 1, "amount": late["amount"]}
    assert await _exceptions(gateway) == []  # DAY has nothing open any more
    [(status,)] = [
        (row.status,)
        for row in await _rows(gateway, recon_exceptions, recon_exceptions.c.id == early["id"])
    ]
    assert status == "superseded"
    [entry] = await _rows(
        gateway,
        audit_log,
        audit_log.c.object_id == early["id"],
        audit_log.c.action == "exception_settled_elsewhere",
    )
    assert entry.details["run_id"] == next_run["id"]
    assert entry.details["business_date"] == NEXT.isoformat()
    assert entry.details["line_id"] == early["line_ids"][0]
    assert (entry.details["by"] == "amount_mismatch") == bool(short)
    close = await gateway.client.post(
        f"/v1/reconciliation/days/{DAY}/close", headers=gateway.auth("approver")
    )
    assert close.status == 200, await close.text()
    await _run(gateway, NEXT)  # a re-run of NEXT takes it again; nothing reopens on DAY
    assert [(e["type"], e["amount"]) for e in await _exceptions(gateway, NEXT)] == found


async def test_expected_in_transit_becomes_missing_once_the_bank_reported_the_next_day(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    _, second, _ = paid_day
    await _statement(gateway, paid_day, DAY, drop=frozenset({second.reference}))
    await _run(gateway)
    [in_transit] = await _exceptions(gateway)
    assert (in_transit["type"], in_transit["age_days"]) == ("expected_in_transit", 0)

    await _statement(gateway, paid_day, NEXT)  # the bank reported NEXT, still without it
    gateway.clock.advance(days=2)
    run = await _run(gateway)
    assert run["inputs"]["reported_through"]["bank"] == NEXT.isoformat()
    [missing] = await _exceptions(gateway)
    assert (missing["type"], missing["amount"], missing["age_days"]) == (
        "missing_in_bank",
        second.amount,
        2,
    )
    assert [e["id"] for e in await _exceptions(gateway, min_age_days="2")] == [missing["id"]]
    assert await _exceptions(gateway, min_age_days="3") == []


async def test_a_bank_with_two_transit_days_keeps_a_payment_in_transit_one_day_longer(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    app = gateway.client.app
    runs = RunService(
        app[DATABASE], app[CLOCK], app[WORKFLOW], rules={Source.BANK: SourceRules(transit_days=2)}
    )
    finance = Actor("usr_finance", Role.FINANCE, EVERYWHERE)
    _, second, _ = paid_day
    await _statement(gateway, paid_day, DAY, drop=frozenset({second.reference}))
    found = []
    for day in (NEXT, AFTER):
        await _statement(gateway, paid_day, day)
        run = await runs.run(finance, DAY)
        assert run["inputs"]["rules"]["bank"]["transit_days"] == 2
        found += [(e["type"], e["amount"]) for e in await _exceptions(gateway)]
    assert found == [("expected_in_transit", second.amount), ("missing_in_bank", second.amount)]


async def test_a_later_file_within_the_transit_days_makes_the_run_stale_for_closing(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    # The bank's lines count within 0 days of their day, but a payment waits 3 days for it:
    # a file of DAY + 3 turns "expected in transit" into "missing", so a run made before it
    # cannot close the day.
    app = gateway.client.app
    rules = {Source.BANK: SourceRules(window_days=0, transit_days=3)}
    runs = RunService(app[DATABASE], app[CLOCK], app[WORKFLOW], rules=rules)
    finance = Actor("usr_finance", Role.FINANCE, EVERYWHERE)
    _, second, _ = paid_day
    await _statement(gateway, paid_day, DAY, drop=frozenset({second.reference}))
    await runs.run(finance, DAY)
    assert [e["type"] for e in await _exceptions(gateway)] == ["expected_in_transit"]
    gateway.clock.advance(hours=1)
    later = camt053(AGENCY_ACCOUNT, [], DAY + timedelta(days=3), opening_balance=0)
    status, imported = await _upload(gateway, "camt053", later, "sao-ke-sau.xml")
    assert status == 201, imported

    close = await gateway.client.post(
        f"/v1/reconciliation/days/{DAY}/close", headers=gateway.auth("approver")
    )

    problem = await close.json()
    assert (close.status, problem["code"], problem["import_id"]) == (
        409,
        "stale_run",
        imported["id"],
    )


@pytest.mark.parametrize(("tolerance", "matched"), [(5000, True), (4999, False)])
async def test_an_amount_difference_within_the_sources_tolerance_is_a_match_with_its_difference(
    aiohttp_client: Any,
    database_url: str,
    clock: FixedClock,
    tolerance: int,
    matched: bool,
) -> None:
    settings = make_settings(
        database_url, reconciliation={"sources": {"bank": {"amount_tolerance": tolerance}}}
    )
    client = await aiohttp_client(create_app(settings, clock=clock, background=False))
    gateway = Gateway(client=client, clock=clock, keys=await seed(client))
    for number in range(3):
        payment = await gateway.create_payment(dossier_code=f"HS-{number}")
        await _pay_by_transfer(gateway, payment, number)
    paid = await _paid(gateway)
    await _statement(gateway, paid, DAY, amount_delta={paid[2].reference: -5000})
    run = await _run(gateway)

    bank = run["summary"]["sources"]["bank"]
    assert run["inputs"]["rules"]["bank"]["amount_tolerance"] == tolerance
    found = [(e["type"], e["amount"]) for e in await _exceptions(gateway)]
    stored = await _rows(gateway, recon_matches, recon_matches.c.run_id == run["id"])
    if matched:
        assert found == []
        assert (bank["matched"], bank["within_tolerance"], bank["tolerated_difference"]) == (
            3,
            1,
            -5000,
        )
        [tolerated] = [m for m in stored if m.rule == "amount_within_tolerance"]
        assert tolerated.difference == -5000
    else:
        assert found == [("amount_mismatch", paid[2].amount)]
        assert (bank["matched"], bank["within_tolerance"]) == (2, 0)
        assert {m.difference for m in stored} == {0}


async def test_a_line_of_a_day_closed_without_it_is_raised_by_the_first_day_run_after(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    """A file that came after DAY's last run, and DAY closed without a re-run: its unknown
    credit cannot be DAY's any more, so NEXT's run raises it, and AFTER's leaves it to NEXT."""
    await _statement(gateway, paid_day, DAY)
    await _run(gateway)
    late_file = camt053(
        AGENCY_ACCOUNT, [], DAY, 5, problems=Discrepancies(unknown_credits=(66000,))
    )
    assert (await _upload(gateway, "camt053", late_file, "bo-sung.xml"))[0] == 201
    close = await gateway.client.post(
        f"/v1/reconciliation/days/{DAY}/close", headers=gateway.auth("approver")
    )
    assert close.status == 200, await close.text()
    await _statement(gateway, paid_day, NEXT)
    await _run(gateway, NEXT)
    assert [(e["type"], e["amount"]) for e in await _exceptions(gateway, NEXT)] == [
        ("missing_in_gateway", 66000)
    ]
    after = await _run(gateway, AFTER)
    assert await _exceptions(gateway, AFTER) == []
    assert after["summary"]["sources"]["bank"]["carried"] == 1


async def test_a_line_of_a_day_never_run_is_raised_by_the_first_later_day_run(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    """Money booked on a day nobody reconciles (a Sunday, a holiday) is not lost: the first
    later day's run raises its unknown credit; running that day afterwards leaves it there."""
    sunday = camt053(AGENCY_ACCOUNT, [], DAY, 5, problems=Discrepancies(unknown_credits=(66000,)))
    assert (await _upload(gateway, "camt053", sunday, "chu-nhat.xml"))[0] == 201
    await _statement(gateway, paid_day, NEXT)
    await _run(gateway, NEXT)
    assert [(e["type"], e["amount"]) for e in await _exceptions(gateway, NEXT)] == [
        ("missing_in_gateway", 66000)
    ]
    late = await _run(gateway, DAY)
    assert 66000 not in [e["amount"] for e in await _exceptions(gateway, DAY)]
    assert late["summary"]["sources"]["bank"]["carried"] == 1


async def test_payments_on_a_bank_statement_without_any_line_are_in_transit_then_missing(
    gateway: Gateway, paid_day: list[PaidPayment]
) -> None:
    """A statement with no entry still says the bank reported the day: the day's payments are
    compared with it (in transit), and missing once the next day's statement is empty too."""
    nothing = frozenset(p.reference for p in paid_day)
    await _statement(gateway, paid_day, DAY, drop=nothing)
    await _run(gateway)
    assert {e["type"] for e in await _exceptions(gateway)} == {"expected_in_transit"}
    await _statement(gateway, paid_day, NEXT, drop=nothing)
    run = await _run(gateway)
    found = sorted((e["type"], e["amount"]) for e in await _exceptions(gateway))
    assert found == sorted(("missing_in_bank", p.amount) for p in paid_day)
    assert run["summary"]["exceptions"]["amount_by_type"] == {
        "missing_in_bank": sum(p.amount for p in paid_day)
    }


async def test_a_second_transfer_to_a_paid_bill_is_a_bank_line_of_its_own(
    gateway: Gateway,
) -> None:
    """Money that arrived twice is on the gateway's side twice, each under its own key (the
    bill's QR, then the attempt the second transfer got), so neither is lost."""
    payment = await gateway.create_payment()
    await _pay_by_transfer(gateway, payment, 1)
    body, headers = signed_notice(payment, int(gateway.clock().timestamp()))
    again = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert (await again.json())["outcome"] == "duplicate_payment"
    listing = await gateway.client.get(
        f"/v1/payments/{payment['id']}/attempts", headers=gateway.auth()
    )
    [second] = [a for a in (await listing.json())["data"] if a["review_reason"]]

    async with gateway.client.app[DATABASE].read() as conn:
        lines, keys = await ledger(conn, DAY, Source.BANK)
    assert sorted(zip(keys, [(line.amount, line.reference) for line in lines], strict=True)) == [
        (f"attempt:{second['id']}", (185000, payment["reference"])),
        (f"payment:{payment['id']}", (185000, payment["reference"])),
    ]
