"""Vietnamese administrative units in the two-level model in force since 1 July 2025:
province (tỉnh / thành phố trung ương) → commune/ward (xã / phường / đặc khu), with the
NSO (GSO) codes, e.g. province ``79`` Thành phố Hồ Chí Minh, ward ``26740`` Phường Sài Gòn.

The list ships as ``data/admin_units.json`` (provenance in ``data/SOURCE.md``) and is read
once, on first use. Codes are strings of digits; both ``"79"`` and ``"079"`` name the same
province, as the NSO prints codes zero-padded (2 digits for provinces, 5 for wards).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType

from gateway.core.errors import FieldError

DATA_FILE = "admin_units.json"


@dataclass(frozen=True)
class Province:
    code: str
    """Two digits, zero-padded: ``"01"`` Hà Nội, ``"79"`` Hồ Chí Minh."""
    name: str
    division_type: str
    ward_codes: frozenset[str] = field(repr=False)


@dataclass(frozen=True)
class Ward:
    code: str
    """Five digits, zero-padded: ``"00070"`` Phường Hoàn Kiếm, ``"26740"`` Phường Sài Gòn."""
    name: str
    division_type: str
    province: Province


@dataclass(frozen=True)
class AdminUnits:
    provinces: Mapping[str, Province]
    wards: Mapping[str, Ward]


def _canonical(code: str | int, width: int) -> str | None:
    """``"79"``, ``"079"``, ``79`` → ``"79"`` (width 2); anything not a digit string → None."""
    text = str(code).strip()
    if not text.isascii() or not text.isdigit():
        return None
    stripped = text.lstrip("0") or "0"
    return stripped.zfill(width) if len(stripped) <= width else None


def parse_units(document: Mapping[str, object]) -> AdminUnits:
    """Build the lookup tables from the data file's JSON document."""
    provinces: dict[str, Province] = {}
    wards: dict[str, Ward] = {}
    rows = document["provinces"]
    if not isinstance(rows, list):
        raise ValueError("admin units: 'provinces' must be a list")
    for p_code, p_name, p_type, ward_rows in rows:
        code = f"{int(p_code):02d}"
        province = Province(
            code=code,
            name=str(p_name),
            division_type=str(p_type),
            ward_codes=frozenset(f"{int(row[0]):05d}" for row in ward_rows),
        )
        if code in provinces:
            raise ValueError(f"admin units: duplicate province {code}")
        provinces[code] = province
        for w_code, w_name, w_type in ward_rows:
            ward_code = f"{int(w_code):05d}"
            if ward_code in wards:
                raise ValueError(f"admin units: duplicate ward {ward_code}")
            wards[ward_code] = Ward(ward_code, str(w_name), str(w_type), province)
    return AdminUnits(MappingProxyType(provinces), MappingProxyType(wards))


@cache
def units() -> AdminUnits:
    """The shipped list, parsed on first call and kept for the life of the process."""
    text = (
        resources.files("gateway.core.postal")
        .joinpath("data", DATA_FILE)
        .read_text(encoding="utf-8")
    )
    return parse_units(json.loads(text))


def province(code: str | int) -> Province | None:
    key = _canonical(code, 2)
    return None if key is None else units().provinces.get(key)


def ward(code: str | int) -> Ward | None:
    key = _canonical(code, 5)
    return None if key is None else units().wards.get(key)


def validate_address(
    province_code: str | int,
    ward_code: str | int,
    *,
    province_field: str = "province_code",
    ward_field: str = "ward_code",
) -> list[FieldError]:
    """Problems with a (province, ward) pair; empty when the ward lies in the province.

    Codes: ``unknown_province``, ``unknown_ward``, ``ward_not_in_province``.
    """
    errors: list[FieldError] = []
    found_province = province(province_code)
    found_ward = ward(ward_code)
    if found_province is None:
        errors.append(FieldError(province_field, "unknown_province", "no province has this code"))
    if found_ward is None:
        errors.append(FieldError(ward_field, "unknown_ward", "no commune or ward has this code"))
    if (
        found_province is not None
        and found_ward is not None
        and found_ward.province.code != found_province.code
    ):
        errors.append(
            FieldError(
                ward_field,
                "ward_not_in_province",
                f"this commune or ward belongs to province {found_ward.province.code}",
            )
        )
    return errors
