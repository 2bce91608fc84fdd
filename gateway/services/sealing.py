"""Sealing personal data before it is stored (phones, e-mail addresses, ID numbers, postal
addresses): :mod:`gateway.core.pii` with the configured key ring and a fresh nonce each time."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from gateway.core import pii


class Sealer:
    def __init__(self, keyring: Mapping[str, bytes], current_key_id: str) -> None:
        self.keyring = dict(keyring)
        self.current_key_id = current_key_id

    def seal(self, value: str, field: str) -> str:
        return pii.seal(
            value,
            keyring=self.keyring,
            key_id=self.current_key_id,
            field=field,
            nonce=secrets.token_bytes(pii.NONCE_BYTES),
        )

    def open(self, token: str, field: str) -> str:
        return pii.open_sealed(token, keyring=self.keyring, field=field)
