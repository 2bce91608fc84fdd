"""encode() and the VietQR value object: canonical output and every rejection code."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from providers.payment.vietqr import VietQR, VietQRError, decode, encode
from providers.payment.vietqr.crc import crc_hex
from providers.payment.vietqr.tlv import parse


def _code_of(**fields: Any) -> str:
    kwargs: dict[str, Any] = {"bin": "970436", "account": "1017595600", **fields}
    with pytest.raises(VietQRError) as caught:
        encode(VietQR(**kwargs))
    return caught.value.code


def test_dynamic_qr_matches_published_vector_p12() -> None:
    qr = VietQR(bin="970436", account="1017595600", amount=180000, purpose="thanh toan don hang")

    assert encode(qr) == (
        "00020101021238540010A00000072701240006970436011010175956000208QRIBFTTA"
        "530370454061800005802VN62230819thanh toan don hang630470FA"
    )


def test_all_fields_are_written_in_canonical_order_with_a_valid_crc() -> None:
    qr = VietQR(
        bin="970422",
        account="660704060000129",
        amount=100,
        purpose="INVTEST0001",
        bill_number="B1",
        reference_label="R1",
        merchant_name="company_1_data",
        merchant_city="Vietnam",
        mcc="0000",
    )

    text = encode(qr)
    tags = [tag for tag, _ in parse(text)]

    assert tags == ["00", "01", "38", "52", "53", "54", "58", "59", "60", "62", "63"]
    assert [t for t, _ in parse(dict(parse(text))["62"])] == ["01", "05", "08"]
    assert text[-4:] == crc_hex(text[:-4])
    assert decode(text) == qr


def test_poi_is_dynamic_with_an_amount_and_static_without() -> None:
    assert VietQR(bin="970436", account="1", amount=1).poi == "12"
    assert VietQR(bin="970436", account="1").poi == "11"


def test_explicit_poi_is_kept_even_when_it_disagrees_with_the_amount() -> None:
    qr = VietQR(bin="970436", account="1", amount=5, poi="11")

    assert dict(parse(encode(qr)))["01"] == "11"
    assert decode(encode(qr)).poi == "11"


def test_fee_text_with_vietnamese_diacritics_is_folded() -> None:
    qr = VietQR(
        bin="970436", account="1017595600", amount=200000, purpose="Lệ phí cấp đổi hộ chiếu"
    )

    assert decode(encode(qr)).purpose == "Le phi cap doi ho chieu"


def test_merchant_name_whitespace_is_collapsed_before_encoding() -> None:
    qr = VietQR(bin="970436", account="1", merchant_name="  Sở Tư pháp\tHà  Nội ")

    assert decode(encode(qr)).merchant_name == "So Tu phap Ha Noi"


def test_purpose_that_cannot_be_folded_is_rejected_with_unsupported_character() -> None:
    with pytest.raises(VietQRError) as caught:
        VietQR(bin="970436", account="1", purpose="nộp phí 😀")

    assert caught.value.code == "unsupported_character"
    assert caught.value.field == "purpose"
    assert "purpose" in str(caught.value)


def test_purpose_longer_than_25_characters_after_folding_is_value_too_long() -> None:
    assert decode(encode(VietQR(bin="970436", account="1", purpose="x" * 25))).purpose == "x" * 25
    with pytest.raises(VietQRError) as caught:
        VietQR(bin="970436", account="1", purpose="Lệ phí cấp đổi hộ chiếu 12")

    assert caught.value.code == "value_too_long"
    assert caught.value.field == "purpose"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bill_number", "B" * 26),
        ("reference_label", "R" * 26),
        ("merchant_name", "N" * 26),
        ("merchant_city", "Thanh pho Ho Chi Minh"),
    ],
)
def test_text_fields_over_their_limit_are_value_too_long(field: str, value: str) -> None:
    assert _code_of(**{field: value}) == "value_too_long"


def test_account_longer_than_19_characters_is_value_too_long() -> None:
    assert _code_of(account="1" * 20) == "value_too_long"
    assert decode(encode(VietQR(bin="970436", account="A1" * 9 + "Z"))).account == "A1" * 9 + "Z"


@pytest.mark.parametrize("amount", [0, -1, 10**13, 1.5, True, "100"])
def test_amount_outside_1_to_13_digit_vnd_is_invalid_amount(amount: object) -> None:
    assert _code_of(amount=amount) == "invalid_amount"


def test_largest_13_digit_amount_round_trips() -> None:
    qr = VietQR(bin="970436", account="1", amount=9_999_999_999_999)

    assert dict(parse(encode(qr)))["54"] == "9999999999999"
    assert decode(encode(qr)) == qr


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bin", "97043"),
        ("bin", "97043a"),
        ("bin", "٩٧٠٤٣٦"),  # Arabic-Indic digits are digits to str.isdigit, not to EMV
        ("account", ""),
        ("account", "0011-0123"),
        ("account", "tài khoản"),
        ("service", "QRPUSH"),
        ("mcc", "58120"),
        ("currency", "840"),
        ("country", "US"),
        ("poi", "13"),
        ("purpose", "   "),
        ("merchant_city", 7),
    ],
)
def test_bad_field_values_are_invalid_field(field: str, value: object) -> None:
    assert _code_of(**{field: value}) == "invalid_field"


def test_replace_revalidates_the_frozen_value() -> None:
    qr = VietQR(bin="970436", account="1")

    with pytest.raises(VietQRError) as caught:
        dataclasses.replace(qr, bin="1")

    assert caught.value.code == "invalid_field"
    with pytest.raises(dataclasses.FrozenInstanceError):
        qr.amount = 5  # type: ignore[misc]
