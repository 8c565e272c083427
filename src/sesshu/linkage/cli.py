"""`sesshu linkage …`: the city's linkage commands (thin over sesshu.linkage.service).

Checking and approving 副本 batches, deciding 自動応答不可 provisions and approving a 情報照会 need two
staff identities and a second factor: they are done on the web (/linkage, /approvals), never from the
CLI. `inquire` only files the inquiry for a supervisor's approval.
"""
from __future__ import annotations

import json
import time
from typing import Optional

import typer

linkage_app = typer.Typer(help="情報連携（中間サーバー: 副本・照会・提供）", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(linkage_app, name="linkage")


def _ctx():
    from sesshu.actor import os_actor
    from sesshu.config import load_settings
    from sesshu.db import make_database

    settings = load_settings()
    return make_database(settings), settings, os_actor()


def _approval_statuses() -> dict:
    from sesshu.approvals.models import STATUSES

    return STATUSES


def _echo_json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@linkage_app.command("card")
def card() -> None:
    """この団体の公開鍵（中継機能の設定ファイルに登録する内容）をJSONで表示します。"""
    from sesshu.config import load_settings
    from sesshu.linkage.service import body_card

    _echo_json(body_card(load_settings()))


@linkage_app.command("prepare")
def prepare(as_json: bool = typer.Option(False, "--json")) -> None:
    """前回の公開以降の差分（新規・修正・取消）から副本の登録を作成します。確認と承認はWeb画面で行います。"""
    from sesshu.linkage.service import prepare_batch

    db, _, actor = _ctx()
    b = prepare_batch(db, actor=actor)
    if as_json:
        _echo_json(b.model_dump(mode="json"))
        return
    typer.echo(f"副本の登録 {b.id} を作成しました: {b.copies} 件（{b.persons} 人）。別の職員の確認と上長の承認が必要です")


@linkage_app.command("batches")
def batches(as_json: bool = typer.Option(False, "--json")) -> None:
    """副本の登録の一覧を表示します。"""
    from sesshu.linkage.service import list_batches

    db, _, actor = _ctx()
    rows = list_batches(db, actor=actor)
    if as_json:
        _echo_json([b.model_dump(mode="json") for b in rows])
        return
    for b in rows:
        typer.echo(f"{b.id}\t{b.status_label}\t{b.copies}件\t作成 {b.prepared_by}\t確認 {b.checked_by or '-'}\t"
                   f"承認 {b.approved_by or '-'}")


@linkage_app.command("manual-only")
def manual_only(atena_no: str, off: bool = typer.Option(False, "--off", help="自動応答に戻す"),
                reason: str = typer.Option(..., help="理由（DV支援措置など）")) -> None:
    """この方の副本を自動応答不可にします（提供のたびに上長の判断が必要になります）。"""
    from sesshu.linkage.service import set_manual_only

    db, _, actor = _ctx()
    set_manual_only(db, actor=actor, atena_no=atena_no, manual_only=not off, reason=reason)
    typer.echo(f"{atena_no}: {'自動応答' if off else '自動応答不可'}にしました（次回の副本の登録で反映されます）")


@linkage_app.command("move-out")
def move_out_cmd(atena_no: str) -> None:
    """転出: この方の符号を中継機能に登録し、転入先に渡す移転照合コードを表示します。"""
    from sesshu.linkage.service import move_out

    db, settings, actor = _ctx()
    typer.echo(move_out(db, settings, actor=actor, atena_no=atena_no))


@linkage_app.command("move-in")
def move_in_cmd(atena_no: str, code: str = typer.Option(..., "--code", help="転出元から届いた移転照合コード")) -> None:
    """転入: 移転照合コードで、この方の符号と転出元の符号を中継機能で紐付けます。"""
    from sesshu.linkage.service import move_in

    db, settings, actor = _ctx()
    former = move_in(db, settings, actor=actor, atena_no=atena_no, transfer_code=code)
    typer.echo(f"{atena_no}: 転出元 {former} の符号と紐付けました")


@linkage_app.command("inquire")
def inquire_cmd(atena_no: str, to: str = typer.Option(..., "--to", help="照会先の団体コード（転出元）"),
                purpose: str = typer.Option("転入者の接種履歴の確認（接種スケジュールの判定）", "--purpose",
                                            help="照会の目的（上長が承認する内容）"),
                wait: float = typer.Option(30.0, help="上長の承認と回答を待つ秒数（0で待たない）"),
                info: str = typer.Option("vaccination_history", help="照会する情報"),
                task: Optional[str] = typer.Option(None, help="事務（省略時は data/linkage.yaml の事務）"),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """転入者の接種履歴の照会を申請します。上長がWeb画面（承認申請）で内容を承認した後に送られ、
    回答は台帳に取り込まれます。--wait の間は承認と回答を待ちます。"""
    from sesshu.linkage.service import await_inquiry, request_inquiry

    db, settings, actor = _ctx()
    request = request_inquiry(db, settings, actor=actor, atena_no=atena_no, provider=to, purpose=purpose, info=info,
                              task=task)
    status, q = await_inquiry(db, settings, actor=actor, approval_id=request.id, wait_seconds=wait) if wait \
        else ("requested", None)
    if as_json:
        _echo_json({"approval_id": request.id, "approval_status": status,
                    **(q.model_dump(mode="json") if q else {"status": "awaiting_approval"})})
    else:
        typer.echo(f"照会を申請しました（申請番号 {request.id}）。上長が承認申請の画面で内容を承認した後に送られます")
        if status == "requested":
            typer.echo("  上長の承認待ちです" + ("（待機時間を過ぎました）" if wait else ""))
        elif q is None:
            typer.echo(f"  申請は「{_approval_statuses().get(status, status)}」になりました。照会は送られていません")
        else:
            typer.echo(f"  照会 {q.id}（提供許可証 {q.permit_id or '-'}）: {q.status_label}")
            if q.status == "answered":
                typer.echo(f"  受領 {q.records_received} 件、台帳へ取込 {q.records_imported} 件、不開示 {q.not_disclosed} 件")
    if q is not None and q.status == "refused":
        typer.echo(f"照会は拒否されました: {q.refusal}", err=True)
        raise typer.Exit(2)


@linkage_app.command("inquiries")
def inquiries(as_json: bool = typer.Option(False, "--json")) -> None:
    """この団体が行った照会の一覧を表示します。"""
    from sesshu.linkage.service import list_inquiries

    db, _, actor = _ctx()
    rows = list_inquiries(db, actor=actor)
    if as_json:
        _echo_json([q.model_dump(mode="json") for q in rows])
        return
    for q in rows:
        typer.echo(f"{q.id}\t{q.atena_no}\t{q.provider}\t{q.status_label}\t{q.permit_id or '-'}\t{q.refusal}")


@linkage_app.command("provisions")
def provisions(status: Optional[str] = typer.Option(None, help="held / disclose / withhold / sent"),
               as_json: bool = typer.Option(False, "--json")) -> None:
    """他団体からの照会に対する提供の一覧（自動応答不可で保留中のものを含む）を表示します。"""
    from sesshu.linkage.service import list_provisions

    db, _, actor = _ctx()
    rows = list_provisions(db, actor=actor, status=status)
    if as_json:
        _echo_json([p.model_dump(mode="json") for p in rows])
        return
    for p in rows:
        typer.echo(f"{p.id}\t{p.requester}\t{p.atena_no or '-'}\t{p.status_label}\t{p.records_sent}件\t{p.permit_id}")


@linkage_app.command("exchanges")
def exchanges(atena_no: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """この方の情報提供等記録（照会・提供の記録）を表示します。"""
    from sesshu.linkage.service import exchanges_for_person

    db, _, actor = _ctx()
    rows = exchanges_for_person(db, actor=actor, atena_no=atena_no)
    if as_json:
        _echo_json([r.model_dump(mode="json") for r in rows])
        return
    for r in rows:
        typer.echo(f"{r.occurred_at:%Y-%m-%d %H:%M}\t{r.direction}\t{r.counterpart}\t{r.outcome}\t{r.records}件\t"
                   f"{r.permit_id or '-'}\t{r.actor}\t{r.detail}")


@linkage_app.command("sync")
def sync_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """中継機能と1回やり取りします（公開・自動応答・回答の取込）。"""
    from sesshu.linkage.service import sync

    db, settings, actor = _ctx()
    result = sync(db, settings, actor=actor)
    _echo_json(result.model_dump()) if as_json else typer.echo(
        f"公開 {result.published_batches}、照会の送信 {result.inquiries_sent}、提供 {result.provided}、保留 {result.held}、"
        f"回答の取込 {result.answers_imported}、拒否 {result.refused}")


@linkage_app.command("serve")
def serve(once: bool = typer.Option(False, help="1回だけ実行して終了")) -> None:
    """情報連携の常駐処理: 照会が届くたびに副本から自動で回答し、自分の照会への回答を取り込みます。"""
    from sesshu.domain.errors import DomainError
    from sesshu.linkage.client import HubError, make_client
    from sesshu.linkage.service import sync

    db, settings, actor = _ctx()
    client = make_client(settings)
    typer.echo(f"情報連携: {client.body_id} → {client.url}（{settings.linkage_poll_ms} ms ごと）", err=True)
    while True:
        try:
            result = sync(db, settings, actor=actor, client=client)
            if result.provided or result.held or result.answers_imported or result.published_batches \
                    or result.inquiries_sent:
                typer.echo(json.dumps(result.model_dump(), ensure_ascii=False), err=True)
        except HubError as e:
            typer.echo(f"中継機能: {e.reason}", err=True)
            client.forget_directory()  # a body added to the hub meanwhile is seen on the next round
        except DomainError as e:
            typer.echo(f"エラー: {e.message}", err=True)
        if once:
            return
        time.sleep(settings.linkage_poll_ms / 1000)


@linkage_app.command("purge-results")
def purge_results_cmd(as_of: Optional[str] = typer.Option(None, "--as-of", help="基準日（省略時は今日）")) -> None:
    """保存期間を過ぎた照会結果と情報提供等記録を削除します（削除は操作記録に残ります。cronで毎日実行）。"""
    from sesshu.domain.wareki import parse_optional_date
    from sesshu.linkage.service import purge_results

    db, _, actor = _ctx()
    out = purge_results(db, actor=actor, today=parse_optional_date(as_of, "基準日"))
    typer.echo(f"照会結果 {out['results']} 件、情報提供等記録 {out['exchange_records']} 件を削除しました")
