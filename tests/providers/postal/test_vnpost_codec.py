"""Golden request bodies and the parsing of answers and pushed webhooks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from providers.postal.vnpost import codec
from providers.postal.vnpost.codec import Address, OrderRequest, Party, Service
from providers.postal.vnpost.errors import VnpostError

ICT = timezone(timedelta(hours=7))
KEY = b"vnpost-webhook-key"

CITIZEN = Party(
    "Nguyễn Văn An",
    "0912345678",
    Address("12 Lý Tự Trọng", "26734", "79"),
)
AGENCY = Party(
    "Sở Tư pháp TP.HCM",
    "0283829000",
    Address("141-143 Pasteur", "26740", "79", district_code="760"),
)
PICKUP = OrderRequest(
    client_reference="PR01-pickup-1",
    sender=CITIZEN,
    receiver=AGENCY,
    weight_grams=250,
    service=Service.EXPRESS,
    door_pickup=True,
    note="Hồ sơ lý lịch tư pháp",
)


def test_create_order_golden_body_for_a_pickup_leg() -> None:
    request = codec.build_create_order("KH001", PICKUP)
    assert (request.method, request.path) == ("POST", "/orders")
    assert (
        request.body
        == (
            '{"customer_code":"KH001","sale_order_code":"PR01-pickup-1","service_code":"EMS",'
            '"sender":{"full_name":"Nguyễn Văn An","phone":"0912345678","address":'
            '{"street":"12 Lý Tự Trọng","ward_code":"26734","province_code":"79"}},'
            '"receiver":{"full_name":"Sở Tư pháp TP.HCM","phone":"0283829000","address":'
            '{"street":"141-143 Pasteur","ward_code":"26740","province_code":"79",'
            '"district_code":"760"}},"weight":250,"addons":[{"code":"PICKUP"}],'
            '"note":"Hồ sơ lý lịch tư pháp"}'
        ).encode()
    )


def test_create_order_delivery_leg_with_cod_carries_integer_vnd() -> None:
    delivery = OrderRequest("PR01-delivery-1", AGENCY, CITIZEN, 120, cod_amount=50_000)
    body = json.loads(codec.build_create_order("KH001", delivery).body)
    assert body["service_code"] == "CTN"
    assert body["addons"] == [{"code": "COD", "amount": 50000}]
    assert "district_code" not in body["receiver"]["address"]


@pytest.mark.parametrize(
    "order",
    [
        replace(PICKUP, client_reference="has space"),
        replace(PICKUP, client_reference=""),
        replace(PICKUP, weight_grams=0),
        replace(PICKUP, cod_amount=0),
        replace(PICKUP, cod_amount=-5),
        replace(PICKUP, sender=replace(CITIZEN, phone="912345678")),
        replace(PICKUP, receiver=replace(AGENCY, address=Address("x", "Phường 1", "79"))),
        replace(PICKUP, sender=replace(CITIZEN, name=" ")),
    ],
)
def test_invalid_order_is_refused_before_sending(order: OrderRequest) -> None:
    with pytest.raises(VnpostError) as caught:
        codec.build_create_order("KH001", order)
    assert caught.value.code == "invalid_field"


def test_other_request_paths() -> None:
    assert codec.build_get_order("EB123456789VN").path == "/orders/EB123456789VN"
    assert codec.build_history("EB123456789VN").path == "/orders/EB123456789VN/history"
    cancel = codec.build_cancel("EB123456789VN")
    assert (cancel.method, cancel.path) == ("POST", "/orders/EB123456789VN/cancel")
    assert codec.build_find_by_reference("PR01-pickup-1").path == (
        "/orders?sale_order_code=PR01-pickup-1"
    )
    assert json.loads(codec.build_token("u", "p", "KH001").body) == {
        "username": "u",
        "password": "p",
        "customer_code": "KH001",
    }
    with pytest.raises(VnpostError, match="invalid_field"):
        codec.build_get_order("../admin")


ORDER = {
    "item_code": "EB123456789VN",
    "sale_order_code": "PR01-pickup-1",
    "status": 7,
    "events": [
        {"status": 0, "time": "22/11/2026 09:00:12", "location": "", "note": "Tạo đơn"},
        {"status": 7, "time": "22/11/2026 14:30:00", "location": "Bưu cục Sài Gòn"},
    ],
}


def test_order_answer_parses_with_gmt7_times() -> None:
    state = codec.parse_order(200, json.dumps(ORDER).encode())
    assert (state.item_code, state.status_code) == ("EB123456789VN", 7)
    assert state.client_reference == "PR01-pickup-1"
    first, second = state.events
    assert first.at == datetime(2026, 11, 22, 9, 0, 12, tzinfo=ICT)
    assert first.at.utcoffset() == timedelta(hours=7)
    assert (second.code, second.location, second.note) == (7, "Bưu cục Sài Gòn", "")


def test_created_answer_must_name_our_reference() -> None:
    body = b'{"item_code":"EB123456789VN","sale_order_code":"PR01-pickup-1"}'
    created = codec.parse_created(200, body, "PR01-pickup-1")
    assert created == codec.CreatedOrder("EB123456789VN", "PR01-pickup-1")
    with pytest.raises(VnpostError, match="malformed"):
        codec.parse_created(200, body, "PR02-pickup-1")


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (200, b"<html>", "malformed"),
        (200, b"[]", "malformed"),
        (200, b'{"item_code":"EB123456789VN","sale_order_code":"R","status":"7"}', "malformed"),
        (200, b'{"item_code":"123","sale_order_code":"R","status":7}', "malformed"),
        (
            200,
            b'{"item_code":"EB123456789VN","sale_order_code":"R","status":7,'
            b'"events":[{"status":7,"time":"2026-11-22T09:00:00"}]}',
            "malformed",
        ),
        (401, b'{"code":"UNAUTHORIZED"}', "unauthorized"),
        (404, b'{"code":"NOT_FOUND"}', "not_found"),
        (409, b'{"code":"DUPLICATE_REFERENCE"}', "duplicate_reference"),
        (409, b'{"code":"NOT_CANCELLABLE"}', "rejected"),
        (422, b"not json", "rejected"),
    ],
)
def test_bad_or_error_answers_become_coded_errors(status: int, body: bytes, code: str) -> None:
    with pytest.raises(VnpostError) as caught:
        codec.parse_order(status, body)
    assert caught.value.code == code
    assert caught.value.http_status == status


def test_token_answer_requires_token_and_lifetime() -> None:
    assert codec.parse_token(200, b'{"token":"t1","expires_in":3600}') == ("t1", 3600)
    with pytest.raises(VnpostError, match="malformed"):
        codec.parse_token(200, b'{"token":"t1"}')


def test_webhook_signature_golden_vector() -> None:
    # Cross-checked with: printf %s "EB123456789VN|9|22/11/2026 15:00:00" | openssl dgst -sha256 -hmac vnpost-webhook-key
    assert codec.webhook_signature(KEY, "EB123456789VN", 9, "22/11/2026 15:00:00") == (
        "57cd37284eb05bee698b9545f7e0df842cad179245c69188d1281a174982f5f6"
    )


def _push(**overrides: object) -> tuple[str, bytes]:
    data = {
        "item_code": "EB123456789VN",
        "sale_order_code": "PR01-delivery-1",
        "status": 9,
        "time": "22/11/2026 15:00:00",
        "location": "Bưu cục Bến Thành",
        "note": "",
    }
    signature = codec.webhook_signature(KEY, "EB123456789VN", 9, "22/11/2026 15:00:00")
    data.update(overrides)
    return signature, json.dumps(data, ensure_ascii=False).encode()


def test_signed_webhook_parses() -> None:
    signature, body = _push()
    push = codec.parse_webhook(KEY, signature, body)
    assert (push.item_code, push.client_reference) == ("EB123456789VN", "PR01-delivery-1")
    assert push.event.code == 9  # opaque to the codec: the status profile reads it
    assert push.event.at == datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def test_unsigned_fields_may_change_but_signed_ones_may_not() -> None:
    signature, body = _push(location="somewhere else")  # not covered by VNPost's signature
    assert codec.parse_webhook(KEY, signature, body).event.location == "somewhere else"
    for tampered in ({"status": 10}, {"time": "22/11/2026 15:00:01"}, {"item_code": "EB1"}):
        signature, body = _push(**tampered)
        with pytest.raises(VnpostError, match="unauthorized"):
            codec.parse_webhook(KEY, signature, body)


def test_webhook_without_signature_or_wrong_key_or_shape_is_refused() -> None:
    signature, body = _push()
    with pytest.raises(VnpostError, match="unauthorized"):
        codec.parse_webhook(KEY, None, body)
    with pytest.raises(VnpostError, match="unauthorized"):
        codec.parse_webhook(b"other-key", signature, body)
    with pytest.raises(VnpostError, match="malformed"):
        codec.parse_webhook(KEY, signature, b"{not json")
    with pytest.raises(VnpostError, match="malformed"):
        codec.parse_webhook(KEY, signature, b'{"item_code":"EB123456789VN","status":9}')
