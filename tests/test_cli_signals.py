"""The CLI's last moments (cli/main.py, training/weights.py): a SIGTERM after training, while
the outputs are written, is one line and exit 143; a full disk while saving weights is one
line and exit 2. Both leave no temporary file."""

from __future__ import annotations

import os
import signal
import time

import pytest
from full_disk import fill, full_disk

from sgdlab.cli.main import main


def test_sigterm_while_writing_outputs_is_one_line_and_143(tmp_path, monkeypatch, capsys):
    from sgdlab.training import weights

    real = weights.save_weights

    def killed(*a, **k):  # the scheduler's SIGTERM lands just after training ended
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        return real(*a, **k)

    monkeypatch.setattr(weights, "save_weights", killed)
    before = signal.getsignal(signal.SIGTERM)
    rc = main(
        ["train", "--sample", "--epochs", "1", "-q", "--save-weights", str(tmp_path / "w.pt")]
    )
    err = capsys.readouterr().err
    assert rc == 128 + signal.SIGTERM == 143
    assert err.count("\n") == 1 and "stopped by SIGTERM" in err
    assert signal.getsignal(signal.SIGTERM) == before  # restored for the caller
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_full_disk_while_saving_weights_is_one_line(tmp_path, capsys, suffix):
    with full_disk(tmp_path / "disk") as d:
        fill(d)
        out = d / f"w{suffix}"
        rc = main(["train", "--sample", "--epochs", "1", "-q", "--save-weights", str(out)])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1, err
        assert "No space left on device" in err and "enforce fail" not in err
        assert sorted(p.name for p in d.iterdir()) == ["filler"]
