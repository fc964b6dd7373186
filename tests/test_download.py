"""Downloads against a misbehaving loopback server (127.0.0.1 only, one thread per test).

Fault matrix: 403/404 (next mirror at once), 500/503 (retried with back-off), connection reset
mid-body, truncated body (with and without Content-Length), an HTML page served with status
200, a valid gzip with the wrong content, a stall before the headers, a stall mid-body, a slow
drip, redirects (followed; loops cut; https -> http refused), nothing listening. After every
failure: no file at the final path, no temporary file, a clear message, bounded wall time.
"""

from __future__ import annotations

import hashlib
import http.server
import inspect
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from idx_files import files_table, gz, idx_bytes, tiny_set, write_gz
from loopback import closed_port

from sgdlab import paths
from sgdlab.data import download
from sgdlab.data import fashion as data
from sgdlab.data.download import InsecureRedirectError, check_redirect, fetch
from sgdlab.data.idx import read_bytes
from sgdlab.errors import DataFormatError, DataNotFoundError, DownloadError

FAST = {"retries": 2, "timeout": 2.0, "deadline": 20.0, "backoff": 0.01, "progress": False}


# ----------------------------------------------------------------------------- test files


CONTENT = tiny_set(0, 40, 20)
GOOD = gz(CONTENT["train-labels-idx1-ubyte"])
GOOD_SHA = hashlib.sha256(CONTENT["train-labels-idx1-ubyte"]).hexdigest()
WRONG = gz(idx_bytes(np.full(40, 3, dtype=np.uint8)))
NAME = "train-labels-idx1-ubyte.gz"


def verify(path: Path) -> None:
    """Accept only GOOD's decompressed content (what the data loader's verifier does)."""
    if hashlib.sha256(read_bytes(path)).hexdigest() != GOOD_SHA:
        raise DataFormatError(f"{path}: content does not match")


