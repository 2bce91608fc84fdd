from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.core.pii import PiiError, mask_id_number, open_sealed, seal

OLD_KEY = bytes(range(32))
NEW_KEY = bytes(range(32, 64))
NONCE = bytes(range(12))
KEYRING = {"2025a": OLD_KEY, "2026a": NEW_KEY}

# AES-256-GCM, key 00..1f, nonce 00..0b, AAD b"v1.k1.recipient_phone", plaintext "0912345678".
GOLDEN = "v1.k1.AAECAwQFBgcICQoLdzvnKfbR9y26efY1VcXzQ6pWd3OvZmA-IGM"


def test_a_sealed_value_opens_to_the_original_text() -> None:
    text = "Số 1 Công xã Paris, Phường Sài Gòn"
    token = seal(text, keyring=KEYRING, key_id="2026a", field="address", nonce=NONCE)
    assert token.startswith("v1.2026a.")
    assert text not in token
    assert open_sealed(token, keyring=KEYRING, field="address") == text


def test_the_golden_token_from_a_fixed_key_and_nonce() -> None:
    token = seal(
        "0912345678", keyring={"k1": OLD_KEY}, key_id="k1", field="recipient_phone", nonce=NONCE
    )
    assert token == GOLDEN
    # The format, checked independently of pii.py.
    raw = base64.urlsafe_b64decode(GOLDEN.split(".")[2] + "=")
    assert raw[:12] == NONCE
    assert AESGCM(OLD_KEY).decrypt(raw[:12], raw[12:], b"v1.k1.recipient_phone") == b"0912345678"


def test_flipping_any_byte_of_the_sealed_body_is_detected() -> None:
    token = seal("0912345678", keyring=KEYRING, key_id="2026a", field="phone", nonce=NONCE)
    prefix, body = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    for index in range(len(raw)):
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        forged = prefix + "." + base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode()
        with pytest.raises(PiiError) as caught:
            open_sealed(forged, keyring=KEYRING, field="phone")
        assert caught.value.code == "tampered", index


def test_a_token_moved_to_another_field_is_refused() -> None:
    token = seal("0912345678", keyring=KEYRING, key_id="2026a", field="phone", nonce=NONCE)
    with pytest.raises(PiiError) as caught:
        open_sealed(token, keyring=KEYRING, field="address")
    assert caught.value.code == "tampered"


def test_a_token_relabelled_with_another_key_id_is_refused() -> None:
    token = seal("0912345678", keyring=KEYRING, key_id="2026a", field="phone", nonce=NONCE)
    relabelled = token.replace("v1.2026a.", "v1.2025a.")
    with pytest.raises(PiiError) as caught:
        open_sealed(relabelled, keyring=KEYRING, field="phone")
    assert caught.value.code == "tampered"


def test_a_token_sealed_with_an_old_key_opens_while_that_key_stays_in_the_keyring() -> None:
    old = seal("012345678901", keyring=KEYRING, key_id="2025a", field="id_number", nonce=NONCE)
    assert open_sealed(old, keyring=KEYRING, field="id_number") == "012345678901"
    new = seal("012345678901", keyring=KEYRING, key_id="2026a", field="id_number", nonce=NONCE)
    assert new != old
    retired = {"2026a": NEW_KEY}
    assert open_sealed(new, keyring=retired, field="id_number") == "012345678901"
    with pytest.raises(PiiError) as caught:
        open_sealed(old, keyring=retired, field="id_number")
    assert caught.value.code == "unknown_key"


def test_sealing_with_a_key_id_not_in_the_keyring_is_refused() -> None:
    with pytest.raises(PiiError) as caught:
        seal("x", keyring=KEYRING, key_id="1999z", field="phone", nonce=NONCE)
    assert caught.value.code == "unknown_key"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "v1",
        "v1.k1",
        "v2.k1.AAECAwQFBgcICQoLdzvnKfbR9y26efY1VcXzQ6pWd3OvZmA-IGM",
        "v1.k1.AAECAwQFBgcICQoLdzvnKfbR9y26efY1VcXzQ6pWd3OvZmA+IGM",  # not base64url
        "v1.k1.AAECAwQFBgcICQoL",  # too short to hold a tag
        "v1.k1.A",  # not decodable
        "v1.k.1.AAECAwQFBgcICQoLdzvnKfbR9y26efY1VcXzQ6pWd3OvZmA-IGM",
        "v1..AAECAwQFBgcICQoLdzvnKfbR9y26efY1VcXzQ6pWd3OvZmA-IGM",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(PiiError) as caught:
        open_sealed(token, keyring={"k1": OLD_KEY, "k": OLD_KEY}, field="recipient_phone")
    assert caught.value.code == "malformed"


def test_bad_inputs_to_seal_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="nonce"):
        seal("x", keyring=KEYRING, key_id="2026a", field="phone", nonce=bytes(8))
    with pytest.raises(ValueError, match="key id"):
        seal("x", keyring=KEYRING, key_id="a.b", field="phone", nonce=NONCE)
    with pytest.raises(ValueError, match="32 bytes"):
        seal("x", keyring={"short": bytes(16)}, key_id="short", field="phone", nonce=NONCE)


def test_an_id_number_is_masked_but_for_its_last_four_characters() -> None:
    assert mask_id_number("012345678901") == "********8901"
    assert mask_id_number("1234") == "****"
    assert mask_id_number("") == ""
