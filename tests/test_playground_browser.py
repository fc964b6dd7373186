"""The playground's page in a real browser (Debian's chromium through playwright; never
``playwright install``): drive the controls, click ``#train``, check what is drawn against
``sgdlab.train``; Hebrew, a 390 px phone, compare mode with 5 batch sizes; no console errors and
no failed requests. Runs on the full Fashion-MNIST set when Debian's copy is installed (the
bundled sample otherwise); screenshots land in ``out/screenshots/playground-*.png``."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from test_report_browser import SCREENSHOTS, browser  # noqa: E402,F401 (the fixture)

from sgdlab.cli.playground import config_converter  # noqa: E402
from sgdlab.data import load, load_sample  # noqa: E402
from sgdlab.playground.app import create_app  # noqa: E402
from sgdlab.playground.presets import presets  # noqa: E402
from sgdlab.playground.server import Background, warm_up  # noqa: E402
from sgdlab.training.trainer import train  # noqa: E402

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def data():
    return load(DEBIAN) if (DEBIAN / "train-images-idx3-ubyte.gz").exists() else load_sample()


@pytest.fixture(scope="module")
def url(data):
    warm_up(data)
    app = create_app(data, convert=config_converter(), presets=presets(len(data.train_labels)))
    with Background(app) as u:
        yield u


class Watch:
    """A page with its console errors, page errors and failed or foreign requests collected."""

    def __init__(self, browser, url: str, width: int, height: int = 900) -> None:  # noqa: F811
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.problems: list[str] = []
        p = self.page
        p.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        p.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        p.on("requestfailed", lambda r: self._failed(r))
        p.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status} {r.url}"))
        p.on(
            "request", lambda r: r.url.startswith(url) or self.problems.append(f"off-site {r.url}")
        )

    def _failed(self, request) -> None:
        if "/events" in request.url and request.failure == "net::ERR_ABORTED":
            return  # an event stream the page closed itself (a replaced run)
        self.problems.append(f"failed: {request.url} {request.failure}")

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='1']")

    def train_and_wait(self, timeout: float = 60_000) -> dict:
        self.page.evaluate("window.__sgdlab.marks = {}")
        self.page.click("#train")
        self.page.wait_for_function("window.__sgdlab.marks.drawn !== undefined", timeout=timeout)
        return self.page.evaluate("window.__sgdlab.marks")

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"playground-{name}.png"
        self.page.wait_for_timeout(300)  # plotly's last redraw
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path


def test_a_click_trains_draws_and_shows_trains_accuracy(browser, url, data):  # noqa: F811
    w = Watch(browser, url, 1280)
    w.open(url)
    page = w.page
    page.fill("input[name=batch-size]", "128")
    page.fill("input[name=lr]", "0.05")
    page.fill("input[name=epochs]", "2")
    marks = w.train_and_wait()
    shown = page.locator("[data-metric=test_accuracy]")
    assert shown.get_attribute("data-run") == marks["run"]
    ref = train(batch_size=128, lr=0.05, epochs=2, data=data, progress=False)
    assert float(shown.get_attribute("data-value")) == ref.history[-1]["test_accuracy"]
    assert shown.inner_text() == f"{100 * ref.history[-1]['test_accuracy']:.2f}%"
    # every step's minibatch cost is a dot; every epoch a point of the curves
    dots = page.evaluate("document.getElementById('plot-noise').data[0].x.length")
    assert dots == ref.history[-1]["steps"]
    curve = page.evaluate("document.getElementById('plot-cost').data[0].y")
    assert curve == [h["train_cost"] for h in ref.history]
    assert page.locator("#templates canvas").count() == 10
    assert page.locator("#confusion tbody td").count() == 100
    assert page.locator("#misclassified figure").count() == 12
    assert 0 < marks["first_point"] - marks["click"] <= marks["drawn"] - marks["click"]
    assert w.problems == []
    w.shot("en")
    # a bad value: the CLI's message next to its control, nothing trained
    page.fill("input[name=momentum]", "1.5")
    page.click("#train")
    err = page.locator('.error[data-for="momentum"]')
    err.wait_for(state="visible")
    assert "momentum" in err.inner_text() and "1.5" in err.inner_text()
    assert w.problems and all("422" in p for p in w.problems)  # the refusal, nothing else
    page.close()


def test_hebrew_is_right_to_left_with_numbers_left_to_right(browser, url):  # noqa: F811
    w = Watch(browser, url, 1280)
    w.open(url)
    page = w.page
    assert page.evaluate("document.documentElement.dir") == "ltr"
    page.click("#lang-toggle")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert page.evaluate("document.documentElement.lang") == "he"
    assert page.inner_text("#train") == "אמן"
    number = "getComputedStyle(document.querySelector('input[name=lr]')).direction"
    assert page.evaluate(number) == "ltr"
    page.fill("input[name=epochs]", "2")
    w.train_and_wait()
    assert page.evaluate("getComputedStyle(document.documentElement).direction") == "rtl"
    w.shot("he")
    w.open(url + "?lang=he")  # --lang he / a link
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert w.problems == []
    page.close()


def test_a_phone_scrolls_only_down(browser, url):  # noqa: F811
    w = Watch(browser, url, 390, 844)
    w.open(url)
    page = w.page
    page.fill("input[name=epochs]", "2")
    w.train_and_wait()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("document.body.scrollWidth") <= 390
    tops = page.evaluate(
        "['plot-cost', 'plot-accuracy'].map(id => document.getElementById(id)"
        ".getBoundingClientRect().top)"
    )
    assert tops[0] < tops[1]  # stacked, not side by side
    w.shot("phone")
    assert w.problems == []
    page.close()


def test_compare_mode_overlays_the_b_sweep(browser, url):  # noqa: F811
    w = Watch(browser, url, 1280)
    w.open(url)
    page = w.page
    page.click("[data-preset=b_sweep]")
    page.wait_for_function(
        "window.__sgdlab.state.runs.length === 5 && "
        "window.__sgdlab.state.runs.every(r => r.finished)",
        timeout=180_000,
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.__sgdlab.state.runs.map(r => r.status)") == ["done"] * 5
    labels = page.locator("#legend li").all_inner_texts()
    assert len(labels) == 5 and labels[0].startswith("b=1 ") and "b=full" in labels[-1]
    assert page.evaluate("document.getElementById('plot-cost').data.length") == 10
    w.shot("compare")
    assert w.problems == []
    page.close()
