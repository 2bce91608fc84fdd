"""decode(): strictness, one test per rejection code, and what it tolerates."""

from __future__ import annotations

import pytest
from vietqr_helpers import merchant_info, payload, with_crc

from providers.payment.vietqr import VietQR, VietQRError, decode
from providers.payment.vietqr.tlv import serialize

P2 = (
    "00020101021238570010A00000072701270006970403011300110123456780208QRIBFTTA"
    "530370454061800005802VN62340107NPS68690819thanh toan don hang63042E2E"
)


def _code(text: str) -> str:
    with pytest.raises(VietQRError) as caught:
        decode(text)
    return caught.value.code


def test_helper_payload_is_a_valid_vietqr() -> None:
    assert decode(payload()) == VietQR(
        bin="970436", account="1017595600", amount=180000, purpose="thanh toan don hang"
    )


# --- tlv_malformed -----------------------------------------------------------------------


def test_truncated_payload_is_tlv_malformed() -> None:
    assert _code(P2[:-10]) == "tlv_malformed"


@pytest.mark.parametrize(
    "text",
    ["", "0002010", "00A201", "0x0201", "000001" + P2[6:], "  " + P2],
    ids=["empty", "dangling", "non-digit-length", "non-digit-id", "zero-length", "leading-spaces"],
)
def test_broken_tlv_syntax_is_tlv_malformed(text: str) -> None:
    assert _code(text) == "tlv_malformed"


def test_additional_data_that_is_not_tlv_is_tlv_malformed() -> None:
    assert _code(payload(replace={"62": "thanh toan"})) == "tlv_malformed"


def test_unknown_template_that_is_not_tlv_is_tlv_malformed() -> None:
    assert _code(payload(extra=[("80", "not tlv")])) == "tlv_malformed"


def test_account_information_with_wrong_inner_length_is_tlv_malformed() -> None:
    bad = serialize(
        [("00", "A000000727"), ("01", "0006970403011200110123456780"), ("02", "QRIBFTTA")]
    )
    assert _code(payload(replace={"38": bad})) == "tlv_malformed"


# --- crc_missing / crc_mismatch ----------------------------------------------------------


def test_payload_without_crc_is_crc_missing() -> None:
    assert _code(P2[:-8]) == "crc_missing"


def test_crc_that_is_not_the_last_field_is_crc_missing() -> None:
    assert _code(P2 + "9902ab") == "crc_missing"


def test_crc_with_non_hex_digits_is_crc_missing() -> None:
    assert _code(P2[:-4] + "2E2G") == "crc_missing"


def test_crc_of_wrong_length_is_crc_missing() -> None:
    assert _code(P2[:-8] + "63032E2") == "crc_missing"


def test_payload_altered_after_signing_is_crc_mismatch() -> None:
    assert _code(P2.replace("180000", "100000")) == "crc_mismatch"


def test_lower_case_crc_is_accepted() -> None:
    assert decode(P2[:-4] + P2[-4:].lower()) == decode(P2)


# --- not_vietqr --------------------------------------------------------------------------


def test_emv_payload_without_tag_38_is_not_vietqr() -> None:
    vnpay = serialize([("00", "A000000775"), ("01", "0108799042")])
    assert _code(payload(replace={"38": None}, extra=[("26", vnpay)])) == "not_vietqr"


def test_tag_38_with_another_guid_is_not_vietqr() -> None:
    assert _code(payload(replace={"38": merchant_info(guid="A000000775")})) == "not_vietqr"


# --- non_conformant ----------------------------------------------------------------------


def test_service_nested_inside_account_info_is_non_conformant() -> None:
    nested = merchant_info(service=None, account_extra=[("02", "QRIBFTTA")])
    with pytest.raises(VietQRError) as caught:
        decode(payload(replace={"38": nested}))

    assert caught.value.code == "non_conformant"
    assert "nested" in caught.value.message


@pytest.mark.parametrize(
    "replace",
    [
        {"38": merchant_info(service=None)},
        {"38": merchant_info(service="QRPUSH")},
        {"38": merchant_info(account_extra=[("03", "x")])},
        {"38": merchant_info(bin_="97043A")},
        {"38": merchant_info(account="0011-0123")},
        {"38": serialize([("00", "A000000727"), ("02", "QRIBFTTA")])},
        {"38": merchant_info() + "0301x"},
        {"00": "02"},
        {"00": None},
        {"01": "13"},
        {"01": None},
        {"53": "840"},
        {"53": None},
        {"58": "US"},
        {"58": None},
        {"52": "58120"},
    ],
    ids=[
        "38.02-missing",
        "unknown-service",
        "extra-38.01-subtag",
        "bad-bin",
        "bad-account",
        "38.01-missing",
        "extra-38-subtag",
        "format-indicator-02",
        "format-indicator-missing",
        "poi-13",
        "poi-missing",
        "currency-usd",
        "currency-missing",
        "country-us",
        "country-missing",
        "mcc-5-digits",
    ],
)
def test_structurally_wrong_vietqr_is_non_conformant(replace: dict[str, str | None]) -> None:
    assert _code(payload(replace=replace)) == "non_conformant"


def test_duplicate_top_level_tag_is_non_conformant() -> None:
    assert _code(payload(extra=[("54", "1")])) == "non_conformant"


def test_duplicate_additional_data_subtag_is_non_conformant() -> None:
    twice = serialize([("08", "a"), ("08", "b")])
    assert _code(payload(replace={"62": twice})) == "non_conformant"


# --- invalid_amount / text ---------------------------------------------------------------


@pytest.mark.parametrize(
    "amount", ["180000.00", "180000.", "0", "0100", "1e5", "-5", "1,000", "12345678901234"]
)
def test_amount_that_is_not_plain_vnd_digits_is_invalid_amount(amount: str) -> None:
    assert _code(payload(replace={"54": amount})) == "invalid_amount"


def test_purpose_with_raw_diacritics_in_a_payload_is_unsupported_character() -> None:
    text = payload(replace={"62": serialize([("08", "Lệ phí")])})
    assert _code(text) == "unsupported_character"


def test_merchant_city_over_15_characters_in_a_payload_is_value_too_long() -> None:
    assert _code(payload(extra=[("60", "Thanh pho Ho Chi Minh")])) == "value_too_long"


# --- tolerated ---------------------------------------------------------------------------


def test_fields_in_any_order_decode_the_same() -> None:
    canonical = payload()
    shuffled = with_crc(
        serialize(
            [
                ("00", "01"),
                ("58", "VN"),
                ("62", serialize([("08", "thanh toan don hang")])),
                ("54", "180000"),
                ("53", "704"),
                ("38", merchant_info()),
                ("01", "12"),
            ]
        )
    )

    assert decode(shuffled) == decode(canonical)


def test_well_formed_unknown_tags_are_ignored() -> None:
    extra = [
        ("99", serialize([("00", "A000000727"), ("02", "abc")])),
        ("64", serialize([("00", "VI"), ("01", "Lệ phí")])),
        ("55", "01"),
        ("26", serialize([("00", "A000000775"), ("01", "0108799042")])),
    ]
    additional = serialize([("07", "T01"), ("08", "thanh toan don hang")])

    assert decode(payload(replace={"62": additional}, extra=extra)) == decode(payload())


def test_poi_from_the_payload_is_kept_even_with_an_amount() -> None:
    assert decode(payload(replace={"01": "11"})).poi == "11"
    assert decode(payload(replace={"54": None})).poi == "12"
