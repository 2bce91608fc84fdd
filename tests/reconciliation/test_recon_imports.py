"""Statement imports through the API: overlapping files, saved bank layouts, a parse that
never blocks the service, and bad input that is refused with a stable code, storing nothing."""

from __future__ import annotations

import asyncio
import io
import json
import tracemalloc
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import openpyxl
import pytest
from conftest import AGENCY_ACCOUNT, FixedClock, Gateway, make_settings
from conftest import seed as seed_gateway
from sqlalchemy import func, select
from test_recon_day import _run
from tests_support import signed_notice

from gateway.app import create_app
from gateway.core.db.schema import bank_mappings, statement_imports, statement_lines
from gateway.keys import DATABASE, IMPORTS
from providers.sandbox.statements import PaidPayment, camt053

DAY = date(2026, 11, 22)  # the fixed clock is 09:00 on this day in Asia/Ho_Chi_Minh
SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
SAMPLE_BANK_CSV = (SAMPLES / "bank_statement_2024-05-15.csv").read_bytes()
SAMPLE_MAPPING = {
    "date": "Ngày giao dịch",
    "text": "Mô tả",
    "credit": "Ghi có",
    "debit": "Ghi nợ",
    "reference": "Số bút toán",
}
#: The sample's layout without the bank's reference: overlaps are found by date, amount,
#: direction and text.
NO_REFERENCE = {key: value for key, value in SAMPLE_MAPPING.items() if key != "reference"}


async def _credit_notice(gateway: Gateway, payment: dict[str, Any], number: int) -> Any:
    """The bank's signed credit notice for a transfer of the whole amount (a callback)."""
    now = int(gateway.clock().timestamp())
    body, headers = signed_notice(payment, now, transaction_id=f"FT26112200{number:04d}")
    return await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)


async def _paid(gateway: Gateway, count: int) -> list[PaidPayment]:
    paid = []
    for number in range(count):
        payment = await gateway.create_payment(dossier_code=f"HS-{number}")
        response = await _credit_notice(gateway, payment, number)
        assert (await response.json())["outcome"] == "applied"
        paid.append(
            PaidPayment(
                reference=payment["reference"],
                amount=payment["amount"],
                paid_at=gateway.clock(),
                channel="vietqr",
                provider_txn_id=f"FT26112200{number:04d}",
                agency_code="HCM",
                account_number=AGENCY_ACCOUNT,
            )
        )
    return paid


async def _upload(
    gateway: Gateway, source: str, data: bytes, name: str = "file", **fields: str
) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("source", source)
    form.add_field("account", AGENCY_ACCOUNT)
    for field, value in fields.items():
        form.add_field(field, value)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    response = await gateway.client.post(
        "/v1/reconciliation/statements", data=form, headers=gateway.auth("finance")
    )
    return response.status, await response.json()


async def _stored(gateway: Gateway) -> tuple[int, int]:
    """(imports, statement lines) in the database."""
    async with gateway.client.app[DATABASE].read() as conn:
        imports = (await conn.execute(select(func.count()).select_from(statement_imports))).scalar()
        lines = (await conn.execute(select(func.count()).select_from(statement_lines))).scalar()
    return imports or 0, lines or 0


# -- overlapping statements -----------------------------------------------------------------


async def test_an_end_of_day_statement_repeating_the_intraday_one_counts_each_credit_once(
    gateway: Gateway,
) -> None:
    paid = await _paid(gateway, 3)
    intraday = camt053(AGENCY_ACCOUNT, paid[:2], DAY, opening_balance=1_000_000)
    end_of_day = camt053(AGENCY_ACCOUNT, paid, DAY, opening_balance=1_000_000)

    status, first = await _upload(gateway, "camt053", intraday, "intraday.xml")
    assert (status, first["line_count"], first["overlapping"]) == (201, 2, 0)
    status, second = await _upload(gateway, "camt053", end_of_day, "eod.xml")
    assert (status, second["status"], second["reason"]) == (201, "accepted", None)
    assert (second["line_count"], second["overlapping"]) == (3, 2)

    run = await _run(gateway)
    bank = run["summary"]["sources"]["bank"]
    total = sum(payment.amount for payment in paid)
    assert (bank["matched"], bank["matched_amount"], bank["exceptions"]) == (3, total, 0)
    report = await gateway.client.get(
        f"/v1/reconciliation/days/{DAY}/report.csv", headers=gateway.auth("finance")
    )
    text = (await report.read()).decode("utf-8-sig")
    assert str(total) in text and str(total + paid[0].amount) not in text


