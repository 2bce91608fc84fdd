"""The sandbox control page: every sandbox behaviour has a form on ``/sandbox/controls``, each form
reaches the sandbox route it names and comes back with that route's answer, and a form that
does not parse changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.web_urldispatcher import PrefixedSubAppResource
from conftest import FixedClock
from playwright.async_api import Browser, Page, expect
from tests_support import DEMO_PORTAL, create_demo_bill, sandbox_settings, start_sandbox

from gateway.keys import SETTINGS
from gateway.sandbox_controls import SECTIONS, STATEMENT_KINDS, controls

PORTAL = {"Authorization": f"Bearer {DEMO_PORTAL}"}


@pytest.fixture
async def sandbox(tmp_path: Any, unused_tcp_port: int, clock: FixedClock) -> AsyncIterator[Any]:
    client = await start_sandbox(sandbox_settings(tmp_path, unused_tcp_port), clock)
    try:
        yield client
    finally:
        await client.close()


async def _bill(client: Any, key: str, amount: int = 135000) -> dict[str, Any]:
    return await create_demo_bill(client, key, amount)


async def _run(client: Any, control: str, **form: str) -> dict[str, str]:
    """Submit a control's form; the page it leads back to, as its query."""
    response = await client.post(f"/sandbox/controls/{control}", data=form, allow_redirects=False)
    assert response.status == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/sandbox/controls"
    return {key: values[0] for key, values in parse_qs(location.query).items()}


async def test_the_page_has_a_form_for_every_control_and_the_landing_page_links_it(
    sandbox: Any,
) -> None:
    landing = await (await sandbox.get("/")).text()
    assert 'href="/sandbox/controls"' in landing

    html = await (await sandbox.get("/sandbox/controls")).text()
    for section in SECTIONS:
        assert f'data-testid="section-{section.key}"' in html
    for kind, _ in STATEMENT_KINDS:
        assert f'value="{kind}"' in html
    assert 'value="pos_settlement.csv"' in html
    for name in ("drop", "delta", "duplicate", "unknown", "failed", "shift"):
        assert f'name="{name}"' in html
    for control in controls(sandbox.server.app[SETTINGS]):
        assert f'action="/sandbox/controls/{control.key}"' in html
        assert control.route in html


async def test_a_transfer_from_the_page_pays_the_bill(sandbox: Any) -> None:
    bill = await _bill(sandbox, "form-1")
    back = await _run(
        sandbox,
        "bank_transfer",
        bin="970499",
        account_number="0011001234567",
        amount="135000",
        description=f"{bill['reference']} NOP LE PHI",
    )
    assert back["done"] == "bank_transfer" and back["status"] == "201"
    assert '"delivered": true' in back["answer"]
    paid = await (await sandbox.get(f"/v1/payments/{bill['id']}", headers=PORTAL)).json()
    assert paid["status"] == "paid"

    page = await (await sandbox.get("/sandbox/controls", params=back)).text()
    assert 'data-testid="sandbox-result"' in page and "HTTP 201" in page


async def test_a_form_that_does_not_parse_is_refused_and_sends_nothing(sandbox: Any) -> None:
    bill = await _bill(sandbox, "form-bad")
    back = await _run(
        sandbox,
        "bank_transfer",
        bin="970499",
        account_number="0011001234567",
        amount="135.000đ",
        description=bill["reference"],
    )
    assert back["status"] == "422" and back["answer"].startswith("invalid_form: amount")
    assert await (await sandbox.get("/sandbox/bank/transfers")).json() == []
    unchanged = await (await sandbox.get(f"/v1/payments/{bill['id']}", headers=PORTAL)).json()
    assert unchanged["status"] == "pending"

    choice = await _run(sandbox, "pos_script", terminal_id="DEMO-POS-01", outcome="explode")
    assert choice["status"] == "422" and "outcome" in choice["answer"]
    unknown = await sandbox.post("/sandbox/controls/no_such_control", allow_redirects=False)
    assert unknown.status == 404


