"""Building blocks: CRC-16/CCITT-FALSE, strict TLV and Vietnamese text folding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers.payment.vietqr import VietQRError, fold_vietnamese, to_qr_text
from providers.payment.vietqr.crc import crc16_ccitt_false, crc_hex
from providers.payment.vietqr.errors import ERROR_CODES
from providers.payment.vietqr.tlv import parse, serialize


def test_crc16_ccitt_false_check_value() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc16_ccitt_false(b"") == 0xFFFF


def test_crc_hex_is_four_upper_case_digits_with_leading_zero() -> None:
    body = "00020101021138580010A000000727012800069704070114190304136010180208QRIBFTTA"
    assert crc_hex(body + "53037045802VN6304") == "0283"
    assert crc_hex("123456789") == "29B1"


@given(st.text(max_size=300))
def test_crc_hex_is_the_crc16_ccitt_false_of_the_utf8_text(text: str) -> None:
    assert crc_hex(text) == f"{crc16_ccitt_false(text.encode()):04X}"


def test_tlv_ids_and_lengths_are_two_ascii_digits() -> None:
    assert serialize([("00", "01"), ("99", "x")]) == "000201" + "9901x"
    for bad in ("0", "000", "1a", "²3", "٣1", " 1", ""):
        with pytest.raises(VietQRError):
            serialize([(bad, "x")])


def test_tlv_round_trip_preserves_order_and_duplicates() -> None:
    fields = [("62", "x"), ("00", "01"), ("62", "y" * 99)]
    assert parse(serialize(fields)) == fields


def test_tlv_value_over_99_characters_is_value_too_long() -> None:
    with pytest.raises(VietQRError) as caught:
        serialize([("62", "y" * 100)])
    assert caught.value.code == "value_too_long"


@pytest.mark.parametrize("fields", [[("6", "x")], [("A1", "x")], [("62", "")]])
def test_tlv_serialize_rejects_bad_id_or_empty_value(fields: list[tuple[str, str]]) -> None:
    with pytest.raises(VietQRError) as caught:
        serialize(fields)
    assert caught.value.code == "invalid_field"


def test_tlv_error_names_the_template() -> None:
    with pytest.raises(VietQRError) as caught:
        parse("0005abc", "62")
    assert caught.value.code == "tlv_malformed"
    assert caught.value.field == "62"


def test_error_carries_code_message_and_field() -> None:
    error = VietQRError("crc_mismatch", "CRC is 0000, computed 1234", "63")
    assert isinstance(error, ValueError)
    assert (error.code, error.message, error.field) == ("crc_mismatch", error.message, "63")
    assert str(error) == "crc_mismatch: CRC is 0000, computed 1234"
    with pytest.raises(ValueError, match="unknown"):
        VietQRError("oops", "x")
    assert {
        "tlv_malformed",
        "crc_missing",
        "not_vietqr",
        "non_conformant",
        "unsupported_character",
        "invalid_amount",
        "invalid_field",
    } <= ERROR_CODES


def test_fold_vietnamese_removes_every_tone_and_vowel_mark() -> None:
    assert fold_vietnamese("Lệ phí cấp đổi hộ chiếu") == "Le phi cap doi ho chieu"
    assert fold_vietnamese("ĂÂÊÔƠƯĐ ăâêôơưđ") == "AAEOOUD aaeooud"
    assert fold_vietnamese("Ỳ Ý Ỷ Ỹ Ỵ ỳ ý ỷ ỹ ỵ") == "Y Y Y Y Y y y y y y"


def test_fold_vietnamese_changes_nothing_else() -> None:
    text = "  Mã HS: 000.12-AB/2024\t(x2)  한국 "
    assert fold_vietnamese(text) == "  Ma HS: 000.12-AB/2024\t(x2)  한국 "


def test_fold_vietnamese_accepts_decomposed_input() -> None:
    assert fold_vietnamese("Vie\u0302\u0323t Nam") == "Viet Nam"


def test_to_qr_text_folds_and_collapses_whitespace() -> None:
    assert to_qr_text(" Nộp\tphí\n\u00a0hồ sơ ", "purpose", 25) == "Nop phi ho so"


def test_to_qr_text_names_the_field_on_an_unsupported_character() -> None:
    with pytest.raises(VietQRError) as caught:
        to_qr_text("phí 收费", "transfer_text", 50)
    assert caught.value.code == "unsupported_character"
    assert caught.value.field == "transfer_text"
    assert "transfer_text" in caught.value.message


def test_to_qr_text_names_the_field_when_too_long() -> None:
    with pytest.raises(VietQRError) as caught:
        to_qr_text("Lệ phí", "memo", 5)
    assert caught.value.code == "value_too_long"
    assert caught.value.field == "memo"
