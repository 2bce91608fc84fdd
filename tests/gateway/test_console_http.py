"""The staff console over plain HTTP: signing in, the session cookie, CSRF, roles, and service
errors shown as Vietnamese pages. Fast; both databases. The browser flow is in
``test_console_browser.py``."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import FixedClock, Gateway, make_settings, seed
from sqlalchemy import func, select
from tests_support import StaffSession, camt053, post_login, seed_recon_run, staff_login

from gateway.app import create_app
from gateway.core.db.schema import (
    audit_log,
    bank_mappings,
    day_closes,
    recon_exceptions,
    recon_runs,
    staff_sessions,
    statement_imports,
)
from gateway.core.roles import Role
from gateway.keys import DATABASE, STAFF

DAY = date(2026, 11, 22)  # the fixed clock's business day (09:00 in Hà Nội)
PASSWORD = "mat-khau-thu-nghiem-2026"
USERS = {
    "ketoan": Role.FINANCE,
    "truongphong": Role.FINANCE_APPROVER,
    "phophong": Role.FINANCE_APPROVER,
    "buudien": Role.POSTAL_OPERATOR,
}
DEPLOYMENT_WIDE = "truongphong"


@pytest.fixture
async def console(aiohttp_client: Any, database_url: str, clock: FixedClock) -> Gateway:
    """The service with staff users; cookies are sent by hand (no jar), one user per call."""
    app = create_app(make_settings(database_url), clock=clock, background=False)
    client = await aiohttp_client(app, cookie_jar=aiohttp.DummyCookieJar())
    gateway = Gateway(client=client, clock=clock, keys=await seed(client))
    for username, role in USERS.items():
        await app[STAFF].create_user(
            username=username,
            display_name=username.title(),
            role=role,
            password=PASSWORD,
            agency_codes=["HCM"],
            all_agencies=username == DEPLOYMENT_WIDE,  # the one who closes days
        )
    return gateway


async def login(gateway: Gateway, username: str, password: str = PASSWORD) -> StaffSession:
    return await staff_login(gateway.client, username, password, "/console")


async def submit(gateway: Gateway, session: StaffSession, path: str, **fields: str) -> Any:
    """A form of a console page sent by ``session``'s browser: its cookie and CSRF token with
    ``fields``; the redirect that answers it is not followed."""
    return await gateway.client.post(
        path,
        data={"csrf": session.csrf, **fields},
        headers=session.cookie,
        allow_redirects=False,
    )


async def resolve(
    gateway: Gateway,
    session: StaffSession,
    exception_id: str,
    reason: str,
    resolution: str = "write_off",
) -> Any:
    path = f"/console/exceptions/{exception_id}/resolve"
    return await submit(gateway, session, path, resolution=resolution, reason=reason)


async def upload(
    gateway: Gateway, session: StaffSession, data: bytes, source: str = "camt053", **more: str
) -> Any:
    form = aiohttp.FormData()
    form.add_field("csrf", session.csrf)
    form.add_field("source", source)
    form.add_field("account", "0011001234567")
    for name, value in more.items():
        form.add_field(name, value)
    form.add_field("file", data, filename="saoke.xml", content_type="application/xml")
    return await gateway.client.post("/console/statements", data=form, headers=session.cookie)


async def count(gateway: Gateway, table: Any) -> int:
    async with gateway.client.app[DATABASE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def exception_row(gateway: Gateway, exception_id: str) -> Any:
    async with gateway.client.app[DATABASE].read() as conn:
        return (
            await conn.execute(
                select(recon_exceptions).where(recon_exceptions.c.id == exception_id)
            )
        ).one()


# -- signing in --------------------------------------------------------------------------


async def test_wrong_password_shows_the_form_again_with_401_and_sets_no_cookie(
    console: Gateway,
) -> None:
    response = await post_login(
        console.client, {"username": "ketoan", "password": "sai-mat-khau-roi"}
    )
    assert response.status == 401
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Sai tên đăng nhập hoặc mật khẩu" in await response.text()
    assert "gw_session" not in response.cookies
    assert await count(console, staff_sessions) == 0


async def test_unknown_user_gets_the_same_answer_as_a_wrong_password(console: Gateway) -> None:
    response = await post_login(console.client, {"username": "khongco", "password": PASSWORD})
    assert response.status == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in await response.text()
    assert "gw_session" not in response.cookies


async def test_right_password_sets_an_httponly_strict_session_cookie_and_opens_the_dashboard(
    console: Gateway,
) -> None:
    response = await post_login(console.client, {"username": "ketoan", "password": PASSWORD})
    assert response.status == 303
    assert response.headers["Location"] == "/console"
    cookie = response.cookies["gw_session"]
    assert len(cookie.value) >= 40
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/console"
    assert not cookie["secure"]  # plain http here; see the https test below

    page = await console.client.get("/console", headers={"Cookie": f"gw_session={cookie.value}"})
    assert page.status == 200
    text = await page.text()
    assert "Đối soát ngày 22/11/2026" in text
    assert "Chạy đối soát" in text
    assert "Khóa sổ ngày" not in text  # a finance officer does not close days
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


async def test_the_session_cookie_is_secure_when_the_service_is_served_over_https(
    aiohttp_client: Any, database_url: str, clock: FixedClock
) -> None:
    app = create_app(
        make_settings(database_url, public_base_url="https://gateway.test"),
        clock=clock,
        background=False,
    )
    client = await aiohttp_client(app, cookie_jar=aiohttp.DummyCookieJar())
    await seed(client)
    await app[STAFF].create_user(
        username="ketoan",
        display_name="Kế toán",
        role=Role.FINANCE,
        password=PASSWORD,
        agency_codes=["HCM"],
    )
    response = await post_login(client, {"username": "ketoan", "password": PASSWORD})
    assert response.status == 303
    assert response.cookies["gw_session"]["secure"] is True


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/console"),
        ("GET", "/console?date=2026-11-21"),
        ("GET", "/console/statements"),
        ("GET", "/console/exceptions"),
        ("GET", "/console/exceptions/exc_console0000000000000000000"),
        ("GET", "/console/days/2026-11-22/report.csv"),
        ("POST", "/console/days/2026-11-22/run"),
        ("POST", "/console/logout"),
    ],
)
async def test_pages_without_a_session_redirect_to_the_login_page(
    console: Gateway, method: str, path: str
) -> None:
    response = await console.client.request(method, path, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/console/login"


async def test_an_unknown_or_expired_session_redirects_to_the_login_page(
    console: Gateway,
) -> None:
    session = await login(console, "ketoan")
    response = await console.client.get(
        "/console", headers={"Cookie": "gw_session=not-a-session"}, allow_redirects=False
    )
    assert (response.status, response.headers["Location"]) == (303, "/console/login")

    console.clock.advance(hours=8, seconds=1)
    response = await console.client.get("/console", headers=session.cookie, allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/console/login")


async def test_logout_ends_the_session_and_clears_the_cookie(console: Gateway) -> None:
    session = await login(console, "ketoan")
    response = await submit(console, session, "/console/logout")
    assert (response.status, response.headers["Location"]) == (303, "/console/login")
    assert response.cookies["gw_session"].value == ""
    response = await console.client.get("/console", headers=session.cookie, allow_redirects=False)
    assert response.status == 303
    assert await count(console, staff_sessions) == 0


# -- CSRF --------------------------------------------------------------------------------


@pytest.mark.parametrize("csrf", [None, "", "wrong-token", "ć"])
async def test_a_post_without_the_sessions_csrf_token_is_refused_and_runs_nothing(
    console: Gateway, csrf: str | None
) -> None:
    session = await login(console, "ketoan")
    data = {} if csrf is None else {"csrf": csrf}
    response = await console.client.post(
        f"/console/days/{DAY}/run", data=data, headers=session.cookie, allow_redirects=False
    )
    assert response.status == 403
    assert "Phiên làm việc không hợp lệ" in await response.text()
    assert await count(console, recon_runs) == 0


async def test_the_token_of_another_session_is_not_accepted(console: Gateway) -> None:
    mine = await login(console, "ketoan")
    theirs = await login(console, "truongphong")
    response = await console.client.post(
        f"/console/days/{DAY}/run",
        data={"csrf": theirs.csrf},
        headers=mine.cookie,
        allow_redirects=False,
    )
    assert response.status == 403
    assert await count(console, recon_runs) == 0


async def test_resolving_with_a_wrong_csrf_token_changes_nothing(console: Gateway) -> None:
    [first, _] = await seed_recon_run(console, DAY, tag="console")
    session = await login(console, "ketoan")
    response = await console.client.post(
        f"/console/exceptions/{first}/resolve",
        data={"csrf": session.csrf + "x", "resolution": "write_off", "reason": "Phí ngân hàng"},
        headers=session.cookie,
        allow_redirects=False,
    )
    assert response.status == 403
    assert "Phiên làm việc không hợp lệ" in await response.text()
    assert (await exception_row(console, first)).status == "open"
    assert await count(console, audit_log) == 0


async def test_a_multipart_upload_without_the_csrf_token_imports_nothing(console: Gateway) -> None:
    session = await login(console, "ketoan")
    form = aiohttp.FormData()
    form.add_field("source", "bank_csv")
    form.add_field("file", b"date,amount\n", filename="saoke.csv", content_type="text/csv")
    response = await console.client.post(
        "/console/statements", data=form, headers=session.cookie, allow_redirects=False
    )
    assert response.status == 403
    assert await count(console, statement_imports) == 0


async def test_a_multipart_form_with_a_control_character_in_a_part_header_is_400(
    console: Gateway,
) -> None:
    session = await login(console, "ketoan")
    response = await console.client.post(
        "/console/statements",
        data=b'--x\r\nContent-Disposition: form-data; name="a\x19b"\r\n\r\nv\r\n--x--\r\n',
        headers={**session.cookie, "Content-Type": "multipart/form-data; boundary=x"},
        allow_redirects=False,
    )
    assert response.status == 400
    assert await count(console, statement_imports) == 0


async def test_running_the_day_with_the_right_token_creates_a_run(console: Gateway) -> None:
    """The control for the CSRF tests above: the same request with the token works."""
    session = await login(console, "ketoan")
    response = await submit(console, session, f"/console/days/{DAY}/run")
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == f"/console?date={DAY}&msg=run"
    assert await count(console, recon_runs) == 1
    page = await console.client.get(response.headers["Location"], headers=session.cookie)
    assert "Đã chạy đối soát cho ngày này." in await page.text()


# -- roles -------------------------------------------------------------------------------


async def test_a_postal_operator_signs_in_to_the_operator_console_only(console: Gateway) -> None:
    response = await post_login(console.client, {"username": "buudien", "password": PASSWORD})
    assert (response.status, response.headers["Location"]) == (303, "/operator")
    # The session cookie only travels to the operator console's pages.
    assert response.cookies["gw_session"]["path"] == "/operator"


async def test_a_postal_operator_session_cannot_open_console_pages(console: Gateway) -> None:
    token, _ = await console.client.app[STAFF].login("buudien", PASSWORD)
    for path in ("/console", "/console/exceptions", "/console/statements"):
        response = await console.client.get(
            path, headers={"Cookie": f"gw_session={token}"}, allow_redirects=False
        )
        assert response.status == 403, path
        assert "không có quyền" in await response.text()


async def test_a_finance_officer_cannot_close_a_day_and_sees_why_in_vietnamese(
    console: Gateway,
) -> None:
    await seed_recon_run(console, DAY, how_many=0, tag="console")
    session = await login(console, "ketoan")
    response = await submit(console, session, f"/console/days/{DAY}/close")
    assert response.status == 403
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Bạn không có quyền thực hiện thao tác này." in await response.text()


async def test_closing_a_day_with_open_exceptions_is_refused_with_a_vietnamese_message(
    console: Gateway,
) -> None:
    await seed_recon_run(console, DAY, tag="console")
    session = await login(console, "truongphong")
    response = await submit(console, session, f"/console/days/{DAY}/close")
    assert response.status == 409
    text = await response.text()
    assert "Chưa thể khóa sổ" in text
    assert "Traceback" not in text


# -- maker-checker -----------------------------------------------------------------------


async def test_an_approver_cannot_approve_their_own_resolution_but_another_can(
    console: Gateway,
) -> None:
    [first, _] = await seed_recon_run(console, DAY, tag="console")
    maker = await login(console, "truongphong")
    response = await resolve(
        console, maker, first, "Khớp với sao kê ngày sau", resolution="manual_match"
    )
    assert response.status == 303
    response = await submit(console, maker, f"/console/exceptions/{first}/approve")
    assert response.status == 409
    assert "Không thể tự phê duyệt xử lý của chính mình" in await response.text()
    assert (await exception_row(console, first)).status == "resolved"

    checker = await login(console, "phophong")
    response = await submit(console, checker, f"/console/exceptions/{first}/approve")
    assert response.status == 303
    assert (await exception_row(console, first)).status == "approved"


async def test_resolving_without_a_reason_keeps_the_exception_open_and_says_so(
    console: Gateway,
) -> None:
    [first, _] = await seed_recon_run(console, DAY, tag="console")
    session = await login(console, "ketoan")
    response = await resolve(console, session, first, "  ")
    assert response.status == 422
    assert "Hãy nhập lý do xử lý." in await response.text()
    assert (await exception_row(console, first)).status == "open"


async def test_the_exception_queue_filters_and_speaks_vietnamese(console: Gateway) -> None:
    [first, second] = await seed_recon_run(console, DAY, tag="console")
    session = await login(console, "ketoan")
    await resolve(console, session, first, "Đã đối chiếu")
    page = await console.client.get(
        "/console/exceptions",
        params={"date": DAY.isoformat(), "status": "open"},
        headers=session.cookie,
    )
    text = await page.text()
    assert second in text and first not in text
    assert "Thiếu trên sao kê ngân hàng" in text
    assert "Chưa xử lý" in text

    page = await console.client.get(f"/console/exceptions/{first}", headers=session.cookie)
    text = await page.text()
    assert "Chờ phê duyệt" in text and "Ghi giảm" in text
    assert "/approve" not in text  # a finance officer gets no approve button


async def test_an_unknown_exception_is_a_vietnamese_404_page(console: Gateway) -> None:
    session = await login(console, "ketoan")
    response = await console.client.get("/console/exceptions/exc_nope", headers=session.cookie)
    assert response.status == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Không tìm thấy dữ liệu yêu cầu." in await response.text()


async def test_an_upload_without_a_file_says_what_is_missing(console: Gateway) -> None:
    session = await login(console, "ketoan")
    form = aiohttp.FormData()
    form.add_field("csrf", session.csrf)
    form.add_field("source", "camt053")
    response = await console.client.post("/console/statements", data=form, headers=session.cookie)
    assert response.status == 422
    assert "Hãy chọn tệp sao kê để tải lên." in await response.text()


# -- statement upload ----------------------------------------------------------------------


async def test_an_accepted_statement_shows_its_line_count_and_a_second_upload_is_a_duplicate(
    console: Gateway,
) -> None:
    session = await login(console, "ketoan")
    data = camt053([("180000", "CRDT", "NGUYEN VAN AN NOP PHI"), ("20000", "DBIT", "PHI SMS")])
    response = await upload(console, session, data)
    assert response.status == 200
    text = await response.text()
    assert "Đã nhận" in text and "2 dòng giao dịch" in text

    response = await upload(console, session, data)
    assert response.status == 200
    assert "Tệp đã được nhập trước đó" in await response.text()
    assert await count(console, statement_imports) == 1


async def test_a_statement_whose_balances_do_not_tie_is_quarantined_with_the_reason(
    console: Gateway,
) -> None:
    session = await login(console, "ketoan")
    response = await upload(
        console, session, camt053([("180000", "CRDT", "NOP PHI")], closing=10_100_000)
    )
    assert response.status == 422
    text = await response.text()
    assert "Bị cách ly" in text
    assert "Số dư không khớp" in text
    assert "closing balance is 10100000" in text


async def test_every_bad_row_of_a_quarantined_statement_is_listed(console: Gateway) -> None:
    session = await login(console, "ketoan")
    data = camt053(
        [("180000", "CRDT", "NOP PHI"), ("50000.50", "CRDT", "LE"), ("1,000", "CRDT", "X")],
        closing=10_180_000,
    )
    response = await upload(console, session, data)
    assert response.status == 422
    text = await response.text()
    assert "Có dòng không đọc được" in text
    rows = re.findall(r'<td class="num">(\d+)</td>\s*<td><span class="mono">([a-z_]+)</span>', text)
    assert rows == [("2", "bad_amount"), ("3", "bad_amount")]


async def test_a_sign_in_posted_from_another_site_is_refused(console: Gateway) -> None:
    """Login CSRF: without the form's token (and its cookie) nobody is signed in."""
    response = await console.client.post(
        "/console/login",
        data={"username": "ketoan", "password": PASSWORD, "login_token": "forged"},
        allow_redirects=False,
    )
    assert response.status == 403
    assert "gw_session" not in response.cookies


