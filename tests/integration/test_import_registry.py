"""住基 CSV import: encodings, date forms, My Number rules, idempotency, atomicity."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from sesshu.audit.models import AuditEntry
from sesshu.registry.models import Person, PersonHistory
from sesshu.registry.service import find_by_my_number, import_registry
from tests.helpers import REGISTRY_HEADER, my_number, write

MN1 = my_number("12345678901")
MN2 = my_number("23456789012")


def _rows(*lines: str) -> str:
    return REGISTRY_HEADER + "\r\n" + "\r\n".join(lines) + "\r\n"


def test_imports_cp932_file_with_wareki_and_fullwidth(db, settings, operator, tmp_path):
    path = write(tmp_path / "reg.csv", _rows(
        f"０００１２３,{MN1},山田　太郎,ﾔﾏﾀﾞ ﾀﾛｳ,男,令和5年4月10日,360-0001,熊谷市本町１－１,,9001,世帯主,山田　太郎,住民,出生,R5.4.10",
        f"124,{MN2},鈴木 花子,すずき はなこ,2,H24.4.1,,熊谷市宮町,,9002,子,鈴木 一郎,,転入,2020/5/1",
    ), "cp932")
    summary = import_registry(db, settings, path=path, actor=operator)
    assert (summary.encoding, summary.read, summary.accepted, summary.rejected) == ("cp932", 2, 2, 0)
    with db.transaction() as s:
        p1 = s.get(Person, "000123")
        p2 = s.get(Person, "124")
        assert p1.name_kana == "ヤマダ タロウ" and p1.kana_key == "ヤマダタロウ"
        assert str(p1.birth_date) == "2023-04-10" and p1.sex == "M"
        assert p2.sex == "F" and p2.registry_status == "resident" and str(p2.moved_in_on) == "2020-05-01"
        assert p1.address == "熊谷市本町1-1"


def test_my_number_is_stored_encrypted_and_found_by_keyed_hash(db, settings, operator, clerk, tmp_path):
    path = write(tmp_path / "reg.csv", _rows(f"1,{MN1},山田 太郎,ヤマダ タロウ,男,2000-01-01,,,,,,,,,"))
    import_registry(db, settings, path=path, actor=operator)
    with db.transaction() as s:
        raw = s.execute(select(Person.my_number_enc, Person.my_number_hmac)).one()
    assert MN1.encode() not in raw.my_number_enc and MN1 not in raw.my_number_hmac
    found = find_by_my_number(db, settings, actor=clerk, number=" ".join(MN1[i:i + 4] for i in (0, 4, 8)),
                              purpose="個人番号による検索")
    assert found.atena_no == "1" and found.my_number_masked == "********" + MN1[-4:]


def test_ciphertext_moved_to_another_person_does_not_decrypt(db, settings, operator, tmp_path):
    from sesshu.keys import load_keyring

    path = write(tmp_path / "reg.csv", _rows(f"1,{MN1},山田 太郎,,男,2000-01-01,,,,,,,,,"))
    import_registry(db, settings, path=path, actor=operator)
    from sesshu.retention.personkeys import open_number

    keys = load_keyring(settings)
    with db.transaction() as s:
        blob = s.get(Person, "1").my_number_enc
        assert open_number(s, keys, "1", blob) == MN1
    with pytest.raises(Exception):
        keys.decrypt(blob, aad="2")


@pytest.mark.parametrize("value,reason", [
    ("123456789012", "検査用数字"),
    ("12345", "12桁"),
    ("1234567890ab", "数字12桁"),
])
def test_rejects_bad_my_number_with_reason(db, settings, operator, tmp_path, value, reason):
    path = write(tmp_path / "reg.csv", _rows(f"1,{value},山田 太郎,,男,2000-01-01,,,,,,,,,"))
    rejects = tmp_path / "rej.csv"
    summary = import_registry(db, settings, path=path, actor=operator, rejects_path=rejects)
    assert summary.rejected == 1
    text = rejects.read_text(encoding="utf-8-sig")
    assert reason in text and text.splitlines()[1].startswith("2,エラー,")


def test_reimport_of_same_file_changes_nothing(db, settings, operator, tmp_path):
    path = write(tmp_path / "reg.csv", _rows(
        f"1,{MN1},山田 太郎,ヤマダ タロウ,男,2000-01-01,,熊谷市本町,,,,,,,",
        f"2,{MN2},鈴木 花子,スズキ ハナコ,女,2001-01-01,,熊谷市宮町,,,,,,,",
    ))
    first = import_registry(db, settings, path=path, actor=operator)
    with db.transaction() as s:
        before = s.execute(select(Person.atena_no, Person.version, Person.updated_at)).all()
    second = import_registry(db, settings, path=path, actor=operator)
    with db.transaction() as s:
        after = s.execute(select(Person.atena_no, Person.version, Person.updated_at)).all()
        histories = s.execute(select(func.count()).select_from(PersonHistory)).scalar()
    assert first.accepted == 2 and second.accepted == 0 and second.unchanged == 2
    assert sorted(before) == sorted(after) and histories == 0


def test_changed_address_keeps_old_values_and_audits_the_person(db, settings, operator, tmp_path):
    import_registry(db, settings, actor=operator, path=write(tmp_path / "a.csv", _rows(
        "1,,山田 太郎,,男,2000-01-01,,熊谷市本町,,,,,,,")))
    import_registry(db, settings, actor=operator, path=write(tmp_path / "b.csv", _rows(
        "1,,山田 太郎,,男,2000-01-01,,熊谷市宮町,,,,,住民,転居,2024-01-05")))
    with db.transaction() as s:
        p = s.get(Person, "1")
        h = s.execute(select(PersonHistory)).scalar_one()
        actions = s.execute(select(AuditEntry.action).where(AuditEntry.atena_no == "1")
                            .order_by(AuditEntry.seq)).scalars().all()
    assert p.address == "熊谷市宮町" and p.version == 2
    assert json.loads(h.old_values)["address"] == "熊谷市本町"
    assert actions == ["registry.create", "registry.update"]


def test_same_my_number_for_two_persons_is_rejected(db, settings, operator, tmp_path):
    rejects = tmp_path / "rej.csv"
    summary = import_registry(db, settings, actor=operator, rejects_path=rejects, path=write(tmp_path / "a.csv", _rows(
        f"1,{MN1},山田 太郎,,男,2000-01-01,,,,,,,,,",
        f"2,{MN1},山田 次郎,,男,2001-01-01,,,,,,,,,")))
    assert summary.accepted == 1 and summary.rejected == 1
    assert "個人番号がファイル内で重複" in rejects.read_text(encoding="utf-8-sig")


def test_status_and_event_dates(db, settings, operator, tmp_path):
    import_registry(db, settings, actor=operator, path=write(tmp_path / "a.csv", _rows(
        "1,,山田 太郎,,男,1940-01-01,,,,,,,死亡,死亡,2024-03-01",
        "2,,山田 花子,,女,1990-01-01,,,,,,,転出,転出,2024-04-01",
        "3,,田中 一,,男,1990-01-01,,,,,,,住登外,,")))
    with db.transaction() as s:
        got = {p.atena_no: (p.registry_status, p.died_on, p.moved_out_on) for p in s.execute(select(Person)).scalars()}
    assert got["1"][0] == "deceased" and str(got["1"][1]) == "2024-03-01"
    assert got["2"][0] == "moved_out" and str(got["2"][2]) == "2024-04-01"
    assert "3" not in got  # a new 住登外 row is not a person without a second person's approval (below)


def test_a_new_non_resident_row_becomes_a_pending_approval_not_a_person(db, settings, operator, tmp_path):
    """The same two-person check as the web form: the import files a request; an approver decides it."""
    from sesshu.approvals.service import approve, get_approval, non_resident_from_registry
    from sesshu.approvals.models import ApprovalRequest

    rejects = tmp_path / "rej.csv"
    body = _rows("3,,田中 一,タナカ ハジメ,男,1990-01-01,,深谷市仲町1-1,,,,,住登外,,")
    summary = import_registry(db, settings, actor=operator, rejects_path=rejects, path=write(tmp_path / "a.csv", body),
                              non_resident=non_resident_from_registry)
    assert (summary.accepted, summary.pending_approval) == (0, 1)
    assert "承認待ち" in rejects.read_text(encoding="utf-8-sig")
    with db.transaction() as s:
        assert s.get(Person, "3") is None
        request = s.execute(select(ApprovalRequest)).scalar_one()
    assert request.kind == "non_resident_registration" and request.requested_by == operator.label
    # Importing the same file again files nothing new (the request is still pending).
    again = import_registry(db, settings, actor=operator, path=write(tmp_path / "b.csv", body),
                            non_resident=non_resident_from_registry)
    assert again.pending_approval == 0 and again.rejected == 1
    from sesshu.actor import Actor
    from sesshu.auth.models import StaffUser
    from sesshu.auth.service import create_user

    create_user(db, settings, actor=operator, login_id="kyoka-s", display_name="承認 者", role="supervisor",
                password="Shonin-no-tame-2026", tasks=(("yobo_sesshu", "健康づくり課"),))
    with db.transaction() as s:
        uid = s.execute(select(StaffUser.id).where(StaffUser.login_id == "kyoka-s")).scalar_one()
    approver = Actor(login_id="kyoka-s", kind="user", role="supervisor", user_id=uid)
    detail = get_approval(db, settings, actor=approver, approval_id=request.id)
    assert ("申請元", "住民基本台帳ファイルの取込（宛名番号 3 で登録）") in [(d.label, d.value) for d in detail.details]
    approve(db, settings, actor=approver, approval_id=request.id, expected_version=1)
    with db.transaction() as s:
        person = s.get(Person, "3")
        assert person.registry_status == "non_resident" and person.name == "田中\u3000一"


def test_missing_required_header_rejects_whole_file_and_stores_nothing(db, settings, operator, tmp_path):
    from sesshu.domain.errors import InvalidInput

    path = write(tmp_path / "a.csv", "宛名番号,氏名\r\n1,山田\r\n")
    with pytest.raises(InvalidInput, match="性別"):
        import_registry(db, settings, path=path, actor=operator)
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(Person)).scalar() == 0


def test_feed_cannot_write_into_the_non_resident_number_range(db, settings, operator, tmp_path):
    """宛名番号 9 + 14 digits belong to 住登外 persons registered in sesshu (four-eyes approval)."""
    rejects = tmp_path / "rej.csv"
    summary = import_registry(db, settings, actor=operator, rejects_path=rejects, path=write(tmp_path / "a.csv", _rows(
        "900000000000001,,上書き 試行,,男,2000-01-01,,,,,,,,,",
        "90000000000001,,普通 の番号,,女,2001-01-01,,,,,,,,,")))
    assert summary.accepted == 1 and summary.rejected == 1
    assert "住登外者用の番号帯" in rejects.read_text(encoding="utf-8-sig")
