"""``sgdlab playground`` as a command: it serves, says where, stops cleanly on Ctrl-C; a missing
extra, a taken port and a public host are one line each."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from sgdlab.cli.main import main


def test_without_the_extra_one_line_says_how_to_install(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a)
    )
    assert main(["playground", "--sample", "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("sgdlab playground: error: the playground needs")
    assert "pip install 'sgdlab[playground]'" in err and "missing: uvicorn" in err


def test_help_teaches_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["playground", "--help"])
    out = capsys.readouterr().out
    for flag in ("--host", "--port", "--no-browser", "--lang", "--workers"):
        assert flag in out
    assert "127.0.0.1" in out


@pytest.mark.parametrize("port", ["-1", "70000", "http"])
def test_a_bad_port_is_refused(port, capsys):
    with pytest.raises(SystemExit) as e:
        main(["playground", "--port", port])
    assert e.value.code == 2
    assert "port" in capsys.readouterr().err


def start(*args: str) -> subprocess.Popen:
    pytest.importorskip("uvicorn")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "sgdlab", "playground", "--sample", "--no-browser", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def url_of(proc: subprocess.Popen) -> str:
    line = proc.stdout.readline()
    assert line.startswith("serving on http://"), line + proc.stderr.read()
    return line.split()[2]


def test_it_serves_and_stops_cleanly_on_ctrl_c():
    proc = start("--port", "0")
    try:
        url = url_of(proc)
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "/", timeout=10) as r:
            assert r.status == 200 and b'id="train"' in r.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "warning" not in err


def test_a_taken_port_is_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = start("--port", str(port))
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"sgdlab playground: error: cannot serve on 127.0.0.1:{port}")
    assert "Traceback" not in err


def test_another_host_warns_that_the_network_can_use_it():
    proc = start("--host", "0.0.0.0", "--port", "0")
    try:
        url = url_of(proc)
        assert url.startswith("http://localhost:")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert "warning: serving on 0.0.0.0: anyone who can reach this machine" in err
    assert proc.returncode == 0