SAMPLE_BANK_CSV = (
    Path(__file__).resolve().parents[2] / "docs/samples/bank_statement_2024-05-15.csv"
).read_bytes()


async def test_a_bank_csv_export_is_uploaded_with_a_column_layout(console: Gateway) -> None:
    session = await login(console, "ketoan")
    page = await upload(console, session, SAMPLE_BANK_CSV, "bank_csv")
    assert page.status == 422
    assert "cần chọn mẫu cột hoặc nhập ánh xạ cột" in await page.text()
    assert await count(console, statement_imports) == 0
    page = await upload(console, session, SAMPLE_BANK_CSV, "bank_csv", bank_profile="vn_standard")
    assert page.status == 200, await page.text()
    assert "Đã nhận" in await page.text()
    assert await count(console, statement_imports) == 1


async def test_a_mapping_saved_in_the_console_reads_the_next_upload_of_the_account(
    console: Gateway,
) -> None:
    session = await login(console, "ketoan")
    mapping = '{"date": "Ngày giao dịch", "text": "Mô tả", "credit": "Ghi có", "debit": "Ghi nợ"}'
    bad = await upload(
        console, session, SAMPLE_BANK_CSV, "bank_csv", mapping='{"date": "A"}', save_mapping="1"
    )
    assert bad.status == 422
    assert "Ánh xạ cột không hợp lệ" in await bad.text()
    assert await count(console, bank_mappings) == 0
    misfit = '{"date": "Ngày", "text": "Nội dung", "amount": "Số tiền"}'  # not this bank's
    page = await upload(
        console, session, SAMPLE_BANK_CSV + b"\n\n", "bank_csv", mapping=misfit, save_mapping="1"
    )
    assert page.status == 422  # quarantined: the header lacks the mapped columns
    assert await count(console, bank_mappings) == 0  # a layout that did not fit is not kept

    page = await upload(
        console, session, SAMPLE_BANK_CSV, "bank_csv", mapping=mapping, save_mapping="1"
    )
    assert page.status == 200, await page.text()
    assert "Đã lưu ánh xạ cột cho tài khoản" in await page.text()
    # The same day exported again, read with the saved layout: every line is a repeat.
    page = await upload(console, session, SAMPLE_BANK_CSV + b"\n", "bank_csv")
    text = await page.text()
    assert page.status == 200, text
    assert "3 dòng trùng với tệp đã nhập trước" in text and "không bổ sung giao dịch nào" in text
    assert await count(console, statement_imports) == 3  # the quarantined one is kept too