# ------------------------------------------------------------------------ loopback server


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.routes[path]``: a list of behaviours, one consumed per request (the
    last one repeats). Behaviours: "ok", "ok-nolength", an int status, "reset", "truncated",
    "truncated-nolength", "html200", "stall", "stall-body", "drip", ("redirect", location),
    or bytes (served as the body)."""

    protocol_version = "HTTP/1.0"
    timeout = 10  # a client that stops talking cannot hold a thread for long

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        srv: LoopbackServer = self.server  # type: ignore[assignment]
        with srv.lock:
            srv.log.append(self.path)
            if len(srv.log) > srv.max_requests:
                behaviour: object = 503
            else:
                queue = srv.routes.get(self.path, [404])
                behaviour = queue.pop(0) if len(queue) > 1 else queue[0]
        self._serve(behaviour, srv)

    def _serve(self, b: object, srv: LoopbackServer) -> None:
        body = srv.body
        if isinstance(b, bytes):
            body, b = b, "ok"
        if isinstance(b, int):
            self._head(b, b"error page")
            self.wfile.write(b"error page")
        elif isinstance(b, tuple):
            self.send_response(302)
            self.send_header("Location", b[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif b == "ok":
            self._head(200, body)
            self.wfile.write(body)
        elif b == "ok-nolength":
            self._head(200, None)
            self.wfile.write(body)
        elif b == "html200":
            page = b"<!DOCTYPE html><html><body>Rate limit exceeded</body></html>"
            self._head(200, page, ctype="text/html")
            self.wfile.write(page)
        elif b in ("truncated", "truncated-nolength", "reset"):
            self._head(200, body if b != "truncated-nolength" else None)
            self.wfile.write(body[: len(body) // 2])
            if b == "reset":  # RST instead of FIN
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
        elif b == "stall":
            srv.stop.wait(10)
        elif b == "stall-body":
            self._head(200, body)
            self.wfile.write(body[:10])
            srv.stop.wait(10)
        elif b == "drip":  # one byte every 50 ms: never silent long enough for a read timeout
            self._head(200, body * 1000)
            for i in range(200):
                if srv.stop.wait(0.05):
                    break
                self.wfile.write(body[i % len(body) : i % len(body) + 1])

    def _head(self, status: int, body: bytes | None, ctype: str = "application/gzip") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if body is not None:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()


class LoopbackServer(http.server.ThreadingHTTPServer):
    """A bounded test server on 127.0.0.1: at most ``max_requests`` real answers, shut down
    by the fixture (and by a 60 s watchdog should a test forget)."""

    daemon_threads = True

    def __init__(self, max_requests: int = 200) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, list[object]] = {}
        self.log: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.max_requests = max_requests
        self.body = GOOD
        self._watchdog = threading.Timer(60, self.close)
        self._watchdog.daemon = True

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def handle_error(self, request, client_address) -> None:  # resets are on purpose
        pass

    def start(self) -> LoopbackServer:
        threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self._watchdog.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.shutdown()
        self.server_close()
        self._watchdog.cancel()

    def count(self, path: str) -> int:
        return sum(p == path for p in self.log)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxy for loopback, no real mirror, no real cache or system directory."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("SGDLAB_MIRRORS", f"http://127.0.0.1:{closed_port()}/")
    monkeypatch.setenv("SGDLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SGDLAB_DATA", raising=False)
    monkeypatch.setattr(paths, "SYSTEM_DATA_DIR", tmp_path / "system")


def leftovers(d: Path) -> list[str]:
    """Every file in ``d`` (temporary ``.part`` files included)."""
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


# ------------------------------------------------------------------------------- success


@pytest.mark.parametrize("behaviours", [["ok"], ["ok-nolength"]])
def test_downloads_verified_file_to_final_path(server, tmp_path, behaviours):
    server.routes["/" + NAME] = behaviours
    path = fetch(NAME, tmp_path / "d", verify, bases=[server.base], **FAST)
    assert path == tmp_path / "d" / NAME
    assert path.read_bytes() == GOOD
    assert leftovers(tmp_path / "d") == [NAME]
    assert server.count("/" + NAME) == 1


@pytest.mark.parametrize("fault", [500, 502, 503, 429, "reset", "truncated", "stall-body"])
def test_transient_fault_is_retried_on_same_mirror(server, tmp_path, fault):
    server.routes["/" + NAME] = [fault, fault, "ok"]
    opts = {**FAST, "timeout": 0.5}
    path = fetch(NAME, tmp_path, verify, bases=[server.base], **opts)
    assert path.read_bytes() == GOOD
    assert server.count("/" + NAME) == 3
    assert leftovers(tmp_path) == [NAME]


def test_retries_back_off_exponentially(server, tmp_path):
    server.routes["/" + NAME] = [500, 500, "ok"]
    t0 = time.monotonic()
    fetch(NAME, tmp_path, verify, bases=[server.base], **{**FAST, "backoff": 0.2})
    assert time.monotonic() - t0 >= 0.2 + 0.4 - 0.05  # paused 0.2 s, then 0.4 s


@pytest.mark.parametrize("fault", [403, 404, 410, "html200", "truncated-nolength", WRONG])
def test_permanent_fault_moves_to_next_mirror_at_once(server, tmp_path, fault):
    server.routes["/a/" + NAME] = [fault]
    server.routes["/b/" + NAME] = ["ok"]
    path = fetch(NAME, tmp_path, verify, bases=[server.base + "a/", server.base + "b/"], **FAST)
    assert path.read_bytes() == GOOD
    assert server.count("/a/" + NAME) == 1  # not retried: it would answer the same
    assert server.count("/b/" + NAME) == 1
    assert leftovers(tmp_path) == [NAME]


def test_exhausted_mirror_falls_through_to_next(server, tmp_path):
    server.routes["/a/" + NAME] = [503]
    server.routes["/b/" + NAME] = ["ok"]
    fetch(NAME, tmp_path, verify, bases=[server.base + "a/", server.base + "b/"], **FAST)
    assert server.count("/a/" + NAME) == FAST["retries"] + 1


# ------------------------------------------------------------------------------ failures


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (WRONG, "wrong content"),
        ("html200", "wrong content"),
        (403, "HTTP 403"),
        (500, "HTTP 500 Internal Server Error (3 attempts)"),
        ("reset", "attempts"),
        ("truncated", "attempts"),
    ],
)
def test_nothing_works_fails_cleanly(server, tmp_path, fault, words):
    old = tmp_path / NAME
    old.write_bytes(b"OLD")  # an earlier file at the final path is not clobbered
    server.routes["/a/" + NAME] = [fault]
    server.routes["/b/" + NAME] = [fault]
    with pytest.raises(DownloadError) as info:
        fetch(NAME, tmp_path, verify, bases=[server.base + "a/", server.base + "b/"], **FAST)
    msg = str(info.value)
    assert msg.startswith(f"could not download {NAME}:")
    assert server.base + "a/" + NAME in msg and server.base + "b/" + NAME in msg
    assert words in msg
    assert ".part" not in msg  # the temporary file's name never reaches the user
    assert old.read_bytes() == b"OLD"
    assert leftovers(tmp_path) == [NAME]


def test_wrong_content_is_never_cached(server, tmp_path):
    server.routes["/" + NAME] = [WRONG]
    with pytest.raises(DownloadError, match="wrong content"):
        fetch(NAME, tmp_path / "d", verify, bases=[server.base], **FAST)
    assert leftovers(tmp_path / "d") == []


@pytest.mark.parametrize("fault", ["stall", "stall-body"])
def test_stalled_server_times_out_within_bound(server, tmp_path, fault):
    server.routes["/" + NAME] = [fault]
    timeout, deadline = 0.3, 2.0
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="timed out"):
        fetch(
            NAME,
            tmp_path,
            verify,
            bases=[server.base, server.base],
            **{**FAST, "timeout": timeout, "deadline": deadline},
        )
    assert time.monotonic() - t0 < deadline + timeout + 1.0
    assert leftovers(tmp_path) == []


def test_slow_drip_is_cut_by_deadline(server, tmp_path):
    """One byte per 50 ms never trips a 1 s read timeout; the overall deadline must."""
    server.routes["/" + NAME] = ["drip"]
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="deadline"):
        fetch(
            NAME, tmp_path, verify, bases=[server.base], **{**FAST, "timeout": 1.0, "deadline": 1.5}
        )
    assert time.monotonic() - t0 < 1.5 + 1.0 + 1.0
    assert leftovers(tmp_path) == []


def test_deadline_stops_retrying(server, tmp_path):
    server.routes["/" + NAME] = [500]
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="deadline"):
        fetch(
            NAME,
            tmp_path,
            verify,
            bases=[server.base],
            **{**FAST, "retries": 1000, "backoff": 0.1, "deadline": 1.0},
        )
    assert time.monotonic() - t0 < 2.0
    assert 2 <= server.count("/" + NAME) < 20


def test_nothing_listening_fails_fast_with_defaults(tmp_path):
    """Default retries/back-off/timeouts against two dead mirrors: a clear error in seconds."""
    bases = [f"http://127.0.0.1:{closed_port()}/", f"http://127.0.0.1:{closed_port()}/"]
    t0 = time.monotonic()
    with pytest.raises(DownloadError) as info:
        fetch(NAME, tmp_path, verify, bases=bases, progress=False)
    assert time.monotonic() - t0 < 10
    msg = str(info.value)
    for b in bases:
        assert f"{b}{NAME}: connection refused (3 attempts)" in msg
    assert leftovers(tmp_path) == []


def test_default_deadline_bounds_a_call_to_60_seconds():
    params = inspect.signature(fetch).parameters
    assert params["deadline"].default == download.DEFAULT_DEADLINE
    assert params["timeout"].default == download.DEFAULT_TIMEOUT
    # fetch starts nothing after the deadline and a read waits at most one timeout more
    assert download.DEFAULT_DEADLINE + download.DEFAULT_TIMEOUT <= 60


def test_unwritable_destination_is_an_os_error_not_a_mirror_failure(server, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    server.routes["/" + NAME] = ["ok"]
    with pytest.raises(OSError) as info:
        fetch(NAME, blocker / "sub", verify, bases=[server.base], **FAST)
    assert not isinstance(info.value, DownloadError)


def test_server_request_count_is_bounded(server, tmp_path):
    server.max_requests = 2
    server.routes["/" + NAME] = ["ok"]
    fetch(NAME, tmp_path / "1", verify, bases=[server.base], **FAST)
    fetch(NAME, tmp_path / "2", verify, bases=[server.base], **FAST)
    with pytest.raises(DownloadError, match="HTTP 503"):
        fetch(NAME, tmp_path / "3", verify, bases=[server.base], **{**FAST, "retries": 0})


# ----------------------------------------------------------------------------- redirects


@pytest.mark.parametrize(
    ("url", "location", "target"),
    [
        ("https://a.example/d/x.gz", "https://b.example/x.gz", "https://b.example/x.gz"),
        ("https://a.example/d/x.gz", "/e/x.gz", "https://a.example/e/x.gz"),
        ("https://a.example/d/x.gz", "y.gz", "https://a.example/d/y.gz"),
        ("https://a.example/d/x.gz", "//b.example/x.gz", "https://b.example/x.gz"),
        ("http://a.example/x.gz", "https://b.example/x.gz", "https://b.example/x.gz"),
        ("http://a.example/x.gz", "http://b.example/x.gz", "http://b.example/x.gz"),
    ],
)
def test_check_redirect_allows(url, location, target):
    assert check_redirect(url, location) == target


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("https://a.example/x.gz", "http://a.example/x.gz"),
        ("https://a.example/x.gz", "HTTP://a.example/x.gz"),
        ("https://a.example/x.gz", "ftp://a.example/x.gz"),
        ("https://a.example/x.gz", "file:///etc/passwd"),
        ("http://a.example/x.gz", "file:///etc/passwd"),
    ],
)
def test_check_redirect_refuses(url, location):
    with pytest.raises(InsecureRedirectError, match="refusing"):
        check_redirect(url, location)


def test_http_redirects_are_followed(server, tmp_path):
    server.routes["/old/" + NAME] = [("redirect", "/mid/" + NAME)]
    server.routes["/mid/" + NAME] = [("redirect", server.base + "new/" + NAME)]
    server.routes["/new/" + NAME] = ["ok"]
    path = fetch(NAME, tmp_path, verify, bases=[server.base + "old/"], **FAST)
    assert path.read_bytes() == GOOD


def test_redirect_loop_is_cut(server, tmp_path):
    server.routes["/" + NAME] = [("redirect", "/" + NAME)]
    with pytest.raises(DownloadError, match="more than 5 redirects"):
        fetch(NAME, tmp_path, verify, bases=[server.base], **FAST)
    assert server.count("/" + NAME) == download.MAX_REDIRECTS + 1


class _FakeTLS(requests.adapters.HTTPAdapter):
    """Carries https://127.0.0.1 requests to the plain loopback server (as if TLS ended
    there), so the redirect policy of a real https mirror can be tested without certificates."""

    def send(self, request, **kwargs):
        assert request.url.startswith("https://127.0.0.1:")
        request.url = "http://" + request.url[len("https://") :]
        return super().send(request, **kwargs)


@pytest.fixture
def tls_session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.mount("https://", _FakeTLS())
        yield s


def test_https_to_http_redirect_is_refused(server, tmp_path, tls_session):
    server.routes["/s/" + NAME] = [("redirect", server.base + "plain/" + NAME)]
    server.routes["/plain/" + NAME] = ["ok"]
    https = server.base.replace("http://", "https://")
    with pytest.raises(DownloadError, match="redirects to plain http") as info:
        fetch(NAME, tmp_path, verify, bases=[https + "s/"], session=tls_session, **FAST)
    assert server.count("/s/" + NAME) == 1  # refused once, not retried
    assert server.count("/plain/" + NAME) == 0  # the http URL was never requested
    assert f"{https}s/{NAME} redirects to plain http" in str(info.value)
    assert leftovers(tmp_path) == []


def test_https_to_https_redirect_is_followed(server, tmp_path, tls_session):
    server.routes["/s/" + NAME] = [("redirect", "/t/" + NAME)]
    server.routes["/t/" + NAME] = ["ok"]
    https = server.base.replace("http://", "https://")
    path = fetch(NAME, tmp_path, verify, bases=[https + "s/"], session=tls_session, **FAST)
    assert path.read_bytes() == GOOD


def test_refused_https_mirror_falls_through_to_next(server, tmp_path, tls_session):
    server.routes["/s/" + NAME] = [("redirect", server.base + "plain/" + NAME)]
    server.routes["/b/" + NAME] = ["ok"]
    https = server.base.replace("http://", "https://")
    path = fetch(
        NAME, tmp_path, verify, bases=[https + "s/", https + "b/"], session=tls_session, **FAST
    )
    assert path.read_bytes() == GOOD


# ------------------------------------------------ the data loader's download path (issue 2)


@pytest.fixture
def tiny_mirror(server, monkeypatch) -> LoopbackServer:
    """The server holds the four files of a tiny set; FILES describes them."""
    monkeypatch.setattr(data, "FILES", files_table(CONTENT))
    for stem, raw in CONTENT.items():
        server.routes[f"/{stem}.gz"] = [gz(raw)]
    monkeypatch.setenv("SGDLAB_MIRRORS", server.base)
    return server


def test_load_downloads_into_cache_then_uses_it(tiny_mirror, tmp_path):
    ds = data.load(progress=False)
    cache = tmp_path / "cache"
    assert ds.source == str(cache)
    assert leftovers(cache) == sorted(f"{s}.gz" for s in CONTENT)
    assert ds.train_images.shape == (40, 28, 28) and ds.test_labels.shape == (20,)
    assert ds.train_labels.tolist() == [i % 10 for i in range(40)]
    n = len(tiny_mirror.log)
    assert n == 4
    data.load(progress=False)
    assert len(tiny_mirror.log) == n  # second load: from the cache, no request


def test_load_refuses_corrupt_download_and_caches_nothing_of_it(tiny_mirror, tmp_path):
    bad = gz(idx_bytes(np.full(40, 7, dtype=np.uint8)))
    tiny_mirror.routes["/train-labels-idx1-ubyte.gz"] = [bad]
    with pytest.raises(DataNotFoundError) as info:
        data.load(progress=False)
    msg = str(info.value)
    assert "could not download train-labels-idx1-ubyte.gz" in msg
    assert "wrong content" in msg and "does not match Fashion-MNIST" in msg
    cache = tmp_path / "cache"
    assert "train-labels-idx1-ubyte.gz" not in leftovers(cache)
    assert not [n for n in leftovers(cache) if n.endswith(".part")]


def test_load_downloads_into_explicit_dir_when_incomplete(tiny_mirror, tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    write_gz(d / "train-images-idx3-ubyte.gz", CONTENT["train-images-idx3-ubyte"])
    ds = data.load(d, progress=False)
    assert ds.source == str(d)
    assert len(tiny_mirror.log) == 3  # only the three missing files
    assert leftovers(d) == sorted(f"{s}.gz" for s in CONTENT)


def test_plain_http_download_is_reported(server, tmp_path, tls_session, caplog):
    server.routes["/" + NAME] = ["ok"]
    with caplog.at_level("WARNING", logger="sgdlab.data.download"):
        fetch(
            NAME,
            tmp_path / "s",
            verify,
            bases=[server.base.replace("http:", "https:")],
            session=tls_session,
            **FAST,
        )
        assert not caplog.records  # https: nothing to say
        fetch(NAME, tmp_path / "p", verify, bases=[server.base], **FAST)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "over plain http" in caplog.records[0].getMessage()


# ------------------------------------------------------- a download killed with kill -9 (issue 10)

_CHILD = """
import sys
from sgdlab.data.download import fetch
fetch(sys.argv[1], sys.argv[2], lambda p: None, bases=[sys.argv[3]], retries=0, timeout=20,
      deadline=30, progress=False)