async def test_a_file_that_only_repeats_imported_lines_is_reported_as_such(
    gateway: Gateway,
) -> None:
    paid = await _paid(gateway, 2)
    await _upload(gateway, "camt053", camt053(AGENCY_ACCOUNT, paid, DAY, opening_balance=0))
    # The same entries exported again (another opening balance: other bytes, same lines).
    again = camt053(AGENCY_ACCOUNT, paid, DAY, opening_balance=5_000)

    status, repeat = await _upload(gateway, "camt053", again)

    assert (status, repeat["status"], repeat["duplicate"]) == (201, "accepted", False)
    assert (repeat["line_count"], repeat["overlapping"]) == (2, 2)
    assert repeat["reason"].startswith("only_repeats:")
    bank = (await _run(gateway))["summary"]["sources"]["bank"]
    assert (bank["matched"], bank["exceptions"]) == (2, 0)


async def test_two_overlapping_files_uploaded_at_once_still_count_each_credit_once(
    gateway: Gateway,
) -> None:
    paid = await _paid(gateway, 2)
    first = camt053(AGENCY_ACCOUNT, paid, DAY, opening_balance=0)
    second = camt053(AGENCY_ACCOUNT, paid, DAY, opening_balance=7_000)

    answers = await asyncio.gather(
        _upload(gateway, "camt053", first), _upload(gateway, "camt053", second)
    )

    assert sorted(imported["overlapping"] for _, imported in answers) == [0, 2]
    bank = (await _run(gateway))["summary"]["sources"]["bank"]
    assert (bank["matched"], bank["exceptions"]) == (2, 0)


async def test_without_a_bank_reference_a_repeat_is_the_same_date_amount_direction_and_text(
    gateway: Gateway,
) -> None:
    mapping = json.dumps(NO_REFERENCE, ensure_ascii=False)
    status, first = await _upload(gateway, "bank_csv", SAMPLE_BANK_CSV, mapping=mapping)
    assert (status, first["overlapping"]) == (201, 0)
    # A later export of the day: the three lines again, one new transfer of the same amount
    # and text as the first (two equal transfers are two lines, not one repeated).
    later = SAMPLE_BANK_CSV + (
        b'15/05/2024,15/05/2024,FT24136000009,,"150,000",'
        b"MBVCB.5678901234.DVCAH0YN0WQ1NM Thanh toan le phi\n"
    )

    status, second = await _upload(gateway, "bank_csv", later, mapping=mapping)

    assert (status, second["line_count"], second["overlapping"]) == (201, 4, 3)
    assert second["reason"] is None


async def test_an_export_with_the_bank_reference_repeating_one_without_it_counts_once(
    gateway: Gateway,
) -> None:
    # The intraday export carried no transaction id, the end-of-day one does: the same three
    # credits (same date, amount, direction and text), not three more.
    without = json.dumps(NO_REFERENCE, ensure_ascii=False)
    with_reference = json.dumps(SAMPLE_MAPPING, ensure_ascii=False)
    status, first = await _upload(gateway, "bank_csv", SAMPLE_BANK_CSV, mapping=without)
    assert (status, first["line_count"], first["overlapping"]) == (201, 3, 0)

    # (other bytes than the first file: a file is accepted once by its hash)
    status, second = await _upload(
        gateway, "bank_csv", SAMPLE_BANK_CSV + b"\n", "eod.csv", mapping=with_reference
    )

    assert (status, second["line_count"], second["overlapping"]) == (201, 3, 3)
    # And the other way round: a third export without ids repeats nothing new either.
    status, third = await _upload(
        gateway, "bank_csv", SAMPLE_BANK_CSV + b"\n\n", "again.csv", mapping=without
    )
    assert (status, third["overlapping"]) == (201, 3)


async def test_two_lines_with_different_bank_references_are_two_entries_even_if_alike(
    gateway: Gateway,
) -> None:
    mapping = json.dumps(SAMPLE_MAPPING, ensure_ascii=False)
    await _upload(gateway, "bank_csv", SAMPLE_BANK_CSV, mapping=mapping)
    # The same date, amount and text as the sample's first credit, but the bank's own id
    # says it is another transfer.
    header = b"\n".join(SAMPLE_BANK_CSV.split(b"\n")[:4]) + b"\n"
    other = header + (
        b'15/05/2024,15/05/2024,FT24136000099,,"150,000",'
        b"MBVCB.5678901234.DVCAH0YN0WQ1NM Thanh toan le phi\n"
    )

    status, second = await _upload(gateway, "bank_csv", other, "other.csv", mapping=mapping)

    assert (status, second["line_count"], second["overlapping"]) == (201, 1, 0)


# -- saved bank layouts ---------------------------------------------------------------------