async def test_a_form_posted_from_another_site_is_refused_and_sends_nothing(
    sandbox: Any,
) -> None:
    bill = await _bill(sandbox, "form-csrf")
    form = {
        "bin": "970499",
        "account_number": "0011001234567",
        "amount": "135000",
        "description": bill["reference"],
    }
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = await sandbox.post(
            "/sandbox/controls/bank_transfer", data=form, headers=headers, allow_redirects=False
        )
        assert response.status == 403
        assert (await response.json())["code"] == "cross_origin"
    assert await (await sandbox.get("/sandbox/bank/transfers")).json() == []
    same = {"Origin": str(sandbox.make_url("")).rstrip("/"), "Sec-Fetch-Site": "same-origin"}
    sent = await sandbox.post(
        "/sandbox/controls/bank_transfer", data=form, headers=same, allow_redirects=False
    )
    assert sent.status == 303 and "status=201" in sent.headers["Location"]


#: What each control's sandbox route answers to a form naming nothing it holds (or, for the
#: switches, to its defaults): the route's own answer, never aiohttp's "no such route".
EXPECTED: dict[str, tuple[dict[str, str], int, str]] = {
    "bank_resend": ({"transaction_id": "FT000"}, 404, "unknown_transfer"),
    "pos_script": ({"terminal_id": "T-1", "outcome": "decline", "delay_ms": "0"}, 200, "decline"),
    "pos_complete": ({"terminal_id": "T-2", "outcome": "approve"}, 409, "no_sale_in_progress"),
    "vnpay_simulate": ({"txn_ref": "att_x", "outcome": "success"}, 404, ""),
    "vnpay_resend_ipn": ({"txn_ref": "att_x"}, 404, ""),
    "dvcqg_simulate": ({"MaThamChieu": "X", "outcome": "success"}, 404, "unknown_transaction"),
    "dvcqg_resend": ({"MaThamChieu": "X"}, 404, "unknown_transaction"),
    "momo_simulate": ({"order_id": "X", "outcome": "failure"}, 404, "unknown_order"),
    "momo_resend": ({"order_id": "X"}, 404, "unknown_order"),
    "zalopay_simulate": ({"app_trans_id": "X", "outcome": "cancel"}, 404, "unknown_order"),
    "vnpost_advance": ({"item_code": "EB000000000VN", "status": "3"}, 404, "NOT_FOUND"),
    "vnpost_step": ({"item_code": "EB000000000VN"}, 404, "NOT_FOUND"),
    "vnpost_tick": ({}, 200, ""),
    "vnpost_faults": ({"create": "unavailable,lost_answer", "pushes": "drop"}, 200, "drop"),
    "vnpost_tokens_expire": ({}, 200, "expired"),
    "messages_switches": ({"no_zalo_account": "84912345678", "unavailable": "1"}, 200, "849"),
    "messages_receipt": ({"message_id": "m-1"}, 404, "unknown_message"),
    "tax_faults": ({"next": "reject,timeout"}, 200, "timeout"),
    "vnpt_faults": ({"publish": "lost_answer", "reads": "unavailable"}, 200, "lost_answer"),
}


async def test_every_control_reaches_its_sandbox_route(sandbox: Any) -> None:
    keys = {c.key for c in controls(sandbox.server.app[SETTINGS])}
    assert keys - {"bank_transfer"} == set(EXPECTED)
    for key, (form, status, answer) in EXPECTED.items():
        back = await _run(sandbox, key, **form)
        assert (back["status"], answer in back["answer"]) == (str(status), True), (key, back)
        assert "404: Not Found" not in back["answer"], key


