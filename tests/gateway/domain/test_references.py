"""Payment references: short, checkable, and found again inside bank transfer texts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.references import (
    ALPHABET,
    check_symbol,
    find_references,
    is_valid_reference,
    make_reference,
    normalise_transfer_text,
)


def test_reference_is_prefix_ten_symbols_and_a_check_symbol() -> None:
    reference = make_reference("DVC", bytes(range(8)))
    assert reference.startswith("DVC") and len(reference) == 14
    assert all(char in ALPHABET for char in reference[3:])
    assert reference == make_reference("DVC", bytes(range(8)))  # pure: same input, same output
    assert is_valid_reference(reference, "DVC")


def test_damm_check_symbol_golden() -> None:
    # By hand: interim = 2·interim XOR value in GF(32) (x^5 + x^2 + 1); check = 2·interim.
    assert check_symbol("0") == "0"
    assert check_symbol("1") == "2"  # interim 1 → check 2
    assert check_symbol("Z") == "V"  # interim 31 → 62 XOR 0b100101 = 27 → 'V'


def test_every_substitution_and_neighbour_swap_is_caught_exhaustively() -> None:
    """For every position and every pair of symbols — including 0↔Z, which Luhn mod 32 misses."""
    reference = make_reference("DVC", bytes(range(8)))
    for index in range(3, len(reference)):
        for symbol in ALPHABET:
            if symbol != reference[index]:
                typo = reference[:index] + symbol + reference[index + 1 :]
                assert not is_valid_reference(typo, "DVC"), typo
    for a in ALPHABET:
        for b in ALPHABET:
            if a == b:
                continue
            body = "DVC" + "0" * 8 + a + b
            good = body + check_symbol(body)
            swapped = "DVC" + "0" * 8 + b + a + check_symbol(body)
            assert is_valid_reference(good, "DVC")
            assert not is_valid_reference(swapped, "DVC"), (a, b)


@given(st.binary(min_size=8, max_size=8), st.integers(0, 12), st.sampled_from(ALPHABET))
@settings(max_examples=200)
def test_any_single_substitution_is_detected(raw: bytes, position: int, symbol: str) -> None:
    reference = make_reference("DVC", raw)
    index = 3 + position if position < 11 else 3 + position % 11
    if reference[index] == symbol:
        return
    typo = reference[:index] + symbol + reference[index + 1 :]
    assert not is_valid_reference(typo, "DVC")


@given(st.binary(min_size=8, max_size=8), st.integers(3, 12))
@settings(max_examples=200)
def test_adjacent_transpositions_are_detected(raw: bytes, index: int) -> None:
    reference = make_reference("DVC", raw)
    a, b = reference[index], reference[index + 1]
    if a == b:
        return
    swapped = reference[:index] + b + a + reference[index + 2 :]
    assert not is_valid_reference(swapped, "DVC")


@given(
    st.binary(min_size=8, max_size=8),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzđâêôơư .-_/", max_size=30),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzđâêôơư .-_/", max_size=30),
)
@settings(max_examples=200)
def test_reference_is_found_between_any_bank_prefix_and_suffix(
    raw: bytes, prefix: str, suffix: str
) -> None:
    reference = make_reference("DVC", raw)
    assert reference in find_references(f"{prefix} {reference} {suffix}", "DVC")


def test_transfer_text_is_folded_and_compacted() -> None:
    assert normalise_transfer_text("Nộp lệ phí - DVC 7k3m.") == "NOPLEPHIDVC7K3M"


def test_references_split_by_bank_punctuation_are_found() -> None:
    reference = make_reference("DVC", b"\x01" * 8)
    spaced = f"IBFT.{reference[:7]}-{reference[7:].lower()}.FT2532"
    assert find_references(spaced, "DVC") == [reference]


def test_text_without_a_valid_reference_finds_nothing() -> None:
    assert find_references("chuyen tien DVC123 DVCABCDEFGHJKM", "DVC") == []
