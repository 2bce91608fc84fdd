"""The same-day summary (01/TH-BLĐT) of an agency's receipts to the tax authority's sandbox:
built and signed once the day is over, accepted once, rejected with reasons and sent again
after correction, sent again unchanged after a timeout on a moved clock, never for a day
without receipts, and verifiable with xmlsec1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FixedClock
from receipt_support import Identity, xmlsec1_verifies
from structlog.testing import capture_logs
from tax_support import World, open_world, reconcile
from tests_support import staff_login

from gateway.cli import _parser, _receipt_summary
from gateway.core.errors import (
    ReceiptNotIssuable,
    SummaryAlreadyAccepted,
    SummaryDayNotOver,
    SummaryEmpty,
    ValidationFailed,
)
from gateway.core.roles import Role
from gateway.keys import SETTINGS, STAFF
from gateway.services.wiring import build_services
from providers.receipts.signer import verify_xml

PASSWORD = "mat-khau-thu-nghiem-2026"
DAY = "2026-11-22"  # the clock's day (09:00 in Hồ Chí Minh City, a Sunday)


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


async def test_the_days_receipts_are_summarised_signed_and_accepted_the_next_day(
    world: World, identity: Identity, tmp_path: Path
) -> None:
    await world.pay()
    await world.pay()
    assert await world.summaries.run_once() == 0  # the day is not over: nothing yet

    world.gateway.clock.advance(days=1)
    with capture_logs() as logs:
        assert await world.summaries.run_once() == 2  # built, then sent

    [summary] = await world.listed(business_date=DAY)
    assert summary["status"] == "accepted"
    assert (summary["agency_code"], summary["revision"], summary["row_count"]) == ("HCM", 1, 2)
    assert summary["amount"] == 2 * 185_000
    assert summary["reference"].startswith("TCT") and summary["outage"] is None
    [received] = await world.received()
    assert received["outcome"] == "accepted" and received["message_id"] == summary["message_id"]
    document = received["summary"].encode()
    assert b"<SBLai>1</SBLai>" in document and b"<SBLai>2</SBLai>" in document
    assert "<TThai>Mới</TThai>".encode() in document
    verify_xml(document, identity.ca_pem)
    verified = xmlsec1_verifies(document, identity.ca_file, tmp_path, world.gateway.clock())
    assert verified.returncode == 0, verified.stderr
    tampered = document.replace(b"<STien>185000</STien>", b"<STien>1850</STien>", 1)
    assert xmlsec1_verifies(tampered, identity.ca_file, tmp_path, world.gateway.clock()).returncode
    assert world.sends("accepted") == 1
    assert "receipt_summary_accepted" in [entry["event"] for entry in logs]

    # Idempotent: the loop builds and sends nothing more, and a plain re-send is refused.
    assert await world.summaries.run_once() == 0
    with pytest.raises(SummaryAlreadyAccepted):
        await world.summaries.send_now(_day(DAY), "HCM")
    assert len(await world.received()) == 1


async def test_an_explicit_correction_of_an_accepted_day_is_a_new_revision(world: World) -> None:
    await world.pay()
    world.gateway.clock.advance(days=1)
    await world.summaries.run_once()
    [first] = await world.listed(business_date=DAY)

    corrected = await world.summaries.send_now(_day(DAY), "HCM", correction=True)

    assert corrected["status"] == "accepted" and corrected["revision"] == 2
    assert corrected["correction_of"] == first["id"]
    statuses = sorted(s["status"] for s in await world.listed(business_date=DAY))
    assert statuses == ["accepted", "accepted"]


async def test_a_rejected_summary_keeps_the_reasons_alerts_and_is_sent_again_after_correction(
    world: World,
) -> None:
    await world.pay()
    world.gateway.clock.advance(days=1)
    reason = {"code": "E12", "message": "Sai số biên lai"}
    await world.script({"outcome": "reject", "reasons": [reason]})

    with capture_logs() as logs:
        await world.summaries.run_once()

    [rejected] = await world.listed(business_date=DAY, status="rejected")
    assert rejected["reasons"] == [reason]
    [alert] = [entry for entry in logs if entry["event"] == "receipt_summary_rejected"]
    assert alert["log_level"] == "error" and alert["reasons"] == ["E12"]
    assert world.sends("rejected") == 1
    assert await world.summaries.run_once() == 0  # not sent again as it is

    resent = await world.summaries.send_now(_day(DAY), "HCM")

    assert (resent["status"], resent["revision"]) == ("accepted", 2)
    assert {s["id"]: s["status"] for s in await world.listed(business_date=DAY)} == {
        rejected["id"]: "superseded",
        resent["id"]: "accepted",
    }
    assert [m["outcome"] for m in await world.received()] == ["rejected", "accepted"]


async def test_a_timeout_sends_the_same_message_again_on_a_moved_clock_and_records_the_outage(
    world: World,
) -> None:
    await world.pay()
    world.gateway.clock.advance(days=1)  # Monday 23 November, 09:00
    await world.script({"outcome": "timeout"})

    await world.summaries.run_once()

    [unsent] = await world.listed(business_date=DAY)
    assert (unsent["status"], unsent["attempts"], unsent["last_error"]) == (
        "unsent",
        1,
        "outcome_unknown",
    )
    assert unsent["outage"] == {
        "started_at": "2026-11-23T02:00:00Z",
        "ended_at": None,
        "deadline": None,
    }
    assert unsent["next_try_at"] == "2026-11-23T02:10:00Z"  # retry_seconds = 600
    assert world.sends("timeout") == 1
    assert await world.summaries.send_due() == 0  # not due yet: nothing sent

    world.gateway.clock.advance(minutes=10)
    assert await world.summaries.send_due() == 1

    [accepted] = await world.listed(business_date=DAY)
    assert accepted["status"] == "accepted" and accepted["attempts"] == 2
    assert accepted["message_id"] == unsent["message_id"]  # the same message
    # Fixed on Monday 23 November: three working days after it is Thursday 26 November.
    assert accepted["outage"] == {
        "started_at": "2026-11-23T02:00:00Z",
        "ended_at": "2026-11-23T02:10:00Z",
        "deadline": "2026-11-26",
    }
    [kept] = await world.received()  # kept once by the tax authority, now answered
    assert kept["answered"] is True


async def test_an_outage_backs_off_and_doubles_the_wait(world: World) -> None:
    await world.pay()
    world.gateway.clock.advance(days=1)
    await world.script({"outcome": "unavailable"}, {"outcome": "unavailable"})

    await world.summaries.run_once()
    world.gateway.clock.advance(minutes=10)
    await world.summaries.send_due()

    [unsent] = await world.listed(business_date=DAY, status="unsent")
    assert (unsent["attempts"], unsent["last_error"]) == (2, "unavailable")
    assert unsent["next_try_at"] == "2026-11-23T02:30:00Z"  # 10 minutes, then 20
    assert world.sends("unavailable") == 2
    assert await world.received() == []


WRONG_NAME = {"payer_name": "Nguyễn Văn Ân"}
WRONG_AMOUNT = {
    "items": [
        {"kind": "charge", "description": "Lệ phí cấp đổi GPLX", "amount": 155000},
        {"kind": "fee", "description": "Phí thẩm định hồ sơ", "amount": 30000},
    ]
}


async def test_each_approved_notice_is_on_the_table_of_the_day_it_was_approved(
    world: World,
) -> None:
    first, second = await world.pay(), await world.pay()
    await world.correct(first, WRONG_NAME)  # notified, then notified again tomorrow
    await world.correct(second, WRONG_NAME)  # notified, then replaced the same day
    await world.correct(second, WRONG_AMOUNT)
    world.gateway.clock.advance(days=1)
    await world.correct(first, {"payer_name": "Nguyễn Văn Ẩn"})
    world.gateway.clock.advance(days=1)

    today = [(row.number, row.status) for row in await world.summaries.rows_of(_day(DAY), "HCM")]
    tomorrow = await world.summaries.rows_of(_day("2026-11-23"), "HCM")

    assert today == [
        (1, "Mới"),
        (2, "Mới"),
        (3, "Thay thế"),
        (1, "Sai sót đã thông báo"),
        (2, "Sai sót đã thông báo"),
    ]
    assert [(row.number, row.status) for row in tomorrow] == [(1, "Sai sót đã thông báo")]
    assert await world.summaries.run_once() == 4  # both days built and sent
    assert [s["row_count"] for s in await world.listed()] in ([5, 1], [1, 5])


async def test_a_day_without_receipts_gets_no_summary(world: World) -> None:
    world.gateway.clock.advance(days=1)

    assert await world.summaries.run_once() == 0

    assert await world.listed() == []
    with pytest.raises(SummaryEmpty):
        await world.summaries.send_now(_day(DAY), "HCM")
    assert await world.received() == []


async def test_a_day_is_summarised_only_after_a_grace_period_past_its_midnight(
    world: World,
) -> None:
    world.gateway.clock.advance(hours=14, minutes=59, seconds=59)  # 23:59:59 in GMT+7
    await world.pay()
    world.gateway.clock.advance(seconds=2)  # 00:00:01: its transaction may still be open

    assert await world.summaries.run_once() == 0
    with pytest.raises(SummaryDayNotOver):
        await world.summaries.send_now(_day(DAY), "HCM")
    await world.pay()  # issued on the next day: not on this day's table
    world.gateway.clock.advance(minutes=4, seconds=58)
    assert await world.summaries.run_once() == 0  # 00:04:59

    world.gateway.clock.advance(seconds=1)  # 00:05:00
    assert await world.summaries.run_once() == 2
    [summary] = await world.listed(business_date=DAY)
    assert (summary["status"], summary["row_count"]) == ("accepted", 1)


async def test_a_day_that_cannot_be_signed_now_says_why_instead_of_empty(world: World) -> None:
    await world.pay()
    world.gateway.clock.now = datetime(2028, 2, 1, 3, 0, tzinfo=UTC)  # the certificate ended

    with capture_logs() as logs, pytest.raises(ReceiptNotIssuable) as refused:
        await world.summaries.send_now(_day(DAY), "HCM")

    assert refused.value.extra["reason"] == "certificate_expired"
    assert "receipt_summary_unsigned" in [entry["event"] for entry in logs]
    assert await world.listed() == [] and await world.received() == []


async def test_today_cannot_be_sent_before_it_is_over(world: World) -> None:
    await world.pay()

    with pytest.raises(SummaryDayNotOver):
        await world.summaries.send_now(_day(DAY), "HCM")

    assert await world.listed() == [] and await world.received() == []


def _day(text: str) -> date:
    return date.fromisoformat(text)


async def test_the_cli_sends_a_rejected_day_again_and_shows_every_revision(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    await world.pay()
    world.gateway.clock.advance(days=1)
    await world.script({"outcome": "reject", "reasons": [{"code": "E12", "message": "Sai số"}]})
    await world.summaries.run_once()
    command = ["receipts", "summary", "--date", DAY, "--agency", "HCM"]
    settings = world.gateway.client.app[SETTINGS]
    capsys.readouterr()  # the logs so far

    async with build_services(settings, clock=world.gateway.clock) as services:
        assert await _receipt_summary(services, _parser().parse_args(command)) == 0
        shown = _lines(capsys.readouterr().out)
        assert await _receipt_summary(services, _parser().parse_args([*command, "--send"])) == 0
        sent = _lines(capsys.readouterr().out)
        again = await _receipt_summary(services, _parser().parse_args([*command, "--send"]))

    assert shown[0].startswith(f"HCM\t{DAY}\t#1\trejected\tCơ quan thuế từ chối\t1 dòng\t185000")
    assert shown[1] == "\tlý do E12: Sai số"
    assert sent[2].startswith(f"HCM\t{DAY}\t#2\taccepted\tCơ quan thuế đã tiếp nhận")
    assert again == 1
    assert "receipt_summary_already_accepted" in capsys.readouterr().err


async def test_the_cli_refuses_an_agency_that_issues_no_receipts_here(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    await world.pay()
    world.gateway.clock.advance(days=1)
    settings = world.gateway.client.app[SETTINGS]
    capsys.readouterr()

    async with build_services(settings, clock=world.gateway.clock) as services:
        for extra in ([], ["--send"]):
            command = ["receipts", "summary", "--date", DAY, "--agency", "HMC", *extra]
            assert await _receipt_summary(services, _parser().parse_args(command)) == 2
            printed = capsys.readouterr()
            assert "receipts_not_configured" in printed.err
            assert "không có biên lai" not in printed.out

    assert await world.listed() == [] and await world.received() == []


def _lines(out: str) -> list[str]:
    """What the command printed, without the log lines the test's logging adds."""
    return [line for line in out.splitlines() if line.startswith(("HCM", "\t"))]


