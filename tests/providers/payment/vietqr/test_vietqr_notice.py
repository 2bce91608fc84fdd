"""Bank credit notice signing and parsing (pure functions, golden values)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from providers.payment.vietqr import notice


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"k", b"1763776800." + body, hashlib.sha256).hexdigest()
    assert notice.sign(b"k", 1763776800, body) == f"v1={expected}"


def test_golden_signature() -> None:
    assert notice.sign(b"secret", 0, b"") == (
        "v1=" + hmac.new(b"secret", b"0.", hashlib.sha256).hexdigest()
    )


def test_valid_signature_inside_the_window_verifies() -> None:
    signature = notice.sign(b"k", 1000, b"body")
    notice.verify(
        b"k", timestamp="1000", signature=signature, body=b"body", now=1300, tolerance_seconds=300
    )


@pytest.mark.parametrize(
    ("timestamp", "signature", "now", "code"),
    [
        (None, "v1=00", 1000, "signature_missing"),
        ("1000", None, 1000, "signature_missing"),
        ("-5", "v1=00", 1000, "timestamp_invalid"),
        ("1000", "v1=00", 1000, "signature_invalid"),
        ("1000", "V1=" + notice.sign(b"k", 1000, b"body")[3:], 1000, "signature_invalid"),
        ("1000", notice.sign(b"k", 1000, b"body").upper(), 1000, "signature_invalid"),
        ("1000", notice.sign(b"k", 1000, b"body"), 1301, "timestamp_stale"),
        ("1000", notice.sign(b"k", 1000, b"body"), 699, "timestamp_stale"),
    ],
)
def test_verification_failures_have_distinct_codes(
    timestamp: str | None, signature: str | None, now: int, code: str
) -> None:
    with pytest.raises(notice.NoticeError) as raised:
        notice.verify(
            b"k",
            timestamp=timestamp,
            signature=signature,
            body=b"body",
            now=now,
            tolerance_seconds=300,
        )
    assert raised.value.code == code


def test_round_trip_of_a_notice() -> None:
    original = notice.CreditNotice(
        transaction_id="FT1",
        bin="970499",
        account_number="001",
        amount=185000,
        description="Nộp phí DVC",
        booked_at=datetime(2026, 11, 22, 2, tzinfo=UTC),
    )
    assert notice.parse(json.dumps(original.to_json()).encode()) == original


def test_amount_beyond_thirteen_digits_is_malformed() -> None:
    body = json.dumps(
        {
            "transaction_id": "t",
            "bin": "970499",
            "account_number": "1",
            "amount": 10**13,
            "description": "",
            "booked_at": "2026-11-22T00:00:00Z",
        }
    )
    with pytest.raises(notice.NoticeError) as raised:
        notice.parse(body.encode())
    assert raised.value.code == "malformed_notice"
