"""The columnar form of statement lines and the vectorised text normalisation."""

from __future__ import annotations

import unicodedata
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.references import (
    ALPHABET as SYMBOLS,
)
from gateway.core.references import (
    is_valid_reference,
    make_reference,
    normalise_transfer_text,
)
from reconciliation.frame import FRAME_SCHEMA, conform, normalise_text, to_frame, valid_reference
from reconciliation.model import Direction, Source, StatementLine

VIETNAMESE = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ"


def normalised(*texts: str) -> list[str]:
    return (
        pl.DataFrame({"text": list(texts)}).select(normalise_text(pl.col("text")))["text"].to_list()
    )


def test_to_frame_keeps_every_field_and_numbers_lines_from_first_id() -> None:
    line = StatementLine(
        source=Source.BANK,
        line_no=7,
        amount=150_000,
        direction=Direction.CREDIT,
        booking_date=date(2026, 5, 15),
        value_date=date(2026, 5, 16),
        reference="DVC0000000000X",
        provider_txn_id="FT123",
        end_to_end_id="E2E",
        text="Lệ phí",
        account="0071000123456",
        status="succeeded",
        fee_kind="charge",
        agency_code="H29.01",
        document_no="KB-1",
    )
    frame = to_frame([line, line], first_id=100)
    assert frame.schema == FRAME_SCHEMA
    assert frame["line_id"].to_list() == [100, 101]
    assert frame.row(0, named=True) == {
        "line_id": 100,
        "source": "bank",
        "line_no": 7,
        "amount": 150_000,
        "direction": "credit",
        "booking_date": date(2026, 5, 15),
        "value_date": date(2026, 5, 16),
        "reference": "DVC0000000000X",
        "provider_txn_id": "FT123",
        "end_to_end_id": "E2E",
        "text": "Lệ phí",
        "account": "0071000123456",
        "status": "succeeded",
        "fee_kind": "charge",
        "agency_code": "H29.01",
        "document_no": "KB-1",
    }


def test_to_frame_of_no_lines_has_the_schema() -> None:
    assert to_frame([]).schema == FRAME_SCHEMA


def test_conform_names_the_missing_columns() -> None:
    with pytest.raises(ValueError, match="text, account"):
        conform(to_frame([]).drop("text", "account"))


def test_conform_casts_strings_read_from_csv_and_rejects_float_amounts() -> None:
    frame = to_frame([]).cast({"source": pl.String, "direction": pl.String})
    assert conform(frame).schema == FRAME_SCHEMA
    with pytest.raises(ValueError, match="non-integer amount"):
        conform(to_frame([]).cast({"amount": pl.Float64}))


def test_normalise_text_folds_vietnamese_upper_cases_and_keeps_only_letters_and_digits() -> None:
    assert normalised(
        "Lệ phí cấp đổi hộ chiếu", "ĐỖ THỊ ĐÀO", "MBVCB.123.dvc7k3m-9qx2 pab", "", "…!"
    ) == ["LEPHICAPDOIHOCHIEU", "DOTHIDAO", "MBVCB123DVC7K3M9QX2PAB", "", ""]


def test_normalise_text_treats_decomposed_text_like_precomposed() -> None:
    text = "Nguyễn Văn Đức – lệ phí"
    assert normalised(unicodedata.normalize("NFD", text)) == normalised(text)


def test_normalise_text_keeps_nulls_null() -> None:
    assert pl.DataFrame({"text": [None]}, schema={"text": pl.String}).select(
        normalise_text(pl.col("text"))
    )["text"].to_list() == [None]


ALPHABET = st.sampled_from(
    VIETNAMESE
    + VIETNAMESE.upper()
    + "abcxyzABCXYZ0189 .,-_/:;()#\t\n"
    + "\u0300\u0301\u0303\u0309\u0323"  # combining marks, as in NFD text
    + "éèçñüöÅØßÆœ"
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(ALPHABET, max_size=40), min_size=1, max_size=20))
def test_normalise_text_agrees_with_the_gateways_normalise_transfer_text(texts: list[str]) -> None:
    assert normalised(*texts) == [normalise_transfer_text(text) for text in texts]


@st.composite
def candidates(draw: st.DrawFn) -> tuple[str, str]:
    """A prefix and a reference of it, often damaged: a symbol changed (to a Crockford one or
    to I, L, O, U), two neighbours swapped, cut short, lengthened or another prefix."""
    prefix = draw(st.sampled_from(["DVC", "", "HCMIL", "LOU"]))
    reference = make_reference(prefix, draw(st.binary(min_size=7, max_size=7)))
    at = draw(st.integers(min_value=0, max_value=len(reference) - 2))
    symbol = draw(st.sampled_from(SYMBOLS + "ILOU"))
    damaged = draw(
        st.sampled_from(
            [
                reference,
                reference[:at] + symbol + reference[at + 1 :],
                reference[:at] + reference[at + 1] + reference[at] + reference[at + 2 :],
                reference[:-1],
                reference + symbol,
                "DVC" + reference[len(prefix) :],
            ]
        )
    )
    return prefix, damaged


@settings(max_examples=300, deadline=None)
@given(candidates())
def test_valid_reference_agrees_with_the_gateways_check(candidate: tuple[str, str]) -> None:
    prefix, text = candidate
    checked = pl.DataFrame({"key": [text]}).select(valid_reference(pl.col("key"), prefix))
    assert checked.item() == is_valid_reference(text, prefix)


def test_valid_reference_accepts_issued_references_and_refuses_every_single_typo() -> None:
    reference = make_reference("DVC", bytes(range(7)))
    typos = [
        reference[:at] + symbol + reference[at + 1 :]
        for at in range(3, len(reference))
        for symbol in SYMBOLS
        if symbol != reference[at]
    ]
    keys = pl.DataFrame({"key": [reference, *typos, None]})
    assert keys.select(valid_reference(pl.col("key"), "DVC")).to_series().to_list() == [
        True,
        *[False] * len(typos),
        False,
    ]
