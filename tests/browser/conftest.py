"""Real headless Chromium (Debian's package); the server is the root conftest's `live_server`."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright


CHROMIUM = "/usr/bin/chromium"
# Screenshots are test artifacts (var/ is not in git); SESSHU_SCREENSHOT_DIR puts them elsewhere.
SHOTS = Path(os.environ.get("SESSHU_SCREENSHOT_DIR") or Path(__file__).resolve().parents[2] / "var" / "screenshots")


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--lang=ja"])
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    yield pg
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture
def shot(request):
    """shot(page, "name"): a full-page screenshot named after the test and the step."""
    def take(pg, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{request.node.name}-{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path

    return take
