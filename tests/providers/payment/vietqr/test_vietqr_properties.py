"""Property tests: encode/decode round trip, canonical idempotence, decode never crashes."""

from __future__ import annotations

import dataclasses
import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from providers.payment.vietqr import VietQR, VietQRError, decode, encode, to_qr_text
from providers.payment.vietqr.model import TEXT_FIELDS

VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
)
ALPHABET = VIETNAMESE + VIETNAMESE.upper() + string.digits + " .,-/"
ALNUM = string.ascii_letters + string.digits


def _text(max_len: int) -> st.SearchStrategy[str | None]:
    return st.none() | st.text(ALPHABET, min_size=1, max_size=max_len).filter(str.strip)


vietqrs = st.builds(
    VietQR,
    bin=st.text(string.digits, min_size=6, max_size=6),
    account=st.text(ALNUM, min_size=1, max_size=19),
    service=st.sampled_from(["QRIBFTTA", "QRIBFTTC"]),
    amount=st.none() | st.integers(1, 10**13 - 1),
    purpose=_text(25),
    bill_number=_text(25),
    reference_label=_text(25),
    merchant_name=_text(25),
    merchant_city=_text(15),
    mcc=st.none() | st.text(string.digits, min_size=4, max_size=4),
    poi=st.none() | st.sampled_from(["11", "12"]),
)


def _folded(qr: VietQR) -> VietQR:
    changes: dict[str, Any] = {
        name: to_qr_text(value, name, max_len)
        for name, (_tag, max_len) in TEXT_FIELDS.items()
        if (value := getattr(qr, name)) is not None
    }
    return dataclasses.replace(qr, **changes)


@settings(max_examples=200, deadline=None)
@given(vietqrs)
def test_decode_of_encode_is_the_folded_value(qr: VietQR) -> None:
    assert decode(encode(qr)) == _folded(qr)


@settings(max_examples=100, deadline=None)
@given(vietqrs)
def test_encoding_is_canonical_and_idempotent(qr: VietQR) -> None:
    text = encode(qr)
    assert text.isascii()
    assert encode(decode(text)) == text


@settings(max_examples=200, deadline=None)
@given(vietqrs, st.data())
def test_decode_of_a_mangled_payload_only_raises_vietqr_error(
    qr: VietQR, data: st.DataObject
) -> None:
    text = encode(qr)
    cut = data.draw(st.integers(0, len(text)))
    noise = data.draw(st.text(string.printable + "đệ", max_size=6))
    mangled = text[:cut] + noise + text[cut + data.draw(st.integers(0, 6)) :]
    try:
        decode(mangled)
    except VietQRError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_decode_of_arbitrary_text_only_raises_vietqr_error(text: str) -> None:
    try:
        decode(text)
    except VietQRError:
        pass
