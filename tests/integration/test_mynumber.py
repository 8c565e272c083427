"""The My Number layer: reveal with a reason, 個人番号確認, hash-only lookup, and key rotation."""
from __future__ import annotations

import json
import os
import threading

import pytest
from sqlalchemy import event, select

from sesshu.actor import Actor
from sesshu.audit.models import AuditEntry
from sesshu.auth.models import StaffUser
from sesshu.auth.service import create_user
from sesshu.domain.errors import Forbidden, InvalidInput
from sesshu.keys import KeyRing, create_next_data_key, key_id, load_keyring
from sesshu.mynumber import rotation
from sesshu.mynumber.models import MyNumberVerification
from sesshu.mynumber.service import Presented, reveal_my_number, verify_my_number
from sesshu.orm import load_all_models
from sesshu.registry.models import Person
from sesshu.registry.service import find_by_my_number, import_registry
from tests.helpers import REGISTRY_HEADER, my_number, write

NUMBER = my_number("12345678901")
OTHER = my_number("98765432109")


@pytest.fixture
def city(db, settings, operator, tmp_path):
    rows = [f"100{i},{my_number(f'5550000{i:04d}')},住民　{i},ジュウミン　{i},女,2015-01-0{i % 9 + 1},,熊谷市{i},,,,,住民,,"
            for i in range(1, 8)]
    write(tmp_path / "reg.csv", REGISTRY_HEADER + "\n"
          f"2001,{NUMBER},山田　太郎,ヤマダ　タロウ,男,2020-04-01,360-0001,熊谷市宮町一丁目1番地,,,,,住民,,\n"
          "2002,,鈴木　花子,スズキ　ハナコ,女,2019-05-03,,熊谷市末広2-2,,,,,住民,,\n" + "\n".join(rows) + "\n")
    import_registry(db, settings, path=tmp_path / "reg.csv", actor=operator)
    return db


def _entries(db, action: str) -> list[AuditEntry]:
    with db.transaction() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).scalars())


def _no_decrypt(monkeypatch):
    def refuse(self, blob, *, aad):
        raise AssertionError("decrypt must not be called")

    monkeypatch.setattr(KeyRing, "decrypt", refuse)


# --- reveal ---------------------------------------------------------------------------------------

def test_reveal_returns_the_number_and_audits_purpose_and_reason(city, settings, operator):
    out = reveal_my_number(city, settings, actor=operator, atena_no="2001", purpose_code="linkage",
                           reason="　他市からの情報照会（照会番号12）の確認　")
    assert out.number == NUMBER and out.name == "山田　太郎"
    [entry] = _entries(city, "mynumber.reveal")
    assert entry.atena_no == "2001" and entry.purpose == "情報提供ネットワークシステムによる照会・提供の確認"
    assert json.loads(entry.detail)["reason"] == "他市からの情報照会(照会番号12)の確認"
    assert entry.seq == out.audit_seq and NUMBER not in entry.detail


@pytest.mark.parametrize("purpose,reason,message", [
    ("", "照会への回答のため", "目的を選択"),
    ("fishing", "照会への回答のため", "目的を選択"),
    ("linkage", "   ", "理由を入力"),
    ("linkage", "確認", "4文字以上"),
    ("linkage", "あ" * 201, "200文字以内"),
])
def test_reveal_without_a_valid_reason_decrypts_nothing(city, settings, operator, monkeypatch, purpose, reason,
                                                        message):
    _no_decrypt(monkeypatch)
    with pytest.raises(InvalidInput) as e:
        reveal_my_number(city, settings, actor=operator, atena_no="2001", purpose_code=purpose, reason=reason)
    assert message in e.value.message
    assert _entries(city, "mynumber.reveal") == []


def test_reveal_is_refused_to_a_role_without_the_permission(city, settings, clerk, monkeypatch):
    _no_decrypt(monkeypatch)
    with pytest.raises(Forbidden):
        reveal_my_number(city, settings, actor=clerk, atena_no="2001", purpose_code="linkage", reason="照会への回答")


