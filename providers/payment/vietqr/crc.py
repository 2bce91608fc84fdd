"""CRC-16/CCITT-FALSE, the checksum of EMVCo merchant-presented QR codes (tag 63).

Parameters: width 16, polynomial 0x1021, initial value 0xFFFF, input and output not
reflected, no final XOR. Check value: ``crc16_ccitt_false(b"123456789") == 0x29B1``.
"""

from __future__ import annotations

import binascii
from typing import Final


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE: Final = _make_table()


def crc16_ccitt_false(data: bytes) -> int:
    """Return the CRC-16/CCITT-FALSE of ``data`` as an int in 0..0xFFFF."""
    crc = 0xFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[(crc >> 8) ^ byte]
    return crc


def crc_hex(data: str) -> str:
    """Return the CRC of ``data`` (UTF-8 encoded) as 4 upper-case hex digits.

    For an EMV payload pass everything up to and including ``"6304"``. Computed by
    ``binascii.crc_hqx`` (the same CRC: polynomial 0x1021, not reflected, here from
    0xFFFF; in C, as every payment's QR needs one), which a test checks against
    :func:`crc16_ccitt_false`.
    """
    return f"{binascii.crc_hqx(data.encode('utf-8'), 0xFFFF):04X}"
