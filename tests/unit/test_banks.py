"""The 全銀協 bank master (zengin-code) as sesshu reads it, and the demo's and the city's accounts in it."""
from __future__ import annotations

from sesshu.billing.reference import payer
from sesshu.demo.service import DEMO_BANKS
from sesshu.payments import banks


def test_master_names_are_the_half_width_kana_of_the_zengin_file():
    assert (banks.bank("0128").name, banks.bank("0128").kana) == ("群馬", "ｸﾞﾝﾏ")
    assert (banks.bank("0133").name, banks.bank("0133").kana) == ("武蔵野", "ﾑｻｼﾉ")
    assert banks.branch("0133", "008") == banks.Branch(code="008", name="熊谷", kana="ｸﾏｶﾞﾔ")
    assert banks.bank("0005").kana == "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ"  # full-width ー/－ become the file's "-"
    assert banks.bank("9998") is None and banks.branch("0133", "999") is None


def test_account_problem_names_what_does_not_match():
    ok = dict(bank_code="0133", bank_name="ﾑｻｼﾉ", branch_code="008", branch_name="ｸﾏｶﾞﾔ")
    assert banks.account_problem(**ok) == ""
    assert "0128 の名称（ｸﾞﾝﾏ／群馬）" in banks.account_problem(**ok | {"bank_code": "0128"})
    assert "店舗マスタ" in banks.account_problem(**ok | {"branch_code": "999"})
    assert "（ｸﾏｶﾞﾔ／熊谷）と一致しません" in banks.account_problem(**ok | {"branch_name": "ﾎﾝﾃﾝ"})


def test_no_master_name_is_longer_than_the_file_field():
    assert all(len(b.kana) <= banks.NAME_WIDTH and all(len(br.kana) <= banks.NAME_WIDTH for br in b.branches.values())
               for b in (banks.bank(f"{n:04d}") for n in range(10000)) if b)


def test_demo_accounts_and_the_citys_paying_account_exist_in_the_master():
    for bank_code, branch_code in DEMO_BANKS:
        b, br = banks.bank(bank_code), banks.branch(bank_code, branch_code)
        assert b is not None and br is not None and br.name.startswith("熊谷")
    p = payer()
    assert banks.account_problem(bank_code=p["bank_code"], bank_name=p["bank_name"], branch_code=p["branch_code"],
                                 branch_name=p["branch_name"]) == ""
