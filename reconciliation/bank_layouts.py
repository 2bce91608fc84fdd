"""Which columns a bank's CSV/XLSX export has: a named, shipped layout (``bank_profile``) or a
``mapping`` the finance officer gives with the upload (a JSON object of
:class:`~reconciliation.parsers.tabular.ColumnMapping` keys).

Each bank exports its own columns (docs/reconciliation-formats.md), so a bank statement upload
names one of the two; without either it is refused (422 ``required``), never guessed. A file
whose header does not have the mapped columns is quarantined by the parser (``missing_column``).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, Final

from gateway.core.errors import FieldError, ValidationFailed
from reconciliation.parsers import ColumnMapping

#: The formats that need a layout.
BANK_FORMATS: Final = frozenset({"bank_csv", "bank_xlsx"})

PROFILES: Final[Mapping[str, ColumnMapping]] = {
    # docs/samples/bank_statement_2024-05-15.csv: the Vietnamese headings most bank exports
    # use (Ngày giao dịch / Ngày hiệu lực / Số bút toán / Ghi nợ / Ghi có / Mô tả).
    "vn_standard": ColumnMapping(
        date="Ngày giao dịch",
        value_date="Ngày hiệu lực",
        reference="Số bút toán",
        debit="Ghi nợ",
        credit="Ghi có",
        text="Mô tả",
    ),
    # A neutral layout for exports converted by hand or by another tool: ISO dates, a signed
    # amount in whole VND without grouping.
    "generic": ColumnMapping(
        date="booking_date",
        value_date="value_date",
        reference="reference",
        amount="amount",
        text="text",
        account="account",
        date_format="%Y-%m-%d",
        thousands="",
    ),
}

_KEYS: Final = frozenset(field.name for field in fields(ColumnMapping))


def bank_layout(
    format: str,
    profile: str | None,
    mapping: str | None,
    saved: ColumnMapping | None = None,
) -> ColumnMapping | None:
    """The layout for a ``format`` upload: ``None`` for a format that needs none; for a bank
    export, the named ``profile`` or the JSON ``mapping`` (at most one of them), else the
    layout ``saved`` for the upload's account."""
    if format not in BANK_FORMATS:
        return None
    if profile and mapping:
        raise _invalid("mapping", "invalid", "give bank_profile or mapping, not both")
    if profile:
        if profile not in PROFILES:
            raise _invalid("bank_profile", "invalid_choice", f"one of {', '.join(PROFILES)}")
        return PROFILES[profile]
    if mapping:
        return parsed_mapping(mapping)
    if saved is not None:
        return saved
    raise _invalid(
        "bank_profile",
        "required",
        f"a bank export needs bank_profile ({', '.join(PROFILES)}) or mapping, "
        "or a mapping saved for its account",
    )


def parsed_mapping(text: str) -> ColumnMapping:
    """A ``mapping`` form field (JSON text) as a :class:`ColumnMapping`, or 422."""
    return mapping_of(parsed_json(text))


def parsed_json(text: str) -> Any:
    """A ``mapping`` form field decoded (JSON), or 422 ``invalid_format``."""
    try:
        return json.loads(text)
    except ValueError:
        raise _invalid("mapping", "invalid_format", "a JSON object of ColumnMapping keys") from None


def mapping_of(given: Any) -> ColumnMapping:
    """A decoded JSON value as a :class:`ColumnMapping`: an object of its keys with text
    values, a known encoding, a one-character delimiter; anything else is 422 on ``mapping``."""
    if not isinstance(given, dict):
        raise _invalid("mapping", "not_object", "a JSON object of ColumnMapping keys")
    unknown = sorted(set(given) - _KEYS)
    if unknown:
        raise _invalid("mapping", "unknown_field", f"unknown keys: {', '.join(unknown)}")
    if not all(isinstance(value, str) for value in given.values()):
        raise _invalid("mapping", "not_string", "every value is a column name or a setting text")
    if len(given.get("delimiter", ",")) != 1:
        raise _invalid("mapping", "invalid", "delimiter is one character")
    try:
        codecs.lookup(given.get("encoding", "utf-8"))
    except LookupError:
        raise _invalid("mapping", "invalid", f"unknown encoding {given['encoding']!r}") from None
    try:
        return ColumnMapping(**given)
    except (TypeError, ValueError) as exc:  # a required key missing, or an impossible mix
        raise _invalid("mapping", "invalid", str(exc)) from None


def mapping_keys(mapping: ColumnMapping) -> dict[str, str]:
    """The keys of ``mapping`` that differ from the defaults: what a saved layout stores."""
    default = {f.name: f.default for f in fields(ColumnMapping)}
    return {
        name: value
        for name, value in ((f.name, getattr(mapping, f.name)) for f in fields(ColumnMapping))
        if value is not None and value != default[name]
    }


def _invalid(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(field, code, message)])
