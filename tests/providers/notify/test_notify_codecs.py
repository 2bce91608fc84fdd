"""The ZNS and eSMS codecs, pure: what goes on the wire, how answers and receipts read, and
SMS text folded to one GSM-7 segment where it fits (specs/notifications.md §1–§3)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from providers.notify.base import Accepted, Message, Refused, provider_phone
from providers.notify.sms import SmsAccount, SmsError, build_send, parse_receipt, prepare_text
from providers.notify.sms import parse_send as parse_sms_answer
from providers.notify.zalo_zns import ZnsError
from providers.notify.zalo_zns import build_send as build_zns
from providers.notify.zalo_zns import parse_receipt as zns_receipt
from providers.notify.zalo_zns import parse_send as parse_zns_answer


def test_a_zns_message_carries_the_template_its_data_and_our_tracking_id() -> None:
    message = Message("ntf_1", "84912345678", "TPL", {"so_tien": "185.000"})
    assert json.loads(build_zns(message, "development")) == {
        "phone": "84912345678",
        "template_id": "TPL",
        "template_data": {"so_tien": "185.000"},
        "tracking_id": "ntf_1",
        "mode": "development",
    }
    assert "84912345678" not in repr(message)


def test_zns_answers_read_as_accepted_refused_with_fallback_or_retryable() -> None:
    ok = json.dumps({"error": 0, "message": "Success", "data": {"msg_id": "m1"}}).encode()
    assert parse_zns_answer(200, ok) == Accepted("m1")
    no_zalo = json.dumps({"error": -118, "message": "Zalo account not existed"}).encode()
    assert parse_zns_answer(200, no_zalo) == Refused("no_zalo_account", "-118", fallback=True)
    unknown = json.dumps({"error": -999, "message": "?"}).encode()
    assert parse_zns_answer(200, unknown) == Refused("zns_-999", "-999")
    with pytest.raises(ZnsError) as token:
        parse_zns_answer(200, json.dumps({"error": -124}).encode())
    assert (token.value.code, token.value.retryable) == ("unauthorized", True)
    with pytest.raises(ZnsError) as down:
        parse_zns_answer(502, b"")
    assert (down.value.code, down.value.retryable) == ("unavailable", True)
    with pytest.raises(ZnsError) as bad:
        parse_zns_answer(200, b"<html>")
    assert bad.value.code == "malformed"


def test_a_zns_receipt_is_the_user_received_message_event() -> None:
    event = {
        "event_name": "user_received_message",
        "message": {"msg_id": "m1", "delivery_time": "1795000000000"},
    }
    receipt = zns_receipt(json.dumps(event).encode())
    assert receipt is not None
    assert (receipt.message_id, receipt.delivered) == ("m1", True)
    assert receipt.at == datetime.fromtimestamp(1795000000, UTC)
    assert zns_receipt(json.dumps({"event_name": "user_send_text"}).encode()) is None
    with pytest.raises(ZnsError):
        zns_receipt(json.dumps({"event_name": "user_received_message"}).encode())


def test_sms_text_is_folded_without_forbidden_characters_in_one_segment() -> None:
    text, parts = prepare_text("Hồ sơ #H29: đã nhận 185.000 đồng & cảm ơn [ông/bà] {x} 100%")
    assert text == "Ho so H29: da nhan 185.000 dong cam on ong/ba x 100"
    assert parts == 1
    assert prepare_text("a" * 160)[1] == 1
    assert prepare_text("a" * 161)[1] == 2
    assert prepare_text("a" * 459)[1] == 3
    with pytest.raises(SmsError) as long:
        prepare_text("a" * 460)
    assert long.value.code == "too_long"


def test_an_esms_send_carries_the_brandname_cskh_type_and_our_request_id() -> None:
    account = SmsAccount(
        base_url="https://rest.esms.vn/",
        api_key="key-1",
        secret_key="s3cr3t",
        brandname="SOTUPHAP",
        callback_url="https://gw/callbacks/sms/pathtoken",
    )
    body = json.loads(build_send(Message("ntf_2", "84912345678", text="Ho so da nhan"), account))
    assert body["SmsType"] == "2" and body["IsUnicode"] == "0" and body["Sandbox"] == "0"
    assert (body["Brandname"], body["RequestId"], body["Phone"]) == (
        "SOTUPHAP",
        "ntf_2",
        "84912345678",
    )
    shown = repr(account)
    assert "s3cr3t" not in shown and "key-1" not in shown and "pathtoken" not in shown


@pytest.mark.parametrize("brandname", ["", "QUA-DAI-12345", "12345", "SỞ TƯ PHÁP"])
def test_a_brandname_outside_the_rules_is_refused(brandname: str) -> None:
    with pytest.raises(ValueError, match="brandname"):
        SmsAccount(base_url="https://x", api_key="k", secret_key="s", brandname=brandname)


def test_esms_answers_and_delivery_reports() -> None:
    assert parse_sms_answer(200, b'{"CodeResult": "100", "SMSID": "s1"}') == Accepted("s1")
    assert parse_sms_answer(200, b'{"CodeResult": "124"}') == Accepted(None)
    assert parse_sms_answer(200, b'{"CodeResult": "146"}') == Refused("template_rejected", "146")
    with pytest.raises(SmsError):
        parse_sms_answer(200, b'{"CodeResult": "99"}')
    delivered = parse_receipt({"SMSID": "s1", "SendStatus": "5", "SendSuccess": "1"})
    assert delivered is not None and delivered.delivered
    failed = parse_receipt({"SMSID": "s1", "SendStatus": "6", "SendFailed": "1"})
    assert failed is not None and not failed.delivered
    assert parse_receipt({"SMSID": "s1", "SendStatus": "1"}) is None
    with pytest.raises(SmsError):
        parse_receipt({"SendStatus": "5"})


def test_numbers_go_to_the_providers_without_plus() -> None:
    assert provider_phone("+84912345678") == "84912345678"
    with pytest.raises(ValueError):
        provider_phone("0912345678")
