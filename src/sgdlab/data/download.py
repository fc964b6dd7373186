"""Download Fashion-MNIST files from the official mirrors: retries, back-off, hash check, atomic.

A file reaches its final path only after ``verify`` accepted it (the data loader checks the
SHA-256 of the *decompressed* content), so a partial download, an HTML error page served with
status 200, or a tampered file is never cached. The body is streamed into a temporary file
next to the final path (:func:`sgdlab.atomic.atomic_file`), fsync'ed, verified and only then
renamed into place (``os.replace``); the temporary file is removed whatever else happens. A
process killed mid-download (``kill -9``) cannot remove its temporary file
(``.NAME.PID.XXXXXXXX.part``); the next :func:`fetch` of that file deletes it once its process
is gone. A partial file is never resumed or read: the download starts over and is verified.

Failures and what :func:`fetch` does about them:

- connection refused/reset, timeouts, truncated bodies, HTTP 408/425/429/5xx: retried on the
  same mirror after an exponential back-off (``backoff``, 2×, 4×, ...);
- other HTTP errors (403, 404, ...), wrong content, a redirect that leaves https, too many
  redirects: the next mirror is tried at once (the same mirror would answer the same);
- the whole call is bounded: it gives up ``deadline`` seconds after it started, plus at most
  one ``timeout`` for a read already waiting (defaults 45 + 10 ≤ 60 s).

Redirects are followed by hand, one hop at a time, through :func:`check_redirect`, which refuses
to go from https to anything else: an https mirror is never silently downgraded to plain http.
A plain-http mirror in the list (the official S3 one) is only used as such, and a file that
came from one is reported with a warning (it was accepted because its SHA-256 matched).
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from sgdlab.atomic import atomic_file, remove_stale_temporaries, temporary_pattern
from sgdlab.errors import DataFormatError, DownloadError

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

#: Official locations of the four ``*-ubyte.gz`` files, tried in order.
#: Override with the environment variable ``SGDLAB_MIRRORS`` (comma-separated base URLs).
MIRRORS: tuple[str, ...] = (
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
#: Seconds allowed for connecting and for each read (a stalled server fails after this).
DEFAULT_TIMEOUT = 10.0
#: Seconds after which :func:`fetch` starts no new request; it returns within
#: ``DEFAULT_DEADLINE + DEFAULT_TIMEOUT`` seconds.
DEFAULT_DEADLINE = 45.0
#: Retries per mirror after a transient failure (so ``retries + 1`` attempts).
DEFAULT_RETRIES = 2
#: First back-off pause in seconds; doubles after each retry.
DEFAULT_BACKOFF = 0.5
MAX_REDIRECTS = 5
#: HTTP statuses that may go away when asked again.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_CHUNK = 64 * 1024


class InsecureRedirectError(DownloadError):
    """A redirect would leave https (or go to a non-http scheme)."""


class _NextMirror(Exception):
    """This mirror will not serve the file (no point retrying it)."""


class _Transient(Exception):
    """This attempt failed in a way that may go away on retry."""


class _OutOfTime(Exception):
    """The deadline passed."""


class _LocalWriteError(Exception):
    """Writing the temporary file failed (disk full, read-only directory): not a mirror's fault."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


def mirrors() -> list[str]:
    """The mirror base URLs in the order they are tried (env ``SGDLAB_MIRRORS`` wins)."""
    env = os.environ.get("SGDLAB_MIRRORS")
    bases = [m.strip() for m in env.split(",") if m.strip()] if env else list(MIRRORS)
    return [b if b.endswith("/") else b + "/" for b in bases]


def check_redirect(url: str, location: str) -> str:
    """Return where a redirect from ``url`` to ``location`` leads; refuse leaving https.

    ``location`` may be relative. Raises :class:`InsecureRedirectError` when ``url`` is https
    and the target is not, or when the target is not http(s) at all.

    >>> check_redirect("https://a.example/d/x.gz", "/e/x.gz")
    'https://a.example/e/x.gz'
    >>> check_redirect("https://a.example/x.gz", "http://b.example/x.gz")
    Traceback (most recent call last):
    ...
    sgdlab.data.download.InsecureRedirectError: https://a.example/x.gz redirects to plain http \
(http://b.example/x.gz); refusing
    """
    target = urljoin(url, location)
    src, dst = urlsplit(url).scheme.lower(), urlsplit(target).scheme.lower()
    if dst not in ("http", "https"):
        raise InsecureRedirectError(f"{url} redirects to {target}; refusing that scheme")
    if src == "https" and dst != "https":
        raise InsecureRedirectError(f"{url} redirects to plain http ({target}); refusing")
    return target


