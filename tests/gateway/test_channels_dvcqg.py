"""The DVCQG payment platform end to end through the real sandbox: INIT and the redirect, the
platform's page, the Confirm callback as a hint settled by QUERY, GET_BILL, the poller, and
every way a callback can be wrong."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from conftest import AGENCY_ACCOUNT, AGENCY_BIN, METRICS_AUTH, FixedClock, Gateway
from dvcqg_support import PARTNER, Platform, open_platform
from sqlalchemy import select
from structlog.testing import capture_logs
from tests_support import inbox_refuses_writes

from gateway.core.db.schema import outbox_events, provider_events
from gateway.keys import DATABASE, POLLER
from providers.payment.dvcqg import FAILURE_MESSAGES


@pytest.fixture
async def platform(
    aiohttp_server: Any, database_url: str, clock: FixedClock, unused_tcp_port_factory: Any
) -> AsyncIterator[Platform]:
    opened = await open_platform(aiohttp_server, database_url, clock, unused_tcp_port_factory())
    yield opened
    await opened.client.close()


async def _stored(platform: Platform) -> list[tuple[str, str | None]]:
    async with platform.client.app[DATABASE].read() as conn:
        rows = (
            await conn.execute(
                select(provider_events)
                .where(provider_events.c.provider == "dvcqg")
                .order_by(provider_events.c.id)
            )
        ).all()
    return [(row.outcome, row.reason) for row in rows]


async def _poll(platform: Platform) -> int:
    platform.clock.advance(seconds=301)  # past dvcqg.query_after_seconds
    return int(await platform.client.app[POLLER].run_once())


async def test_init_carries_the_bill_and_redirects_to_the_platform_page(
    platform: Platform,
) -> None:
    payment, attempt = await platform.start("dvcqg")

    assert (attempt["status"], attempt["method"]) == ("pending", "dvcqg")
    assert attempt["next_action"] == {
        "type": "redirect",
        "url": str(platform.platform.make_url("/pay"))
        + f"?MaThamChieu={attempt['provider_reference']}",
    }
    txn = platform.transaction(attempt)
    assert txn.amount == payment["amount"] == 185000
    receipt = txn.receipt
    assert receipt["MaHoSo"] == payment["dossier_code"]
    assert (receipt["MaTTHC"], receipt["TenTTHC"]) == ("1.001234", "Cấp đổi giấy phép lái xe")
    assert (receipt["MaDonVi"], receipt["TenDonVi"]) == ("HCM", "Sở Tư pháp TP. Hồ Chí Minh")
    assert (receipt["TKThuHuong"], receipt["MaNHThuHuong"]) == (AGENCY_ACCOUNT, AGENCY_BIN)
    assert receipt["HoTenNguoiNop"] == "Nguyễn Văn An"
    assert [(line["LoaiPhiLePhi"], line["SoTien"]) for line in receipt["PhiLePhi"]] == [
        ("2", "135000"),  # lệ phí
        ("1", "50000"),  # phí
    ]
    assert "0912345678" not in str(receipt)  # sealed personal data never leaves


async def test_paid_after_the_callback_and_querys_word_with_the_platforms_receipt(
    platform: Platform,
) -> None:
    payment, attempt = await platform.start("dvcqg")
    txn = await platform.pay(attempt, "success")

    assert txn["callbacks"] == [{"http_status": 200, "MaLoi": "00"}]
    assert (await platform.payment(payment["id"]))["status"] == "paid"
    done = await platform.payment_attempt(payment["id"], attempt["id"])
    assert done["status"] == "succeeded"
    assert done["provider_transaction_id"] == txn["MaGiaoDich"]
    receipt = done["details"]["platform_receipt"]
    pdf = base64.b64decode(receipt["content_base64"])
    assert pdf.startswith(b"%PDF-") and receipt["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert await _stored(platform) == [("deferred_to_query", None)]


@pytest.mark.parametrize("outcome", ["failure", "cancel"])
async def test_failed_or_cancelled_payment_fails_the_attempt_and_leaves_the_bill_open(
    platform: Platform, outcome: str
) -> None:
    payment, attempt = await platform.start("dvcqg")
    await platform.pay(attempt, outcome)

    assert (await platform.payment(payment["id"]))["status"] == "pending"
    failed = await platform.payment_attempt(payment["id"], attempt["id"])
    assert (failed["status"], failed["failure_code"]) == ("failed", "dvcqg_4")
    status, again = await platform.attempt(payment["id"], method="dvcqg")
    assert status == 201 and again["id"] != attempt["id"]  # the citizen can try again


async def test_a_lost_callback_is_settled_by_the_poller(platform: Platform) -> None:
    payment, attempt = await platform.start("dvcqg")
    txn = await platform.pay(attempt, "success", lose_callback=True)
    assert txn["callbacks"] == []
    assert (await platform.payment(payment["id"]))["status"] == "pending"

    assert await _poll(platform) == 1

    assert (await platform.payment(payment["id"]))["status"] == "paid"
    assert await _stored(platform) == []  # nothing came in: QUERY alone settled it


async def test_a_pending_transaction_is_queried_again_until_it_is_final(
    platform: Platform,
) -> None:
    payment, attempt = await platform.start("dvcqg")
    await platform.pay(attempt, "pending")
    assert await _poll(platform) == 1
    still = await platform.payment_attempt(payment["id"], attempt["id"])
    assert still["status"] == "pending"

    txn = platform.transaction(attempt)
    txn.state, txn.result_code, txn.transaction_id = "1", "00", "PP1"  # the bank answered
    assert await _poll(platform) == 1
    assert (await platform.payment(payment["id"]))["status"] == "paid"


@pytest.mark.parametrize(
    ("truth", "attempt_status"), [("pending", "pending"), ("failure", "failed")]
)
async def test_a_callback_saying_paid_is_not_believed_when_query_disagrees(
    platform: Platform, truth: str, attempt_status: str
) -> None:
    payment, attempt = await platform.start("dvcqg")
    await platform.pay(attempt, truth, lose_callback=True)

    status, reply, code = await platform.post_callback(platform.callback(attempt, MaLoi="00"))

    assert (status, reply["MaLoi"], code) == (200, "00", "recorded")
    assert (await platform.payment(payment["id"]))["status"] == "pending"
    after = await platform.payment_attempt(payment["id"], attempt["id"])
    assert after["status"] == attempt_status


async def test_the_reply_echoes_the_documented_fields(platform: Platform) -> None:
    _, attempt = await platform.start("dvcqg")
    await platform.pay(attempt, "success", lose_callback=True)
    raw = platform.callback(attempt)

    status, reply, code = await platform.post_callback(raw)

    sent = json.loads(raw)
    assert (status, code) == (200, "recorded")
    assert reply == {
        "MaLoi": "00",
        "MoTaLoi": "Thành công",
        "MaDoiTac": PARTNER,
        "MaThamChieu": sent["MaThamChieu"],
        "ThoiGianGD": sent["ThoiGianGD"],
        "MaXacThuc": sent["MaXacThuc"],
    }


async def test_an_upper_cased_checksum_is_accepted(platform: Platform) -> None:
    """The spec (§7) leaves the platform's hex case open: compared case-insensitively."""
    payment, attempt = await platform.start("dvcqg")
    await platform.pay(attempt, "success", lose_callback=True)
    raw = platform.callback(attempt)
    upper = raw.replace(raw[raw.index(b'"MaXacThuc"') :], raw[raw.index(b'"MaXacThuc"') :].upper())
    upper = upper.replace(b'"MAXACTHUC"', b'"MaXacThuc"')

    status, reply, code = await platform.post_callback(upper)

    assert (status, reply["MaLoi"], code) == (200, "00", "recorded")
    assert (await platform.payment(payment["id"]))["status"] == "paid"


