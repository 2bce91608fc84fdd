"""Finance's result of a refund, maker-checker: ``POST /v1/refunds/{id}/complete`` proposes it
(202), nothing moves until a ``finance_approver`` who is another *person* approves it — then it
applies as the provider's word would (the refund, its webhook event, the bill). The same person
behind another key or a console login is refused (``self_approval``); a rejection changes
nothing; one proposal waits at a time (``resolution_pending``); the provider's word arriving
first wins and the proposal is ``superseded``."""

from __future__ import annotations

import uuid
from typing import Any

from conftest import Gateway, Wallets
from sqlalchemy import select
from test_refund_janitor import _paid_vnpay
from tests_support import signed_notice, staff_login

from gateway.core.db.schema import audit_log, outbox_events
from gateway.core.roles import Role
from gateway.keys import CLOCK, DATABASE, POLLER, STAFF
from gateway.services.clients import create_client, key_id
from providers.sandbox.vnpay import SWITCHES as VNPAY_SWITCHES

PASSWORD = "mật-khẩu-kế-toán-2026"


async def _transfer_paid(gateway: Gateway) -> dict[str, Any]:
    """A bill paid by bank transfer (VietQR): its refund is made by hand, stays pending."""
    payment = await gateway.create_payment()
    body, headers = signed_notice(payment, int(gateway.clock().timestamp()))
    response = await gateway.client.post("/callbacks/bank/testbank", data=body, headers=headers)
    assert response.status == 200, await response.text()
    gateway.clock.advance(hours=1)
    return payment


async def _refund(gateway: Gateway, payment: dict[str, Any], amount: int) -> dict[str, Any]:
    response = await gateway.client.post(
        f"/v1/payments/{payment['id']}/refunds",
        json={"amount": amount, "reason": "Hồ sơ bị từ chối"},
        headers={**gateway.auth(), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status == 201, await response.text()
    refund = dict(await response.json())
    assert refund["status"] == "pending"
    return refund


async def _propose(gateway: Gateway, refund_id: str, headers: dict[str, str], **body: Any) -> Any:
    return await gateway.client.post(
        f"/v1/refunds/{refund_id}/complete", json=body, headers=headers
    )


async def _decide(
    gateway: Gateway, refund_id: str, resolution_id: str, decision: str, headers: dict[str, str]
) -> Any:
    path = f"/v1/refunds/{refund_id}/resolutions/{resolution_id}/{decision}"
    if decision == "reject":
        return await gateway.client.post(
            path, json={"reason": "Chưa thấy trên sao kê"}, headers=headers
        )
    return await gateway.client.post(path, headers=headers)


async def _refund_now(gateway: Gateway, refund_id: str) -> dict[str, Any]:
    got = await gateway.client.get(f"/v1/refunds/{refund_id}", headers=gateway.auth("finance"))
    assert got.status == 200, await got.text()
    return dict(await got.json())


async def _events(gateway: Gateway, kind: str) -> int:
    async with gateway.client.app[DATABASE].read() as conn:
        types = (await conn.execute(select(outbox_events.c.type))).scalars().all()
    return types.count(kind)


async def _audit(gateway: Gateway, refund_id: str) -> list[tuple[str, str]]:
    async with gateway.client.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(audit_log.c.action, audit_log.c.actor)
            .where(audit_log.c.object_id == refund_id)
            .order_by(audit_log.c.id)
        )
        return [(row.action, row.actor) for row in rows]


async def _audit_details(gateway: Gateway, refund_id: str) -> list[dict[str, Any]]:
    async with gateway.client.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(audit_log.c.details)
            .where(audit_log.c.object_id == refund_id)
            .order_by(audit_log.c.id)
        )
        return [dict(row.details) for row in rows]