def test_reveal_fails_whole_when_the_audit_entry_cannot_be_written(city, settings, operator, monkeypatch):
    from sesshu.mynumber import service

    def broken(*a, **k):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(service.audit, "record", broken)
    with pytest.raises(RuntimeError):
        reveal_my_number(city, settings, actor=operator, atena_no="2001", purpose_code="linkage", reason="照会への回答")


# --- 個人番号確認 -----------------------------------------------------------------------------------

def _presented(number=NUMBER, **kw) -> Presented:
    values = dict(number=number, document="mynumber_card", name="山田 太郎", birth_date="令和2年4月1日", sex="男",
                  address="熊谷市宮町一丁目１番地")
    values.update(kw)
    return Presented(**values)


def test_verify_matches_number_and_four_items_without_decrypting(city, settings, operator, monkeypatch):
    _no_decrypt(monkeypatch)
    spaced = "１２３４ ５６７８　" + NUMBER[8:]  # as typed from a card: full-width, with spaces
    out = verify_my_number(city, settings, actor=operator, atena_no="2001", presented=_presented(spaced))
    assert out.result == "match" and out.number_check == "match" and out.mismatched == []
    assert out.checks == {"name": "match", "birth_date": "match", "sex": "match", "address": "match"}
    with city.transaction() as s:
        row = s.execute(select(MyNumberVerification)).scalar_one()
    assert row.atena_no == "2001" and row.verified_by == "os:ops" and row.document == "mynumber_card"
    [entry] = _entries(city, "mynumber.verify")
    assert row.audit_seq == entry.seq and json.loads(entry.detail)["result"] == "match"
    assert NUMBER not in entry.detail


def test_verify_names_each_mismatched_item(city, settings, operator):
    out = verify_my_number(city, settings, actor=operator, atena_no="2001",
                           presented=_presented(OTHER, address="熊谷市宮町一丁目2番地", sex="", sex_confirmed=True))
    assert out.result == "mismatch" and out.number_check == "mismatch"
    assert out.checks["address"] == "mismatch" and out.checks["sex"] == "confirmed"
    assert out.mismatched == ["個人番号", "住所"]


def test_verify_records_a_bad_check_digit(city, settings, operator):
    wrong = NUMBER[:11] + str((int(NUMBER[11]) + 1) % 10)
    out = verify_my_number(city, settings, actor=operator, atena_no="2001", presented=_presented(wrong))
    assert out.result == "bad_check_digit"
    assert [json.loads(e.detail)["result"] for e in _entries(city, "mynumber.verify")] == ["bad_check_digit"]


def test_verify_a_person_without_a_number_on_record(city, settings, operator):
    out = verify_my_number(city, settings, actor=operator, atena_no="2002",
                           presented=_presented(name="鈴木花子", birth_date="2019-05-03", sex="女",
                                                address="熊谷市末広２－２"))
    assert out.result == "mismatch" and out.number_check == "not_registered" and out.mismatched == ["個人番号"]


@pytest.mark.parametrize("change,message", [
    (dict(number="1234"), "12桁"),
    (dict(number=""), "個人番号を入力"),
    (dict(document="passport"), "書類を選択"),
    (dict(document="notification_card"), "身元確認書類"),
    (dict(name=""), "氏名: 提示された書類の記載を入力するか"),
    (dict(birth_date="令和2年13月1日"), "生年月日"),
    (dict(sex="不明"), "性別は「男」または「女」"),
])
def test_verify_explains_bad_input_and_records_nothing(city, settings, operator, change, message):
    with pytest.raises(InvalidInput) as e:
        verify_my_number(city, settings, actor=operator, atena_no="2001", presented=_presented(**change))
    assert message in e.value.message
    with city.transaction() as s:
        assert s.execute(select(MyNumberVerification)).first() is None


