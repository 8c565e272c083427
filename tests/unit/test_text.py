"""Kana search keys and input normalisation."""
from __future__ import annotations

from sesshu.domain.text import clean, clean_address, clean_name, kana_key


def test_kana_key_makes_hiragana_katakana_and_halfwidth_equal():
    assert kana_key("やまだ たろう") == kana_key("ヤマダ　タロウ") == kana_key("ﾔﾏﾀﾞ ﾀﾛｳ") == "ヤマダタロウ"


def test_voiced_halfwidth_kana_combine():
    assert kana_key("ｶﾞｯｺｳ") == "ガッコウ"


def test_clean_normalises_fullwidth_and_trims():
    assert clean("　ＡＢ１２３ ") == "AB123"


def test_names_keep_kanji_and_one_fullwidth_space():
    assert clean_name(" 山田   太郎 ") == "山田\u3000太郎"


def test_addresses_use_halfwidth_digits():
    assert clean_address("熊谷市本町１－２－３　　ＡＢＣマンション") == "熊谷市本町1-2-3 ABCマンション"