async def test_a_result_proposed_by_one_person_applies_only_once_another_approves_it(
    gateway: Gateway,
) -> None:
    payment = await _transfer_paid(gateway)
    refund = await _refund(gateway, payment, payment["amount"])

    proposed = await _propose(
        gateway,
        refund["id"],
        gateway.auth("finance"),
        status="succeeded",
        provider_transaction_id="FT26330123456",
        reason="Đã chuyển khoản hoàn tiền, có trên sao kê ngày 22/11.",
    )
    assert proposed.status == 202, await proposed.text()
    proposal = await proposed.json()
    assert (proposal["status"], proposal["outcome"], proposal["provider_transaction_id"]) == (
        "proposed",
        "succeeded",
        "FT26330123456",
    )
    # Nothing moved on one person's word.
    waiting = await _refund_now(gateway, refund["id"])
    assert waiting["status"] == "pending"
    assert [r["id"] for r in waiting["resolutions"]] == [proposal["id"]]
    assert (await gateway.payment(payment["id"]))["status"] == "paid"
    assert await _events(gateway, "refund.succeeded") == 0

    approved = await _decide(
        gateway, refund["id"], proposal["id"], "approve", gateway.auth("approver")
    )
    assert approved.status == 200, await approved.text()
    done = await approved.json()
    assert (done["status"], done["provider_transaction_id"]) == ("succeeded", "FT26330123456")
    assert proposal["proposed_by"] == key_id(gateway.keys["finance"])
    assert [(r["status"], r["decided_by"]) for r in done["resolutions"]] == [
        ("approved", key_id(gateway.keys["approver"]))
    ]
    assert (await gateway.payment(payment["id"]))["status"] == "refunded"
    assert await _events(gateway, "refund.succeeded") == 1
    assert [action for action, _ in await _audit(gateway, refund["id"])] == [
        "refund_resolution_proposed",
        "refund_resolution_approved",
    ]
    approval = (await _audit_details(gateway, refund["id"]))[-1]
    assert (approval["outcome"], approval["provider_transaction_id"]) == (
        "succeeded",
        "FT26330123456",
    )
    # Approved once: nothing is left to decide.
    again = await _decide(
        gateway, refund["id"], proposal["id"], "approve", gateway.auth("approver")
    )
    assert (again.status, (await again.json())["code"]) == (409, "invalid_transition")
    assert await _events(gateway, "refund.succeeded") == 1


async def test_the_same_person_cannot_approve_with_another_key_or_their_console_login(
    gateway: Gateway,
) -> None:
    """Lan proposes with her finance key; her approver key and her console login are refused
    (``self_approval``); Minh, another person, approves."""
    app = gateway.client.app
    db, clock = app[DATABASE], app[CLOCK]
    _, lan_finance = await create_client(
        db, clock, name="lan-ketoan", role=Role.FINANCE, agency_codes=["HCM"], person="lan@stc"
    )
    _, lan_approver = await create_client(
        db,
        clock,
        name="lan-pheduyet",
        role=Role.FINANCE_APPROVER,
        agency_codes=["HCM"],
        person="lan@stc",
    )
    for username, person in (("lan", "lan@stc"), ("minh", "minh@stc")):
        await app[STAFF].create_user(
            username=username,
            display_name=username.title(),
            role=Role.FINANCE_APPROVER,
            password=PASSWORD,
            agency_codes=["HCM"],
            person=person,
        )
    payment = await _transfer_paid(gateway)
    refund = await _refund(gateway, payment, 50_000)
    proposed = await _propose(
        gateway,
        refund["id"],
        {"Authorization": f"Bearer {lan_finance}"},
        status="failed",
        reason="Ngân hàng trả lại lệnh chuyển.",
    )
    assert proposed.status == 202, await proposed.text()
    proposal = await proposed.json()

    by_key = await _decide(
        gateway,
        refund["id"],
        proposal["id"],
        "approve",
        {"Authorization": f"Bearer {lan_approver}"},
    )
    assert (by_key.status, (await by_key.json())["code"]) == (409, "self_approval")
    by_key = await _decide(
        gateway, refund["id"], proposal["id"], "reject", {"Authorization": f"Bearer {lan_approver}"}
    )
    assert (by_key.status, (await by_key.json())["code"]) == (409, "self_approval")

    path = f"/console/refunds/{refund['id']}"
    lan = await staff_login(gateway.client, "lan", PASSWORD, "/console")
    gateway.client.session.cookie_jar.clear()
    page = await (await gateway.client.get(path, headers=lan.cookie)).text()
    assert 'data-testid="waiting"' in page and "Ngân hàng trả lại lệnh chuyển." in page
    # Her own proposal, made with another credential: no decision offered, the page says why.
    assert 'data-testid="own-proposal"' in page and 'value="approve"' not in page
    by_console = await gateway.client.post(
        f"{path}/decide",
        data={"csrf": lan.csrf, "decision": "approve", "resolution_id": proposal["id"]},
        headers=lan.cookie,
        allow_redirects=False,
    )
    assert by_console.status == 409
    assert "Không thể tự phê duyệt" in await by_console.text()
    assert (await _refund_now(gateway, refund["id"]))["status"] == "pending"
    assert await _events(gateway, "refund.failed") == 0

    minh = await staff_login(gateway.client, "minh", PASSWORD, "/console")
    gateway.client.session.cookie_jar.clear()
    page = await (await gateway.client.get(path, headers=minh.cookie)).text()
    assert 'data-testid="own-proposal"' not in page and 'value="approve"' in page
    approved = await gateway.client.post(
        f"{path}/decide",
        data={"csrf": minh.csrf, "decision": "approve", "resolution_id": proposal["id"]},
        headers=minh.cookie,
        allow_redirects=False,
    )
    assert approved.status == 303, await approved.text()
    assert approved.headers["Location"] == f"{path}?msg=refund_approved"
    done = await _refund_now(gateway, refund["id"])
    assert (done["status"], done["failure_code"]) == ("failed", "manual")
    assert (await gateway.payment(payment["id"]))["status"] == "paid"  # refundable again
    assert await _events(gateway, "refund.failed") == 1


