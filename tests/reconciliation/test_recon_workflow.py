"""The finance workflow: exception queue, maker-checker, closing a day, immutability."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from conftest import Gateway
from sqlalchemy import select
from tests_support import seed_recon_run

from gateway.core.db.schema import audit_log
from gateway.core.errors import Forbidden, InvalidTransition, SelfApproval, ValidationFailed
from gateway.core.roles import Role
from gateway.keys import CLOCK, DATABASE, STAFF, WORKFLOW
from gateway.services.clients import create_client
from reconciliation.scope import EVERYWHERE
from reconciliation.workflow import Actor

DAY = date(2026, 11, 21)


async def _post(gateway: Gateway, path: str, who: str, body: Any = None) -> tuple[int, Any]:
    response = await gateway.client.post(
        f"/v1/reconciliation{path}",
        json=body if body is not None else {},
        headers=gateway.auth(who),
    )
    return response.status, await response.json()


async def _resolve(
    gateway: Gateway,
    exception_id: str,
    who: str = "finance",
    resolution: str = "write_off",
    reason: str = "x",
) -> tuple[int, Any]:
    body = {"resolution": resolution, "reason": reason}
    return await _post(gateway, f"/exceptions/{exception_id}/resolve", who, body)


async def test_exception_is_resolved_by_one_person_and_approved_by_another(
    gateway: Gateway,
) -> None:
    [first, _] = await seed_recon_run(gateway, DAY)
    status, resolved = await _resolve(gateway, first, reason="Phí ngân hàng thu nhầm, đã đối chiếu")
    assert (status, resolved["status"], resolved["resolved_by"]) == (
        200,
        "resolved",
        resolved["resolved_by"],
    )
    status, approved = await _post(gateway, f"/exceptions/{first}/approve", "approver")
    assert (status, approved["status"]) == (200, "approved")
    async with gateway.client.app[DATABASE].read() as conn:
        actions = (await conn.execute(select(audit_log.c.action))).scalars().all()
    assert actions == ["exception_resolved", "exception_approved"]


async def test_nobody_approves_their_own_resolution(gateway: Gateway) -> None:
    [first, _] = await seed_recon_run(gateway, DAY)
    await _resolve(
        gateway, first, who="approver", resolution="manual_match", reason="Khớp với sao kê ngày sau"
    )
    status, problem = await _post(gateway, f"/exceptions/{first}/approve", "approver")
    assert (status, problem["code"]) == (409, "self_approval")
    status, _ = await _post(gateway, f"/exceptions/{first}/approve", "approver2")
    assert status == 200


async def test_a_finance_officer_cannot_approve(gateway: Gateway) -> None:
    [first, _] = await seed_recon_run(gateway, DAY)
    await _resolve(gateway, first)
    status, problem = await _post(gateway, f"/exceptions/{first}/approve", "finance2")
    assert (status, problem["code"]) == (403, "forbidden")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"resolution": "ignore", "reason": "x"}, "resolution"),
        ({"resolution": "write_off"}, "reason"),
    ],
)
async def test_a_resolution_needs_a_known_kind_and_a_reason(
    gateway: Gateway, body: dict[str, str], field: str
) -> None:
    [first, _] = await seed_recon_run(gateway, DAY)
    status, problem = await _post(gateway, f"/exceptions/{first}/resolve", "finance", body)
    assert (status, problem["errors"][0]["field"]) == (422, field)


async def test_a_day_with_open_exceptions_cannot_be_closed(gateway: Gateway) -> None:
    await seed_recon_run(gateway, DAY)
    status, problem = await _post(gateway, f"/days/{DAY}/close", "approver")
    assert (status, problem["code"]) == (409, "open_exceptions")


async def test_a_day_closes_when_every_exception_is_approved_and_is_then_immutable(
    gateway: Gateway,
) -> None:
    ids = await seed_recon_run(gateway, DAY)
    for exception_id in ids:
        await _resolve(gateway, exception_id, reason="Đã đối chiếu")
        status, problem = await _post(gateway, f"/days/{DAY}/close", "approver")
        assert (status, problem["code"]) == (409, "open_exceptions")  # awaiting approval
        await _post(gateway, f"/exceptions/{exception_id}/approve", "approver")
    status, closed = await _post(gateway, f"/days/{DAY}/close", "approver")
    assert (status, closed["status"]) == (200, "closed")

    status, problem = await _post(gateway, "/runs", "finance", {"business_date": DAY.isoformat()})
    assert (status, problem["code"]) == (409, "day_closed")
    status, problem = await _post(gateway, f"/days/{DAY}/close", "approver")
    assert (status, problem["code"]) == (409, "day_closed")


async def test_only_an_approver_closes_a_day(gateway: Gateway) -> None:
    status, problem = await _post(gateway, f"/days/{DAY}/close", "finance")
    assert (status, problem["code"]) == (403, "forbidden")


async def test_a_portal_key_cannot_touch_reconciliation(gateway: Gateway) -> None:
    response = await gateway.client.get("/v1/reconciliation/exceptions", headers=gateway.auth())
    assert response.status == 403


async def test_exception_queue_filters_by_day_type_and_status(gateway: Gateway) -> None:
    [first, second] = await seed_recon_run(gateway, DAY)
    await _resolve(gateway, first)

    async def ids(**params: str) -> list[str]:
        response = await gateway.client.get(
            "/v1/reconciliation/exceptions", params=params, headers=gateway.auth("finance")
        )
        return [item["id"] for item in (await response.json())["data"]]

    assert await ids(business_date=DAY.isoformat()) == [first, second]
    assert await ids(status="open") == [second]
    assert await ids(type="amount_mismatch") == []
    assert await ids(business_date="2026-11-20") == []
    assert await ids(min_age_days="1") == [first, second]  # DAY is yesterday in Vietnam
    assert await ids(min_age_days="2") == []


async def test_a_checker_rejects_a_resolution_and_the_exception_is_open_again(
    gateway: Gateway,
) -> None:
    """Maker-checker, the other answer: the service (no HTTP route yet) reopens the exception,
    clears the resolution and keeps the rejection in the audit log."""
    workflow = gateway.client.app[WORKFLOW]
    checker = Actor("usr_checker", Role.FINANCE_APPROVER, EVERYWHERE)
    [first, _] = await seed_recon_run(gateway, DAY)
    await _resolve(gateway, first, reason="Phí ngân hàng thu nhầm")

    with pytest.raises(Forbidden):
        await workflow.reject(Actor("usr_maker2", Role.FINANCE, EVERYWHERE), first, "Không đúng")
    with pytest.raises(ValidationFailed):
        await workflow.reject(checker, first, "  ")
    rejected = await workflow.reject(checker, first, "Chưa có chứng từ của ngân hàng")
    assert (rejected["status"], rejected["resolution"], rejected["resolved_by"]) == (
        "open",
        None,
        None,
    )
    with pytest.raises(InvalidTransition):  # nothing to reject any more; changes nothing
        await workflow.reject(checker, first, "lần nữa")
    async with gateway.client.app[DATABASE].read() as conn:
        audit = (
            await conn.execute(
                select(audit_log.c.action, audit_log.c.details).order_by(audit_log.c.id)
            )
        ).all()
    assert [action for action, _ in audit] == ["exception_resolved", "exception_rejected"]
    assert audit[1].details["reason"] == "Chưa có chứng từ của ngân hàng"
    assert audit[1].details["resolution"] == "write_off"

    # The maker resolves again; another person approves; the day can close.
    status, resolved = await _resolve(
        gateway, first, resolution="manual_match", reason="Đã có chứng từ"
    )
    assert (status, resolved["status"]) == (200, "resolved")
    status, approved = await _post(gateway, f"/exceptions/{first}/approve", "approver")
    assert (status, approved["status"]) == (200, "approved")


async def test_an_approver_rejects_a_resolution_through_the_api(gateway: Gateway) -> None:
    """What the checker does when the maker's decision is wrong: turn it down with a reason;
    the maker then resolves it again and another person approves."""
    [first, _] = await seed_recon_run(gateway, DAY)
    await _resolve(gateway, first, reason="Đã đối chiếu")
    status, problem = await _post(
        gateway, f"/exceptions/{first}/reject", "finance2", {"reason": "x"}
    )
    assert (status, problem["code"]) == (403, "forbidden")
    status, problem = await _post(
        gateway, f"/exceptions/{first}/reject", "approver", {"reason": " "}
    )
    assert (status, problem["code"]) == (422, "validation_failed")
    status, problem = await _post(gateway, f"/exceptions/{first}/reject", "approver", ["x"])
    assert [e["code"] for e in problem["errors"]] == ["not_object"]
    status, rejected = await _post(
        gateway, f"/exceptions/{first}/reject", "approver", {"reason": "Thiếu chứng từ ngân hàng"}
    )
    assert (status, rejected["status"], rejected["resolution"]) == (200, "open", None)
    status, problem = await _post(
        gateway, f"/exceptions/{first}/reject", "approver", {"reason": "x"}
    )
    assert (status, problem["code"]) == (409, "invalid_transition")
    await _resolve(gateway, first, reason="Đã có chứng từ")
    status, approved = await _post(gateway, f"/exceptions/{first}/approve", "approver")
    assert (status, approved["status"]) == (200, "approved")


async def test_one_person_cannot_approve_with_their_console_user_what_they_resolved_with_their_key(
    gateway: Gateway,
) -> None:
    """Maker ≠ checker by person: Lan resolves with her API key and tries to approve as her
    console user; Minh (another person) then approves."""
    app = gateway.client.app
    db, clock = app[DATABASE], app[CLOCK]
    _, lan_key = await create_client(
        db, clock, name="lan", role=Role.FINANCE_APPROVER, agency_codes=["HCM"], person="lan@stc"
    )
    lan_user, minh_user = [
        await app[STAFF].create_user(
            username=username,
            display_name=name,
            role=Role.FINANCE_APPROVER,
            password="mat-khau-dai-du-12",
            agency_codes=["HCM"],
            person=f"{username}@stc",
        )
        for username, name in (("lan", "Trần Thị Lan"), ("minh", "Lê Văn Minh"))
    ]
    [first, _] = await seed_recon_run(gateway, DAY)
    response = await gateway.client.post(
        f"/v1/reconciliation/exceptions/{first}/resolve",
        json={"resolution": "write_off", "reason": "Phí ngân hàng"},
        headers={"Authorization": f"Bearer {lan_key}"},
    )
    assert response.status == 200
    with pytest.raises(SelfApproval):
        await app[WORKFLOW].approve(Actor(lan_user, Role.FINANCE_APPROVER, EVERYWHERE), first)
    approved = await app[WORKFLOW].approve(
        Actor(minh_user, Role.FINANCE_APPROVER, EVERYWHERE), first
    )
    assert approved["status"] == "approved"
