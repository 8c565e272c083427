"""個人番号 check digit per 総務省令第85号 第5条 (DOMAIN.md)."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from sesshu.domain import my_number


def test_known_valid_example_from_domain_doc():
    assert my_number.is_valid("621498320257")


def test_check_digit_by_hand():
    # weights 6,5,4,3,2,7,6,5,4,3,2 over 6,2,1,4,9,8,3,2,0,2,5:
    # 36+10+4+12+18+56+18+10+0+6+10 = 180; 180 mod 11 = 4; 11-4 = 7
    assert my_number.check_digit("62149832025") == 7


@pytest.mark.parametrize("value", ["621498320258", "62149832025", "6214983202571", "62149832025a", ""])
def test_rejects_wrong_digit_or_length(value):
    assert not my_number.is_valid(value)
    assert my_number.validation_error(value) is not None


def test_remainder_zero_or_one_gives_zero():
    # Find bases whose remainder is 0 and 1 and check both give check digit 0.
    seen = set()
    for n in range(10_000_000_000, 10_000_000_200):
        base = str(n)
        r = sum(int(d) * w for d, w in zip(base, (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2))) % 11
        if r in (0, 1):
            assert my_number.check_digit(base) == 0
            seen.add(r)
    assert seen == {0, 1}


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_every_base_has_exactly_one_valid_check_digit(base):
    valid = [d for d in "0123456789" if my_number.is_valid(base + d)]
    assert valid == [str(my_number.check_digit(base))]


def test_normalises_what_people_type_and_masks():
    assert my_number.normalize("６２１４ ９８３２ ０２５７") == "621498320257"
    assert my_number.normalize("6214-9832-0257") == "621498320257"
    assert my_number.mask("621498320257") == "********0257"