async def test_a_saved_mapping_is_used_for_an_upload_that_names_no_layout(
    gateway: Gateway,
) -> None:
    path = f"/v1/reconciliation/bank-mappings/{AGENCY_ACCOUNT}"
    missing = await gateway.client.get(path, headers=gateway.auth("finance"))
    assert (missing.status, (await missing.json())["code"]) == (404, "not_found")
    status, refused = await _upload(gateway, "bank_csv", SAMPLE_BANK_CSV)
    assert (status, refused["errors"][0]["code"]) == (422, "required")

    saved = await gateway.client.put(path, json=SAMPLE_MAPPING, headers=gateway.auth("finance"))
    assert saved.status == 200, await saved.text()
    shown = await (await gateway.client.get(path, headers=gateway.auth("approver"))).json()
    assert (shown["account"], shown["mapping"]) == (AGENCY_ACCOUNT, SAMPLE_MAPPING)

    status, imported = await _upload(gateway, "bank_csv", SAMPLE_BANK_CSV)
    assert (status, imported["status"], imported["line_count"]) == (201, "accepted", 3)


async def test_saving_again_replaces_the_layout(gateway: Gateway) -> None:
    path = f"/v1/reconciliation/bank-mappings/{AGENCY_ACCOUNT}"
    await gateway.client.put(path, json=SAMPLE_MAPPING, headers=gateway.auth("finance"))
    wrong = {**SAMPLE_MAPPING, "text": "Nội dung"}
    await gateway.client.put(path, json=wrong, headers=gateway.auth("finance"))

    status, imported = await _upload(gateway, "bank_csv", SAMPLE_BANK_CSV)

    assert (status, imported["status"]) == (422, "quarantined")
    [whole] = imported["row_errors"]
    assert (whole["line_no"], whole["code"]) == (0, "missing_column")
    assert "Nội dung" in whole["message"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"date": "A", "amount": "C"}, "invalid"),
        ({"date": "A", "text": "B", "amount": "C", "colour": "red"}, "unknown_field"),
        ({"date": "A", "text": "B", "amount": 3}, "not_string"),
        ({"date": "A", "text": "B", "amount": "C", "encoding": "klingon"}, "invalid"),
    ],
)
async def test_a_bad_layout_is_not_saved(gateway: Gateway, body: dict[str, Any], code: str) -> None:
    response = await gateway.client.put(
        f"/v1/reconciliation/bank-mappings/{AGENCY_ACCOUNT}",
        json=body,
        headers=gateway.auth("finance"),
    )
    problem = await response.json()
    assert (response.status, problem["errors"][0]["code"]) == (422, code)
    async with gateway.client.app[DATABASE].read() as conn:
        count = (await conn.execute(select(func.count()).select_from(bank_mappings))).scalar()
    assert count == 0


# -- bad input: a stable code, nothing imported ---------------------------------------------


def _workbook(*rows: list[object], sheets: int = 1) -> bytes:
    book = openpyxl.Workbook()
    assert book.active is not None
    for row in rows:
        book.active.append(row)
    for number in range(1, sheets):
        book.create_sheet(f"Trang {number + 1}")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (40 * 1024 * 1024))
    return buffer.getvalue()


HEADER = ["Ngày giao dịch", "Ngày hiệu lực", "Số bút toán", "Ghi nợ", "Ghi có", "Mô tả"]
ROW = ["15/05/2024", "15/05/2024", "FT1", "", "150,000", "DVCAH0YN0WQ1NM"]
GOOD_CSV = (",".join(HEADER) + "\n" + '15/05/2024,,FT1,,"150,000",DVCAH0YN0WQ1NM\n').encode()


def _csv_with(**cells: str) -> bytes:
    row = dict(zip(HEADER, ROW, strict=True)) | cells
    return (",".join(HEADER) + "\n" + ",".join(f'"{v}"' for v in row.values()) + "\n").encode()


@pytest.mark.parametrize(
    ("source", "data", "reason"),
    [
        ("bank_csv", GOOD_CSV.replace("Mô tả".encode(), b"Ghi chu"), "missing_column"),
        ("bank_xlsx", _workbook(HEADER[:-1], ROW[:-1]), "missing_column"),
        ("bank_csv", _csv_with(**{"Ghi có": "một trăm"}), "row_errors"),
        ("bank_csv", _csv_with(**{"Ghi có": "-150,000"}), "row_errors"),
        ("bank_csv", _csv_with(**{"Ngày giao dịch": "2024-05-15"}), "row_errors"),
        ("bank_csv", b"", "missing_column"),
        ("bank_xlsx", _zip_bomb(), "too_large"),
        ("bank_xlsx", _workbook(HEADER, [*ROW[:4], "=150000", ROW[5]]), "formula_cell"),
        ("bank_xlsx", _workbook(HEADER, ROW, sheets=2), "multiple_sheets"),
        ("bank_csv", GOOD_CSV.decode().encode("utf-16"), "bad_encoding"),
        (
            "bank_csv",
            GOOD_CSV.replace(b'"150,000"', b"150,000"),
            "row_errors",
        ),  # Excel "Unicode text"
    ],
    ids=[
        "csv-missing-column",
        "xlsx-missing-column",
        "non-numeric-amount",
        "negative-credit",
        "date-in-another-format",
        "empty-file",
        "zip-bomb",
        "xlsx-formula",
        "xlsx-several-sheets",
        "non-utf8-csv",
        "more-values-than-headings",
    ],
)
async def test_a_bad_bank_export_is_quarantined_with_a_stable_code_and_imports_nothing(
    gateway: Gateway, source: str, data: bytes, reason: str
) -> None:
    status, imported = await _upload(gateway, source, data, bank_profile="vn_standard")

    assert (status, imported["status"], imported["line_count"]) == (422, "quarantined", 0)
    assert imported["reason"].startswith(f"{reason}:")
    if reason != "row_errors":  # the file as a whole: one row-0 error with the same code
        assert [(e["line_no"], e["code"]) for e in imported["row_errors"]] == [(0, reason)]
    assert await _stored(gateway) == (1, 0)


