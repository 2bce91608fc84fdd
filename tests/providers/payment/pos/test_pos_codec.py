"""POS wire protocol: signing, request building and strict parsing (pure, golden values)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pos_helpers import approved
from tests_support import pos_sale

from gateway.core.statuses import AttemptStatus
from providers.payment.pos import PosError, PosMerchant, codec
from providers.payment.pos.codec import CardBrand, SaleResult
from providers.payment.pos.statuses import (
    ATTEMPT_STATUS,
    FAILURE_REASON,
    FINAL_STATUSES,
    SaleStatus,
)

ICT = timezone(timedelta(hours=7))
NOW = 1795312800  # 2026-11-22T09:00:00+07:00
# HMAC-SHA256("pos-merchant-secret", '1795312800.{"sale_id":"att_01JD4"}'), from `openssl dgst`
GOLDEN_HEX = "abb85082c49440cb8c874dda19ef17639ef5b547ba5ada3f9ff5b8ba69c987e7"


def _malformed(data: Any) -> None:
    with pytest.raises(PosError) as raised:
        codec.parse_result(json.dumps(data).encode())
    assert raised.value.code == "malformed"


# -- signatures -----------------------------------------------------------------------------


def test_golden_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"sale_id":"att_01JD4"}'
    by_hand = hmac.new(
        b"pos-merchant-secret", b'1795312800.{"sale_id":"att_01JD4"}', hashlib.sha256
    ).hexdigest()
    assert by_hand == GOLDEN_HEX
    assert codec.sign(b"pos-merchant-secret", NOW, body) == f"v1={GOLDEN_HEX}"


def test_signed_headers_carry_timestamp_signature_and_content_type() -> None:
    headers = codec.signed_headers(b"k", NOW, b"{}")
    assert headers == {
        "X-Pos-Timestamp": "1795312800",
        "X-Pos-Signature": codec.sign(b"k", NOW, b"{}"),
        "Content-Type": "application/json",
    }
    assert "Content-Type" not in codec.signed_headers(b"k", NOW, b"")


def test_a_signature_inside_the_window_verifies() -> None:
    signature = codec.sign(b"k", NOW, b"body")
    for now in (NOW - 300, NOW, NOW + 300):
        codec.verify(b"k", timestamp=str(NOW), signature=signature, body=b"body", now=now)


GOOD = codec.sign(b"k", NOW, b"body")


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "now", "code"),
    [
        (None, GOOD, b"body", NOW, "signature_missing"),
        (str(NOW), None, b"body", NOW, "signature_missing"),
        ("", GOOD, b"body", NOW, "signature_missing"),
        ("yesterday", GOOD, b"body", NOW, "timestamp_invalid"),
        ("-5", GOOD, b"body", NOW, "timestamp_invalid"),
        ("١٢٣", GOOD, b"body", NOW, "timestamp_invalid"),  # Arabic-Indic digits
        (str(NOW), codec.sign(b"other", NOW, b"body"), b"body", NOW, "signature_invalid"),
        (str(NOW), GOOD, b"bodY", NOW, "signature_invalid"),  # tampered after signing
        (str(NOW), "V1=" + GOOD[3:], b"body", NOW, "signature_invalid"),
        (str(NOW + 1), GOOD, b"body", NOW, "signature_invalid"),  # timestamp moved
        (str(NOW), GOOD, b"body", NOW + 301, "timestamp_stale"),
        (str(NOW), GOOD, b"body", NOW - 301, "timestamp_stale"),
    ],
)
def test_verification_failures_have_distinct_codes(
    timestamp: str | None, signature: str | None, body: bytes, now: int, code: str
) -> None:
    with pytest.raises(PosError) as raised:
        codec.verify(b"k", timestamp=timestamp, signature=signature, body=body, now=now)
    assert raised.value.code == code


# -- requests -------------------------------------------------------------------------------


def test_sale_request_golden_bytes() -> None:
    request = codec.build_sale("HCM-DVC-01", pos_sale())
    assert (request.method, request.path) == ("POST", "/v1/terminals/T-HCM-0001/sales")
    assert (
        request.body
        == (
            '{"sale_id":"att_01JD4","merchant_id":"HCM-DVC-01","amount":185000,"currency":"VND",'
            '"reference":"DVC7K3M9QX2PAB3F","description":"Lệ phí cấp đổi GPLX",'
            '"callback_url":"https://gateway.example/callbacks/pos"}'
        ).encode()
    )


def test_cancel_request_binds_the_sale_in_its_signed_body_and_query_has_none() -> None:
    cancel = codec.build_cancel("HCM-DVC-01", "T-1", "att_01JD4")
    assert (cancel.method, cancel.path) == ("POST", "/v1/terminals/T-1/sales/att_01JD4/cancel")
    assert cancel.body == b'{"merchant_id":"HCM-DVC-01","sale_id":"att_01JD4"}'
    query = codec.build_query("T-1", "att_01JD4")
    assert (query.method, query.path, query.body) == (
        "GET",
        "/v1/terminals/T-1/sales/att_01JD4",
        b"",
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"amount": 185000.0},
        {"amount": "185000"},
        {"amount": -185000},
        {"amount": 0},
        {"amount": True},
        {"amount": 10**13},
        {"terminal_id": "T/../admin"},
        {"sale_id": ""},
        {"sale_id": "a" * 65},
        {"reference": ""},
        {"description": "x" * 141},
        {"callback_url": "ftp://gateway.example/cb"},
    ],
)
def test_an_invalid_sale_is_refused_before_anything_is_sent(overrides: dict[str, Any]) -> None:
    with pytest.raises(PosError) as raised:
        codec.build_sale("HCM-DVC-01", pos_sale(**overrides))
    assert raised.value.code == "invalid_field"


# -- results --------------------------------------------------------------------------------


def test_an_approval_with_every_field_is_parsed() -> None:
    result = codec.parse_result(json.dumps(approved()).encode())
    assert result == SaleResult(
        sale_id="att_01JD4",
        status=SaleStatus.APPROVED,
        amount=185000,
        approval_code="042817",
        masked_pan="970436******1234",
        card_brand=CardBrand.NAPAS,
        rrn="633021123456",
        decline_reason=None,
        completed_at=datetime(2026, 11, 22, 9, 0, 12, tzinfo=ICT),
    )
    assert result.final is True
    assert result.to_json() == approved()


@pytest.mark.parametrize(
    "data",
    [
        {"sale_id": "s1", "status": "sent_to_terminal", "amount": 5000},
        {
            "sale_id": "s1",
            "status": "cancelled",
            "amount": 5000,
            "completed_at": "2026-11-22T02:00:00+00:00",
        },
        {
            "sale_id": "s1",
            "status": "timed_out",
            "amount": 5000,
            "completed_at": "2026-11-22T02:00:00+00:00",
        },
        {
            "sale_id": "s1",
            "status": "declined",
            "amount": 5000,
            "masked_pan": "411111******1111",
            "card_brand": "VISA",
            "rrn": "633021000001",
            "decline_reason": "insufficient_funds",
            "completed_at": "2026-11-22T02:00:00+00:00",
        },
    ],
)
def test_every_status_round_trips(data: dict[str, Any]) -> None:
    result = codec.parse_result(json.dumps(data).encode())
    assert codec.parse_result(codec.encode_json(result.to_json())) == result
    assert result.final is (data["status"] != "sent_to_terminal")


@pytest.mark.parametrize("amount", [185000.0, 1500.5, "185000", -185000, 0, True, None, 10**13])
def test_a_result_with_a_bad_amount_is_malformed(amount: Any) -> None:
    _malformed(approved(amount=amount))


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "paid"},
        {"status": None},
        {"sale_id": None},
        {"sale_id": "att/01"},
        {"rrn": None},  # an approval that cannot be reconciled
        {"approval_code": None},
        {"approval_code": "04281"},
        {"masked_pan": "9704361234561234"},  # a full card number must never be accepted
        {"masked_pan": "970436******123"},
        {"rrn": "63302112345"},
        {"card_brand": "AMEX"},
        {"card_brand": "visa"},
        {"completed_at": "2026-11-22T09:00:12"},  # no UTC offset
        {"completed_at": "22/11/2026"},
        {"completed_at": None},
        {"decline_reason": "do_not_honor"},  # only declines have a reason
        {"status": "declined", "approval_code": None, "decline_reason": None},
        {"status": "sent_to_terminal", "approval_code": None},  # not final, yet completed
    ],
)
def test_a_result_that_breaks_the_documented_shape_is_malformed(
    overrides: dict[str, Any],
) -> None:
    _malformed(approved(**overrides))


@pytest.mark.parametrize("body", [b"not json", b"[]", b"\xff\xfe", b"null"])
def test_a_body_that_is_not_a_json_object_is_malformed(body: bytes) -> None:
    with pytest.raises(PosError) as raised:
        codec.parse_result(body)
    assert raised.value.code == "malformed"


# -- answers to requests --------------------------------------------------------------------


def test_push_answers() -> None:
    accepted = b'{"sale_id":"s1","status":"sent_to_terminal"}'
    assert codec.parse_push_response(202, accepted, "s1") == codec.PushResult(True)
    busy = codec.parse_push_response(409, b'{"code":"terminal_busy"}', "s1")
    assert busy == codec.PushResult(accepted=False, code="terminal_busy")
    with pytest.raises(PosError) as other_sale:
        codec.parse_push_response(202, accepted, "s2")
    assert other_sale.value.code == "malformed"
    with pytest.raises(PosError) as refused:
        codec.parse_push_response(401, b'{"code":"signature_invalid"}', "s1")
    assert (refused.value.code, refused.value.http_status) == ("rejected", 401)


def test_cancel_answers() -> None:
    cancelling = b'{"sale_id":"s1","status":"cancelling"}'
    assert codec.parse_cancel_response(202, cancelling, "s1") == codec.CancelResult(True)
    too_late = b'{"code":"not_cancellable","status":"approved"}'
    assert codec.parse_cancel_response(409, too_late, "s1") == codec.CancelResult(
        accepted=False, code="not_cancellable", status=SaleStatus.APPROVED
    )
    unknown = codec.parse_cancel_response(404, b'{"code":"unknown_sale"}', "s1")
    assert unknown == codec.CancelResult(accepted=False, code="unknown_sale")


def test_a_query_for_a_sale_the_cloud_never_received_is_none() -> None:
    assert codec.parse_query_response(404, b'{"code":"unknown_sale"}', "s1") is None


# -- statuses, settings, errors -------------------------------------------------------------


def test_every_cloud_status_maps_to_a_gateway_attempt_status() -> None:
    assert set(ATTEMPT_STATUS) == set(SaleStatus)
    for value in ATTEMPT_STATUS.values():
        AttemptStatus(value)  # raises if the gateway has no such status
    assert FINAL_STATUSES == set(SaleStatus) - {SaleStatus.SENT_TO_TERMINAL}


def test_a_terminal_timeout_is_a_final_failure_not_an_unknown_outcome() -> None:
    assert ATTEMPT_STATUS[SaleStatus.TIMED_OUT] == "failed"
    assert FAILURE_REASON[SaleStatus.TIMED_OUT] == "no_card_presented"
    assert ATTEMPT_STATUS[SaleStatus.SENT_TO_TERMINAL] == "pending"
    assert ATTEMPT_STATUS[SaleStatus.APPROVED] == "succeeded"


def test_merchant_settings_never_show_the_secret() -> None:
    merchant = PosMerchant("HCM-DVC-01", b"pos-merchant-secret", "https://pos.example/")
    assert "pos-merchant-secret" not in repr(merchant)
    assert "pos-merchant-secret" not in str(merchant)
    assert merchant.base_url == "https://pos.example"
    with pytest.raises(ValueError, match="base_url"):
        PosMerchant("HCM-DVC-01", b"s", "pos.example")


def test_an_unknown_error_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown PosError code"):
        PosError("oops", "no such code")