@pytest.mark.parametrize(
    ("case", "code", "stored"),
    [
        ("wrong_checksum", "signature_invalid", [("rejected", "signature_invalid")]),
        ("wrong_secret", "signature_invalid", [("rejected", "signature_invalid")]),
        ("unknown_partner", "signature_invalid", [("rejected", "signature_invalid")]),
        ("reordered_fields", "signature_invalid", [("rejected", "signature_invalid")]),
        ("amount_differs", "amount_mismatch", [("rejected", "amount_mismatch")]),
        ("unknown_reference", "unknown_reference", [("unmatched", "unknown_reference")]),
        ("not_json", "malformed", []),
        ("not_an_object", "malformed", []),
        ("amount_not_digits", "malformed", []),
        ("deeply_nested", "malformed", []),
    ],
)
async def test_a_bad_callback_is_answered_99_with_a_stable_code_and_nothing_is_applied(
    platform: Platform, case: str, code: str, stored: list[Any]
) -> None:
    """Spec §4.2: the platform always gets HTTP 200 and the echo; a refusal is MaLoi 99."""
    payment, attempt = await platform.start("dvcqg")
    await platform.pay(attempt, "success", lose_callback=True)  # QUERY would say paid
    raw = {
        "wrong_checksum": lambda: platform.callback(attempt, MaXacThuc="0" * 64),
        "wrong_secret": lambda: platform.callback(attempt, secret="guessed"),
        "unknown_partner": lambda: platform.callback(attempt, MaDoiTac="SOMEONE"),
        "reordered_fields": lambda: _signed_in_init_order(platform, attempt),
        "amount_differs": lambda: platform.callback(attempt, SoTien=str(attempt["amount"] - 1)),
        "unknown_reference": lambda: platform.callback(attempt, MaThamChieu="NOSUCHREF"),
        "not_json": lambda: b"MaLoi=00&MaThamChieu=x",
        "not_an_object": lambda: b'["MaLoi", "00"]',
        "amount_not_digits": lambda: platform.callback(attempt, SoTien="185.000"),
        "deeply_nested": lambda: b'{"a": ' * 2000 + b"1" + b"}" * 2000,
    }[case]()

    answered, reply, got = await platform.post_callback(raw)

    assert (answered, reply["MaLoi"], reply["MoTaLoi"], got) == (200, "99", "Các lỗi khác", code)
    if case in ("wrong_checksum", "amount_differs", "unknown_reference"):  # echoed as received
        sent = json.loads(raw)
        assert (reply["MaThamChieu"], reply["MaXacThuc"]) == (
            sent["MaThamChieu"],
            sent["MaXacThuc"],
        )
    assert await _stored(platform) == stored
    assert (await platform.payment(payment["id"]))["status"] == "pending"
    assert (await platform.payment_attempt(payment["id"], attempt["id"]))["status"] == "pending"


