"""Where the loader finds the data: explicit dir > SGDLAB_DATA > cache > system dir > download.

Every directory here is a tmp dir holding the same tiny generated set (``data.FILES`` is
monkeypatched to its hashes and shapes), so the source is told apart by ``ds.source``. No test
touches the real cache, the real system directory or the network (mirrors point at a closed
loopback port).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from idx_files import files_table, tiny_set
from loopback import closed_port

from sgdlab import paths
from sgdlab.cli.main import main
from sgdlab.data import fashion as data
from sgdlab.errors import DataFormatError, DataNotFoundError

SOURCES = ("explicit", "env", "cache", "system")


CONTENT = tiny_set(1, 30, 20)


def write_set(d: Path, *, gz: bool = True, skip: str | None = None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for stem, raw in CONTENT.items():
        if stem != skip:
            (d / (stem + ".gz" if gz else stem)).write_bytes(gzip.compress(raw) if gz else raw)
    return d


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Four candidate directories (not created), wired into the loader; FILES = tiny set."""
    d = {name: tmp_path / name for name in SOURCES}
    monkeypatch.setattr(data, "FILES", files_table(CONTENT))
    monkeypatch.setattr(paths, "SYSTEM_DATA_DIR", d["system"])
    monkeypatch.setenv("SGDLAB_CACHE_DIR", str(d["cache"]))
    monkeypatch.setenv("SGDLAB_MIRRORS", f"http://127.0.0.1:{closed_port()}/")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("SGDLAB_DATA", raising=False)
    return d


def test_tiny_set_loads(dirs):
    ds = data.load(write_set(dirs["explicit"]), download=False)
    assert ds.train_images.shape == (30, 28, 28) and ds.test_images.shape == (20, 28, 28)
    assert ds.train_labels.tolist() == [i % 10 for i in range(30)]
    assert not ds.is_sample


def test_load_dataset_is_load_or_the_bundled_sample(dirs):
    """``sgdlab.load_dataset``: the full set as :func:`load` finds it, or the bundled sample."""
    import sgdlab

    ds = sgdlab.load_dataset(write_set(dirs["explicit"]), download=False)
    assert ds.source == str(dirs["explicit"]) and not ds.is_sample
    assert ds.train_images.shape == (30, 28, 28)
    with pytest.raises(ValueError, match="no data_dir"):
        sgdlab.load_dataset(dirs["explicit"], sample=True)


def test_load_dataset_sample_is_the_bundled_sample():
    import sgdlab

    ds = sgdlab.load_dataset(sample=True)
    assert ds.is_sample and ds.source == "bundled sample"
    assert ds.provenance() == data.load_sample().provenance()


def test_provenance_names_the_source_sizes_and_hashes(dirs):
    ds = data.load(write_set(dirs["explicit"]), download=False)
    assert ds.provenance() == {
        "source": str(dirs["explicit"]),
        "is_sample": False,
        "n_train": 30,
        "n_test": 20,
        "sha256": {stem: hashlib.sha256(raw).hexdigest() for stem, raw in CONTENT.items()},
    }


@pytest.mark.parametrize(
    ("present", "explicit", "env", "winner"),
    [
        (SOURCES, True, True, "explicit"),
        (SOURCES, False, True, "env"),
        (("cache", "system"), False, False, "cache"),
        (("system",), False, False, "system"),
        (("explicit", "system"), True, False, "explicit"),
        (("env", "cache"), False, True, "env"),
    ],
)
def test_source_order(dirs, monkeypatch, present, explicit, env, winner):
    for name in present:
        write_set(dirs[name])
    for name in SOURCES:
        dirs[name].mkdir(exist_ok=True)  # an explicit dir must exist even when empty
    if env:
        monkeypatch.setenv("SGDLAB_DATA", str(dirs["env"]))
    ds = data.load(dirs["explicit"] if explicit else None, download=False)
    assert ds.source == str(dirs[winner])


def test_explicit_dir_shadows_env_var(dirs, monkeypatch):
    """With both given, SGDLAB_DATA is not even searched."""
    write_set(dirs["explicit"])
    monkeypatch.setenv("SGDLAB_DATA", str(dirs["env"]))  # does not exist: no error either
    assert data.search_dirs(dirs["explicit"]) == [dirs["explicit"], dirs["cache"], dirs["system"]]
    assert data.load(dirs["explicit"], download=False).source == str(dirs["explicit"])


