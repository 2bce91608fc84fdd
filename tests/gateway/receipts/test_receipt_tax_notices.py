"""Each approved notice of a receipt error (form 04/SS-CTĐT) goes to the tax authority's
sandbox as its own signed message: accepted with a reference, rejected with reasons (an
alert), sent again unchanged after a timeout, kept pending while the tax authority cannot be
reached or the notice cannot be signed; verifiable with xmlsec1; still a row of the day's
summary; on the finance dashboard and in the warnings of day close until accepted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FixedClock
from receipt_support import Identity, receipts_of, xmlsec1_verifies
from sqlalchemy import select, update
from structlog.testing import capture_logs
from tax_support import World, open_world, reconcile
from tests_support import staff_login

from gateway.cli import _parser, _receipt_summary
from gateway.core.db.schema import receipt_corrections, receipt_tax_notices
from gateway.core.roles import Role
from gateway.keys import DATABASE, SETTINGS, STAFF
from gateway.services.receipts.tax_notices import TaxNotices
from gateway.services.wiring import build_services
from providers.receipts.signer import verify_xml

DAY = "2026-11-22"
METRIC = "receipt_tax_notice_sends"


@pytest.fixture
async def world(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
    identity: Identity,
) -> AsyncIterator[World]:
    async with open_world(
        aiohttp_server, database_url, clock, unused_tcp_port_factory(), identity
    ) as opened:
        yield opened


async def _notified(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """A paid receipt whose payer name was wrong, notified: the receipt and the correction."""
    payment = await world.pay()
    correction = await world.correct(payment, {"payer_name": "Nguyễn Văn Ân"})
    assert correction["tax_notice"]["status"] == "pending"  # recorded with the approval
    [receipt] = await receipts_of(world.gateway, payment["id"])
    return receipt, correction


async def test_an_approved_notice_is_sent_signed_on_its_own_and_accepted(
    world: World, identity: Identity, tmp_path: Path
) -> None:
    receipt, correction = await _notified(world)
    [pending] = await world.notices.open_items(frozenset(), all_agencies=True)
    assert (pending["correction_id"], pending["status"]) == (correction["id"], "pending")

    with capture_logs() as logs:
        assert await world.notices.send_due() == 1

    notice = await world.notices.of_correction(correction["id"])
    assert notice["status"] == "accepted" and notice["reference"].startswith("TCT")
    assert notice["attempts"] == 1 and notice["message_id"].startswith("K")
    [received] = await world.received()
    assert received["kind"] == "error_notice" and received["outcome"] == "accepted"
    assert received["message_id"] == notice["message_id"]
    document = received["document"].encode()
    for element in (
        "<MSo>04/SS-CTĐT</MSo>",
        "<KHMSBLai>EBL01</KHMSBLai>",
        f"<KHBLai>{receipt['symbol']}</KHBLai>",
        f"<SBLai>{receipt['number']}</SBLai>",
        f"<NLap>{DAY}</NLap>",
        "<TCTBao>Giải trình</TCTBao>",
        "<LSSot>Tên người nộp</LSSot>",
        "<LDo>Sai sót</LDo>",
        f"<NTBao>{DAY}</NTBao>",
    ):
        assert element.encode() in document, element
    assert "Nguyễn Văn Ân".encode() not in document  # the payer's data stays out
    verify_xml(document, identity.ca_pem)
    clock = world.gateway.clock()
    verified = xmlsec1_verifies(document, identity.ca_file, tmp_path, clock)
    assert verified.returncode == 0, verified.stderr
    tampered = document.replace(b"<LDo>Sai s", b"<LDo>Kh\xc3\xa1c s", 1)
    assert tampered != document
    assert xmlsec1_verifies(tampered, identity.ca_file, tmp_path, clock).returncode
    assert world.sends("accepted", METRIC) == 1
    assert "receipt_tax_notice_accepted" in [entry["event"] for entry in logs]
    shown = await world.gateway.client.get(
        f"/v1/receipt-corrections/{correction['id']}", headers=world.gateway.auth("finance")
    )
    tax_notice = (await shown.json())["tax_notice"]
    assert (tax_notice["status"], tax_notice["reference"]) == ("accepted", notice["reference"])

    # Sent once; and the day's summary still lists the notice as a row.
    assert await world.notices.send_due() == 0
    assert await world.notices.open_items(frozenset(), all_agencies=True) == []
    rows = await world.summaries.rows_of(date.fromisoformat(DAY), "HCM")
    assert [row.status for row in rows] == ["Mới", "Sai sót đã thông báo"]
    assert len(await world.received()) == 1


async def test_a_rejected_notice_keeps_the_reasons_alerts_and_is_not_sent_again(
    world: World,
) -> None:
    _, correction = await _notified(world)
    reason = {"code": "E21", "message": "Biên lai không tồn tại"}
    await world.script({"outcome": "reject", "reasons": [reason]})

    with capture_logs() as logs:
        await world.notices.send_due()

    notice = await world.notices.of_correction(correction["id"])
    assert (notice["status"], notice["reasons"]) == ("rejected", [reason])
    [alert] = [entry for entry in logs if entry["event"] == "receipt_tax_notice_rejected"]
    assert alert["log_level"] == "error" and alert["reasons"] == ["E21"]
    assert world.sends("rejected", METRIC) == 1
    assert await world.notices.send_due() == 0
    [still_open] = await world.notices.open_items(frozenset(), all_agencies=True)
    assert still_open["status"] == "rejected"


async def test_a_timeout_marks_it_sent_and_the_same_message_goes_again_later(
    world: World,
) -> None:
    _, correction = await _notified(world)
    await world.script({"outcome": "timeout"})

    await world.notices.send_due()

    sent = await world.notices.of_correction(correction["id"])
    assert (sent["status"], sent["attempts"], sent["last_error"]) == ("sent", 1, "outcome_unknown")
    assert sent["next_try_at"] == "2026-11-22T02:10:00Z"  # retry_seconds = 600
    assert world.sends("timeout", METRIC) == 1
    assert await world.notices.send_due() == 0  # not due yet

    world.gateway.clock.advance(minutes=10)
    assert await world.notices.send_due() == 1

    accepted = await world.notices.of_correction(correction["id"])
    assert (accepted["status"], accepted["attempts"]) == ("accepted", 2)
    assert accepted["message_id"] == sent["message_id"]  # the same message
    [kept] = await world.received()
    assert kept["deliveries"] == 2 and kept["answered"] is True


async def test_the_cli_shows_the_days_notices_with_their_reasons(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    receipt, _ = await _notified(world)
    await world.script({"outcome": "reject", "reasons": [{"code": "E21", "message": "Sai"}]})
    await world.notices.send_due()
    command = ["receipts", "summary", "--date", DAY, "--agency", "HCM"]
    settings = world.gateway.client.app[SETTINGS]
    capsys.readouterr()

    async with build_services(settings, clock=world.gateway.clock) as services:
        assert await _receipt_summary(services, _parser().parse_args(command)) == 0

    lines = [line for line in capsys.readouterr().out.splitlines() if "04/SS-CTĐT" in line]
    assert lines == [
        f"HCM\t{DAY}\t04/SS-CTĐT\tEBL01 {receipt['symbol']} số {receipt['number']} "
        f"ngày {DAY}\trejected\tCơ quan thuế từ chối\t"
    ]


async def test_an_unreachable_tax_authority_leaves_it_pending_and_backs_off(
    world: World,
) -> None:
    _, correction = await _notified(world)
    await world.script({"outcome": "unavailable"}, {"outcome": "unavailable"})

    await world.notices.send_due()
    world.gateway.clock.advance(minutes=10)
    await world.notices.send_due()

    notice = await world.notices.of_correction(correction["id"])
    assert (notice["status"], notice["attempts"]) == ("pending", 2)
    assert notice["last_error"] == "unavailable"
    assert notice["next_try_at"] == "2026-11-22T02:30:00Z"  # 10 minutes, then 20
    assert world.sends("unavailable", METRIC) == 2
    assert await world.received() == []


async def test_a_notice_that_cannot_be_signed_now_stays_pending_and_alerts(world: World) -> None:
    _, correction = await _notified(world)
    world.gateway.clock.now = datetime(2028, 2, 1, 3, 0, tzinfo=UTC)  # the certificate ended

    with capture_logs() as logs:
        assert await world.notices.send_due() == 1

    notice = await world.notices.of_correction(correction["id"])
    assert (notice["status"], notice["last_error"]) == ("pending", "certificate_expired")
    assert notice["message_id"] is None and world.sends("unsigned", METRIC) == 1
    [alert] = [entry for entry in logs if entry["event"] == "receipt_tax_notice_unsigned"]
    assert alert["log_level"] == "error"
    assert await world.received() == []


async def test_a_replacement_sends_no_notice(world: World) -> None:
    payment = await world.pay()
    corrected = await world.correct(
        payment,
        {
            "items": [
                {"kind": "charge", "description": "Lệ phí cấp đổi GPLX", "amount": 155000},
                {"kind": "fee", "description": "Phí thẩm định hồ sơ", "amount": 30000},
            ]
        },
    )

    assert corrected["kind"] == "replace" and corrected["tax_notice"] is None
    assert await world.notices.send_due() == 0
    assert await world.notices.open_items(frozenset(), all_agencies=True) == []


async def test_two_loops_at_once_send_a_notice_once(world: World) -> None:
    _, correction = await _notified(world)

    sent = await asyncio.gather(world.notices.send_due(), world.notices.send_due())

    assert sorted(sent) == [0, 1]
    notice = await world.notices.of_correction(correction["id"])
    assert (notice["status"], notice["attempts"]) == ("accepted", 1)
    [kept] = await world.received()
    assert kept["deliveries"] == 1


async def test_day_close_warns_of_an_unaccepted_notice_and_the_dashboard_lists_it(
    world: World,
) -> None:
    gateway = world.gateway
    receipt, correction = await _notified(world)
    reason = {"code": "E21", "message": "Biên lai không tồn tại"}
    await world.script({"outcome": "reject", "reasons": [reason]})
    await world.notices.send_due()
    notice = await world.notices.of_correction(correction["id"])
    await reconcile(gateway, DAY)

    close = await gateway.client.post(
        f"/v1/reconciliation/days/{DAY}/close", headers=gateway.auth("approver")
    )

    assert close.status == 200, await close.text()
    warnings = (await close.json())["warnings"]
    assert {
        "code": "receipt_tax_notice_unsent",
        "agency_code": "HCM",
        "business_date": DAY,
        "status": "rejected",
        "summary_id": None,
        "notice_id": notice["id"],
    } in warnings
    await gateway.client.app[STAFF].create_user(
        username="ketoan",
        display_name="Kế toán",
        role=Role.FINANCE,
        password="mat-khau-thu-nghiem-2026",
        agency_codes=["HCM"],
    )
    session = await staff_login(gateway.client, "ketoan", "mat-khau-thu-nghiem-2026", "/console")
    page = await gateway.client.get(f"/console?date={DAY}", headers=session.cookie)
    html = await page.text()
    assert 'data-testid="notice-warnings"' in html and 'data-testid="open-notices"' in html
    assert f"{receipt['symbol']} số {receipt['number']}" in html
    assert "Cơ quan thuế từ chối" in html and "Biên lai không tồn tại" in html


def _loop_with(world: World, **changes: Any) -> TaxNotices:
    """The gateway's notice loop with another configuration or signing identity (another
    process started with them)."""
    running = world.notices
    parts = {
        "settings": running.settings,
        "identity": running.identity,
        **changes,
    }
    return TaxNotices(
        running.db,
        running.clock,
        parts["settings"],
        running.tax_authority,
        parts["identity"],
        running.client,
        running.alerts,
    )


async def test_a_notice_of_an_agency_no_longer_configured_fails_and_is_not_retried(
    world: World,
) -> None:
    _, correction = await _notified(world)
    settings = world.notices.settings
    unconfigured = _loop_with(world, settings=settings.model_copy(update={"agencies": {}}))

    with capture_logs() as logs:
        assert await unconfigured.send_due() == 1

    notice = await world.notices.of_correction(correction["id"])
    assert (notice["status"], notice["last_error"]) == ("failed", "receipts_not_configured")
    assert notice["next_try_at"] is None and world.sends("failed", METRIC) == 1
    [alert] = [entry for entry in logs if entry["event"] == "receipt_tax_notice_failed"]
    assert alert["log_level"] == "error" and alert["reason"] == "receipts_not_configured"
    world.gateway.clock.advance(days=1)
    assert await unconfigured.send_due() == 0  # never tried again
    assert await world.notices.send_due() == 0
    [listed] = await world.notices.open_items(frozenset(), all_agencies=True)
    assert listed["status"] == "failed"  # still shown to finance
    assert await world.received() == []


async def test_a_notice_whose_document_is_refused_fails_and_is_not_retried(
    world: World,
) -> None:
    _, correction = await _notified(world)
    database = world.gateway.client.app[DATABASE]
    async with database.write() as conn:  # data the notice form refuses (a bad template)
        notice_data = (
            await conn.execute(
                select(receipt_corrections.c.notice).where(
                    receipt_corrections.c.id == correction["id"]
                )
            )
        ).scalar_one()
        notice_data["receipt"]["template_code"] = "XYZ01"
        await conn.execute(
            update(receipt_corrections)
            .where(receipt_corrections.c.id == correction["id"])
            .values(notice=notice_data)
        )

    assert await world.notices.send_due() == 1

    notice = await world.notices.of_correction(correction["id"])
    assert (notice["status"], notice["last_error"]) == ("failed", "invalid_template_code")
    world.gateway.clock.advance(days=1)
    assert await world.notices.send_due() == 0
    assert await world.received() == []


async def test_a_send_that_crashes_gives_its_claim_back_and_the_batch_goes_on(
    world: World,
) -> None:
    _, first = await _notified(world)
    world.gateway.clock.advance(seconds=1)
    _, second = await _notified(world)
    calls: list[str] = []

    def identity_once_broken(code: str) -> Any:
        calls.append(code)
        if len(calls) == 1:
            raise OSError("the key store cannot be read")  # an unexpected failure
        return world.notices.identity(code)

    loop = _loop_with(world, identity=identity_once_broken)
    with capture_logs() as logs:
        assert await loop.send_due() == 2

    crashed = await world.notices.of_correction(first["id"])
    sent = await world.notices.of_correction(second["id"])
    assert (crashed["status"], sent["status"]) == ("pending", "accepted")
    assert "tax_authority_send_crashed" in [entry["event"] for entry in logs]
    database = world.gateway.client.app[DATABASE]
    async with database.read() as conn:
        held = (
            await conn.execute(
                select(receipt_tax_notices.c.locked_until).where(
                    receipt_tax_notices.c.id == crashed["id"]
                )
            )
        ).scalar_one()
    assert held is None  # given back: the next round sends it, not one lease later
    assert await loop.send_due() == 1
    assert (await world.notices.of_correction(first["id"]))["status"] == "accepted"
    assert [message["deliveries"] for message in await world.received()] == [1, 1]