"""


def test_part_file_of_a_killed_download_is_removed_and_never_used(server, tmp_path):
    """A real child killed with SIGKILL mid-body leaves its ``.part`` file; the next fetch
    deletes it and downloads (and verifies) from scratch."""
    import os
    import signal
    import subprocess
    import sys

    server.routes["/" + NAME] = ["stall-body", "ok"]  # first request: 10 bytes, then silence
    d = tmp_path / "d"
    d.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, NAME, str(d), server.base],
        env={**os.environ, "NO_PROXY": "127.0.0.1"},
    )
    try:
        deadline = time.monotonic() + 60
        while server.count("/" + NAME) < 1 or not list(d.glob("*.part")):
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.2)  # mid-body: the server sent 10 bytes and stalls
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    parts = list(d.glob("*.part"))
    assert len(parts) == 1 and f".{child.pid}." in parts[0].name  # what a kill leaves behind
    assert not (d / NAME).exists()
    path = fetch(NAME, d, verify, bases=[server.base], **FAST)
    assert path.read_bytes() == GOOD  # the complete, verified file, not the partial one
    assert leftovers(d) == [NAME]


def test_part_file_of_a_live_download_is_kept(tmp_path):
    import subprocess
    import sys

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mine = tmp_path / f".{NAME}.{live.pid}.abcdef.part"
        dead = tmp_path / f".{NAME}.999999999.abcdef.part"
        other = tmp_path / ".other.gz.999999999.abcdef.part"
        for p in (mine, dead, other):
            p.write_bytes(b"partial")
        assert download.remove_stale_parts(tmp_path, NAME) == [dead]
        assert mine.exists() and other.exists() and not dead.exists()
    finally:
        live.kill()
        live.wait()


def test_an_incomplete_explicit_dir_never_falls_back_to_another_source(tmp_path, monkeypatch):
    """--data-dir D with 1 of the 4 files: the missing ones are downloaded into D or it is an
    error naming them, in one line; never the (complete) system copy instead."""
    d = tmp_path / "mine"
    d.mkdir()
    write_gz(d / "train-images-idx3-ubyte.gz", CONTENT["train-images-idx3-ubyte"])
    monkeypatch.setenv("SGDLAB_MIRRORS", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(DataNotFoundError) as e:
        data.load(d, progress=False)
    msg = str(e.value)
    assert "\n" not in msg and f"data directory {d} is incomplete" in msg
    assert "t10k-labels-idx1-ubyte" in msg and "train-images-idx3-ubyte," not in msg
