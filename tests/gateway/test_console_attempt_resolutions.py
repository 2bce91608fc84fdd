"""Finance resolves an attempt the janitor handed over, maker-checker, in the console: one
person proposes what the provider confirmed, another approves it and only then does it apply
(a success pays the bill); bad input and the wrong person change nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import Wallets
from sqlalchemy import select
from test_janitor import _pending_at_momo
from tests_support import StaffSession, staff_login

from gateway.core.db.schema import attempt_resolutions, audit_log
from gateway.core.roles import Role
from gateway.keys import ATTEMPTS, DATABASE, POLLER, STAFF

PASSWORD = "mật-khẩu-kế-toán-2026"
USERS = (
    ("ketoan", Role.FINANCE),
    ("truongphong", Role.FINANCE_APPROVER),
    ("phophong", Role.FINANCE_APPROVER),
)


@pytest.fixture
async def flagged(wallets: Wallets) -> dict[str, Any]:
    """A MoMo attempt left "being processed" past MoMo's horizon (48 h): handed to finance."""
    for username, role in USERS:
        await wallets.client.app[STAFF].create_user(
            username=username,
            display_name=username.title(),
            role=role,
            password=PASSWORD,
            agency_codes=["HCM"],
        )
    bill, attempt = await _pending_at_momo(wallets, expires_in_seconds=7 * 24 * 3600)
    wallets.clock.advance(hours=49)
    await wallets.client.app[POLLER].run_once()
    assert (await wallets.payment_attempt(bill["id"], attempt["id"]))["flagged_at"] is not None
    return {"bill": bill, "attempt": attempt}


async def login(wallets: Wallets, username: str) -> StaffSession:
    """A sign-in in a browser of its own: the client's cookie jar keeps no session, each
    request sends the session's cookie itself."""
    wallets.client.session.cookie_jar.clear()
    session = await staff_login(wallets.client, username, PASSWORD, "/console")
    wallets.client.session.cookie_jar.clear()
    return session


async def submit(wallets: Wallets, session: StaffSession, path: str, **fields: str) -> Any:
    return await wallets.client.post(
        path, data={"csrf": session.csrf, **fields}, headers=session.cookie, allow_redirects=False
    )


async def proposals(wallets: Wallets) -> list[tuple[str, str]]:
    async with wallets.client.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(attempt_resolutions.c.outcome, attempt_resolutions.c.status).order_by(
                attempt_resolutions.c.proposed_at, attempt_resolutions.c.id
            )
        )
        return [(row.outcome, row.status) for row in rows]


async def failure_proposed(wallets: Wallets, attempt_id: str) -> tuple[str, StaffSession]:
    """User "ketoan" proposes the attempt failed: its page's path, and "truongphong" to decide."""
    path = f"/console/attempts/{attempt_id}"
    maker, checker = await login(wallets, "ketoan"), await login(wallets, "truongphong")
    await submit(wallets, maker, f"{path}/propose", outcome="failed", reason="MoMo xác nhận.")
    return path, checker