def _signed_in_init_order(platform: Platform, attempt: dict[str, Any]) -> bytes:
    """Signed over INIT's order (ThongTinGiaoDich before ThoiGianGD): the order trap."""

    from providers.payment.dvcqg import checksum

    body = json.loads(platform.callback(attempt))
    swapped = {
        **body,
        "ThoiGianGD": body["ThongTinGiaoDich"],
        "ThongTinGiaoDich": body["ThoiGianGD"],
    }
    body["MaXacThuc"] = checksum(swapped, "CALLBACK", "test-dvcqg-secret")
    return json.dumps(body).encode()


async def test_an_oversized_callback_is_answered_99_before_it_is_read(platform: Platform) -> None:
    _, attempt = await platform.start("dvcqg")
    raw = platform.callback(attempt, ThongTinGiaoDich="x" * 70_000)

    status, reply, code = await platform.post_callback(raw)

    assert (status, reply["MaLoi"], code) == (200, "99", "payload_too_large")
    assert await _stored(platform) == []


async def test_a_replayed_callback_is_stored_once_and_answered_duplicate(
    platform: Platform,
) -> None:
    _, attempt = await platform.start("dvcqg")
    await platform.pay(attempt, "success", lose_callback=True)
    raw = platform.callback(attempt)

    first = await platform.post_callback(raw)
    again = await platform.post_callback(raw)

    assert (first[0], first[2]) == (200, "recorded")
    assert (again[0], again[1]["MaLoi"], again[2]) == (200, "00", "duplicate")
    assert await _stored(platform) == [("deferred_to_query", None)]
    async with platform.client.app[DATABASE].read() as conn:
        types = (await conn.execute(select(outbox_events.c.type))).scalars().all()
    assert types.count("payment.paid") == 1