async def test_a_zip_bomb_is_refused_without_being_inflated(gateway: Gateway) -> None:
    bomb = _zip_bomb()  # 40 MiB of sheet in a few kB
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        status, imported = await _upload(gateway, "bank_xlsx", bomb, bank_profile="generic")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (status, imported["reason"].split(":")[0]) == (422, "too_large")
    # Refused from the archive's declared sizes: the sheet is never inflated in memory.
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"
    assert await _stored(gateway) == (1, 0)  # the quarantined file's record, no lines


async def test_a_missing_column_is_named_in_the_row_0_error(gateway: Gateway) -> None:
    workbook = _workbook(["Ngày giao dịch", "Ghi nợ", "Ghi có"], ["15/05/2024", "", "1"])
    status, imported = await _upload(gateway, "bank_xlsx", workbook, bank_profile="vn_standard")
    assert status == 422
    [whole] = imported["row_errors"]
    assert whole["line_no"] == 0 and "'Mô tả'" in whole["message"]


async def test_a_re_upload_of_the_same_file_changes_nothing(gateway: Gateway) -> None:
    status, first = await _upload(gateway, "bank_csv", GOOD_CSV, bank_profile="vn_standard")
    assert status == 201
    status, again = await _upload(gateway, "bank_csv", GOOD_CSV, bank_profile="vn_standard")
    assert (status, again["id"], again["duplicate"]) == (200, first["id"], True)
    assert await _stored(gateway) == (1, 1)


# -- parsing never blocks -------------------------------------------------------------------

#: ~40 MB of CSV whose header lacks the mapped columns: read whole (about a second of work),
#: then quarantined with nothing to store.
BIG = (
    "Ngày,Ghi chú\n" + "15/05/2024,MBVCB.5678901234.DVCAH0YN0WQ1NM Thanh toan\n" * 800_000
).encode()


async def test_health_checks_and_callbacks_answer_while_a_big_file_is_parsed(
    gateway: Gateway,
) -> None:
    payment = await gateway.create_payment(dossier_code="HS-CALLBACK")
    imports = gateway.client.app[IMPORTS]
    upload = asyncio.create_task(_upload(gateway, "bank_csv", BIG, bank_profile="vn_standard"))
    # Each health check gives the loop a turn, so the upload is read until its parse starts.
    while imports.parsing == 0 and not upload.done():
        assert (await gateway.client.get("/healthz")).status == 200
    assert imports.parsing == 1, "the upload finished before its parse was seen running"

    health = await gateway.client.get("/healthz")
    callback = await _credit_notice(gateway, payment, 1)

    answered_while_parsing = imports.parsing == 1 and not upload.done()
    assert health.status == 200
    assert (callback.status, (await callback.json())["outcome"]) == (200, "applied")
    assert answered_while_parsing
    status, imported = await upload
    assert (status, imported["reason"].split(":")[0]) == (422, "missing_column")


@pytest.fixture
async def impatient(aiohttp_client: Any, database_url: str, clock: FixedClock) -> Gateway:
    """The gateway with a parse limit far shorter than any real file takes to read."""
    settings = make_settings(database_url, parse_timeout_seconds=0.001)
    client = await aiohttp_client(create_app(settings, clock=clock, background=False))
    return Gateway(client=client, clock=clock, keys=await seed_gateway(client))


async def test_a_file_that_takes_longer_than_the_parse_limit_is_refused_storing_nothing(
    impatient: Gateway,
) -> None:
    status, problem = await _upload(impatient, "bank_csv", BIG, bank_profile="vn_standard")

    assert (status, problem["code"]) == (413, "parse_timeout")
    assert await _stored(impatient) == (0, 0)