async def test_a_confirmed_success_proposed_and_approved_by_another_pays_the_bill(
    wallets: Wallets, flagged: dict[str, Any]
) -> None:
    bill, attempt = flagged["bill"], flagged["attempt"]
    path = f"/console/attempts/{attempt['id']}"
    maker = await login(wallets, "truongphong")
    dashboard = await (await wallets.client.get("/console", headers=maker.cookie)).text()
    assert f'href="{path}"' in dashboard

    response = await submit(
        wallets,
        maker,
        f"{path}/propose",
        outcome="succeeded",
        evidence="MOMO-TXN-778899",
        amount=str(bill["amount"]),
        reason="MoMo xác nhận qua email hỗ trợ ngày 24/11: giao dịch thành công.",
    )
    assert response.status == 303 and response.headers["Location"] == f"{path}?msg=proposed"
    assert (await wallets.payment(bill["id"]))["status"] == "pending"  # nothing applied yet

    # The maker cannot approve their own proposal.
    response = await submit(wallets, maker, f"{path}/decide", decision="approve")
    assert response.status == 409
    assert "Không thể tự phê duyệt" in await response.text()
    assert (await wallets.payment(bill["id"]))["status"] == "pending"

    checker = await login(wallets, "phophong")
    page = await (await wallets.client.get(path, headers=checker.cookie)).text()
    assert 'data-confirm="Phê duyệt và áp dụng' in page  # the browser asks first
    response = await submit(wallets, checker, f"{path}/decide", decision="approve")
    assert response.status == 303
    paid = await wallets.payment(bill["id"])
    assert paid["status"] == "paid"
    done = await wallets.payment_attempt(bill["id"], attempt["id"])
    assert (done["status"], done["provider_transaction_id"]) == ("succeeded", "MOMO-TXN-778899")
    assert await proposals(wallets) == [("succeeded", "approved")]
    assert await wallets.client.app[ATTEMPTS].flagged(frozenset(), all_agencies=True) == []
    async with wallets.client.app[DATABASE].read() as conn:
        actions = (await conn.execute(select(audit_log.c.action))).scalars().all()
    assert "attempt_resolution_proposed" in actions and "attempt_resolution_approved" in actions


async def test_a_rejected_proposal_changes_nothing_and_a_confirmed_failure_frees_the_bill(
    wallets: Wallets, flagged: dict[str, Any]
) -> None:
    bill, attempt = flagged["bill"], flagged["attempt"]
    path = f"/console/attempts/{attempt['id']}"
    maker, checker = await login(wallets, "ketoan"), await login(wallets, "truongphong")
    reason = "MoMo xác nhận không trừ tiền ví."
    await submit(wallets, maker, f"{path}/propose", outcome="failed", reason=reason)
    response = await submit(wallets, checker, f"{path}/decide", decision="reject")
    assert response.headers["Location"] == f"{path}?msg=resolution_rejected"
    assert (await wallets.payment_attempt(bill["id"], attempt["id"]))["status"] == "pending"

    wallets.clock.advance(minutes=1)
    await submit(wallets, maker, f"{path}/propose", outcome="failed", reason=reason)
    await submit(wallets, checker, f"{path}/decide", decision="approve")
    done = await wallets.payment_attempt(bill["id"], attempt["id"])
    assert (done["status"], done["failure_code"]) == ("failed", "confirmed_failed_by_finance")
    assert (await wallets.payment(bill["id"]))["status"] == "pending"  # the citizen may pay
    assert await proposals(wallets) == [("failed", "rejected"), ("failed", "approved")]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"outcome": "succeeded", "amount": "185000", "reason": "x"}, "cần mã giao dịch"),
        ({"outcome": "succeeded", "evidence": "T1", "amount": "1.5", "reason": "x"}, "số nguyên"),
        ({"outcome": "failed", "reason": "  "}, "Hãy nhập lý do xử lý."),
        ({"outcome": "maybe", "reason": "x"}, "Hãy chọn kết quả"),
        # "²" passes str.isdigit(); it once reached int() and answered 500.
        ({"outcome": "succeeded", "evidence": "T1", "amount": "²", "reason": "x"}, "số nguyên"),
        ({"outcome": "succeeded", "evidence": "T1", "amount": "١٢", "reason": "x"}, "số nguyên"),
        ({"outcome": "failed", "evidence": "MOMO-1", "reason": "x"}, "hãy để trống"),
        ({"outcome": "failed", "evidence": "M" * 65, "reason": "x"}, "tối đa 64 ký tự"),
    ],
)
async def test_a_bad_proposal_says_why_and_stores_nothing(
    wallets: Wallets, flagged: dict[str, Any], fields: dict[str, str], message: str
) -> None:
    maker = await login(wallets, "ketoan")
    path = f"/console/attempts/{flagged['attempt']['id']}/propose"
    response = await submit(wallets, maker, path, **fields)
    assert response.status == 422
    assert message in await response.text()
    assert await proposals(wallets) == []


