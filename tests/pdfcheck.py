"""Reading printed PDFs back the way a person and a scanner would: text, page images, QR codes."""
from __future__ import annotations

import subprocess
from pathlib import Path


def pdf_text(pdf: Path, first: int | None = None, last: int | None = None) -> str:
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    return subprocess.run(["pdftotext", "-layout", *pages, str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def qr_codes(pdf: Path, out_dir: Path, page: int) -> list[str]:
    """The QR codes zbarimg finds on one page rendered at 200 dpi."""
    stem = out_dir / f"page{page}"
    subprocess.run(["pdftoppm", "-r", "200", "-f", str(page), "-l", str(page), "-png", "-singlefile", str(pdf),
                    str(stem)], check=True)
    out = subprocess.run(["zbarimg", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", f"{stem}.png"],
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line]


def flat(text: str) -> str:
    """Text without any spacing (pdftotext renders a full-width space as a gap of its own)."""
    return "".join(text.split()).replace("　", "")
