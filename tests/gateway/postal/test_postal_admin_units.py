"""The shipped list of administrative units (vietnam-provinces 2025.10.1, see
gateway/core/postal/data/SOURCE.md)."""

from __future__ import annotations

from collections import Counter

from gateway.core.postal import admin_units
from gateway.core.postal.admin_units import province, validate_address, ward


def test_the_list_has_34_provinces_and_3321_communes_and_wards() -> None:
    units = admin_units.units()
    assert len(units.provinces) == 34
    assert len(units.wards) == 3321
    assert sum(len(p.ward_codes) for p in units.provinces.values()) == 3321


def test_the_division_types_match_the_2025_reform() -> None:
    units = admin_units.units()
    assert Counter(p.division_type for p in units.provinces.values()) == {
        "tỉnh": 28,
        "thành phố trung ương": 6,
    }
    assert Counter(w.division_type for w in units.wards.values()) == {
        "xã": 2621,
        "phường": 687,
        "đặc khu": 13,
    }


def test_ward_26740_is_phuong_sai_gon_in_ho_chi_minh_city() -> None:
    found = ward("26740")
    assert found is not None
    assert found.name == "Phường Sài Gòn"
    assert found.division_type == "phường"
    assert found.province.code == "79"
    assert found.province.name == "Thành phố Hồ Chí Minh"
    assert validate_address("79", "26740") == []


def test_codes_are_read_with_or_without_zero_padding() -> None:
    assert province("79") == province("079") == province(79)
    hanoi = province("1")
    assert hanoi is not None and hanoi.code == "01" and hanoi.name == "Thành phố Hà Nội"
    hoan_kiem = ward("70")
    assert hoan_kiem is not None and hoan_kiem.code == "00070"
    assert hoan_kiem.name == "Phường Hoàn Kiếm"
    assert validate_address("01", "00070") == []


def test_a_ward_of_another_province_is_refused() -> None:
    errors = validate_address("01", "26740")
    assert [(e.field, e.code) for e in errors] == [("ward_code", "ward_not_in_province")]


def test_unknown_codes_are_refused() -> None:
    assert province("99") is None
    assert ward("99999") is None
    assert [(e.field, e.code) for e in validate_address("99", "99999")] == [
        ("province_code", "unknown_province"),
        ("ward_code", "unknown_ward"),
    ]
    assert [e.code for e in validate_address("79", "00000")] == ["unknown_ward"]


def test_codes_that_are_not_digit_strings_are_unknown() -> None:
    for bad in ["", " ", "7a", "-79", "٧٩", "123", "792674"]:
        assert province(bad) is None, bad
    for bad in ["", "2674O", "+26740", "267400"]:
        assert ward(bad) is None, bad
    assert [e.code for e in validate_address("x", "y")] == ["unknown_province", "unknown_ward"]


def test_the_list_is_parsed_once() -> None:
    assert admin_units.units() is admin_units.units()


def test_duplicate_codes_in_a_data_file_are_rejected() -> None:
    document = {
        "provinces": [
            [1, "A", "tỉnh", [[10, "X", "xã"]]],
            [2, "B", "tỉnh", [[10, "Y", "xã"]]],
        ]
    }
    try:
        admin_units.parse_units(document)
    except ValueError as exc:
        assert "duplicate ward 00010" in str(exc)
    else:
        raise AssertionError("duplicate ward accepted")
