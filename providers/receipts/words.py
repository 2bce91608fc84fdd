"""An amount of VND written in Vietnamese words, for the receipt's "số tiền bằng chữ".

NĐ 254/2026/NĐ-CP Điều 23.2.đ requires the amount in figures and in words
(``/work/shared/specs/e-receipts.md`` §2). The rules, as accounting software writes amounts on
invoices and receipts:

- digits: không một hai ba bốn năm sáu bảy tám chín; ``mười`` for ten, ``X mươi`` for the
  other tens;
- after ``mươi`` (21, 31, ...) one is ``mốt``; after ``mười``/``mươi`` five is ``lăm``
  (15 ``mười lăm``, 25 ``hai mươi lăm``);
- four after ``mươi`` stays **``bốn``** (``hai mươi bốn``), not the colloquial ``tư``: it
  is the same word in every region and the one the standard written form uses; see
  :data:`FOUR_AFTER_TENS` to change it;
- a zero ten before a unit is **``linh``** (105 ``một trăm linh năm``), the written form of
  the North and of most accounting software, rather than the southern ``lẻ``; see
  :data:`ZERO_TENS`;
- groups of three digits take ``nghìn``, ``triệu``, ``tỷ``; above ``tỷ`` the count of
  ``tỷ`` is itself read, so 10^12 is ``một nghìn tỷ``;
- a group after the first is read in full (1 005 000 ``một triệu không trăm linh năm
  nghìn``); a group that is all zeros is left out (2 000 000 000 ``hai tỷ``).

The result starts with a capital letter and ends with ``đồng``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["FOUR_AFTER_TENS", "ZERO_TENS", "amount_in_words", "number_in_words"]

DIGITS: Final = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
#: The word for a zero tens digit between a hundred and a unit (105): "linh" (or "lẻ").
ZERO_TENS: Final = "linh"
#: The word for four after "mươi" (24, 34, ...): "bốn" (or the colloquial "tư").
FOUR_AFTER_TENS: Final = "bốn"
#: Names of the three-digit groups below a tỷ, lowest first.
GROUPS: Final = ("", "nghìn", "triệu")
BILLION: Final = 1_000_000_000
CURRENCY: Final = "đồng"


def amount_in_words(amount: int) -> str:
    """``135000`` → ``"Một trăm ba mươi lăm nghìn đồng"``; ``0`` → ``"Không đồng"``.

    Raises ``ValueError`` for a negative amount or a value that is not an ``int`` (money is
    integer VND; a ``bool`` is refused too)."""
    words = number_in_words(amount)
    return f"{words[0].upper()}{words[1:]} {CURRENCY}"


def number_in_words(number: int) -> str:
    """The non-negative integer ``number`` in lower-case Vietnamese words."""
    if type(number) is not int:
        raise ValueError(f"an amount must be an integer number of VND, not {number!r}")
    if number < 0:
        raise ValueError(f"an amount cannot be negative: {number}")
    if number == 0:
        return DIGITS[0]
    return " ".join(_words(number, leading=True))


def _words(number: int, *, leading: bool) -> list[str]:
    """Words of ``0 < number``; ``leading`` when nothing is written before it."""
    billions, rest = divmod(number, BILLION)
    words: list[str] = []
    if billions:
        words += [*_words(billions, leading=leading), "tỷ"]
        leading = False
    groups = [(rest // 1000**index) % 1000 for index in range(len(GROUPS))]
    for index in reversed(range(len(GROUPS))):
        group = groups[index]
        if group == 0:
            continue
        words += _group(group, full=not leading)
        if GROUPS[index]:
            words.append(GROUPS[index])
        leading = False
    return words


def _group(group: int, *, full: bool) -> list[str]:
    """Words of one group ``0 < group < 1000``; ``full`` reads a leading zero hundred."""
    hundreds, tens, units = group // 100, group // 10 % 10, group % 10
    words: list[str] = []
    if hundreds or full:
        words += [DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units and words:
            words += [ZERO_TENS, DIGITS[units]]
        elif units:
            words.append(DIGITS[units])
        return words
    words += ["mười"] if tens == 1 else [DIGITS[tens], "mươi"]
    if units == 1 and tens > 1:
        words.append("mốt")
    elif units == 5:
        words.append("lăm")
    elif units == 4 and tens > 1:
        words.append(FOUR_AFTER_TENS)
    elif units:
        words.append(DIGITS[units])
    return words
