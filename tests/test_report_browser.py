"""The quick report opened in a real browser (headless Chromium, driven by playwright), on a
desktop (1280 px) and on a phone (390 px), in English and in Hebrew.

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
PHONE, DESKTOP = 390, 1280


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


def _open(browser, path: Path, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
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
    return page, problems, requests


# elements whose box leaves the viewport, outside a box that scrolls them (tables, code)
_OUTSIDE = """(w) => [...document.querySelectorAll('body *')].filter(e => {
  const r = e.getBoundingClientRect();
  if (r.width === 0 || (r.left >= -1 && r.right <= w + 1)) return false;
  for (let a = e.parentElement; a; a = a.parentElement) {
    if (['auto', 'scroll'].includes(getComputedStyle(a).overflowX)) return false;
  }
  if (['auto', 'scroll'].includes(getComputedStyle(e).overflowX)) {
    return r.left < -1 || r.right > w + 1;  // a scrolling box must itself fit
  }
  return true;
}).map(e => e.tagName + '.' + e.className + ' ' +
  Math.round(e.getBoundingClientRect().left) + '..' + Math.round(e.getBoundingClientRect().right))
"""


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
@pytest.mark.parametrize("lang", ["en", "he"])
def test_page_in_chromium(browser, quick_reports, lang, width):
    """Loads with no error or request; neither page scrolls sideways; tables scroll in their own
    box; code stays in its box; a phone gets the stacked figures; the contents do not overlap."""
    page, problems, requests = _open(browser, quick_reports[lang][0], width)
    images = page.evaluate(
        "[...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.currentSrc,"
        " i.parentElement.tagName === 'PICTURE' ?"
        " i.parentElement.querySelector('source').srcset : i.src, i.src])"
    )
    assert len(images) == 9  # five exercises' figures; the study's steps, examples, lr, noise
    pictures = 0
    for alt, complete, w, current, narrow, wide in images:
        assert complete and w > 0, f"image {alt!r} did not load"
        pictures += narrow != wide
        # a phone shows the narrow drawing (panels stacked), a desktop the wide one
        assert current == (narrow if width == PHONE else wide), alt
    assert pictures == 7
    assert problems == []
    # only the page itself and its data: URIs; nothing from the network
    assert [u for u in requests if not u.startswith(("data:", "file:"))] == []
    direction = page.evaluate("getComputedStyle(document.documentElement).direction")
    assert direction == ("rtl" if lang == "he" else "ltr")
    if lang == "he":  # code keeps left to right inside the right-to-left page
        assert page.evaluate("getComputedStyle(document.querySelector('code')).direction") == "ltr"
    # no sideways scrolling of the page itself
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate(_OUTSIDE, width) == []
    # every table sits in a box that scrolls sideways, and the box fits the screen
    boxes = page.evaluate(
        "[...document.querySelectorAll('table')].map(t => { const b = t.closest('.scroll');"
        " return b ? [getComputedStyle(b).overflowX, b.getBoundingClientRect().left,"
        " b.getBoundingClientRect().right] : null; })"
    )
    assert boxes and None not in boxes
    for overflow, left, right in boxes:
        assert overflow == "auto" and left >= -1 and right <= width + 1
    # the table of contents: entries inside the screen and not on top of one another
    toc = page.evaluate(
        "[...document.querySelectorAll('nav li')].map(l => { const r ="
        " l.getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]; })"
    )
    assert len(toc) >= 6
    for i, (l1, r1, t1, b1) in enumerate(toc):
        assert l1 >= -1 and r1 <= width + 1
        for l2, r2, t2, b2 in toc[i + 1 :]:
            assert min(r1, r2) - max(l1, l2) <= 1 or min(b1, b2) - max(t1, t2) <= 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"report-quick-{lang}-{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert shot.stat().st_size > 50_000
    print(f"\nscreenshot: {shot}")