async def test_a_failure_callback_for_a_final_attempt_changes_nothing(platform: Platform) -> None:
    payment, attempt = await platform.start("dvcqg")
    await platform.pay(attempt, "failure")  # failed by callback + QUERY
    platform.clock.advance(seconds=5)

    status, reply, code = await platform.post_callback(platform.callback(attempt, MaLoi="24"))

    assert (status, reply["MaLoi"], code) == (200, "00", "already_final")
    assert (await platform.payment(payment["id"]))["status"] == "pending"
    assert (await platform.payment_attempt(payment["id"], attempt["id"]))["status"] == "failed"
    assert (await _stored(platform))[-1] == ("already_final", "already_final")


async def test_a_paid_callback_for_a_failed_attempt_changes_nothing_while_query_says_failed(
    platform: Platform,
) -> None:
    """The callback is only a hint (spec §13): it says paid, QUERY is asked again and still
    says failed — nothing changes; a forged one is refused before anything is asked."""
    payment, attempt = await platform.start("dvcqg")
    await platform.pay(attempt, "failure")  # failed by callback + QUERY
    platform.clock.advance(seconds=5)

    status, reply, code = await platform.post_callback(platform.callback(attempt, MaLoi="00"))
    forged = await platform.post_callback(platform.callback(attempt, secret="not-the-secret"))

    assert (status, reply["MaLoi"], code) == (200, "00", "recorded")
    assert (forged[0], forged[1]["MaLoi"], forged[2]) == (200, "99", "signature_invalid")
    bill = await platform.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("pending", None)
    late = await platform.payment_attempt(payment["id"], attempt["id"])
    assert (late["status"], late["failure_code"]) == ("failed", "dvcqg_4")
    assert (await _stored(platform))[-2:] == [
        ("deferred_to_query", None),
        ("rejected", "signature_invalid"),
    ]
    async with platform.client.app[DATABASE].read() as conn:
        types = (await conn.execute(select(outbox_events.c.type))).scalars().all()
    assert "payment.needs_review" not in types and "payment.paid" not in types


async def test_a_paid_callback_query_confirms_after_its_failure_puts_the_bill_up_for_review(
    platform: Platform,
) -> None:
    """QUERY had said failed; the platform then takes the money and sends its callback: the
    callback makes the gateway ask QUERY again, which now says paid — the attempt moves
    ``failed → succeeded`` for review (``succeeded_after_failure``), like VNPAY's."""
    payment, attempt = await platform.start("dvcqg")
    await platform.pay(attempt, "failure")
    assert (await platform.payment_attempt(payment["id"], attempt["id"]))["status"] == "failed"
    platform.clock.advance(seconds=5)
    txn = platform.transaction(attempt)
    txn.state, txn.result_code, txn.transaction_id = "1", "00", "PP000000004242"

    async with aiohttp.ClientSession() as session:  # the platform sends its callback again
        resent = await session.post(
            platform.platform.make_url("/resend_callback"),
            json={"MaThamChieu": attempt["provider_reference"]},
        )
        assert resent.status == 200, await resent.text()

    bill = await platform.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "succeeded_after_failure")
    late = await platform.payment_attempt(payment["id"], attempt["id"])
    assert (late["status"], late["review_reason"]) == ("succeeded", "succeeded_after_failure")
    assert (await _stored(platform))[-1] == ("deferred_to_query", None)
    platform.clock.advance(seconds=1)  # another copy (another time): the attempt is final
    status, reply, code = await platform.post_callback(
        platform.callback(attempt, MaGiaoDich="PP000000004242")
    )
    assert (status, reply["MaLoi"], code) == (200, "00", "already_final")
    async with platform.client.app[DATABASE].read() as conn:
        types = (await conn.execute(select(outbox_events.c.type))).scalars().all()
    assert types.count("payment.needs_review") == 1


