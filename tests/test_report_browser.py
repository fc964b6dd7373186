"""The quick report opened in a real browser (headless Chromium, driven by playwright).

Chromium is Debian's ``chromium`` package (``bash scripts/setup.sh --dev`` installs it); never
``playwright install``. Skips, loudly and with the reason, only where no browser is installed.
Full-page screenshots are saved under ``out/screenshots/`` (gitignored); their paths are printed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[1] / "out" / "screenshots"


def chromium_path() -> str | None:
    """$SGDLAB_CHROMIUM, else Debian's /usr/bin/chromium, else chromium on PATH."""
    for c in (os.environ.get("SGDLAB_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if c and os.access(c, os.X_OK):
            return c
    return None


@pytest.fixture(scope="module")
def browser():
    exe = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        pytest.skip(
            f"NO BROWSER TEST: playwright is not installed ({e}); run bash scripts/setup.sh --dev"
        )
    if exe is None:
        pytest.skip(
            "NO BROWSER TEST: no chromium found (/usr/bin/chromium, PATH, "
            "$SGDLAB_CHROMIUM); run bash scripts/setup.sh --dev as root or with sudo"
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.mark.parametrize("lang", ["en", "he"])
def test_page_loads_cleanly_in_chromium(browser, quick_reports, lang):
    path = quick_reports[lang][0]
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} {r.failure}"))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    images = page.evaluate("[...document.images].map(i => [i.alt, i.complete, i.naturalWidth])")
    assert len(images) == 7  # five exercises' figures, the study's steps and examples
    for alt, complete, width in images:
        assert complete and width > 0, f"image {alt!r} did not load"
    assert problems == []
    # only the page itself and its data: URIs; nothing from the network
    assert [u for u in requests if not u.startswith(("data:", "file:"))] == []
    direction = page.evaluate("getComputedStyle(document.documentElement).direction")
    assert direction == ("rtl" if lang == "he" else "ltr")
    if lang == "he":  # code keeps left to right inside the right-to-left page
        assert page.evaluate("getComputedStyle(document.querySelector('code')).direction") == "ltr"
    assert page.evaluate("document.body.scrollWidth <= window.innerWidth + 1")  # no side scroll
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"report-quick-{lang}.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert shot.stat().st_size > 50_000
    print(f"\nscreenshot: {shot}")
