"""Finance staff see the notices of receipt errors (04/SS-CTĐT) and deal with those the tax
authority rejected or that failed: ``GET /v1/receipts/tax-notices`` lists their agencies'
notices in every status (filters, cursor); a rejected or failed notice is dismissed with a
reason — kept and listed with who, when and why, audit-logged, no longer warned of on the
dashboard or at day close; anything else is refused. The CLI does the same through the
app's own wiring."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import FixedClock
from receipt_support import Identity
from sqlalchemy import select
from tax_support import World, open_world, reconcile
from tests_support import staff_login

from gateway.cli import _parser, _receipt_notices
from gateway.core.db.schema import audit_log
from gateway.core.errors import TaxNoticeNotDismissible
from gateway.core.roles import Role
from gateway.keys import DATABASE, SETTINGS, STAFF
from gateway.services.clients import create_client
from gateway.services.wiring import build_services

DAY = "2026-11-22"
REASON = {"code": "E21", "message": "Biên lai không tồn tại"}


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


async def _rejected(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """A notice approved, sent and rejected by the tax authority: its receipt and the notice."""
    payment = await world.pay()
    correction = await world.correct(payment, {"payer_name": "Nguyễn Văn Ân"})
    await world.script({"outcome": "reject", "reasons": [REASON]})
    await world.notices.send_due()
    notice = await world.notices.of_correction(correction["id"])
    assert notice["status"] == "rejected"
    return correction, notice


async def _list(world: World, who: str = "finance2", **query: str) -> Any:
    response = await world.gateway.client.get(
        "/v1/receipts/tax-notices", params=query, headers=world.gateway.auth(who)
    )
    return response.status, await response.json()


async def _dismiss(world: World, notice_id: str, body: Any, who: str = "finance2") -> Any:
    response = await world.gateway.client.post(
        f"/v1/receipts/tax-notices/{notice_id}/dismiss",
        json=body,
        headers=world.gateway.auth(who),
    )
    return response.status, await response.json()


async def test_finance_lists_its_agencies_notices_with_filters_and_a_cursor(
    world: World,
) -> None:
    first, rejected = await _rejected(world)
    world.gateway.clock.advance(minutes=1)
    payment = await world.pay()
    pending = await world.correct(payment, {"payer_name": "Trần Thị Bình"})

    status, page = await _list(world)
    assert status == 200, page
    assert [item["id"] for item in page["data"]] == [pending["tax_notice"]["id"], rejected["id"]]
    listed = page["data"][1]
    assert listed["status"] == "rejected" and listed["reasons"] == [REASON]
    assert (listed["agency_code"], listed["correction_id"]) == ("HCM", first["id"])
    assert listed["notified_on"] == DAY and listed["dismissal"] is None
    assert listed["receipt"]["symbol"] == "26TAB"

    _, only_rejected = await _list(world, status="rejected")
    assert [item["id"] for item in only_rejected["data"]] == [rejected["id"]]
    _, other_day = await _list(world, day="2026-11-21")
    assert other_day["data"] == []
    _, first_page = await _list(world, limit="1")
    assert len(first_page["data"]) == 1 and first_page["next_cursor"]
    _, second_page = await _list(world, limit="1", cursor=first_page["next_cursor"])
    assert [item["id"] for item in second_page["data"]] == [rejected["id"]]
    assert second_page["next_cursor"] is None

    # A deployment-wide finance key sees them; a finance key of another agency does not.
    _, everywhere = await _list(world, "finance")
    assert len(everywhere["data"]) == 2
    _, key = await create_client(
        world.gateway.client.app[DATABASE],
        world.gateway.clock,
        name="finance-hn",
        role=Role.FINANCE,
        agency_codes=["HN"],
    )
    elsewhere = await world.gateway.client.get(
        "/v1/receipts/tax-notices", headers={"Authorization": f"Bearer {key}"}
    )
    assert (await elsewhere.json())["data"] == []
    dismissed = await world.gateway.client.post(
        f"/v1/receipts/tax-notices/{rejected['id']}/dismiss",
        json={"reason": "Đã xử lý"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert dismissed.status == 404
    # The portal may not read them; a bad filter is named.
    portal, _ = await _list(world, "portal")
    assert portal == 403
    bad, problem = await _list(world, status="lost")
    assert bad == 422 and problem["code"] == "validation_failed"


async def test_a_rejected_notice_is_dismissed_with_a_reason_kept_and_no_longer_warned_of(
    world: World,
) -> None:
    gateway = world.gateway
    _, notice = await _rejected(world)
    reason = "Đã lập thông báo mới theo điều chỉnh rcc_khac; thông báo này không gửi lại"

    status, dismissed = await _dismiss(world, notice["id"], {"reason": reason})

    assert status == 200, dismissed
    assert dismissed["status"] == "dismissed" and dismissed["reasons"] == [REASON]
    assert dismissed["dismissal"]["reason"] == reason
    assert dismissed["dismissal"]["at"] == "2026-11-22T02:00:00Z"
    # Kept visible, with the tax authority's reasons, in the list and the correction's view.
    _, page = await _list(world)
    assert [(item["id"], item["status"]) for item in page["data"]] == [(notice["id"], "dismissed")]
    shown = await gateway.client.get(
        f"/v1/receipt-corrections/{notice['correction_id']}", headers=gateway.auth("finance")
    )
    assert (await shown.json())["tax_notice"]["dismissal"]["reason"] == reason
    # Audit-logged, with what the notice was.
    async with gateway.client.app[DATABASE].read() as conn:
        [entry] = (
            await conn.execute(
                select(audit_log).where(audit_log.c.action == "receipt_tax_notice_dismissed")
            )
        ).all()
    assert entry.object_id == notice["receipt_id"] and entry.actor == dismissed["dismissal"]["by"]
    assert entry.details["notice_id"] == notice["id"] and entry.details["status"] == "rejected"
    assert entry.details["reason"] == reason and entry.details["reasons"] == [REASON]
    # Not sent again, no longer open: day close and the dashboard do not warn of it.
    assert await world.notices.send_due() == 0
    assert await world.notices.open_items(frozenset(), all_agencies=True) == []
    await reconcile(gateway, DAY)
    close = await gateway.client.post(
        f"/v1/reconciliation/days/{DAY}/close", headers=gateway.auth("approver")
    )
    assert close.status == 200, await close.text()
    codes = [warning["code"] for warning in (await close.json())["warnings"]]
    assert "receipt_tax_notice_unsent" not in codes
    await gateway.client.app[STAFF].create_user(
        username="ketoan",
        display_name="Kế toán",
        role=Role.FINANCE,
        password="mat-khau-thu-nghiem-2026",
        agency_codes=["HCM"],
    )
    session = await staff_login(gateway.client, "ketoan", "mat-khau-thu-nghiem-2026", "/console")
    html = await (await gateway.client.get(f"/console?date={DAY}", headers=session.cookie)).text()
    assert 'data-testid="notice-warnings"' not in html
    assert 'data-testid="open-notices"' not in html


async def test_only_a_rejected_or_failed_notice_is_dismissed_and_only_with_a_reason(
    world: World,
) -> None:
    payment = await world.pay()
    correction = await world.correct(payment, {"payer_name": "Nguyễn Văn Ân"})
    notice_id = correction["tax_notice"]["id"]

    status, problem = await _dismiss(world, notice_id, {"reason": "Không cần gửi"})
    assert status == 409 and problem["code"] == "receipt_tax_notice_not_dismissible"
    assert problem["current"] == "pending"

    await world.notices.send_due()  # accepted
    status, problem = await _dismiss(world, notice_id, {"reason": "Không cần gửi"})
    assert (status, problem["current"]) == (409, "accepted")

    _, rejected = await _rejected(world)
    for body in ({}, {"reason": "   "}, {"reason": "x" * 2001}, ["lý do"]):
        status, problem = await _dismiss(world, rejected["id"], body)
        assert status == 422 and problem["code"] == "validation_failed", body
    status, problem = await _dismiss(world, "rtn_khongco", {"reason": "Đã xử lý"})
    assert status == 404
    status, _ = await _dismiss(world, rejected["id"], {"reason": "Đã xử lý"}, "portal")
    assert status == 403
    assert (await world.notices.get(rejected["id"]))["status"] == "rejected"  # nothing changed

    status, _ = await _dismiss(world, rejected["id"], {"reason": "Đã xử lý"})
    assert status == 200
    status, problem = await _dismiss(world, rejected["id"], {"reason": "Lần nữa"})
    assert (status, problem["current"]) == (409, "dismissed")


async def test_the_cli_lists_notices_and_dismisses_a_rejected_one(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    payment = await world.pay()
    correction = await world.correct(payment, {"payer_name": "Nguyễn Văn Ân"})
    await world.script({"outcome": "reject", "reasons": [REASON]})
    await world.notices.send_due()
    notice = await world.notices.of_correction(correction["id"])
    settings = world.gateway.client.app[SETTINGS]
    capsys.readouterr()

    async with build_services(settings, clock=world.gateway.clock) as services:
        listed = _parser().parse_args(["receipts", "notices", "list", "--status", "rejected"])
        assert await _receipt_notices(services, listed) == 0
        out = capsys.readouterr().out
        assert notice["id"] in out and "Cơ quan thuế từ chối" in out
        assert "lý do E21: Biên lai không tồn tại" in out

        dismiss = ["receipts", "notices", "dismiss", "--notice", notice["id"]]
        again = _parser().parse_args([*dismiss, "--reason", "Đã gửi lại qua điều chỉnh mới"])
        assert await _receipt_notices(services, again) == 0
        assert "dismissed" in capsys.readouterr().out
        with pytest.raises(TaxNoticeNotDismissible):  # main() prints its code, exit 1
            await _receipt_notices(services, _parser().parse_args([*dismiss, "--reason", "Nữa"]))

    shown = await world.notices.get(notice["id"])
    assert shown["status"] == "dismissed" and shown["dismissal"]["by"] == "cli"