async def test_one_proposal_at_a_time_and_only_an_approver_decides(
    wallets: Wallets, flagged: dict[str, Any]
) -> None:
    path = f"/console/attempts/{flagged['attempt']['id']}"
    maker = await login(wallets, "ketoan")
    await submit(wallets, maker, f"{path}/propose", outcome="failed", reason="MoMo xác nhận.")
    response = await submit(wallets, maker, f"{path}/propose", outcome="failed", reason="Lần 2")
    assert response.status == 409
    assert "đang chờ phê duyệt" in await response.text()
    other_officer = await login(wallets, "ketoan")
    response = await submit(wallets, other_officer, f"{path}/decide", decision="approve")
    assert response.status == 403
    assert await proposals(wallets) == [("failed", "proposed")]


async def test_an_attempt_not_handed_to_finance_cannot_be_resolved(wallets: Wallets) -> None:
    await wallets.client.app[STAFF].create_user(
        username="ketoan",
        display_name="Kế toán",
        role=Role.FINANCE,
        password=PASSWORD,
        agency_codes=["HCM"],
    )
    _, attempt = await _pending_at_momo(wallets)  # still being asked about
    maker = await login(wallets, "ketoan")
    path = f"/console/attempts/{attempt['id']}/propose"
    response = await submit(wallets, maker, path, outcome="failed", reason="x")
    assert response.status == 409
    assert "không còn chờ kế toán xử lý" in await response.text()
    assert await proposals(wallets) == []


async def test_another_agencys_attempt_is_a_404(wallets: Wallets, flagged: dict[str, Any]) -> None:
    await wallets.client.app[STAFF].create_user(
        username="hanoi",
        display_name="Kế toán Hà Nội",
        role=Role.FINANCE,
        password=PASSWORD,
        agency_codes=["HN"],
    )
    session = await login(wallets, "hanoi")
    path = f"/console/attempts/{flagged['attempt']['id']}"
    assert (await wallets.client.get(path, headers=session.cookie)).status == 404
    response = await submit(wallets, session, f"{path}/propose", outcome="failed", reason="x")
    assert response.status == 404
    assert await proposals(wallets) == []


async def test_the_largest_amount_a_provider_can_report_is_kept_whole(
    wallets: Wallets, flagged: dict[str, Any]
) -> None:
    """10^12 VND: beyond a 32-bit column (PostgreSQL refused it with a 500)."""
    maker = await login(wallets, "ketoan")
    path = f"/console/attempts/{flagged['attempt']['id']}"
    fields = {"outcome": "succeeded", "evidence": "MOMO-1", "reason": "MoMo xác nhận."}
    response = await submit(wallets, maker, f"{path}/propose", amount=str(10**12), **fields)
    assert response.status == 303
    response = await submit(wallets, maker, f"{path}/propose", amount=str(10**12 + 1), **fields)
    assert response.status in (409, 422)  # one waits already; and it is out of range
    async with wallets.client.app[DATABASE].read() as conn:
        amounts = (await conn.execute(select(attempt_resolutions.c.amount))).scalars().all()
    assert amounts == [10**12]


@pytest.mark.parametrize("decision", [None, "", "yes", "APPROVE"])
async def test_a_decision_other_than_approve_or_reject_is_refused_and_changes_nothing(
    wallets: Wallets, flagged: dict[str, Any], decision: str | None
) -> None:
    bill, attempt = flagged["bill"], flagged["attempt"]
    path, checker = await failure_proposed(wallets, attempt["id"])
    fields = {} if decision is None else {"decision": decision}
    response = await submit(wallets, checker, f"{path}/decide", **fields)
    assert response.status == 422
    assert "Hãy chọn Phê duyệt hoặc Từ chối" in await response.text()
    assert (await wallets.payment_attempt(bill["id"], attempt["id"]))["status"] == "pending"
    assert await proposals(wallets) == [("failed", "proposed")]


