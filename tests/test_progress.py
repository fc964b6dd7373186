"""Progress (progress.py): a tqdm bar on a terminal; off one, plain lines every few seconds,
with no carriage return or escape code in a log."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys

from sgdlab import progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_tqdm_and_a_log_gets_plain_lines(monkeypatch):
    from tqdm import tqdm

    assert isinstance(progress.bar(total=3, desc="x", unit="u", file=_Tty()), tqdm)
    assert progress.bar(total=3, desc="x", unit="u", enabled=False) is None
    clock = itertools.chain([0.0, 2.0, 6.0, 6.0, 7.0], itertools.repeat(12.0))
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    log = io.StringIO()
    p = progress.bar(total=100, desc="training", unit="step", file=log, every=5)
    assert isinstance(p, progress.PlainProgress)
    p.update(10)  # t = 2: nothing yet
    p.set_postfix(test_acc="0.83")
    p.update(40)  # t = 6: a line
    p.update(10)  # t = 7: too soon
    p.update(40)  # t = 12: a line
    p.close()  # t = 12, ran ≥ 5 s: a last line
    lines = log.getvalue().splitlines()
    assert lines[0] == "training: 50/100 step (50%), 6.0 s, test_acc=0.83"
    assert lines[1].startswith("training: 100/100 step (100%), 12.0 s") and len(lines) == 3
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()


def test_training_off_a_terminal_writes_no_bar_codes():
    r = subprocess.run(
        [sys.executable, "-m", "sgdlab", "train", "--sample", "--epochs", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr and "\x1b[" not in r.stderr


def test_both_bars_take_tqdms_calls_as_the_library_makes_them():
    """Every call the library makes on a bar (``sgdlab bench`` passes ``refresh=False``) works
    on the plain one too: once it crashed ``sgdlab bench`` in a pipe."""
    log = io.StringIO()
    for out in (_Tty(), log):
        p = progress.bar(total=4, desc="x", unit="u", file=out, every=0)
        p.set_description("bench fast GD", refresh=False)
        p.set_postfix({"a": 1}, refresh=False, b=2)
        p.update(4)
        p.close()
    assert log.getvalue().splitlines()[0].startswith("bench fast GD: 4/4 u (100%)")
    assert "a=1, b=2" in log.getvalue()
