"""Standard Webhooks signing (https://www.standardwebhooks.com/, symmetric scheme ``v1``).

What a receiver gets::

    POST <endpoint url>
    webhook-id: evt_2kwpbgllafxdpx2ai54ppj85f4        (same on every retry: the idempotency key)
    webhook-timestamp: 1674087231                      (Unix seconds of this attempt)
    webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")> [v1,... ]
    content-type: application/json

The key is the base64 text after ``whsec_`` in the endpoint's secret. While a secret is being
rotated the message is signed with each live secret and the signatures are space-separated; a
receiver accepts the message when any one of them verifies.

Everything here is pure: secrets, random bytes, ids and the timestamp are arguments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 -- the format's marker, not a secret
SECRET_BYTES = 32
# The specification's bounds for a symmetric key: at least 192 bits, at most 512 bits.
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
SIGNATURE_VERSION = "v1"

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def generate_secret(random_bytes: bytes) -> str:
    """Format fresh key material as a secret; pass ``secrets.token_bytes(SECRET_BYTES)``."""
    if len(random_bytes) != SECRET_BYTES:
        raise ValueError(f"a webhook secret needs exactly {SECRET_BYTES} random bytes")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode("ascii")


def decode_secret(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_`` secret (the prefix is optional, as receivers allow)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret is not valid base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"webhook secret must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes,"
            f" not {len(key)}"
        )
    return key


def _signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    # The specification warns that a "." inside the id would make "<id>.<timestamp>." ambiguous.
    if not msg_id or "." in msg_id or not all("!" <= char <= "~" for char in msg_id):
        raise ValueError("webhook id must be visible ASCII characters other than '.'")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("webhook timestamp must be non-negative Unix seconds")
    return f"{msg_id}.{timestamp}.".encode() + body


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of the exact body bytes that will be sent."""
    digest = hmac.new(
        decode_secret(secret), _signed_content(msg_id, timestamp, body), hashlib.sha256
    ).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Space-separated signatures, one per secret, in the order given (new secret first)."""
    if isinstance(secrets, str):
        # A bare string is a Sequence[str] of characters; signing with each would be nonsense.
        raise TypeError("secrets must be a sequence of secrets, not one string")
    if not secrets:
        raise ValueError("at least one secret is needed to sign a webhook")
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of a delivery attempt; ``body`` must be the JSON bytes sent unchanged."""
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(secrets, msg_id, timestamp, body),
        "content-type": "application/json",
    }