async def test_a_proposal_overtaken_by_the_provider_can_be_rejected_but_not_approved(
    wallets: Wallets, flagged: dict[str, Any]
) -> None:
    bill, attempt = flagged["bill"], flagged["attempt"]
    path, checker = await failure_proposed(wallets, attempt["id"])
    # MoMo's own word arrives meanwhile: the citizen paid.
    await wallets.sandbox(
        wallets.momo, "/simulate", order_id=attempt["provider_reference"], outcome="success"
    )
    assert (await wallets.payment(bill["id"]))["status"] == "paid"

    page = await (await wallets.client.get(path, headers=checker.cookie)).text()
    assert 'value="reject"' in page and 'value="approve"' not in page
    assert "chỉ có thể từ chối" in page
    response = await submit(wallets, checker, f"{path}/decide", decision="approve")
    assert response.status == 409
    assert await proposals(wallets) == [("failed", "proposed")]
    response = await submit(wallets, checker, f"{path}/decide", decision="reject")
    assert response.headers["Location"] == f"{path}?msg=resolution_rejected"
    assert await proposals(wallets) == [("failed", "rejected")]
    assert (await wallets.payment(bill["id"]))["status"] == "paid"  # the provider's word stands
    page = await (await wallets.client.get(path, headers=checker.cookie)).text()
    assert 'data-testid="waiting"' not in page


async def test_a_stale_page_never_decides_a_newer_proposal(
    wallets: Wallets, flagged: dict[str, Any]
) -> None:
    """The approver's page shows a proposal; meanwhile another approver rejects it and the
    maker proposes anew. Approving from the stale page names the proposal it showed: refused,
    the newer proposal still waits (and the page shows that one next)."""
    bill, attempt = flagged["bill"], flagged["attempt"]
    path, checker = await failure_proposed(wallets, attempt["id"])
    stale = await (await wallets.client.get(path, headers=checker.cookie)).text()
    [shown] = re.findall(r'name="resolution_id" value="([^"]+)"', stale)

    other = await login(wallets, "phophong")
    rejected = await submit(wallets, other, f"{path}/decide", decision="reject")
    assert rejected.headers["Location"] == f"{path}?msg=resolution_rejected"
    wallets.clock.advance(minutes=1)
    maker = await login(wallets, "ketoan")
    await submit(wallets, maker, f"{path}/propose", outcome="failed", reason="Lần hai.")

    response = await submit(
        wallets, checker, f"{path}/decide", decision="approve", resolution_id=shown
    )
    assert response.status == 409
    assert (await wallets.payment_attempt(bill["id"], attempt["id"]))["status"] == "pending"
    assert await proposals(wallets) == [("failed", "rejected"), ("failed", "proposed")]
    fresh = await (await wallets.client.get(path, headers=checker.cookie)).text()
    [newer] = re.findall(r'name="resolution_id" value="([^"]+)"', fresh)
    assert newer != shown
    response = await submit(
        wallets, checker, f"{path}/decide", decision="approve", resolution_id=newer
    )
    assert response.status == 303
    assert await proposals(wallets) == [("failed", "rejected"), ("failed", "approved")]


async def test_the_maker_is_offered_no_decision_on_their_own_proposal(
    wallets: Wallets, flagged: dict[str, Any]
) -> None:
    attempt = flagged["attempt"]
    path = f"/console/attempts/{attempt['id']}"
    maker = await login(wallets, "truongphong")  # an approver, proposing
    await submit(wallets, maker, f"{path}/propose", outcome="failed", reason="MoMo xác nhận.")

    own = await (await wallets.client.get(path, headers=maker.cookie)).text()
    assert 'data-testid="own-proposal"' in own and 'value="approve"' not in own
    checker = await login(wallets, "phophong")
    other = await (await wallets.client.get(path, headers=checker.cookie)).text()
    assert 'data-testid="own-proposal"' not in other and 'value="approve"' in other