async def test_an_approver_rejects_a_resolution_in_the_console(console: Gateway) -> None:
    [first, _] = await seed_recon_run(console, DAY, tag="console")
    maker = await login(console, "ketoan")
    assert (await resolve(console, maker, first, "Phí ngân hàng")).status == 303
    checker = await login(console, "phophong")
    page = await console.client.get(f"/console/exceptions/{first}", headers=checker.cookie)
    assert "Từ chối cách xử lý" in await page.text()
    path = f"/console/exceptions/{first}/approve"
    response = await submit(console, checker, path, decision="reject", reason=" ")
    assert response.status == 422
    assert (await exception_row(console, first)).status == "resolved"
    response = await submit(console, checker, path, decision="reject", reason="Thiếu chứng từ")
    assert response.status == 303
    row = await exception_row(console, first)
    assert (row.status, row.resolution) == ("open", None)
    page = await console.client.get(response.headers["Location"], headers=checker.cookie)
    assert "Đã từ chối cách xử lý" in await page.text()


async def test_the_dashboard_counts_per_source_the_differences_that_belong_to_another_day(
    console: Gateway,
) -> None:
    """A credit booked the next day is in the window of this day's run but is not this day's
    exception: the dashboard shows it under "Thuộc ngày khác", not as an exception. (The
    per-source figures are deployment-wide: shown to deployment-wide staff.)"""
    session = await login(console, DEPLOYMENT_WIDE)
    next_day = date(2026, 11, 23)
    data = camt053([("77000", "CRDT", "CHUYEN TIEN KHONG RO NOI DUNG")], day=next_day)
    assert (await upload(console, session, data)).status == 200
    assert (await submit(console, session, f"/console/days/{DAY}/run")).status == 303
    page = await (await console.client.get(f"/console?date={DAY}", headers=session.cookie)).text()
    table = page.split('data-testid="by-source"', 1)[1].split("</table>", 1)[0]
    assert "Thuộc ngày khác" in table
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table.split("<td>Ngân hàng</td>", 1)[1])[:5]
    assert cells == ["0", "0 ₫", "0", "1", "0 ₫"]  # matched, amount, exceptions, carried, tolerated


