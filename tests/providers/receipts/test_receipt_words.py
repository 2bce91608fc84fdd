"""The amount in Vietnamese words written on every receipt (NĐ 254/2026 Điều 23.2.đ)."""

from __future__ import annotations

import pytest

from config.settings import PaymentSettings
from providers.receipts.words import amount_in_words

GOLDEN = [
    (0, "Không đồng"),
    (1, "Một đồng"),
    (10, "Mười đồng"),
    (15, "Mười lăm đồng"),
    (21, "Hai mươi mốt đồng"),
    (24, "Hai mươi bốn đồng"),
    (101, "Một trăm linh một đồng"),
    (105, "Một trăm linh năm đồng"),
    (110, "Một trăm mười đồng"),
    (1_000, "Một nghìn đồng"),
    (1_005_000, "Một triệu không trăm linh năm nghìn đồng"),
    (135_000, "Một trăm ba mươi lăm nghìn đồng"),
    (2_000_000_000, "Hai tỷ đồng"),
    # the default payments.max_amount
    (1_000_000_000, "Một tỷ đồng"),
    # the largest payments.max_amount the configuration accepts (13 digits, as VietQR tag 54)
    (
        9_999_999_999_999,
        "Chín nghìn chín trăm chín mươi chín tỷ chín trăm chín mươi chín triệu chín trăm "
        "chín mươi chín nghìn chín trăm chín mươi chín đồng",
    ),
    (1_000_000_000_005, "Một nghìn tỷ không trăm linh năm đồng"),
    (20_000_051, "Hai mươi triệu không trăm năm mươi mốt đồng"),
    (1_000_001, "Một triệu không trăm linh một đồng"),
]


@pytest.mark.parametrize(("amount", "words"), GOLDEN)
def test_amount_is_written_in_vietnamese_words(amount: int, words: str) -> None:
    assert amount_in_words(amount) == words


def test_the_largest_amount_a_payment_may_have_is_written_in_words() -> None:
    """Whatever payments.max_amount is set to, its receipt total can be read out."""
    ceiling = next(
        meta.le
        for meta in PaymentSettings.model_fields["max_amount"].metadata
        if getattr(meta, "le", None) is not None
    )
    assert ceiling == 9_999_999_999_999
    assert amount_in_words(ceiling).startswith("Chín nghìn chín trăm chín mươi chín tỷ ")
    assert amount_in_words(PaymentSettings().max_amount) == "Một tỷ đồng"


@pytest.mark.parametrize("amount", [-1, -135_000])
def test_a_negative_amount_is_refused(amount: int) -> None:
    with pytest.raises(ValueError, match="negative"):
        amount_in_words(amount)


@pytest.mark.parametrize("amount", [1.5, "135000", True])
def test_an_amount_that_is_not_an_integer_is_refused(amount: object) -> None:
    with pytest.raises(ValueError, match="integer"):
        amount_in_words(amount)  # type: ignore[arg-type]