# --- lookup -----------------------------------------------------------------------------------------

def test_lookup_by_my_number_uses_the_unique_index_and_decrypts_nothing(city, settings, operator, monkeypatch,
                                                                         backend):
    _no_decrypt(monkeypatch)
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "my_number_hmac" in statement and statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(city.engine, "before_cursor_execute", capture)
    try:
        spaced = " ".join([NUMBER[:4], NUMBER[4:8], NUMBER[8:]])
        found = find_by_my_number(city, settings, actor=operator, number=spaced,
                                  purpose="情報照会の対象者確認")
    finally:
        event.remove(city.engine, "before_cursor_execute", capture)
    assert found.atena_no == "2001" and found.my_number_masked == "********" + NUMBER[-4:]
    [(statement, params)] = statements
    raw = city.engine.raw_connection()
    try:
        cur = raw.cursor()
        if backend == "sqlite":
            cur.execute("EXPLAIN QUERY PLAN " + statement, params)
            plan = " ".join(str(r[-1]) for r in cur.fetchall())
            assert "USING INDEX sqlite_autoindex_person" in plan or "uq_person_my_number_hmac" in plan, plan
            assert "SCAN" not in plan, plan
        else:
            cur.execute("SET enable_seqscan = off")  # a tiny table would otherwise be scanned anyway
            cur.execute("EXPLAIN " + statement, params)
            plan = " ".join(r[0] for r in cur.fetchall())
            assert "uq_person_my_number_hmac" in plan, plan
        raw.rollback()
    finally:
        raw.close()


# --- key rotation -------------------------------------------------------------------------------------

def test_every_encrypted_column_is_rotated():
    declared = {c.label for c in rotation.ENCRYPTED_COLUMNS}
    found = {f"{t.name}.{c.name}" for t in load_all_models().sorted_tables for c in t.columns
             if c.name.endswith("_enc")}
    assert found == declared


def _user(db, settings, login_id="rot-user"):
    admin = Actor(login_id="setup", kind="os", role="operator")
    return create_user(db, settings, actor=admin, login_id=login_id, display_name="鍵 確認", role="auditor",
                       password="kumagaya-Sesshu-2026")


def _all_plaintexts(db, settings) -> dict[str, str]:
    keys = load_keyring(settings)
    with db.transaction() as s:
        out = {p.atena_no: keys.decrypt(p.my_number_enc, aad=p.atena_no)
               for p in s.execute(select(Person).where(Person.my_number_enc.is_not(None))).scalars()}
        out.update({u.login_id: keys.decrypt(u.totp_secret_enc, aad=f"totp:{u.login_id}")
                    for u in s.execute(select(StaffUser)).scalars()})
    return out


def test_rotation_moves_every_row_to_a_new_key_and_everything_still_decrypts(city, settings, operator):
    secret = _user(city, settings).totp_secret
    before = _all_plaintexts(city, settings)
    report = rotation.rotate(city, settings, actor=operator, batch=3)
    assert report.created and report.key_id == 2 and report.done
    assert report.reencrypted["person.my_number_enc"] == 8 and report.reencrypted["staff_user.totp_secret_enc"] == 1
    key_file = settings.resolved_key_dir / "data-key-2.b64"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    status = rotation.key_status(city)
    assert status["person.my_number_enc"] == {2: 8} and status["staff_user.totp_secret_enc"] == {2: 1}
    after = _all_plaintexts(city, settings)
    assert after == before and after["rot-user"] == secret
    phases = [json.loads(e.detail)["phase"] for e in _entries(city, "keys.rotate")]
    assert phases == ["start", "done"] and all(e.actor == "os:ops" for e in _entries(city, "keys.rotate"))