def fetch(
    filename: str,
    dest_dir: str | os.PathLike,
    verify: Callable[[Path], None],
    *,
    bases: Sequence[str] | None = None,
    retries: int = DEFAULT_RETRIES,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float = DEFAULT_DEADLINE,
    backoff: float = DEFAULT_BACKOFF,
    progress: bool = True,
    session: requests.Session | None = None,
) -> Path:
    """Download ``filename`` from the first mirror that serves it into ``dest_dir``.

    ``verify(tmp_path)`` must raise :class:`DataFormatError` when the content is wrong; such a
    file is deleted and the next mirror is tried. ``bases`` defaults to :func:`mirrors`.
    ``timeout`` bounds connecting and each read; ``deadline`` bounds the whole call (see the
    module docstring for the retry policy). Returns the final path. Raises
    :class:`DownloadError` listing what each attempt met; an ``OSError`` writing into
    ``dest_dir`` propagates unchanged. ``session`` (a :class:`requests.Session`, e.g. with
    custom adapters) is used instead of a fresh one.
    """
    import requests  # lazy: only needed when downloading

    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / filename
    remove_stale_parts(dest_dir, filename)
    stop_at = time.monotonic() + deadline
    failures: list[str] = []
    opened = requests.Session() if session is None else contextlib.nullcontext(session)
    with opened as session:
        for base in bases if bases is not None else mirrors():
            url = base + filename
            try:
                _from_mirror(
                    session,
                    url,
                    final,
                    verify,
                    failures,
                    retries=retries,
                    timeout=timeout,
                    stop_at=stop_at,
                    backoff=backoff,
                    progress=progress,
                )
                if urlsplit(url).scheme != "https":
                    log.warning(
                        "downloaded %s over plain http; accepted because its content "
                        "matches the known SHA-256",
                        url,
                    )
                return final
            except _NextMirror:
                continue
            except _OutOfTime:
                failures.append(f"{url}: gave up, the {deadline:g} s deadline passed")
                break
    raise DownloadError(_summary(filename, failures))


def _from_mirror(
    session,
    url: str,
    final: Path,
    verify: Callable[[Path], None],
    failures: list[str],
    *,
    retries: int,
    timeout: float,
    stop_at: float,
    backoff: float,
    progress: bool,
) -> None:
    """Try ``url`` up to ``retries + 1`` times; return once ``final`` holds verified content."""
    for attempt in range(retries + 1):
        if time.monotonic() >= stop_at:
            raise _OutOfTime
        try:
            _attempt(
                session, url, final, verify, timeout=timeout, stop_at=stop_at, progress=progress
            )
            return
        except _LocalWriteError as e:
            raise e.error from None
        except (_NextMirror, InsecureRedirectError) as e:
            failures.append(f"{url}: {e}")
            raise _NextMirror from None
        except DataFormatError as e:
            failures.append(f"{url}: wrong content ({e})")
            raise _NextMirror from None
        except _Transient as e:
            failures.append(f"{url}: {e}")
        log.info("download of %s failed (attempt %d): %s", url, attempt + 1, failures[-1])
        if attempt < retries:
            pause = min(backoff * 2**attempt, stop_at - time.monotonic())
            if pause > 0:
                time.sleep(pause)
    raise _NextMirror


def _attempt(
    session,
    url: str,
    final: Path,
    verify: Callable[[Path], None],
    *,
    timeout: float,
    stop_at: float,
    progress: bool,
) -> None:
    """One download into a temporary file, verified, then renamed to ``final``."""

    def check(tmp: Path) -> None:
        try:
            verify(tmp)
        except DataFormatError as e:  # name the download, not the random temporary file
            raise DataFormatError(str(e).replace(str(tmp), "the downloaded file")) from None

    # the temporary (.NAME.PID.RANDOM.part) is removed on any error; renamed only once verified
    with atomic_file(final, suffix=".part", check=check) as out:
        _transfer(session, url, out, timeout=timeout, stop_at=stop_at, progress=progress)


#: A ``.part`` file without a process id in its name (older sgdlab) is stale after this long.
STALE_PART_SECONDS = 3600.0


