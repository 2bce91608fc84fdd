"""Small builders shared by the VietQR tests (real code, no mocks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from providers.payment.vietqr.crc import crc_hex
from providers.payment.vietqr.tlv import serialize

VECTORS_PATH = Path(__file__).resolve().parents[3] / "vectors" / "vietqr_public.json"


def load_vectors() -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    vectors: list[dict[str, Any]] = data["vectors"]
    return vectors


def with_crc(body: str) -> str:
    """Append a correct tag 63 to ``body`` (which must not already end in 6304)."""
    head = body + "6304"
    return head + crc_hex(head)


def merchant_info(
    bin_: str = "970436",
    account: str = "1017595600",
    service: str | None = "QRIBFTTA",
    guid: str = "A000000727",
    account_extra: list[tuple[str, str]] | None = None,
) -> str:
    """Tag 38 value; ``service=None`` omits 38.02, ``account_extra`` adds 38.01 sub-tags."""
    account_info = serialize([("00", bin_), ("01", account), *(account_extra or [])])
    fields = [("00", guid), ("01", account_info)]
    if service is not None:
        fields.append(("02", service))
    return serialize(fields)


def payload(
    *,
    replace: dict[str, str | None] | None = None,
    extra: list[tuple[str, str]] | None = None,
) -> str:
    """A valid dynamic VietQR with top-level tags overridden (``None`` drops a tag)."""
    fields: dict[str, str | None] = {
        "00": "01",
        "01": "12",
        "38": merchant_info(),
        "53": "704",
        "54": "180000",
        "58": "VN",
        "62": serialize([("08", "thanh toan don hang")]),
    }
    fields.update(replace or {})
    items = [(tag, value) for tag, value in fields.items() if value is not None]
    return with_crc(serialize([*items, *(extra or [])]))
