"""Shared fixtures: the bundled sample (always there), the full set (skipped loudly if absent)."""

from __future__ import annotations

import pytest

_FULL_SKIPPED: list[str] = []


@pytest.fixture(scope="session")
def sample():
    from sgdlab.data import load_sample

    return load_sample()


@pytest.fixture(scope="session")
def full():
    """The full Fashion-MNIST set from disk (no download in tests)."""
    from sgdlab.data import load
    from sgdlab.errors import DataNotFoundError

    try:
        return load(download=False)
    except DataNotFoundError as e:
        _FULL_SKIPPED.append(str(e).splitlines()[0])
        pytest.skip(f"FULL FASHION-MNIST NOT AVAILABLE, full-data tests skipped: {e}")


def pytest_terminal_summary(terminalreporter):
    if _FULL_SKIPPED:
        terminalreporter.write_sep("!", "FULL-DATA TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(_FULL_SKIPPED[0] + "  (run: bash scripts/setup.sh --dev)")


@pytest.fixture(scope="session")
def quick_reports(tmp_path_factory, sample):
    """``sgdlab report --quick`` in both languages, one fresh cache: {lang: (path, Report)}."""
    from sgdlab.report.build import write_report

    d = tmp_path_factory.mktemp("report")
    out = {}
    for lang in ("en", "he"):
        path = d / f"report.{lang}.html"
        out[lang] = (path, write_report(path, sample, quick=True, lang=lang, cache_dir=d / "cache"))
    return out