# -- re-running a day --------------------------------------------------------------------

CREDITS = (41000, 42000, 43000, 44000, 45000)  # in this order on the statement


async def _current_exceptions(gateway: Gateway, day: date = DAY) -> list[Any]:
    """The current run's exceptions, in the statement's order of their lines."""
    async with gateway.client.app[DATABASE].read() as conn:
        found = await conn.execute(
            select(recon_exceptions)
            .join(recon_runs, recon_runs.c.id == recon_exceptions.c.run_id)
            .where(recon_runs.c.business_date == day, recon_runs.c.status == "current")
        )
        return sorted(found.all(), key=lambda row: row.line_ids)


async def test_the_run_button_keeps_decisions_taken_first_middle_and_last(
    console: Gateway,
) -> None:
    """Issue 10 item 1 through the console: running a day again after decisions failed or
    wiped them."""
    maker = await login(console, "ketoan")
    checker = await login(console, "phophong")
    entries = [(str(amount), "CRDT", f"CHUYEN TIEN {amount}") for amount in CREDITS]
    assert (await upload(console, maker, camt053(entries, opening=0))).status == 200
    assert (await submit(console, maker, f"/console/days/{DAY}/run")).status == 303
    raised = await _current_exceptions(console)
    assert [row.amount for row in raised] == list(CREDITS)
    decided = {0: "approved", 2: "resolved", 4: "approved"}  # first, middle, last
    for position, status in decided.items():
        exception_id = raised[position].id
        reason = f"Hoàn trả khoản {CREDITS[position]}"
        assert (
            await resolve(console, maker, exception_id, reason, "refund_requested")
        ).status == 303
        if status == "approved":
            path = f"/console/exceptions/{exception_id}/approve"
            assert (await submit(console, checker, path, decision="approve")).status == 303
    before = await _current_exceptions(console)

    for _ in range(2):  # a second re-run carries what the first carried
        response = await submit(console, maker, f"/console/days/{DAY}/run")
        assert response.status == 303, await response.text()
        carried = await _current_exceptions(console)
        assert [row.status for row in carried] == [
            decided.get(position, "open") for position in range(len(CREDITS))
        ]
        for old, new in zip(before, carried, strict=True):
            assert new.run_id != old.run_id
            assert (
                new.resolution,
                new.resolution_reason,
                new.resolved_by,
                new.resolved_at,
                new.approved_by,
                new.approved_at,
            ) == (
                old.resolution,
                old.resolution_reason,
                old.resolved_by,
                old.resolved_at,
                old.approved_by,
                old.approved_at,
            )
        page = await console.client.get(
            f"/console/exceptions/{carried[4].id}", headers=checker.cookie
        )
        text = await page.text()
        assert "Hoàn trả khoản 45000" in text and "Phophong" in text


async def test_closing_a_day_whose_run_is_older_than_a_late_statement_asks_to_run_it_again(
    console: Gateway,
) -> None:
    session = await login(console, DEPLOYMENT_WIDE)
    assert (await upload(console, session, camt053([], opening=0))).status == 200
    assert (await submit(console, session, f"/console/days/{DAY}/run")).status == 303
    console.clock.advance(hours=2)
    late = camt053([("42000", "CRDT", "CHUYEN TIEN MUON")], opening=0, closing=42000)
    assert (await upload(console, session, late)).status == 200
    response = await submit(console, session, f"/console/days/{DAY}/close")
    assert response.status == 409
    text = await response.text()
    assert "hãy chạy đối soát lại ngày này trước" in text and "Traceback" not in text
    async with console.client.app[DATABASE].read() as conn:
        closes = (await conn.execute(select(func.count()).select_from(day_closes))).scalar_one()
    assert closes == 0
