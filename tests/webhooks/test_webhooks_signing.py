"""Standard Webhooks signing: the published vector, an independent HMAC, and the reference
verifier (the PyPI ``standardwebhooks`` package) as the receiver would run it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from webhooks import signing

VECTOR_PATH = Path(__file__).resolve().parents[1] / "vectors" / "standard_webhooks_reference.json"
NEW_SECRET = signing.generate_secret(bytes(range(32)))
OLD_SECRET = signing.generate_secret(bytes(range(100, 132)))
BODY = b'{"type":"payment.succeeded","data":{"payment_id":"pay_01","amount":185000}}'


def reference_vector() -> dict[str, Any]:
    vector: dict[str, Any] = json.loads(VECTOR_PATH.read_text(encoding="utf-8"))
    return vector


def signed_now(secrets: list[str], body: bytes = BODY, msg_id: str = "msg_01") -> dict[str, str]:
    # The reference verifier checks the timestamp against the real clock (5 minutes either way).
    return signing.headers(secrets, msg_id, int(time.time()), body)


def test_signature_matches_the_published_reference_vector() -> None:
    vector = reference_vector()
    assert (
        signing.sign(
            vector["secret"], vector["msg_id"], vector["timestamp"], vector["body"].encode()
        )
        == vector["signature"]
    )


def test_signature_is_base64_hmac_sha256_over_id_dot_timestamp_dot_body() -> None:
    key = bytes(range(32))
    expected = base64.b64encode(
        hmac.new(key, b"msg_01.1763776800." + BODY, hashlib.sha256).digest()
    ).decode()
    assert signing.sign(NEW_SECRET, "msg_01", 1763776800, BODY) == f"v1,{expected}"


def test_generated_secret_is_whsec_and_base64_of_the_random_bytes() -> None:
    random_bytes = bytes(range(32))
    secret = signing.generate_secret(random_bytes)
    assert secret == "whsec_" + base64.b64encode(random_bytes).decode()
    assert signing.decode_secret(secret) == random_bytes


def test_generate_secret_wants_exactly_32_bytes() -> None:
    with pytest.raises(ValueError, match="32"):
        signing.generate_secret(b"\x00" * 31)


def test_decode_secret_accepts_the_bare_base64_form() -> None:
    assert signing.decode_secret(NEW_SECRET.removeprefix("whsec_")) == bytes(range(32))


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_" + base64.b64encode(b"\x01" * 23).decode(),  # shorter than 24 bytes
        "whsec_" + base64.b64encode(b"\x01" * 65).decode(),  # longer than 64 bytes
        "whsec_",
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"\x01" * 32).decode().rstrip("="),  # padding removed
    ],
)
def test_decode_secret_rejects_short_long_and_malformed_secrets(secret: str) -> None:
    with pytest.raises(ValueError):
        signing.decode_secret(secret)


@pytest.mark.parametrize("msg_id", ["", "msg.01", "msg 01", "msg\n01", "msg_é"])
def test_an_id_that_would_make_the_signed_text_ambiguous_is_refused(msg_id: str) -> None:
    with pytest.raises(ValueError):
        signing.sign(NEW_SECRET, msg_id, 1, BODY)


def test_a_negative_timestamp_is_refused() -> None:
    with pytest.raises(ValueError):
        signing.sign(NEW_SECRET, "msg_01", -1, BODY)


def test_headers_carry_id_integer_timestamp_signature_and_json_content_type() -> None:
    headers = signing.headers([NEW_SECRET], "msg_01", 1763776800, BODY)
    assert headers == {
        "webhook-id": "msg_01",
        "webhook-timestamp": "1763776800",
        "webhook-signature": signing.sign(NEW_SECRET, "msg_01", 1763776800, BODY),
        "content-type": "application/json",
    }


def test_the_reference_verifier_accepts_our_delivery() -> None:
    headers = signed_now([NEW_SECRET])
    assert Webhook(NEW_SECRET).verify(BODY, headers) == json.loads(BODY)


def test_during_rotation_each_secret_alone_verifies_the_message() -> None:
    headers = signed_now([NEW_SECRET, OLD_SECRET])
    new_signature, old_signature = headers["webhook-signature"].split(" ")
    assert new_signature == signing.sign(
        NEW_SECRET, "msg_01", int(headers["webhook-timestamp"]), BODY
    )
    assert old_signature == signing.sign(
        OLD_SECRET, "msg_01", int(headers["webhook-timestamp"]), BODY
    )
    Webhook(NEW_SECRET).verify(BODY, headers)
    Webhook(OLD_SECRET).verify(BODY, headers)
    unrelated = signing.generate_secret(b"\xff" * 32)
    with pytest.raises(WebhookVerificationError):
        Webhook(unrelated).verify(BODY, headers)


def test_signing_without_any_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        signing.signature_header([], "msg_01", 1, BODY)


def test_a_single_secret_string_is_not_mistaken_for_a_list_of_secrets() -> None:
    with pytest.raises(TypeError):
        signing.signature_header(NEW_SECRET, "msg_01", 1, BODY)


def test_a_tampered_body_fails_verification() -> None:
    headers = signed_now([NEW_SECRET])
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW_SECRET).verify(BODY.replace(b"185000", b"1850000"), headers)


def test_a_tampered_id_fails_verification() -> None:
    headers = signed_now([NEW_SECRET]) | {"webhook-id": "msg_02"}
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW_SECRET).verify(BODY, headers)


def test_a_tampered_timestamp_fails_verification() -> None:
    headers = signed_now([NEW_SECRET])
    # One second later is still inside the receiver's window, so only the signature can fail.
    headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + 1)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(NEW_SECRET).verify(BODY, headers)
