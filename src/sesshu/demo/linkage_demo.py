"""The three-city linkage scenario, narrated: `scripts/linkage-demo [DIR]`.

The same steps as tests/integration/test_linkage_three_cities.py, with three real processes on
127.0.0.1 (the hub, city A's and city B's linkage daemons) and B's commands as processes of their own.
Everything is left under DIR (databases, keys, the hub's configuration, each process's log).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def _say(step: str) -> None:
    print(f"\n== {step}", flush=True)


def _wait(predicate, timeout: float = 30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise SystemExit("時間内に終わりませんでした（ログを確認してください）")


def main(argv: list[str] | None = None) -> int:
    from sesshu.approvals import service as approvals
    from sesshu.demo.linkage_world import (
        HANAKO_A,
        HANAKO_B,
        OPERATOR,
        PERMITS,
        TARO_A,
        TARO_B,
        World,
        hub_storage,
        json_of,
        load_people,
        personal_strings,
        publish_copies,
    )
    from sesshu.ledger.service import person_history
    from sesshu.linkage import service as linkage
    from sesshu.linkage.client import HubClient, HubError
    from sesshu.linkage.envelope import load_body_keys, seal_envelope

    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="sesshu-linkage-demo-"))
    if root.exists() and any(root.iterdir()):
        raise SystemExit(f"{root} は空ではありません。空のディレクトリを指定してください")
    world = World(root)
    try:
        _say(f"準備: 熊谷市（A, {world.a.body_id}）と深谷市（B, {world.b.body_id}）のデータベースと鍵を {root} に作成")
        for city in (world.a, world.b):
            city.open(None)
        config = world.write_hub_config(PERMITS)
        print(f"  中継機能の設定（団体の公開鍵と照会許可用照合リスト）: {config}")
        world.start_hub(config)
        print(f"  中継機能を起動: http://127.0.0.1:{world.hub_port}/ （データベース {world.hub_db_path}）")

        _say("A: 住民2人（転出済み）と接種記録5件。秩父 太郎 さんはDV等支援措置のため自動応答不可")
        load_people(world)
        a, b = world.a, world.b
        clerk, checker, boss = (a.add_staff(n, r) for n, r in (("a-clerk", "clerk"), ("a-checker", "clerk"),
                                                                   ("a-boss", "supervisor")))
        b_clerk, b_boss = b.add_staff("b-clerk", "clerk"), b.add_staff("b-boss", "supervisor")

        def inquire_approved(city, boss, atena_no: str, *args: str) -> dict:
            """The clerk files the inquiry (CLI), the city's supervisor approves its content (III-6), the
            city's daemon sends it; returns the inquiry once answered or refused."""
            filed = json_of(city.run("linkage", "inquire", atena_no, *args, "--wait", "0", "--json"))
            print(f"  照会を申請（申請番号 {filed['approval_id']}）: 上長の承認待ち — まだ何も送られていません")
            approvals.approve(city.db, city.settings, actor=boss, approval_id=filed["approval_id"],
                              expected_version=1)
            print(f"  {boss.login_id}（上長）が照会の内容を承認 → 常駐処理が中継機能へ送信")
            settled = ("waiting", "answered", "refused") if atena_no == TARO_B else ("answered", "refused")

            def sent():  # TARO is held at A (自動応答不可): sent is enough here
                _, q = linkage.inquiry_of_request(city.db, filed["approval_id"])
                return q if q is not None and q.status in settled else None

            q = _wait(sent)
            return q.model_dump(mode="json")
        linkage.set_manual_only(a.db, actor=OPERATOR, atena_no=TARO_A, manual_only=True, reason="DV等支援措置")

        _say("A: 副本の登録 — a-clerk が作成、a-checker が確認、a-boss（上長）が承認")
        batch_id = publish_copies(a, clerk, checker, boss)
        print(f"  副本の登録 {batch_id}: 承認済み")
        world.start_daemon(a)
        world.start_daemon(b)
        print("  A と B の情報連携の常駐処理（sesshu linkage serve）を起動。A は承認済みの副本を公開します")

        _say("転出・転入: A が移転照合コードを発行し（転入通知とともに届く想定）、B が自分の符号と紐付け")
        code = a.run("linkage", "move-out", HANAKO_A).stdout.strip()
        print(f"  A> sesshu linkage move-out {HANAKO_A}  →  移転照合コード {code}")
        print("  B> " + b.run("linkage", "move-in", HANAKO_B, "--code", code).stdout.strip())

        _say("B: 熊谷 花子 さんの接種履歴を A に照会（A は副本から自動で回答）")
        q = inquire_approved(b, b_boss, HANAKO_B, "--to", a.body_id)
        print(f"  照会 {q['id']}: 提供許可証 {q['permit_id']}、受領 {q['records_received']} 件、取込 {q['records_imported']} 件")
        h = person_history(b.db, b.settings, actor=b_clerk, atena_no=HANAKO_B)
        for r in h.records:
            v = h.verdicts[r.id]
            print(f"  B の台帳: {r.vaccinated_on} {r.vaccine_code:<4} {v.dose_number}回目 判定={v.status} "
                  f"Lot {r.lot_no}  接種した市町村={r.former_municipality}")
        for e in h.eligibility:
            if e.vaccine == "HIB":
                print(f"  接種可能範囲: Hib {e.next_dose}回目（{e.status}） {e.earliest} から")

        _say("B: 秩父 太郎 さんを照会 → A では自動応答不可のため保留")
        code = a.run("linkage", "move-out", TARO_A).stdout.strip()
        b.run("linkage", "move-in", TARO_B, "--code", code)
        q = inquire_approved(b, b_boss, TARO_B, "--to", a.body_id)
        print(f"  照会 {q['id']}: {q['status']}（回答待ち）")
        held = _wait(lambda: linkage.list_provisions(a.db, actor=clerk, status="held"))
        print(f"  A の提供 {held[0].id}: {held[0].status_label}")
        approval_id = linkage.request_manual_decision(a.db, a.settings, actor=clerk, provision_id=held[0].id,
                                                      decision="disclose", reason="本人の同意を確認")
        approvals.approve(a.db, a.settings, actor=boss, approval_id=approval_id, expected_version=1)
        print(f"  a-clerk が提供を申請、a-boss が承認（承認申請 {approval_id}）→ A の常駐処理が回答を送信")
        _wait(lambda: [x for x in linkage.list_inquiries(b.db, actor=b_clerk) if x.atena_no == TARO_B][0].status
              == "answered")
        taro = person_history(b.db, b.settings, actor=b_clerk, atena_no=TARO_B)
        print("  B の台帳: " + ", ".join(f"{r.vaccinated_on} {r.vaccine_code}" for r in taro.records))

        _say("照会許可用照合リストにない照会は拒否される")
        out = inquire_approved(a, boss, HANAKO_A, "--to", b.body_id)
        print(f"  A → B: {out['status']}（{out['refusal']}）")
        out = inquire_approved(b, b_boss, HANAKO_B, "--to", a.body_id, "--info", "relief_benefit")
        print(f"  B → A（別の情報）: {out['status']}（{out['refusal']}）")

        _say("改ざん・再送（リプレイ）された電文は拒否される")
        client = HubClient(url=b.settings.linkage_hub_url, body_id=b.body_id,
                           keys=load_body_keys(b.settings.resolved_key_dir))
        env = seal_envelope(client.keys, kind="poll", sender=b.body_id, to="hub", body={})
        client.post_envelope("poll", env)
        try:
            client.post_envelope("poll", env)
        except HubError as e:
            print(f"  同じ電文をもう一度: {e.code} {e.reason}")
        env = seal_envelope(client.keys, kind="poll", sender=b.body_id, to="hub", body={})
        env["body"] = {"extra": 1}
        try:
            client.post_envelope("poll", env)
        except HubError as e:
            print(f"  署名後に内容を変えた電文: {e.code} {e.reason}")

        _say("情報提供等記録（番号法23条）")
        for who, city, atena, actor in (("A", a, HANAKO_A, clerk), ("B", b, HANAKO_B, b_clerk)):
            for e in linkage.exchanges_for_person(city.db, actor=actor, atena_no=atena):
                print(f"  {who}: {e.occurred_at:%H:%M:%S} {e.direction} 相手 {e.counterpart} {e.outcome} "
                      f"{e.records}件 {e.permit_id} {e.detail}")
    finally:
        world.stop()

    _say("中継機能のデータベースに個人を特定できる情報が読める形で残っていないか")
    raw = hub_storage(world)
    found = [s for s in personal_strings() if s.encode() in raw]
    print(f"  {len(raw)} バイトを検索: {', '.join(personal_strings())}")
    print("  見つかったもの: " + (", ".join(found) if found else "なし"))
    print(f"\nすべてのファイルとログ: {root}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