async def test_money_taken_after_the_bill_expired_is_recorded_for_review(
    platform: Platform,
) -> None:
    """The bank was slow (the platform said pending) and the bill expired meanwhile: the
    callback still leads to QUERY, and the money is recorded, never lost."""
    payment, attempt = await platform.start("dvcqg")
    await platform.pay(attempt, "pending")
    platform.clock.advance(minutes=16)
    assert (await platform.payment(payment["id"]))["status"] == "expired"
    txn = platform.transaction(attempt)
    txn.state, txn.result_code, txn.transaction_id = "1", "00", "PP9"

    status, reply, code = await platform.post_callback(platform.callback(attempt, MaGiaoDich="PP9"))

    assert (status, reply["MaLoi"], code) == (200, "00", "recorded")
    bill = await platform.payment(payment["id"])
    assert (bill["status"], bill["review_reason"]) == ("needs_review", "paid_after_expiry")
    taken = await platform.payment_attempt(payment["id"], attempt["id"])
    assert (taken["status"], taken["provider_transaction_id"]) == ("succeeded", "PP9")


async def test_return_from_the_platform_page_leads_to_the_checkout_page(
    platform: Platform,
) -> None:
    payment, attempt = await platform.start("dvcqg")
    response = await platform.client.get(
        "/callbacks/dvcqg/return",
        params={"MaThamChieu": attempt["provider_reference"]},
        allow_redirects=False,
    )
    assert (response.status, response.headers["Location"]) == (303, f"/pay/{payment['id']}")
    unknown = await platform.client.get("/callbacks/dvcqg/return?MaThamChieu=NOPE")
    assert unknown.status == 400


async def test_callback_and_poller_for_the_same_attempt_apply_once_on_postgresql(
    aiohttp_server: Any, postgres_url: str, clock: FixedClock, unused_tcp_port_factory: Any
) -> None:
    platform = await open_platform(aiohttp_server, postgres_url, clock, unused_tcp_port_factory())
    try:
        payment, attempt = await platform.start("dvcqg")
        await platform.pay(attempt, "success", lose_callback=True)
        platform.clock.advance(seconds=301)
        raw = platform.callback(attempt)

        (status, _, code), queried = await asyncio.gather(
            platform.post_callback(raw), platform.client.app[POLLER].run_once()
        )

        # Whichever came second found the attempt settled (already_final) or applied nothing.
        assert (status, queried) == (200, 1) and code in ("recorded", "already_final")
        assert (await platform.payment(payment["id"]))["status"] == "paid"
        async with platform.client.app[DATABASE].read() as conn:
            types = (await conn.execute(select(outbox_events.c.type))).scalars().all()
        assert types.count("payment.paid") == 1
    finally:
        await platform.client.close()


@pytest.mark.parametrize(
    ("dvcqg", "failure_code"),
    [
        ({"secret_key": "not-the-platforms"}, "dvcqg_init_refused"),  # INIT's checksum refused
        ({"init_url": "http://127.0.0.1:9/init"}, "dvcqg_unavailable"),  # nobody answers
    ],
)
async def test_an_init_that_is_refused_or_unanswered_fails_the_attempt(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
    dvcqg: dict[str, str],
    failure_code: str,
) -> None:
    opened = await open_platform(
        aiohttp_server, database_url, clock, unused_tcp_port_factory(), dvcqg=dvcqg
    )
    try:
        payment, attempt = await opened.start("dvcqg")
        assert (attempt["status"], attempt["failure_code"]) == ("failed", failure_code)
        assert attempt["next_action"] is None
        assert (await opened.payment(payment["id"]))["status"] == "pending"
        page = await opened.client.get(f"/pay/{payment['id']}")  # the citizen is told why
        assert html.escape(FAILURE_MESSAGES[failure_code], quote=False) in await page.text()
    finally:
        await opened.client.close()


