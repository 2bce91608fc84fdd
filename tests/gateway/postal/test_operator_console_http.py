"""The operator console over plain HTTP: signing in through the staff login, which console each
role reaches, CSRF, the forms, and the printable handover record and label. Fast; both
databases. The browser flow is in ``test_operator_console_browser.py``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import Postal
from sqlalchemy import func, select
from test_postal_carrier_sync import signed_push
from tests_support import ID_NUMBER, StaffSession, staff_login

from gateway.core.db.schema import postal_events, postal_handovers
from gateway.core.roles import Role
from gateway.keys import DATABASE, STAFF
from gateway.services.postal import offices

PASSWORD = "mat-khau-buu-cuc-2026"


@pytest.fixture
async def staffed(postal: Postal) -> Postal:
    """The postal gateway with a postal operator of BC-HCM and a finance officer."""
    staff = postal.client.app[STAFF]
    for username, role in (("buudien", Role.POSTAL_OPERATOR), ("ketoan", Role.FINANCE)):
        await staff.create_user(
            username=username,
            display_name=username.title(),
            role=role,
            password=PASSWORD,
            agency_codes=[],
        )
    await offices.scope_user(postal.client.app[DATABASE], "buudien", ["BC-HCM"])
    return postal


async def login(postal: Postal, username: str, home: str = "/operator") -> StaffSession:
    return await staff_login(postal.client, username, PASSWORD, home)


def local(postal: Postal) -> str:
    """The fixed clock as a ``datetime-local`` value in Vietnam time (UTC+7)."""
    return (postal.clock() + timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M")


async def post_form(postal: Postal, session: StaffSession, path: str, **fields: str) -> Any:
    return await postal.client.post(
        path,
        data={"csrf": session.csrf, **fields},
        headers=session.cookie,
        allow_redirects=False,
    )


async def get(postal: Postal, session: StaffSession, path: str) -> Any:
    return await postal.client.get(path, headers=session.cookie, allow_redirects=False)


async def count(postal: Postal, table: Any) -> int:
    async with postal.client.app[DATABASE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


def handover_fields(postal: Postal, **overrides: str) -> dict[str, str]:
    fields = {
        "handover_id": "web-1",
        "kind": "collected",
        "at": local(postal),
        "counterpart_name": "Trần Thị Bình",
        "counterpart_role": "agency_officer",
        "doc_item_0": "Giấy phép lái xe",
        "doc_original_0": "1",
        "doc_count_0": "1",
        "doc_item_1": "Tờ khai đổi giấy phép",
        "doc_original_1": "0",
        "doc_count_1": "2",
        "seal_number": "NP-42",
        "id_type": "cccd",
        "id_number": ID_NUMBER,
    }
    fields.update(overrides)
    return fields


# -- who reaches which console -----------------------------------------------------------


async def test_an_operator_signs_in_to_their_console_and_sees_todays_deliveries(
    staffed: Postal,
) -> None:
    mine = await staffed.book()
    other = await staffed.book(who="other", agency_code="HN")
    session = await login(staffed, "buudien")
    assert (session.location, session.cookie_path) == ("/operator", "/operator")

    page = await get(staffed, session, "/operator")
    html = await page.text()
    assert page.status == 200
    assert "Việc hôm nay – 22/11/2026" in html
    assert mine["tracking_number"] in html
    assert other["tracking_number"] not in html
    assert "0912345678" in html and "12 Lê Lợi" in html


async def test_a_finance_officer_cannot_open_operator_pages(staffed: Postal) -> None:
    order = await staffed.book()
    session = await login(staffed, "ketoan", home="/console")
    assert (session.location, session.cookie_path) == ("/console", "/console")
    for path in (
        "/operator",
        f"/operator/orders/{order['id']}",
        f"/operator/orders/{order['id']}/label",
    ):
        response = await get(staffed, session, path)
        assert response.status == 403, path
        assert "không có quyền" in await response.text()
        assert "12 Lê Lợi" not in await response.text()
    anonymous = await staffed.client.get("/operator", allow_redirects=False)
    assert (anonymous.status, anonymous.headers["Location"]) == (303, "/console/login")


async def test_an_operator_cannot_open_finance_pages(staffed: Postal) -> None:
    session = await login(staffed, "buudien")
    for path in ("/console", "/console/exceptions", "/console/statements"):
        response = await get(staffed, session, path)
        assert response.status == 403, path


async def test_an_order_of_another_office_is_not_found(staffed: Postal) -> None:
    other = await staffed.book(who="other", agency_code="HN")
    session = await login(staffed, "buudien")
    response = await get(staffed, session, f"/operator/orders/{other['id']}")
    assert response.status == 404
    assert "Không tìm thấy đơn hàng" in await response.text()


# -- forms -------------------------------------------------------------------------------


async def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(
    staffed: Postal,
) -> None:
    order = await staffed.book()
    session = await login(staffed, "buudien")
    response = await staffed.client.post(
        f"/operator/orders/{order['id']}/events",
        data={"event_id": "web-x", "status": "picked_up", "occurred_at": local(staffed)},
        headers=session.cookie,
        allow_redirects=False,
    )
    assert response.status == 403
    assert "Phiên làm việc không hợp lệ" in await response.text()
    assert (await staffed.order(order["id"]))["status"] == "created"


async def test_an_event_typed_in_the_console_moves_the_order(staffed: Postal) -> None:
    order = await staffed.book()
    session = await login(staffed, "buudien")
    staffed.clock.advance(minutes=10)
    path = f"/operator/orders/{order['id']}"
    event = {
        "event_id": "web-ev1",
        "status": "picked_up",
        "occurred_at": local(staffed),
        "note": "Đã nhận kết quả tại bộ phận một cửa",
    }
    response = await post_form(staffed, session, f"{path}/events", **event)
    assert (response.status, response.headers["Location"]) == (303, f"{path}?msg=event")
    page = await (await get(staffed, session, response.headers["Location"])).text()
    assert "Đã ghi nhận sự kiện" in page
    assert "Đã nhận kết quả tại bộ phận một cửa" in page
    view = await staffed.order(order["id"])
    assert (view["status"], view["events"][-1]["source"]) == ("picked_up", "staff")

    # The same form sent again (a double click) is recognised, not recorded twice.
    again = await post_form(staffed, session, f"{path}/events", **event)
    assert again.status == 303
    assert len((await staffed.order(order["id"]))["events"]) == 2


async def test_accepting_an_order_in_the_console(staffed: Postal) -> None:
    order = await staffed.book()
    session = await login(staffed, "buudien")
    response = await post_form(staffed, session, f"/operator/orders/{order['id']}/accept")
    assert response.status == 303
    page = await (await get(staffed, session, response.headers["Location"])).text()
    assert "Đã nhận đơn." in page and "Buudien" in page


async def test_a_handover_is_printed_as_a_record_with_the_document_list(staffed: Postal) -> None:
    order = await staffed.book()
    session = await login(staffed, "buudien")
    staffed.clock.advance(minutes=30)
    path = f"/operator/orders/{order['id']}"
    response = await post_form(staffed, session, f"{path}/handovers", **handover_fields(staffed))
    assert (response.status, response.headers["Location"]) == (303, f"{path}?msg=handover")
    assert (await staffed.order(order["id"]))["status"] == "picked_up"

    record = await get(staffed, session, f"{path}/handover-record")
    html = await record.text()
    assert record.status == 200
    assert "BIÊN BẢN BÀN GIAO KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH" in html
    assert "Giấy phép lái xe" in html and "Tờ khai đổi giấy phép" in html
    assert "Bản chính" in html and "Bản sao" in html
    assert "NP-42" in html and "********1234" in html
    assert ID_NUMBER not in html
    assert "BÊN GIAO" in html and "BÊN NHẬN" in html and "Ký, ghi rõ họ tên" in html
    assert "/static/pages/gateway.css" in html  # its @media print rules


async def test_a_refused_handover_shows_why_in_vietnamese_and_stores_nothing(
    staffed: Postal,
) -> None:
    order = await staffed.book(cod_amount=135000)
    session = await login(staffed, "buudien")
    staffed.clock.advance(minutes=30)
    response = await post_form(
        staffed,
        session,
        f"/operator/orders/{order['id']}/handovers",
        **handover_fields(
            staffed, kind="delivered", counterpart_role="citizen", cod_collected="130.000"
        ),
    )
    html = await response.text()
    assert response.status == 422
    assert "Số tiền thu hộ không khớp" in html
    assert ID_NUMBER not in html  # what was typed comes back, but not the identity number
    assert 'value="Giấy phép lái xe"' in html
    assert await count(staffed, postal_handovers) == 0
    assert await count(staffed, postal_events) == 1  # the carrier's "created"


async def test_a_return_before_two_attempts_is_refused_in_the_console_with_the_rule(
    staffed: Postal,
) -> None:
    order = await staffed.book()
    staffed.clock.advance(days=1)
    session = await login(staffed, "buudien")
    path = f"/operator/orders/{order['id']}"
    event = {"event_id": "web-r1", "status": "return_pending", "occurred_at": local(staffed)}
    response = await post_form(staffed, session, f"{path}/events", **event)
    assert response.status == 422
    assert "cần ít nhất hai lần phát không thành công" in await response.text()
    assert (await staffed.order(order["id"]))["status"] == "created"


async def test_a_carrier_return_that_breaks_the_attempt_rule_is_shown_for_review(
    staffed: Postal,
) -> None:
    order = await staffed.book()
    staffed.clock.advance(days=1)
    for code in (15, 16):  # one failed attempt, then "waiting to return"
        await staffed.advance(order["tracking_number"], code)
    session = await login(staffed, "buudien")
    html = await (await get(staffed, session, f"/operator/orders/{order['id']}")).text()
    assert "chưa đủ hai lần phát" in html and "delivery_attempts_rule" in html


async def sign(staffed: Postal, session: StaffSession, orders: list[Any], **fields: str) -> Any:
    form = {
        "orders": ",".join(order["id"] for order in orders),
        "receiver_name": "Phạm Thị Nhận",
        "signed_at": local(staffed),
        **fields,
    }
    return await post_form(staffed, session, "/operator/handover-batch", **form)


async def test_a_batch_record_signed_with_no_dossier_confirmed_is_refused(
    staffed: Postal,
) -> None:
    order = await staffed.book(leg="pickup")
    session = await login(staffed, "buudien")
    response = await sign(staffed, session, [order])
    assert response.status == 422
    assert "Hãy xác nhận ít nhất một hồ sơ đầy đủ." in await response.text()
    assert await count(staffed, postal_handovers) == 0


async def test_a_batch_record_cannot_hand_a_result_to_the_agency(staffed: Postal) -> None:
    pickup = await staffed.book(leg="pickup")
    result = await staffed.book(dossier_code="000.00.12.H29-241122-0009")
    session = await login(staffed, "buudien")
    complete = {f"complete_{order['id']}": "on" for order in (pickup, result)}
    response = await sign(staffed, session, [pickup, result], **complete)
    assert response.status == 422
    # All or nothing: the pickup listed first was not handed over either.
    assert await count(staffed, postal_handovers) == 0
    assert (await staffed.order(pickup["id"]))["status"] == "created"


async def test_a_batch_record_signed_in_the_future_is_refused(staffed: Postal) -> None:
    order = await staffed.book(leg="pickup")
    session = await login(staffed, "buudien")
    response = await sign(
        staffed, session, [order], signed_at="2026-11-23T09:00", **{f"complete_{order['id']}": "on"}
    )
    assert response.status == 422
    assert "Thời gian không được ở tương lai." in await response.text()
    assert await count(staffed, postal_handovers) == 0


async def test_the_label_shows_full_addresses_phones_and_the_cod_amount(staffed: Postal) -> None:
    order = await staffed.book(cod_amount=135000)
    session = await login(staffed, "buudien")
    response = await get(staffed, session, f"/operator/orders/{order['id']}/label")
    html = await response.text()
    assert response.status == 200
    assert order["tracking_number"] in html and order["client_reference"] in html
    assert "135.000 ₫" in html
    assert "12 Lê Lợi" in html and "0912345678" in html
    assert "141 Pasteur" in html and "02838290230" in html
    assert "Phường Sài Gòn" in html


async def test_signing_out_ends_the_operator_session(staffed: Postal) -> None:
    session = await login(staffed, "buudien")
    response = await post_form(staffed, session, "/operator/logout")
    assert (response.status, response.headers["Location"]) == (303, "/console/login")
    after = await get(staffed, session, "/operator")
    assert (after.status, after.headers["Location"]) == (303, "/console/login")


async def test_a_second_cod_handover_is_refused_in_vietnamese_and_the_first_stays(
    staffed: Postal,
) -> None:
    order = await staffed.book(cod_amount=135000)
    session = await login(staffed, "buudien")
    staffed.clock.advance(minutes=30)
    fields = handover_fields(
        staffed, kind="delivered", counterpart_role="citizen", cod_collected="135.000"
    )
    first = await post_form(staffed, session, f"/operator/orders/{order['id']}/handovers", **fields)
    assert first.status == 303, await first.text()
    staffed.clock.advance(minutes=5)
    fields.update(handover_id="web-2", at=local(staffed))
    again = await post_form(staffed, session, f"/operator/orders/{order['id']}/handovers", **fields)
    assert again.status == 409
    assert "Tiền thu hộ của đơn này đã được ghi nhận" in await again.text()
    assert await count(staffed, postal_handovers) == 1
    view = await staffed.order(order["id"])
    assert (view["cod_collected"], view["status"]) == (135000, "delivered")


async def test_the_order_page_shows_why_an_order_needs_review_and_unknown_carrier_codes(
    staffed: Postal,
) -> None:
    from gateway.keys import CARRIER_SYNC

    faults = staffed.carrier.make_url("/sandbox/faults")
    async with staffed.client.session.post(faults, json={"create": ["invalid_answer"]}) as answer:
        assert answer.status == 200
    review = await staffed.book()
    assert review["status"] == "needs_review"
    order = await staffed.book(dossier_code="000.00.12.H29-241122-0002")
    body, headers = signed_push(order["tracking_number"], 27, "22/11/2026 09:30:00")
    pushed = await staffed.client.post("/callbacks/vnpost", data=body, headers=headers)
    assert (await pushed.json())["outcome"] == "unknown_code"
    assert await staffed.client.app[CARRIER_SYNC].submit_due() == 0
    session = await login(staffed, "buudien")

    today = await (await get(staffed, session, "/operator")).text()
    assert review["client_reference"] in today  # listed by its reference: it has no item code
    page = await (await get(staffed, session, f"/operator/orders/{review['id']}")).text()
    assert "Cần kiểm tra" in page
    assert "VNPost trả lời không hợp lệ" in page
    page = await (await get(staffed, session, f"/operator/orders/{order['id']}")).text()
    assert "Không xác định" in page and "mã VNPost 27" in page
