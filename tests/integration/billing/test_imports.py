"""Billing imports: bank accounts, 地方税関係情報 and clinics' claims — good rows in, bad rows back with the
line number and a Japanese reason, the whole file in one transaction."""
from __future__ import annotations

import csv

from sqlalchemy import select

from sesshu.billing.imports import import_bank_accounts, import_claims, import_tax_status
from sesshu.billing.models import BillingClaim, InstitutionBankAccount, TaxStatus
from tests.helpers import write
from tests.integration.billing.city import ACTOR, C1, C2, NOV, build_city


def _rejects(path):
    with open(path, encoding="utf-8-sig") as f:
        return [(int(r["行番号"]), r["理由"]) for r in csv.DictReader(f)]


def _import_accounts(db, tmp_path, body):
    summary = import_bank_accounts(db, actor=ACTOR, path=write(tmp_path / "a.csv", body, "cp932"),
                                   rejects_path=tmp_path / "rej.csv")
    return summary, _rejects(tmp_path / "rej.csv")


def test_bank_accounts_are_stored_in_half_width_kana_and_bad_rows_come_back(db, settings, tmp_path):
    build_city(db, settings, tmp_path)
    body = ("医療機関コード,銀行コード,銀行名,支店コード,支店名,預金種目,口座番号,口座名義カナ\n"
            f"{C1},0005,ミツビシユーエフジェイ,290,おおみやえきまえ,1,0012345,ヤマダ　タロウ\n"
            "9999999999,0005,ミツビシ,123,クマガヤ,普通,1234567,テスト\n"
            f"{C2},05,ミツビシ,123,クマガヤ,普通,1234567,テスト\n"
            f"{C2},0005,三菱,123,クマガヤ,普通,1234567,テスト\n"
            f"{C2},0005,ミツビシ,123,クマガヤ,定期,1234567,テスト\n")
    summary, reasons = _import_accounts(db, tmp_path, body)
    assert (summary.accepted, summary.rejected) == (1, 4)
    assert [n for n, _ in reasons] == [3, 4, 5, 6]
    assert "マスタに登録されていません" in reasons[0][1]
    assert "4桁の数字" in reasons[1][1]
    assert "使えない文字" in reasons[2][1]
    assert "普通/当座" in reasons[3][1]
    with db.transaction() as s:
        a = s.get(InstitutionBankAccount, C1)
        assert (a.bank_code, a.bank_name, a.branch_name, a.account_no, a.holder_kana) == (
            "0005", "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ", "ｵｵﾐﾔｴｷﾏｴ", "0012345", "ﾔﾏﾀﾞ ﾀﾛｳ")
        assert s.get(InstitutionBankAccount, C2).bank_code == "2167"  # the earlier account is kept


def test_bank_accounts_are_checked_against_the_zengin_bank_master(db, settings, tmp_path):
    build_city(db, settings, tmp_path)
    body = ("医療機関コード,銀行コード,銀行名,支店コード,支店名,預金種目,口座番号,口座名義カナ\n"
            f"{C1},0133,ムサシノ,008,クマガヤ,普通,1234567,ヤマダ\n"  # 武蔵野銀行 熊谷支店
            f"{C1},0128,ﾑｻｼﾉ,008,ｸﾏｶﾞﾔ,普通,1234567,ヤマダ\n"  # the old demo's label: 0128 is 群馬銀行
            f"{C1},0999,ミズホ,001,ホンテン,普通,1234567,ヤマダ\n"
            f"{C1},0133,ムサシノ,999,クマガヤ,普通,1234567,ヤマダ\n"
            f"{C1},0133,ムサシノ,008,オオミヤ,普通,1234567,ヤマダ\n")
    summary, reasons = _import_accounts(db, tmp_path, body)
    assert (summary.accepted, summary.rejected) == (1, 4)
    assert [n for n, _ in reasons] == [3, 4, 5, 6]
    assert reasons[0][1] == "銀行名「ﾑｻｼﾉ」が銀行コード 0128 の名称（ｸﾞﾝﾏ／群馬）と一致しません"
    assert "銀行コード「0999」は全銀協の金融機関マスタ（zengin-code " in reasons[1][1]
    assert "支店コード「999」は 武蔵野（0133）の店舗マスタ" in reasons[2][1]
    assert reasons[3][1] == "支店名「ｵｵﾐﾔ」が 武蔵野（0133）支店コード 008 の名称（ｸﾏｶﾞﾔ／熊谷）と一致しません"
    with db.transaction() as s:
        a = s.get(InstitutionBankAccount, C1)
        assert (a.bank_code, a.bank_name, a.branch_code, a.branch_name) == ("0133", "ﾑｻｼﾉ", "008", "ｸﾏｶﾞﾔ")


def test_tax_rows_accept_wareki_years_and_refuse_unknown_persons(db, settings, tmp_path):
    build_city(db, settings, tmp_path)
    body = ("年度,宛名番号,世帯番号,課税区分,生活保護\n"
            "令和元年度,２００１,8001,課税,無\n"
            "R8,2001,8001,非課税,有\n"
            "2026,7777,8001,非課税,無\n"
            "2026,2002,8002,たぶん,無\n"
            "R8,2001,8001,非課税,有\n")
    summary = import_tax_status(db, actor=ACTOR, path=write(tmp_path / "t.csv", body, "cp932"),
                                rejects_path=tmp_path / "rej.csv")
    assert (summary.accepted, summary.rejected) == (2, 3)
    reasons = _rejects(tmp_path / "rej.csv")
    assert [n for n, _ in reasons] == [4, 5, 6]
    assert "住民記録に登録されていません" in reasons[0][1] and "課税/非課税" in reasons[1][1]
    assert "重複" in reasons[2][1]
    with db.transaction() as s:
        rows = {(t.fiscal_year, t.atena_no): (t.taxable, t.welfare) for t in s.execute(
            select(TaxStatus).where(TaxStatus.atena_no == "2001")).scalars()}
    assert rows == {(2019, "2001"): (True, False), (2026, "2001"): (False, True)}


def test_reimporting_the_same_tax_file_changes_nothing(db, settings, tmp_path):
    build_city(db, settings, tmp_path)
    body = "年度,宛名番号,世帯番号,課税区分,生活保護\n2026,2004,8004,非課税,無\n"
    summary = import_tax_status(db, actor=ACTOR, path=write(tmp_path / "t.csv", body))
    assert (summary.accepted, summary.unchanged) == (0, 1)


def test_claims_from_an_unknown_clinic_are_refused(db, settings, tmp_path):
    build_city(db, settings, tmp_path)
    body = ("請求月,医療機関コード,接種種別,件数,金額\n"
            f"令和8年11月,{C1},MR,1,\"12,100\"\n"
            "2026-11,1119999999,MR,1,12100\n"
            f"2026-11,{C1},XYZ,1,100\n")
    summary = import_claims(db, actor=ACTOR, path=write(tmp_path / "c.csv", body, "cp932"),
                            rejects_path=tmp_path / "rej.csv")
    assert (summary.accepted, summary.rejected) == (1, 2)
    reasons = _rejects(tmp_path / "rej.csv")
    assert reasons[0][0] == 3 and "委託契約のない医療機関" in reasons[0][1]
    with db.transaction() as s:
        c = s.execute(select(BillingClaim)).scalar_one()
    assert (c.month, c.institution_code, c.count, c.amount) == (NOV, C1, 1, 12100)