def remove_stale_parts(dest_dir: str | os.PathLike, filename: str) -> list[Path]:
    """Delete the temporary ``.part`` files of ``filename`` in ``dest_dir`` left by downloads
    whose process is gone (killed); keep those of live processes. Returns what was removed."""
    pattern = temporary_pattern(re.escape(filename), ".part")
    removed = remove_stale_temporaries(dest_dir, pattern)
    for p in Path(dest_dir).glob(f".{glob.escape(filename)}.*.part"):
        if pattern.match(p.name):
            continue  # has a process id: judged above
        try:
            if time.time() - p.stat().st_mtime > STALE_PART_SECONDS:
                p.unlink()
                removed.append(p)
        except OSError:  # gone meanwhile, or not ours to delete
            continue
    for p in removed:
        log.info("removed %s, left by an interrupted download", p)
    return removed


def _transfer(session, url: str, out, *, timeout: float, stop_at: float, progress: bool) -> None:
    """GET ``url`` (following safe redirects) and stream its body into the open file ``out``."""
    import requests
    import urllib3

    network_errors = (
        requests.RequestException,
        urllib3.exceptions.HTTPError,
        http.client.HTTPException,
        OSError,
    )
    try:
        for _ in range(MAX_REDIRECTS + 1):
            left = stop_at - time.monotonic()
            if left <= 0:
                raise _OutOfTime
            wait = min(timeout, left)
            with session.get(
                url, stream=True, allow_redirects=False, timeout=(wait, wait), headers=_headers()
            ) as r:
                if r.is_redirect:
                    url = check_redirect(url, r.headers["location"])
                    continue
                if r.status_code != 200:
                    why = f"HTTP {r.status_code} {r.reason or ''}".rstrip()
                    if r.status_code in TRANSIENT_STATUSES:
                        raise _Transient(why)
                    raise _NextMirror(why)
                _copy_body(r, out, stop_at=stop_at, progress=progress, name=url.rsplit("/")[-1])
                return
        raise _NextMirror(f"more than {MAX_REDIRECTS} redirects")
    except InsecureRedirectError:
        raise
    except network_errors as e:
        raise _Transient(describe_network_error(e)) from None


def describe_network_error(e: BaseException) -> str:
    """A short, stable description of a network failure (no object addresses, no URL)."""
    text = str(e).lower()
    for needle, words in (
        ("refused", "connection refused"),
        ("reset", "connection reset"),
        ("name or service not known", "host not found"),
        ("nodename nor servname", "host not found"),
        ("temporary failure in name resolution", "host not found"),
        ("certificate", "TLS certificate problem"),
    ):
        if needle in text:
            return words
    if "timed out" in text or "timeout" in type(e).__name__.lower():
        return "timed out (no data within the timeout)"
    if "incompleteread" in text or "incomplete" in text or "broken" in text:
        return "connection broken mid-transfer"
    return f"{type(e).__name__}: {str(e)[:200]}"


def _copy_body(r, out, *, stop_at: float, progress: bool, name: str) -> None:
    """Copy the body of response ``r`` into ``out`` chunk by chunk, checking the deadline."""
    length = r.headers.get("content-length")
    expected = int(length) if length and length.isdigit() else None
    encoded = r.headers.get("content-encoding", "identity").lower() != "identity"
    bar = _bar(progress, expected, name)
    received = 0
    # read1 (urllib3 >= 2) returns what has arrived, so a slow drip cannot outlive the deadline
    read = getattr(r.raw, "read1", r.raw.read)
    try:
        while True:
            chunk = read(_CHUNK, decode_content=True)
            if not chunk:
                break
            try:
                out.write(chunk)
            except OSError as e:
                raise _LocalWriteError(e) from None
            received += len(chunk)
            if bar is not None:
                bar.update(len(chunk))
            if time.monotonic() > stop_at:
                raise _OutOfTime
    finally:
        if bar is not None:
            bar.close()
    if expected is not None and not encoded and received != expected:
        raise _Transient(f"body truncated: {received} of {expected} bytes")


def _bar(progress: bool, total: int | None, name: str):
    if not progress:
        return None
    from sgdlab.progress import bar

    return bar(total=total, unit="B", unit_scale=True, desc=name)


def _headers() -> dict[str, str]:
    """Ask for the bytes as stored (no transfer compression) and say who asks."""
    from sgdlab._version import __version__

    return {"Accept-Encoding": "identity", "User-Agent": f"sgdlab/{__version__}"}


def _summary(filename: str, failures: list[str]) -> str:
    """``could not download NAME:`` then one line per distinct failure (repeats counted)."""
    merged: list[list] = []
    for f in failures:
        if merged and merged[-1][0] == f:
            merged[-1][1] += 1
        else:
            merged.append([f, 1])
    lines = [f if n == 1 else f"{f} ({n} attempts)" for f, n in merged]
    body = "\n  ".join(lines) or "no mirror configured"
    return f"could not download {filename}:\n  {body}"