async def test_day_close_warns_but_does_not_block_and_the_dashboard_shows_the_rejection(
    world: World,
) -> None:
    gateway = world.gateway
    await world.pay()
    gateway.clock.advance(days=1)
    await world.script({"outcome": "reject", "reasons": [{"code": "E12", "message": "Sai số"}]})
    await world.summaries.run_once()
    [rejected] = await world.listed(business_date=DAY)
    await reconcile(gateway, DAY)

    close = await gateway.client.post(
        f"/v1/reconciliation/days/{DAY}/close", headers=gateway.auth("approver")
    )

    assert close.status == 200, await close.text()
    assert (await close.json())["warnings"] == [
        {
            "code": "receipt_summary_unsent",
            "agency_code": "HCM",
            "business_date": DAY,
            "status": "rejected",
            "summary_id": rejected["id"],
        }
    ]
    await gateway.client.app[STAFF].create_user(
        username="ketoan",
        display_name="Kế toán",
        role=Role.FINANCE,
        password=PASSWORD,
        agency_codes=["HCM"],
    )
    session = await staff_login(gateway.client, "ketoan", PASSWORD, "/console")
    page = await gateway.client.get(f"/console?date={DAY}", headers=session.cookie)
    html = await page.text()
    assert 'data-testid="summary-warnings"' in html and 'data-testid="open-summaries"' in html
    assert "Cơ quan thuế từ chối" in html and "Sai số" in html