async def test_an_agency_with_its_own_partner_code_pays_through_it(
    aiohttp_server: Any, database_url: str, clock: FixedClock, unused_tcp_port_factory: Any
) -> None:
    """HN has the platform's partner; the default partner (HCM's) is one the platform refuses."""
    partner = {"partner_code": PARTNER, "secret_key": "test-dvcqg-secret"}
    opened = await open_platform(
        aiohttp_server,
        database_url,
        clock,
        unused_tcp_port_factory(),
        dvcqg={"partner_code": "NOT-KNOWN", "secret_key": "x", "partners": {"HN": partner}},
    )
    try:
        hn = await opened.create_payment(who="other", agency_code="HN")
        response = await opened.client.post(
            f"/v1/payments/{hn['id']}/attempts",
            json={"method": "dvcqg"},
            headers={**opened.auth("other"), "Idempotency-Key": "hn-1"},
        )
        attempt = await response.json()
        assert (response.status, attempt["status"]) == (201, "pending")
        assert opened.transaction(attempt).receipt["MaDonVi"] == "HN"
        await opened.pay(attempt, "success")
        assert (await opened.payment(hn["id"], who="other"))["status"] == "paid"

        _, refused = await opened.start("dvcqg")  # HCM: the default partner
        assert refused["failure_code"] == "dvcqg_init_refused"
    finally:
        await opened.client.close()


async def test_a_database_failure_is_answered_99_and_the_resent_callback_pays(
    platform: Platform,
) -> None:
    """Spec §4.2: "99" on any internal failure, never a 500; the platform's next copy is
    applied once the database works again."""
    payment, attempt = await platform.start("dvcqg")
    await platform.pay(attempt, "success", lose_callback=True)
    raw = platform.callback(attempt)

    with capture_logs() as logs:
        async with inbox_refuses_writes(platform.client.app[DATABASE]):
            status, reply, code = await platform.post_callback(raw)

    sent = json.loads(raw)
    assert (status, reply["MaLoi"], reply["MoTaLoi"], code) == (
        200,
        "99",
        "Các lỗi khác",
        "internal_error",
    )
    assert (reply["MaThamChieu"], reply["MaXacThuc"]) == (sent["MaThamChieu"], sent["MaXacThuc"])
    assert [e["code"] for e in logs if e["event"] == "callback_failed"] == ["internal_error"]
    assert await _stored(platform) == []
    assert (await platform.payment(payment["id"]))["status"] == "pending"

    status, reply, code = await platform.post_callback(raw)  # the platform sends it again

    assert (status, reply["MaLoi"], code) == (200, "00", "recorded")
    assert (await platform.payment(payment["id"]))["status"] == "paid"


async def test_forged_callbacks_are_kept_up_to_the_daily_bound_then_only_counted(
    aiohttp_server: Any, database_url: str, clock: FixedClock, unused_tcp_port_factory: Any
) -> None:
    opened = await open_platform(
        aiohttp_server,
        database_url,
        clock,
        unused_tcp_port_factory(),
        dvcqg={"max_forged_per_day": 2},
    )
    try:
        payment, attempt = await opened.start("dvcqg")
        forged = [opened.callback(attempt, MaXacThuc=f"{n:064x}") for n in range(4)]

        replies = [await opened.post_callback(raw) for raw in forged[:3]]

        assert {(s, r["MaLoi"], c) for s, r, c in replies} == {(200, "99", "signature_invalid")}
        assert await _stored(opened) == [("rejected", "signature_invalid")] * 2
        metrics = await (await opened.client.get("/metrics", headers=METRICS_AUTH)).text()
        assert (
            'gateway_provider_notices_total{outcome="forged_not_stored",provider="dvcqg"} 1.0'
            in metrics
        )
        opened.clock.advance(hours=24)  # a new Vietnam day: kept on record again
        status, reply, code = await opened.post_callback(forged[3])
        assert (status, reply["MaLoi"], code) == (200, "99", "signature_invalid")
        assert len(await _stored(opened)) == 3
        kept = await opened.payment_attempt(payment["id"], attempt["id"])
        assert kept["status"] != "succeeded"  # nothing a forgery says is applied
    finally:
        await opened.client.close()


async def test_a_callback_to_a_gateway_without_the_platform_is_answered_99(
    gateway: Gateway,
) -> None:
    response = await gateway.client.post("/callbacks/dvcqg", data=b'{"MaThamChieu": "X"}')

    body = await response.json()
    assert (response.status, body["MaLoi"], body["MaThamChieu"]) == (200, "99", "X")
    assert response.headers["X-Gateway-Error"] == "not_configured"
