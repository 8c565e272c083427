"""`sesshu certificate ATENA_NO --out FILE.pdf`: 予防接種済証 / 接種歴証明書 on a recorded 照会申請."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sesshu.actor import os_actor


def register(app: typer.Typer) -> None:
    app.command("certificate")(certificate_cmd)


def certificate_cmd(atena_no: str, out: Path = typer.Option(..., "--out", help="PDFの出力先（.pdf）"),
                    requested_by: str = typer.Option(..., "--requested-by", help="申請者の氏名"),
                    identity: str = typer.Option(..., "--identity", help="本人確認の方法（例: マイナンバーカード）"),
                    relationship: str = typer.Option("本人", help="申請者と本人の関係（本人 / 親権者（法定代理人） など）"),
                    kind: str = typer.Option("history", help="history（接種歴証明書） / receipt（予防接種済証）"),
                    vaccine: Optional[str] = typer.Option(None, help="予防接種済証の接種種別（省略時はすべて）"),
                    shc: bool = typer.Option(False, "--shc", help="SMART Health Card（電子署名付きのQRコード）も印刷する")) -> None:
    """照会申請を記録し、接種歴証明書（または予防接種済証）のPDFを発行します。"""
    from sesshu.certificates.service import CertificateRequest, issue_certificate
    from sesshu.config import load_settings
    from sesshu.db import make_database

    settings = load_settings()
    issued = issue_certificate(make_database(settings), settings, actor=os_actor(), atena_no=atena_no,
                               request=CertificateRequest(requested_by=requested_by, relationship=relationship,
                                                          identity_method=identity, kind=kind, vaccine=vaccine),
                               shc=shc)
    from sesshu.exports.service import write_private

    out.parent.mkdir(parents=True, exist_ok=True)
    write_private(out, issued.pdf.content)  # personal data: 0600, atomically
    cards = f"、SMART Health Card {issued.cards} 枚" if issued.cards else ""
    typer.echo(f"発行しました: 第{issued.issue_no}号（接種記録 {issued.records} 件{cards}） → {out}")
