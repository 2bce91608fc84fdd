from __future__ import annotations

import phonenumbers
import pytest

from gateway.core.postal.phones import InvalidPhone, PhoneResult, normalise_phone


@pytest.mark.parametrize(
    "text",
    ["0912345678", "+84 912 345 678", "84912345678", "091.234.5678", "(+84) 912-345-678"],
)
def test_a_known_mobile_number_is_stored_as_e164(text: str) -> None:
    assert normalise_phone(text) == PhoneResult("+84912345678", None)


def test_a_ho_chi_minh_city_landline_is_accepted() -> None:
    assert normalise_phone("028 3822 1234") == PhoneResult("+842838221234", None)


def _unknown_mobile_range() -> str:
    """A mobile-shaped number the installed metadata does not know; ranges get allocated
    over time, so take the first candidate that is still unknown."""
    for national in ["0502345678", "0552345678", "0742345678", "0802345678", "0992345678"]:
        if not phonenumbers.is_valid_number(phonenumbers.parse(national, "VN")):
            return national
    pytest.fail("every candidate range is now known to phonenumbers; add new candidates")


def test_a_mobile_number_in_a_range_the_metadata_does_not_know_is_accepted_with_a_warning() -> None:
    national = _unknown_mobile_range()
    expected = PhoneResult("+84" + national[1:], "unknown_range")
    assert normalise_phone(national) == expected
    assert normalise_phone("+84 " + national[1:]) == expected
    assert normalise_phone("84" + national[1:]) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "0912 ABC 678",
        "091234567",  # 9 digits
        "09123456789",  # 11 digits
        "0123456789",  # old 11-digit-era prefix, not a current number
        "0612345678",  # 06x is not a mobile prefix
        "+1 650 253 0000",  # valid, but not Vietnamese
        "1900 1234",  # premium-rate service number
        "+0502345678",
        "0" * 40,
    ],
)
def test_anything_else_is_an_invalid_phone(text: str) -> None:
    with pytest.raises(InvalidPhone) as caught:
        normalise_phone(text)
    assert caught.value.code == "invalid_phone"
    error = caught.value.field_error("recipient_phone")
    assert (error.field, error.code) == ("recipient_phone", "invalid_phone")
