"""The one atomic writer: unpredictable temporaries, no writing through links, all or nothing."""

from __future__ import annotations

import errno
import os
import re
import stat
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import pytest

from sgdlab import atomic
from sgdlab.atomic import atomic_file, atomic_write

TMP_NAME = re.compile(r"^\.P\.(\d+)\.([a-z0-9_]{8})\.tmp$")


def temporaries(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


def test_writes_bytes_text_and_callables(tmp_path):
    p = tmp_path / "P"
    assert atomic_write(p, b"bytes") == p and p.read_bytes() == b"bytes"
    atomic_write(p, "tëxt")
    assert p.read_text(encoding="utf-8") == "tëxt"
    atomic_write(p, lambda f: f.write(b"from a callable"))
    assert p.read_bytes() == b"from a callable"
    with atomic_file(p) as f:
        f.write(b"streamed")
    assert p.read_bytes() == b"streamed" and temporaries(tmp_path) == []


def test_new_file_gets_the_mode_open_would_give(tmp_path):
    p = tmp_path / "P"
    old = os.umask(0o027)
    try:
        atomic_write(p, b"x")
        open(tmp_path / "ref", "wb").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == stat.S_IMODE((tmp_path / "ref").stat().st_mode)
    atomic_write(p, b"x", mode=0o600)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_temporary_is_unpredictable_and_in_the_target_directory(tmp_path):
    p = tmp_path / "P"
    seen = []

    def spy(f):
        seen.extend(temporaries(tmp_path))
        f.write(b"x")

    atomic_write(p, spy)
    atomic_write(p, spy)
    assert len(seen) == 2, seen
    parts = [TMP_NAME.match(n) for n in seen]
    assert all(parts), seen  # .P.PID.RANDOM.tmp, next to the target
    assert {int(m.group(1)) for m in parts} == {os.getpid()}
    assert parts[0].group(2) != parts[1].group(2)  # a fresh random part each time
    assert temporaries(tmp_path) == []


def test_planted_symlinks_are_never_written_through(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    d = tmp_path / "d"
    d.mkdir()
    # the names the old writers used, and the target itself, all linked to the victim
    for name in (".P.tmp", f".P.{os.getpid()}.tmp", "P"):
        (d / name).symlink_to(victim)
    atomic_write(d / "P", b"new")
    assert victim.read_bytes() == b"precious"
    assert not (d / "P").is_symlink() and (d / "P").read_bytes() == b"new"  # link replaced
    assert (d / ".P.tmp").is_symlink() and (d / f".P.{os.getpid()}.tmp").is_symlink()


def test_a_link_at_the_temporary_name_itself_is_skipped(tmp_path, monkeypatch):
    """Even if an attacker guessed the random name, O_EXCL makes mkstemp pick another."""
    if not hasattr(tempfile, "_get_candidate_names"):
        pytest.skip("this Python's tempfile has no _get_candidate_names to force a guess")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    d = tmp_path / "d"
    d.mkdir()
    planted = d / f".P.{os.getpid()}.guessed1.tmp"
    planted.symlink_to(victim)
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: iter(["guessed1", "other_12"]))
    used = []
    atomic_write(d / "P", lambda f: (used.extend(temporaries(d)), f.write(b"new")))
    assert f".P.{os.getpid()}.other_12.tmp" in used  # the guessed name was tried, then skipped
    assert victim.read_bytes() == b"precious" and planted.is_symlink()
    assert (d / "P").read_bytes() == b"new"


def test_two_threads_writing_one_path_both_succeed_one_content_wins(tmp_path):
    p = tmp_path / "P"
    both_open = threading.Barrier(2, timeout=30)
    contents = {name: name.encode() * 200_000 for name in ("a", "b")}
    errors = []

    def writer(name):
        def write(f):
            half = len(contents[name]) // 2
            f.write(contents[name][:half])
            both_open.wait()  # both temporaries exist and are half written
            f.write(contents[name][half:])

        try:
            atomic_write(p, write)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert p.read_bytes() in contents.values()
    assert temporaries(tmp_path) == []


_WRITER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("atomic", sys.argv[1])
atomic = importlib.util.module_from_spec(spec); spec.loader.exec_module(atomic)
for _ in range(20):
    atomic.atomic_write(sys.argv[2], sys.argv[3].encode() * 100_000)
"""


def test_two_processes_writing_one_path_both_succeed_one_content_wins(tmp_path):
    p = tmp_path / "P"
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, atomic.__file__, str(p), c]) for c in "ab"
    ]
    assert [pr.wait(timeout=120) for pr in procs] == [0, 0]
    assert p.read_bytes() in (b"a" * 100_000, b"b" * 100_000)
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_an_error_while_writing_keeps_the_old_file_and_no_temporary(tmp_path, error):
    p = tmp_path / "P"
    p.write_bytes(b"old")

    def write(f):
        f.write(b"half of the new")
        raise error

    with pytest.raises(type(error)):
        atomic_write(p, write)
    with pytest.raises(type(error)), atomic_file(p) as f:
        f.write(b"half")
        raise error
    assert p.read_bytes() == b"old" and temporaries(tmp_path) == []


def test_a_failing_check_keeps_the_old_file(tmp_path):
    p = tmp_path / "P"
    p.write_bytes(b"old")
    checked = []

    def check(tmp: Path):
        checked.append((tmp.parent, tmp.read_bytes()))
        raise ValueError("wrong content")

    with pytest.raises(ValueError, match="wrong content"):
        atomic_write(p, b"new", check=check)
    assert checked == [(tmp_path, b"new")]  # complete on disk when checked
    assert p.read_bytes() == b"old" and temporaries(tmp_path) == []


def _record_fsyncs(monkeypatch, fail_dirs_with: int | None = None) -> list[str]:
    kinds = []
    real = os.fsync

    def fsync(fd):
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        kinds.append(kind)
        if kind == "dir" and fail_dirs_with is not None:
            raise OSError(fail_dirs_with, os.strerror(fail_dirs_with))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return kinds


def test_file_and_directory_are_fsynced(tmp_path, monkeypatch):
    kinds = _record_fsyncs(monkeypatch)
    atomic_write(tmp_path / "P", b"x")
    assert kinds == ["file", "dir"]
    kinds.clear()
    atomic_write(tmp_path / "P", b"x", fsync_dir=False)
    assert kinds == ["file"]


@pytest.mark.parametrize("code", sorted(atomic.DIR_FSYNC_UNSUPPORTED))
def test_unsupported_directory_fsync_warns_once_and_writes(tmp_path, monkeypatch, code):
    monkeypatch.setattr(atomic, "_warned_dir_fsync", False)
    _record_fsyncs(monkeypatch, fail_dirs_with=code)
    with pytest.warns(RuntimeWarning, match="cannot fsync directory"):
        atomic_write(tmp_path / "P", b"one")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        atomic_write(tmp_path / "P", b"two")  # no second warning
    assert (tmp_path / "P").read_bytes() == b"two" and temporaries(tmp_path) == []


def test_other_directory_fsync_errors_are_raised(tmp_path, monkeypatch):
    _record_fsyncs(monkeypatch, fail_dirs_with=errno.EIO)
    with pytest.raises(OSError) as e:
        atomic_write(tmp_path / "P", b"x")
    assert e.value.errno == errno.EIO


def test_a_directory_as_target_is_a_clear_error(tmp_path):
    d = tmp_path / "P"
    (d / "inside").mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match="Is a directory") as e:
        atomic_write(d, b"x")
    assert e.value.filename == str(d)
    assert (d / "inside").is_dir() and temporaries(tmp_path) == []


def test_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "no" / "P", b"x")


# ------------------------------------------------------------------------- stale temporaries


def test_stale_temporaries_are_those_of_gone_writers(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = tmp_path / ".P.999999999.abcdefgh.tmp"
        alive = tmp_path / f".P.{live.pid}.abcdefgh.tmp"
        mine = tmp_path / f".P.{os.getpid()}.abcdefgh.tmp"  # an earlier process with our pid
        other = tmp_path / ".P.999999999.abcdefgh.part"
        for p in (dead, alive, mine, other, tmp_path / "P"):
            p.write_bytes(b"x")
        assert atomic.stale_temporaries(tmp_path) == sorted([dead, mine])
        assert atomic.remove_stale_temporaries(tmp_path) == sorted([dead, mine])
        assert alive.exists() and other.exists() and not dead.exists() and not mine.exists()
        part = atomic.temporary_pattern(re.escape("P"), ".part")
        assert atomic.remove_stale_temporaries(tmp_path, part) == [other]
    finally:
        live.kill()
        live.wait()
    assert atomic.stale_temporaries(tmp_path / "missing") == []


def test_a_temporary_being_written_by_this_process_is_not_stale(tmp_path):
    seen = []

    def write(f):
        seen.append(atomic.stale_temporaries(tmp_path))
        f.write(b"x")

    atomic_write(tmp_path / "P", write)
    assert seen == [[]] and (tmp_path / "P").read_bytes() == b"x"


def test_process_alive():
    assert atomic.process_alive(os.getpid())
    assert not atomic.process_alive(999999999)
    assert not atomic.process_alive(0) and not atomic.process_alive(-1)


def test_temporaries_of_sgdlab_0_1_are_cleaned_too(tmp_path):
    """0.1 named them ``.NAME.PID.tmp`` (e.g. the report's ``.bench-….json.PID.tmp``)."""
    dead = 999999999
    old = tmp_path / f".bench-0123abcd.json.{dead}.tmp"
    old.write_text("half")
    digits = tmp_path / f".x.json.{os.getpid()}.{dead}.tmp"  # a new name, all-digit random part
    digits.write_text("being written")
    with atomic._lock:
        atomic._writing.add(os.path.abspath(digits))
    try:
        assert atomic.remove_stale_temporaries(tmp_path) == [old]
    finally:
        with atomic._lock:
            atomic._writing.discard(os.path.abspath(digits))
    assert digits.exists()
