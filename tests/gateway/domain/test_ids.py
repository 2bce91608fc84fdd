"""Ids: 26 lower-case base-32 characters, the first 130 bits of 17 random bytes."""

from __future__ import annotations

import base64
import re
import secrets

from gateway.core.ids import id_token, new_id


def test_an_id_token_is_the_start_of_the_bytes_base32() -> None:
    samples = [
        bytes(17),
        b"\xff" * 17,
        bytes(range(17)),
        *(secrets.token_bytes(17) for _ in range(500)),
    ]
    for raw in samples:
        assert id_token(raw) == base64.b32encode(raw).decode().rstrip("=").lower()[:26]


def test_a_new_id_is_its_prefix_and_26_base32_characters() -> None:
    ids = {new_id("pay") for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"pay_[a-z2-7]{26}", value) for value in ids)