def test_incomplete_directory_is_skipped(dirs):
    write_set(dirs["cache"], skip="t10k-labels-idx1-ubyte")
    write_set(dirs["system"])
    assert data.load(download=False).source == str(dirs["system"])


def test_raw_files_load_and_gz_is_preferred(dirs):
    write_set(dirs["cache"], gz=False)
    assert data.load(download=False).source == str(dirs["cache"])
    write_set(dirs["cache"])  # now both; the raw ones are damaged and must not be read
    for stem in CONTENT:
        (dirs["cache"] / stem).write_bytes(b"junk")
    assert data.load(download=False).train_labels.shape == (30,)


def test_damaged_file_in_winning_dir_is_an_error_not_a_fallback(dirs):
    write_set(dirs["cache"])
    write_set(dirs["system"])
    (dirs["cache"] / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x01junk"))
    with pytest.raises(DataFormatError, match="train-labels-idx1-ubyte"):
        data.load(download=False)


@pytest.mark.parametrize("how", ["argument", "env"])
def test_missing_explicit_dir_is_named(dirs, monkeypatch, how):
    missing = dirs["explicit"] / "nope"
    if how == "env":
        monkeypatch.setenv("SGDLAB_DATA", str(missing))
    with pytest.raises(DataNotFoundError, match=f"data directory {missing} does not exist"):
        data.load(missing if how == "argument" else None, download=False)


def _assert_lists_options(msg: str, dirs: dict[str, Path]) -> None:
    assert msg.startswith("Fashion-MNIST not found")
    assert f"looked in {dirs['cache']}, {dirs['system']}" in msg
    for words in (
        "apt-get install dataset-fashion-mnist",
        "--data-dir DIR",
        "SGDLAB_DATA=DIR",
        f"download from the official mirrors into {dirs['cache']}",
        "--sample",
    ):
        assert words in msg, words


def test_nothing_found_download_disabled(dirs):
    with pytest.raises(DataNotFoundError) as info:
        data.load(download=False)
    _assert_lists_options(str(info.value), dirs)
    assert "download disabled" in str(info.value)


def test_nothing_found_no_network(dirs):
    t0 = time.monotonic()
    with pytest.raises(DataNotFoundError) as info:
        data.load(progress=False)
    assert time.monotonic() - t0 < 15
    msg = str(info.value)
    _assert_lists_options(msg, dirs)
    assert "could not download train-images-idx3-ubyte.gz" in msg
    assert "connection refused (3 attempts)" in msg
    assert not dirs["cache"].exists() or os.listdir(dirs["cache"]) == []


def test_cli_require_full_without_data_exits_2(dirs, capsys):
    assert main(["train", "--require-full", "-q", "--epochs", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].startswith("sgdlab train: error: Fashion-MNIST not found")
    assert sum("error:" in line for line in lines) == 1  # one error, then the ways out
    assert "apt-get install dataset-fashion-mnist" in err


def test_cli_without_require_full_falls_back_to_sample_loudly(dirs, capsys):
    assert main(["minibatch", "-q"]) == 0
    out, err = capsys.readouterr()
    assert "FALLING BACK TO THE BUNDLED SAMPLE" in err
    assert "bundled sample" in out


def test_cli_require_full_in_a_real_process(dirs):
    """The same through a real interpreter: exit status 2, no traceback."""
    code = (
        "import sys; from pathlib import Path; import sgdlab.paths as d; "
        "d.SYSTEM_DATA_DIR = Path(sys.argv[1]); from sgdlab.cli.main import main; "
        "sys.exit(main(sys.argv[2:]))"
    )
    env = {**os.environ, "SGDLAB_CACHE_DIR": str(dirs["cache"])}
    p = subprocess.run(
        [sys.executable, "-c", code, str(dirs["system"]), "train", "--require-full", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert p.stderr.startswith("sgdlab train: error: Fashion-MNIST not found")
    assert "dataset-fashion-mnist" in p.stderr