async def test_a_result_proposed_in_the_console_is_approved_with_an_api_key_of_another_person(
    gateway: Gateway,
) -> None:
    await gateway.client.app[STAFF].create_user(
        username="ketoan",
        display_name="Kế toán",
        role=Role.FINANCE,
        password=PASSWORD,
        agency_codes=["HCM"],
    )
    payment = await _transfer_paid(gateway)
    refund = await _refund(gateway, payment, payment["amount"])
    path = f"/console/refunds/{refund['id']}"
    maker = await staff_login(gateway.client, "ketoan", PASSWORD, "/console")
    gateway.client.session.cookie_jar.clear()
    listed = await gateway.client.get(f"/console/payments/{payment['id']}", headers=maker.cookie)
    assert f'href="{path}"' in await listed.text()

    response = await gateway.client.post(
        f"{path}/propose",
        data={
            "csrf": maker.csrf,
            "outcome": "succeeded",
            "provider_transaction_id": "FT26330999999",
            "reason": "Đã hoàn qua chuyển khoản.",
        },
        headers=maker.cookie,
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == f"{path}?msg=proposed"
    # The maker is offered no decision: the page says why.
    page = await (await gateway.client.get(path, headers=maker.cookie)).text()
    assert 'data-testid="own-proposal"' in page and "Phê duyệt</button>" not in page
    [proposal] = (await _refund_now(gateway, refund["id"]))["resolutions"]

    approved = await _decide(
        gateway, refund["id"], proposal["id"], "approve", gateway.auth("approver2")
    )
    assert approved.status == 200, await approved.text()
    assert (await approved.json())["status"] == "succeeded"
    assert (await gateway.payment(payment["id"]))["status"] == "refunded"


async def test_a_rejected_proposal_changes_nothing_and_one_proposal_waits_at_a_time(
    gateway: Gateway,
) -> None:
    payment = await _transfer_paid(gateway)
    refund = await _refund(gateway, payment, 50_000)
    first = await _propose(gateway, refund["id"], gateway.auth("finance"), status="succeeded")
    assert first.status == 202
    proposal = await first.json()

    # A second proposal while one waits, by anyone: refused, the first one stands.
    for who in ("finance", "finance2", "approver"):
        second = await _propose(gateway, refund["id"], gateway.auth(who), status="failed")
        assert (second.status, (await second.json())["code"]) == (409, "resolution_pending")
    assert [r["status"] for r in (await _refund_now(gateway, refund["id"]))["resolutions"]] == [
        "proposed"
    ]
    # Another refund's, or no, proposal: not found.
    unknown = await _decide(
        gateway, refund["id"], "rres_" + "a" * 26, "approve", gateway.auth("approver")
    )
    assert (unknown.status, (await unknown.json())["code"]) == (404, "not_found")
    # finance proposes, never decides.
    refused = await _decide(
        gateway, refund["id"], proposal["id"], "approve", gateway.auth("finance2")
    )
    assert (refused.status, (await refused.json())["code"]) == (403, "forbidden")

    rejected = await _decide(
        gateway, refund["id"], proposal["id"], "reject", gateway.auth("approver")
    )
    assert rejected.status == 200, await rejected.text()
    after = await rejected.json()
    assert after["status"] == "pending"
    assert [(r["status"], r["decision_reason"]) for r in after["resolutions"]] == [
        ("rejected", "Chưa thấy trên sao kê")
    ]
    assert (await gateway.payment(payment["id"]))["status"] == "paid"
    assert await _events(gateway, "refund.succeeded") == 0
    # A rejected proposal cannot be approved afterwards; a new one can be made.
    late = await _decide(gateway, refund["id"], proposal["id"], "approve", gateway.auth("approver"))
    assert (late.status, (await late.json())["code"]) == (409, "invalid_transition")
    anew = await _propose(gateway, refund["id"], gateway.auth("finance2"), status="failed")
    assert anew.status == 202, await anew.text()
    assert [action for action, _ in await _audit(gateway, refund["id"])] == [
        "refund_resolution_proposed",
        "refund_resolution_rejected",
        "refund_resolution_proposed",
    ]


async def test_a_refund_still_asked_about_waits_for_the_janitor_then_the_providers_word_wins(
    wallets: Wallets,
) -> None:
    """VNPAY made the refund but its answer was lost. While the janitor still asks VNPAY,
    finance cannot propose a result (``refund_still_queried``: VNPAY may yet say it refunded),
    and the console offers no form. Past VNPAY's refund horizon it is handed to finance,
    who propose it failed; the janitor's querydr then hears VNPAY succeeded it: VNPAY's word
    applies, the proposal is superseded (in the audit log) and can no longer be approved."""
    payment, txn = await _paid_vnpay(wallets)
    wallets.vnpay.app[VNPAY_SWITCHES].lose_refund_answers = 1
    refund = await _refund(wallets, payment, payment["amount"])
    early = await _propose(
        wallets, refund["id"], wallets.auth("finance"), status="failed", reason="VNPAY chưa hoàn."
    )
    assert (early.status, (await early.json())["code"]) == (409, "refund_still_queried")
    await wallets.client.app[STAFF].create_user(
        username="ketoan",
        display_name="Kế toán",
        role=Role.FINANCE,
        password=PASSWORD,
        agency_codes=["HCM"],
    )
    session = await staff_login(wallets.client, "ketoan", PASSWORD, "/console")
    path = f"/console/refunds/{refund['id']}"
    page = await (await wallets.client.get(path, headers=session.cookie)).text()
    assert 'data-testid="still-queried"' in page and f'action="{path}/propose"' not in page
    janitor = wallets.client.app[POLLER]
    wallets.clock.advance(hours=72, seconds=1)  # VNPAY's refund horizon: handed to finance
    assert await janitor.run_once() == 1  # querydr: VNPAY is still processing it
    assert (await _refund_now(wallets, refund["id"]))["flagged_at"] is not None
    wallets.client.session.cookie_jar.clear()
    session = await staff_login(wallets.client, "ketoan", PASSWORD, "/console")  # days later
    page = await (await wallets.client.get(path, headers=session.cookie)).text()
    assert 'data-testid="still-queried"' not in page and f'action="{path}/propose"' in page

    proposed = await _propose(
        wallets, refund["id"], wallets.auth("finance"), status="failed", reason="VNPAY chưa hoàn."
    )
    assert proposed.status == 202, await proposed.text()
    proposal = await proposed.json()

    txn.refunds[-1].status = "06"  # VNPAY sent the money back
    wallets.clock.advance(hours=1)  # flagged, still asked about at most hourly
    assert await janitor.run_once() == 1

    settled = await _refund_now(wallets, refund["id"])
    assert settled["status"] == "succeeded"
    [superseded] = settled["resolutions"]
    assert (superseded["id"], superseded["status"], superseded["decided_by"]) == (
        proposal["id"],
        "superseded",
        None,
    )
    assert (await wallets.payment(payment["id"]))["status"] == "refunded"
    late = await _decide(wallets, refund["id"], proposal["id"], "approve", wallets.auth("approver"))
    assert (late.status, (await late.json())["code"]) == (409, "invalid_transition")
    assert (await _refund_now(wallets, refund["id"]))["status"] == "succeeded"
    assert await _events(wallets, "refund.succeeded") == 1
    assert await _events(wallets, "refund.failed") == 0
    assert await _audit(wallets, refund["id"]) == [
        ("refund_resolution_proposed", proposal["proposed_by"]),
        ("refund_resolution_superseded", "provider:vnpay"),
    ]


async def test_the_same_person_typed_in_another_case_or_with_spaces_is_still_the_maker(
    gateway: Gateway,
) -> None:
    db, clock = gateway.client.app[DATABASE], gateway.client.app[CLOCK]
    _, maker = await create_client(
        db, clock, name="lan-ketoan", role=Role.FINANCE, agency_codes=["HCM"], person="Lan@stc"
    )
    _, checker = await create_client(
        db,
        clock,
        name="lan-pheduyet",
        role=Role.FINANCE_APPROVER,
        agency_codes=["HCM"],
        person="lan@stc ",
    )
    payment = await _transfer_paid(gateway)
    refund = await _refund(gateway, payment, 50_000)
    proposed = await _propose(
        gateway, refund["id"], {"Authorization": f"Bearer {maker}"}, status="failed"
    )
    assert proposed.status == 202, await proposed.text()
    proposal = await proposed.json()

    for decision in ("approve", "reject"):
        refused = await _decide(
            gateway, refund["id"], proposal["id"], decision, {"Authorization": f"Bearer {checker}"}
        )
        assert (refused.status, (await refused.json())["code"]) == (409, "self_approval")
    assert (await _refund_now(gateway, refund["id"]))["status"] == "pending"


async def test_a_proposal_is_rejected_without_a_body(gateway: Gateway) -> None:
    """``reason`` is optional, so is the body that carries it."""
    payment = await _transfer_paid(gateway)
    refund = await _refund(gateway, payment, 50_000)
    proposal = await (
        await _propose(gateway, refund["id"], gateway.auth("finance"), status="failed")
    ).json()

    rejected = await gateway.client.post(
        f"/v1/refunds/{refund['id']}/resolutions/{proposal['id']}/reject",
        headers=gateway.auth("approver"),
    )

    assert rejected.status == 200, await rejected.text()
    after = await rejected.json()
    assert [(r["status"], r["decision_reason"]) for r in after["resolutions"]] == [
        ("rejected", None)
    ]


async def test_a_failed_result_carries_no_bank_reference(gateway: Gateway) -> None:
    """A refund that failed moved no money: there is no transaction to reference."""
    payment = await _transfer_paid(gateway)
    refund = await _refund(gateway, payment, 50_000)

    refused = await _propose(
        gateway,
        refund["id"],
        gateway.auth("finance"),
        status="failed",
        provider_transaction_id="FT26330123456",
    )

    assert refused.status == 422, await refused.text()
    problem = await refused.json()
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("provider_transaction_id", "not_allowed")
    ]
    assert (await _refund_now(gateway, refund["id"]))["resolutions"] == []
