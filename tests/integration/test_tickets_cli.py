"""The CLI over the same services: `sesshu notices`, `sesshu tickets reissue`, `sesshu certificate`."""
from __future__ import annotations

import json

from tests.integration.notices_city import load_city
from tests.integration.test_cli import run
from tests.pdfcheck import flat, pdf_text, qr_codes


def test_notices_reissue_and_certificate_from_the_command_line(db, settings, tmp_path):
    load_city(db, settings, tmp_path)
    out = tmp_path / "notices"
    r = run(settings, "notices", "--vaccine", "MR", "--as-of", "R8.12.1", "--within", "30", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["persons"] == 8 and (out / "mailing.csv").exists()
    again = run(settings, "notices", "--vaccine", "MR", "--as-of", "2026-12-01", "--within", "30", "--out", str(out))
    assert again.returncode == 0 and "作成済み" in again.stdout

    reissued = tmp_path / "reissue.pdf"
    r = run(settings, "tickets", "reissue", "2001", "--vaccine", "MR", "--reason", "紛失", "--out", str(reissued))
    assert r.returncode == 0, r.stderr
    new_line = r.stdout.split("券番号 ")[1].split("（")[0]
    assert qr_codes(reissued, tmp_path, 2) == [new_line]
    listed = json.loads(run(settings, "tickets", "list", "2001", "--json").stdout)
    assert sorted(t["state"] for t in listed) == ["invalidated", "issued"]

    cert = tmp_path / "cert.pdf"
    r = run(settings, "certificate", "2001", "--out", str(cert), "--requested-by", "熊谷 花子",
            "--relationship", "親権者（法定代理人）", "--identity", "運転免許証")
    assert r.returncode == 0, r.stderr
    assert "接種歴証明書" in flat(pdf_text(cert)) and "熊谷子1" in flat(pdf_text(cert))
    # printed personal data on the server is the server account's alone, whatever the umask
    assert {oct(p.stat().st_mode & 0o777) for p in (reissued, cert)} == {"0o600"}
    bad = run(settings, "certificate", "2001", "--out", str(cert), "--requested-by", "熊谷 花子", "--identity", "なし")
    assert bad.returncode == 2 and "本人確認" in bad.stderr
