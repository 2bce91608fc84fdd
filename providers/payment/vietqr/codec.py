"""Encode and decode NAPAS VietQR payloads (EMVCo MPM, merchant account info in tag 38).

Pure and deterministic: no I/O, clock or randomness.

Canonical layout written by :func:`encode` (CRC-16/CCITT-FALSE over everything up to and
including ``"6304"``)::

    00 "01" | 01 poi | 38 (00 A000000727, 01 (00 bin, 01 account), 02 service)
    | 52 mcc? | 53 "704" | 54 amount? | 58 "VN" | 59 name? | 60 city?
    | 62 (01 bill?, 05 reference?, 08 purpose?)? | 63 crc
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from .crc import crc_hex
from .errors import (
    CRC_MISMATCH,
    CRC_MISSING,
    INVALID_AMOUNT,
    INVALID_FIELD,
    NON_CONFORMANT,
    NOT_VIETQR,
    UNSUPPORTED_CHARACTER,
    VALUE_TOO_LONG,
    VietQRError,
)
from .model import (
    COUNTRY_VN,
    CURRENCY_VND,
    MAX_AMOUNT,
    NAPAS_GUID,
    POIS,
    SERVICES,
    TEXT_FIELDS,
    VietQR,
    validate,
)
from .text import is_qr_text, to_qr_text
from .tlv import Field, parse, serialize

__all__ = ["VietQR", "decode", "encode"]

# Templates whose value must itself be TLV (EMV MPM: merchant account information 26–51,
# additional data 62, language template 64, unreserved templates 80–99).
_TEMPLATE_TAGS: Final = frozenset({f"{n:02d}" for n in (*range(26, 52), 62, 64, *range(80, 100))})
_MANDATORY_TAGS: Final = ("00", "01", "53", "58")
_ADDITIONAL_DATA: Final = (("01", "bill_number"), ("05", "reference_label"), ("08", "purpose"))
_HEX_RE: Final = re.compile(r"[0-9A-Fa-f]{4}")
_AMOUNT_RE: Final = re.compile(r"[1-9][0-9]*")


def encode(qr: VietQR) -> str:
    """Return the canonical VietQR payload for ``qr`` (see the module docstring).

    Text fields are folded with :func:`~.text.to_qr_text`. ``qr`` is re-validated, so any
    bad field raises :class:`~.errors.VietQRError` with its code; the CRC is upper-case.
    """
    poi = validate(qr)
    account_info = serialize([("00", qr.bin), ("01", qr.account)])
    merchant_info = serialize([("00", NAPAS_GUID), ("01", account_info), ("02", qr.service)])
    fields: list[Field] = [("00", "01"), ("01", poi), ("38", merchant_info)]
    if qr.mcc is not None:
        fields.append(("52", qr.mcc))
    fields.append(("53", qr.currency))
    if qr.amount is not None:
        fields.append(("54", str(qr.amount)))
    fields.append(("58", qr.country))
    for tag, name in (("59", "merchant_name"), ("60", "merchant_city")):
        text = _text(qr, name)
        if text is not None:
            fields.append((tag, text))
    additional = [(sub, text) for sub, name in _ADDITIONAL_DATA if (text := _text(qr, name))]
    if additional:
        fields.append(("62", serialize(additional)))
    body = serialize(fields) + "6304"
    return body + crc_hex(body)


def _text(qr: VietQR, name: str) -> str | None:
    value: str | None = getattr(qr, name)
    if value is None:
        return None
    return to_qr_text(value, name, TEXT_FIELDS[name][1])


def decode(payload: str) -> VietQR:
    """Parse and verify a VietQR payload; return its :class:`VietQR`.

    Checks, in order (first failure wins):
      1. TLV syntax of the payload (``tlv_malformed``);
      2. tag 63 is last and 4 hex digits (``crc_missing``), any case, and equals the
         CRC of everything before its value (``crc_mismatch``);
      3. TLV syntax of every template (``tlv_malformed``; 38.01 after step 4);
         no duplicate tags, 00 = "01" (``non_conformant``);
      4. tag 38 exists with GUID A000000727 (``not_vietqr``);
      5. 38 holds exactly 00/01/02, 38.01 exactly 00/01, service, POI 11/12,
         53 = 704, 58 = VN, MCC and BIN/account formats (``non_conformant``);
      6. amount is plain digits without leading zero or fraction (``invalid_amount``);
      7. text fields are printable ASCII (``unsupported_character``) within their
         maximum length (``value_too_long``).
    Top-level tags may come in any order; well-formed tags it does not use are ignored.
    Values are kept exactly as written, including the POI (11 with an amount stays 11).
    """
    if not isinstance(payload, str):
        raise VietQRError(INVALID_FIELD, f"payload must be str, got {type(payload).__name__}")
    fields = parse(payload)
    _check_crc(payload, fields)
    templates = {tag: parse(value, tag) for tag, value in fields if tag in _TEMPLATE_TAGS}
    top = _unique(fields, "payload")

    missing = [tag for tag in _MANDATORY_TAGS if tag not in top]
    if top.get("00", "01") != "01":
        raise _nonconformant("00", f"payload format indicator must be '01', got {top['00']!r}")
    if "38" not in top:
        raise VietQRError(NOT_VIETQR, "no NAPAS merchant account information (tag 38)", "38")
    merchant = _unique(templates["38"], "38")
    guid = merchant.get("00")
    if guid != NAPAS_GUID:
        raise VietQRError(NOT_VIETQR, f"tag 38 GUID is {guid!r}, not {NAPAS_GUID}", "38.00")
    if missing:
        raise _nonconformant(missing[0], f"mandatory tag(s) {', '.join(missing)} missing")
    if "01" not in merchant:
        raise _nonconformant("38.01", "beneficiary organisation (38.01) missing")
    account_info = _unique(parse(merchant["01"], "38.01"), "38.01")
    if "02" in account_info and "02" not in merchant:
        raise _nonconformant("38.02", "service code nested inside 38.01; 38.02 missing")
    _expect_tags(merchant, {"00", "01", "02"}, "38")
    _expect_tags(account_info, {"00", "01"}, "38.01")
    if merchant["02"] not in SERVICES:
        raise _nonconformant("38.02", f"unknown service code {merchant['02']!r}")
    if top["01"] not in POIS:
        raise _nonconformant("01", f"point of initiation must be 11 or 12, got {top['01']!r}")
    if top["53"] != CURRENCY_VND:
        raise _nonconformant("53", f"currency must be {CURRENCY_VND}, got {top['53']!r}")
    if top["58"] != COUNTRY_VN:
        raise _nonconformant("58", f"country must be {COUNTRY_VN}, got {top['58']!r}")

    amount = _decode_amount(top.get("54"))
    additional = _unique(templates["62"], "62") if "62" in top else {}
    texts = {name: additional.get(sub) for sub, name in _ADDITIONAL_DATA}
    texts["merchant_name"] = top.get("59")
    texts["merchant_city"] = top.get("60")
    for name, value in texts.items():
        if value is not None:
            _check_text(name, value)
    try:
        return VietQR(
            bin=account_info["00"],
            account=account_info["01"],
            service=merchant["02"],
            amount=amount,
            purpose=texts["purpose"],
            bill_number=texts["bill_number"],
            reference_label=texts["reference_label"],
            merchant_name=texts["merchant_name"],
            merchant_city=texts["merchant_city"],
            mcc=top.get("52"),
            currency=top["53"],
            country=top["58"],
            poi=top["01"],
        )
    except VietQRError as exc:
        # A bad BIN/account/MCC inside a payload is a conformance failure of the payload,
        # not a caller's mistake; the length/amount/character codes stay as they are.
        if exc.code == INVALID_FIELD:
            raise VietQRError(NON_CONFORMANT, exc.message, exc.field) from exc
        raise


def _check_crc(payload: str, fields: list[Field]) -> None:
    tag, value = fields[-1]
    if tag != "63":
        raise VietQRError(CRC_MISSING, "the last field must be the CRC (tag 63)", "63")
    if not _HEX_RE.fullmatch(value):
        raise VietQRError(CRC_MISSING, f"CRC must be 4 hex digits, got {value!r}", "63")
    expected = crc_hex(payload[:-4])
    if value.upper() != expected:
        raise VietQRError(CRC_MISMATCH, f"CRC is {value}, computed {expected}", "63")


def _unique(fields: list[Field], where: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for tag, value in fields:
        if tag in result:
            path = tag if where == "payload" else f"{where}.{tag}"
            raise _nonconformant(path, f"tag {path} appears more than once")
        result[tag] = value
    return result


def _expect_tags(found: Mapping[str, str], expected: set[str], where: str) -> None:
    missing = [f"{where}.{t}" for t in sorted(expected - found.keys())]
    extra = [f"{where}.{t}" for t in sorted(found.keys() - expected)]
    if missing:
        raise _nonconformant(where, f"missing {', '.join(missing)}")
    if extra:
        raise _nonconformant(where, f"unexpected {', '.join(extra)}")


def _decode_amount(text: str | None) -> int | None:
    if text is None:
        return None
    if "." in text:
        raise VietQRError(INVALID_AMOUNT, f"VND has no minor unit, got {text!r}", "54")
    if len(text) > len(str(MAX_AMOUNT)) or not _AMOUNT_RE.fullmatch(text):
        raise VietQRError(
            INVALID_AMOUNT, f"amount must be 1-13 digits without leading zero, got {text!r}", "54"
        )
    return int(text)


def _check_text(name: str, value: str) -> None:
    tag, max_len = TEXT_FIELDS[name]
    if not is_qr_text(value):
        raise VietQRError(UNSUPPORTED_CHARACTER, f"{tag} holds non-ASCII text {value!r}", name)
    if len(value) > max_len:
        raise VietQRError(VALUE_TOO_LONG, f"{tag} is {len(value)} characters, max {max_len}", name)


def _nonconformant(field: str, message: str) -> VietQRError:
    return VietQRError(NON_CONFORMANT, message, field)