def test_a_running_server_encrypts_new_values_with_the_new_key(settings):
    first = load_keyring(settings)
    new_id = create_next_data_key(settings.resolved_key_dir)
    again = load_keyring(settings)
    assert new_id == first.current_id + 1 and again.current_id == new_id
    blob = again.encrypt("x", aad="a")
    assert key_id(blob) == new_id and set(first.enc_keys) < set(again.enc_keys)
    # A request that loaded its keys just before the rotation still reads rotated rows.
    assert first.decrypt(blob, aad="a") == "x"


def test_interrupted_rotation_resumes_where_it_stopped(city, settings, operator, monkeypatch):
    real = KeyRing.encrypt
    calls = {"n": 0}

    def failing(self, plaintext, *, aad):
        calls["n"] += 1
        if calls["n"] > 4:
            raise OSError("power cut")
        return real(self, plaintext, aad=aad)

    monkeypatch.setattr(KeyRing, "encrypt", failing)
    with pytest.raises(OSError):
        rotation.rotate(city, settings, actor=operator, batch=2)
    monkeypatch.setattr(KeyRing, "encrypt", real)
    # The two committed batches moved 4 rows; the failed one rolled back.
    assert rotation.key_status(city)["person.my_number_enc"] == {1: 4, 2: 4}
    report = rotation.rotate(city, settings, actor=operator, batch=2)
    assert not report.created and report.key_id == 2 and report.done
    assert report.reencrypted["person.my_number_enc"] == 4  # rows already on key 2 were skipped
    assert sorted(p.name for p in settings.resolved_key_dir.glob("data-key-*.b64")) == \
        ["data-key-1.b64", "data-key-2.b64"]
    assert len(_all_plaintexts(city, settings)) == 8
    phases = [json.loads(e.detail)["phase"] for e in _entries(city, "keys.rotate")]
    assert phases == ["start", "resume", "done"]


def test_reads_keep_working_while_rotation_runs(city, settings, operator):
    expected = _all_plaintexts(city, settings)
    stop, errors, reads = threading.Event(), [], [0]

    def reader():
        while not stop.is_set():
            try:
                assert _all_plaintexts(city, settings) == expected
                reads[0] += 1
            except Exception as e:  # noqa: BLE001 — reported below
                errors.append(repr(e))
                return

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(3):
            report = rotation.rotate(city, settings, actor=operator, batch=1)
            assert report.done
    finally:
        stop.set()
        t.join(timeout=60)
    assert errors == [] and reads[0] > 0
    assert rotation.key_status(city)["person.my_number_enc"] == {4: 8}


def test_rotation_refuses_keys_given_by_settings(db, settings, operator):
    import base64
    import dataclasses

    fixed = dataclasses.replace(settings, mynumber_key=base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(InvalidInput) as e:
        rotation.rotate(db, fixed, actor=operator)
    assert "SESSHU_MYNUMBER_KEY" in e.value.message


def test_cli_rotate_and_status(city, settings):
    from tests.integration.test_cli import run

    r = run(settings, "keys", "rotate", "--batch", "5")
    assert r.returncode == 0, r.stderr
    assert "新しい暗号鍵を作成しました（鍵番号 2）" in r.stdout and "person.my_number_enc: 8件 再暗号化" in r.stdout
    s = run(settings, "keys", "status")
    assert s.returncode == 0 and "現在の暗号鍵: 鍵番号 2" in s.stdout and "person.my_number_enc: 鍵2: 8件" in s.stdout


def test_cli_verify_takes_the_number_from_a_prompt(city, settings):
    from tests.integration.test_cli import run

    r = run(settings, "mynumber", "verify", "2001", "--document", "mynumber_card", "--name", "山田太郎",
            "--birth-date", "2020-04-01", "--sex", "男", "--address-confirmed", input_text=NUMBER + "\n")
    assert r.returncode == 0, r.stderr
    assert "確認結果: 一致" in r.stdout and NUMBER not in r.stdout
    with city.transaction() as s:
        row = s.execute(select(MyNumberVerification)).scalar_one()
    assert row.address_check == "confirmed" and row.name_check == "match" and row.verified_by.startswith("os:")