async def test_the_statement_form_leads_to_the_file_with_its_discrepancies(sandbox: Any) -> None:
    response = await sandbox.get(
        "/sandbox/controls/statement",
        params={"day": "2026-11-22", "kind": "pos_settlement.csv", "unknown": "99000", "drop": ""},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == (
        "/sandbox/statements/2026-11-22/pos_settlement.csv?unknown=99000"
    )
    refused = await sandbox.get(
        "/sandbox/controls/statement",
        params={"day": "22/11/2026", "kind": "camt053.xml"},
        allow_redirects=False,
    )
    assert "status=422" in refused.headers["Location"]


# -- in a real browser ------------------------------------------------------------------


@pytest.mark.browser
async def test_a_newcomer_declines_a_card_at_the_counter_from_the_page(
    sandbox: Any, tab: tuple[Page, list[str]]
) -> None:
    page, errors = tab
    bill = await _bill(sandbox, "browser-1", 90000)

    await page.goto(str(sandbox.make_url("/")))
    await page.get_by_test_id("link-sandbox").click()
    await expect(page.get_by_role("heading", name="Điều khiển sandbox")).to_be_visible()

    # The card will not come until the page says so.
    await page.get_by_test_id("pos_script-outcome").select_option("no_answer")
    await page.get_by_test_id("run-pos_script").click()
    await expect(page.get_by_test_id("sandbox-result")).to_contain_text("HTTP 200")
    await expect(page.get_by_test_id("sandbox-answer")).to_contain_text('"no_answer"')
    await expect(page.get_by_test_id("sandbox-result")).to_be_in_viewport()  # by its form

    pushed = await sandbox.post(
        f"/v1/payments/{bill['id']}/attempts",
        headers={**PORTAL, "Idempotency-Key": "browser-1-pos"},
        json={"method": "pos", "terminal_id": "DEMO-POS-01"},
    )
    attempt = await pushed.json()

    await page.get_by_test_id("pos_complete-outcome").select_option("decline")
    await page.get_by_test_id("pos_complete-decline_reason").fill("card_expired")
    await page.get_by_test_id("run-pos_complete").click()
    await expect(page.get_by_test_id("sandbox-result")).to_contain_text("HTTP 200")
    await expect(page.get_by_test_id("sandbox-answer")).to_contain_text("declined")

    read = await sandbox.get(f"/v1/payments/{bill['id']}/attempts/{attempt['id']}", headers=PORTAL)
    assert (await read.json())["status"] == "failed"
    still = await (await sandbox.get(f"/v1/payments/{bill['id']}", headers=PORTAL)).json()
    assert still["status"] == "pending"

    # Then the citizen pays by transfer, typed into the bank's form.
    await page.get_by_test_id("bank_transfer-amount").fill("90000")
    await page.get_by_test_id("bank_transfer-description").fill(bill["reference"])
    await page.get_by_test_id("run-bank_transfer").click()
    await expect(page.get_by_test_id("sandbox-result")).to_contain_text("HTTP 201")
    paid = await (await sandbox.get(f"/v1/payments/{bill['id']}", headers=PORTAL)).json()
    assert paid["status"] == "paid"
    assert errors == []


# -- docs/sandbox.md ------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"


def _sandbox_routes(app: web.Application) -> set[str]:
    """``METHOD /path`` of every route under /sandbox, sub-applications included (their
    resources already carry the prefix they are mounted under)."""
    found: set[str] = set()
    for resource in app.router.resources():
        if isinstance(resource, PrefixedSubAppResource):
            # aiohttp has no public accessor for the mounted application.
            found |= _sandbox_routes(resource._app)
            continue
        for route in resource:
            if resource.canonical.startswith("/sandbox") and route.method != "HEAD":
                found.add(f"{route.method} {resource.canonical}")
    return found


async def test_every_sandbox_route_is_in_docs_sandbox_md(sandbox: Any) -> None:
    routes = _sandbox_routes(sandbox.server.app)
    assert len(routes) > 60  # every provider's routes were found, not only the gateway's
    text = DOC.read_text(encoding="utf-8")
    assert sorted(r for r in routes if f"`{r}`" not in text) == []


@pytest.mark.browser
async def test_the_page_fits_a_phone(sandbox: Any, browser: Browser) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
    try:
        page = await context.new_page()
        await page.goto(str(sandbox.make_url("/sandbox/controls")))
        await page.get_by_test_id("run-vnpost_tick").click()
        await expect(page.get_by_test_id("sandbox-result")).to_be_in_viewport()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
    finally:
        await context.close()
