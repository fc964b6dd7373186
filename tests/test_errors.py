"""Every bad input in docs/errors.md: exit 2, one line on stderr, no traceback, nothing left.

The cases live in ``tests/support/`` (``errors_cases.py``, ``errors_options.py``; the runner and
the renderer in ``errors_runner.py``, which ``scripts/errors_table.py`` uses to write
docs/errors.md); here each one runs in-process against a scratch directory, and the whole doc
is regenerated from the same outcomes and compared with the file, so the table cannot drift
from the code. A case marked ``bug=`` is a known contract violation: it is expected to fail
(strict xfail), so fixing it turns this suite red until the mark is removed and the doc
regenerated.
"""

from __future__ import annotations

import difflib
import functools
import os
import subprocess
import sys

import pytest
from errors_runner import ALL, DOC, reader_messages, render, run_in_scratch


@functools.cache
def outcome(case_id: str):
    """Run a case once per session (the doc test reuses the outcomes)."""
    return run_in_scratch(next(c for c in ALL if c.id == case_id))


def _param(case):
    marks = [pytest.mark.xfail(strict=True, reason=case.bug)] if case.bug else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in ALL])
def test_bad_input(case):
    out = outcome(case.id)
    assert not out.traceback and "Traceback" not in out.stderr, out.stderr
    assert out.code == 2, out.stderr
    lines = out.stderr.rstrip("\n").splitlines()
    # warnings (e.g. a damaged newest checkpoint) may come first; then exactly one error
    lines = [line for line in lines if not line.startswith("sgdlab: warning: ")]
    assert lines, "nothing on stderr"
    assert lines[0].startswith("sgdlab") and ": error: " in lines[0], lines[0]
    if case.multiline:  # the error line, then the indented ways to get the data
        assert sum(": error: " in line for line in lines) == 1
        assert lines[-1].startswith("  - ")
    else:
        assert len(lines) == 1, out.stderr
    for words in case.expect:
        assert words in out.stderr, (words, out.stderr)
    assert out.changed == (), f"left behind: {out.changed}"


def test_doc_is_generated_from_these_cases():
    expected = render({c.id: outcome(c.id) for c in ALL}, reader_messages())
    actual = DOC.read_text() if DOC.exists() else ""
    if actual != expected:
        diff = difflib.unified_diff(
            actual.splitlines(), expected.splitlines(), "docs/errors.md", "generated", lineterm=""
        )
        pytest.fail(
            "docs/errors.md is stale: run .venv/bin/python scripts/errors_table.py\n"
            + "\n".join(list(diff)[:40])
        )


def test_table_covers_the_required_inputs():
    """The issue's list of bad inputs, each present at least once."""
    text = " ".join(c.what + " " + " ".join(c.argv) for c in ALL).lower()
    for needle in [
        "missing",
        "empty",
        "truncated",
        "garbled",
        "magic",
        "dtype",
        "dims",
        "10⁹ images",
        "labels outside 0–9",
        "count mismatch",
        "checksum",
        "--save-weights",
        "--save",
        "--batch-size",
        "--epochs",
        "--lr",
        "--seed",
        "unknown option",
        "unknown engine",
        "unknown device",
        "larger than n",
        "--data-dir",
    ]:
        assert needle in text, needle
    for opt in ("--batch-size", "--epochs", "--lr", "--seed"):
        values = {c.argv[c.argv.index(opt) + 1] for c in ALL if opt in c.argv[:-1]}
        for bad in ("nan", "inf", "abc", "-1"):
            assert bad in values, (opt, bad)
        if opt != "--seed":
            assert "0" in values, opt


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["train", "--sample", "--batch-size", "0"], "--batch-size"),
        (["train", "--sample", "--lr", "nan"], "--lr"),
        (["minibatch", "--data-dir", "/nonexistent/sgdlab-test"], "data directory"),
    ],
)
def test_real_process(argv, words, tmp_path):
    """A few rows through a real interpreter: the exit status and stderr a shell sees."""
    env = {
        **os.environ,
        "SGDLAB_CACHE_DIR": str(tmp_path / "cache"),
        "SGDLAB_MIRRORS": "http://127.0.0.1:9/",
    }
    p = subprocess.run(
        [sys.executable, "-m", "sgdlab", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert p.returncode == 2
    assert p.stdout == ""
    assert "Traceback" not in p.stderr
    assert len(p.stderr.splitlines()) == 1 and words in p.stderr
    assert sorted(os.listdir(tmp_path)) == []