async def test_day_close_warns_of_a_day_whose_summary_is_not_built_yet(world: World) -> None:
    gateway = world.gateway
    await world.pay()
    await reconcile(gateway, DAY)

    close = await gateway.client.post(
        f"/v1/reconciliation/days/{DAY}/close", headers=gateway.auth("approver")
    )

    assert close.status == 200, await close.text()
    [warning] = (await close.json())["warnings"]
    assert (warning["agency_code"], warning["status"], warning["summary_id"]) == ("HCM", None, None)


async def test_two_loops_at_once_build_and_send_a_day_once(world: World) -> None:
    await world.pay()
    world.gateway.clock.advance(days=1)

    built = await asyncio.gather(world.summaries.build_due(), world.summaries.build_due())
    sent = await asyncio.gather(world.summaries.send_due(), world.summaries.send_due())

    assert sorted(built) == [0, 1] and sorted(sent) == [0, 1]
    [summary] = await world.listed(business_date=DAY)
    assert summary["status"] == "accepted" and summary["attempts"] == 1
    assert len(await world.received()) == 1


async def test_send_now_beside_the_loop_shows_the_one_revision_built(world: World) -> None:
    await world.pay()
    world.gateway.clock.advance(days=1)

    built, shown = await asyncio.gather(
        world.summaries.build_due(), world.summaries.send_now(_day(DAY), "HCM")
    )
    await world.summaries.send_due()

    assert built in (0, 1) and shown["revision"] == 1
    [summary] = await world.listed(business_date=DAY)
    assert (summary["id"], summary["status"]) == (shown["id"], "accepted")
    assert len(await world.received()) == 1


async def test_bad_requests_for_summaries_are_refused_and_change_nothing(world: World) -> None:
    gateway = world.gateway
    await world.pay()
    gateway.clock.advance(days=1)
    finance = gateway.auth("finance")

    for query, status, code in (
        ({"status": "sent"}, 422, "validation_failed"),
        ({"business_date": "22/11/2026"}, 422, "validation_failed"),
        ({"cursor": "not-a-cursor"}, 400, "invalid_cursor"),
    ):
        response = await gateway.client.get("/v1/receipts/summaries", params=query, headers=finance)
        assert response.status == status, query
        assert (await response.json())["code"] == code
    portal = await gateway.client.get("/v1/receipts/summaries", headers=gateway.auth("portal"))
    assert portal.status == 403
    with pytest.raises(ValidationFailed) as refused:
        await world.summaries.send_now(_day(DAY), "HN")  # issues no receipts here
    assert refused.value.errors[0].code == "receipts_not_configured"

    assert await world.listed() == [] and await world.received() == []
