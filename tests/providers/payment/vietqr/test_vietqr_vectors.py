"""Published VietQR payloads (tests/vectors/vietqr_public.json) decode as documented."""

from __future__ import annotations

from typing import Any

import pytest
from vietqr_helpers import load_vectors

from providers.payment.vietqr import VietQRError, decode, encode
from providers.payment.vietqr.crc import crc_hex
from providers.payment.vietqr.model import NAPAS_GUID
from providers.payment.vietqr.tlv import parse

VECTORS = load_vectors()
# Accept vectors that encode() cannot reproduce byte for byte, and why.
NON_CANONICAL = {
    "P7": "lower-case CRC",
    "S2": "top-level fields out of canonical order",
}
OPTIONAL_TEXT = (
    "bill_number",
    "reference_label",
    "purpose",
    "mcc",
    "merchant_name",
    "merchant_city",
)


def _by_expect(expect: str) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in VECTORS if v["expect"] == expect]


def test_vector_file_covers_accept_reject_and_foreign_payloads() -> None:
    assert {v["expect"] for v in VECTORS} == {"accept", "reject", "not_vietqr"}
    assert len({v["id"] for v in VECTORS}) == len(VECTORS)
    assert NON_CANONICAL.keys() <= {v["id"] for v in VECTORS if v["expect"] == "accept"}


@pytest.mark.parametrize("vector", [pytest.param(v, id=v["id"]) for v in VECTORS])
def test_crc_ok_flag_matches_recomputed_crc(vector: dict[str, Any]) -> None:
    qr: str = vector["qr"]
    assert qr[-8:-4] == "6304"
    assert (crc_hex(qr[:-4]) == qr[-4:].upper()) is vector["crc_ok"]
    if "crc" in vector:
        assert qr[-4:] == vector["crc"]


@pytest.mark.parametrize("vector", _by_expect("accept"))
def test_accepted_vector_decodes_to_every_listed_field(vector: dict[str, Any]) -> None:
    qr = decode(vector["qr"])

    assert qr.poi == vector["poi"]
    assert qr.bin == vector["bin"]
    assert qr.account == vector["account"]
    assert qr.service == vector["service"]
    assert qr.currency == vector["currency"]
    assert qr.country == vector["country"]
    assert qr.amount == (int(vector["amount"]) if "amount" in vector else None)
    for name in OPTIONAL_TEXT:
        assert getattr(qr, name) == vector.get(name), name
    merchant = dict(parse(dict(parse(vector["qr"]))["38"]))
    assert merchant["00"] == vector["guid"] == NAPAS_GUID


@pytest.mark.parametrize("vector", _by_expect("accept"))
def test_accepted_vector_reencodes_to_the_same_value(vector: dict[str, Any]) -> None:
    qr = decode(vector["qr"])
    again = encode(qr)

    assert decode(again) == qr
    if vector["id"] in NON_CANONICAL:
        assert again != vector["qr"]
    else:
        assert again == vector["qr"]


@pytest.mark.parametrize("vector", _by_expect("reject"))
def test_rejected_vector_raises_the_documented_code(vector: dict[str, Any]) -> None:
    expected = vector["reason"].split()[0].lower()

    with pytest.raises(VietQRError) as caught:
        decode(vector["qr"])

    assert caught.value.code == expected


@pytest.mark.parametrize("vector", _by_expect("not_vietqr"))
def test_foreign_emv_payload_is_not_vietqr(vector: dict[str, Any]) -> None:
    with pytest.raises(VietQRError) as caught:
        decode(vector["qr"])

    assert caught.value.code == "not_vietqr"
    # It is still well-formed EMV with a valid CRC: the refusal is about the scheme.
    top = dict(parse(vector["qr"]))
    assert top["01"] == vector["poi"]
    assert dict(parse(top["26"]))["00"] == vector["guid"]
