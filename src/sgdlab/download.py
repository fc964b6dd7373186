"""Download Fashion-MNIST files from the official mirrors: retries, back-off, hash check, atomic.

A file reaches its final path only after its *decompressed* SHA-256 matches the known content,
so a partial download, an HTML error page served with status 200, or a tampered file is never
cached. Transfers use :class:`pooch.HTTPDownloader` (requests, streaming, optional tqdm bar).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import DataFormatError, DownloadError

log = logging.getLogger(__name__)

#: Official locations of the four ``*-ubyte.gz`` files, tried in order.
#: Override with the environment variable ``SGDLAB_MIRRORS`` (comma-separated base URLs).
MIRRORS: tuple[str, ...] = (
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)


def mirrors() -> list[str]:
    """The mirror base URLs in the order they are tried (env ``SGDLAB_MIRRORS`` wins)."""
    env = os.environ.get("SGDLAB_MIRRORS")
    bases = [m.strip() for m in env.split(",") if m.strip()] if env else list(MIRRORS)
    return [b if b.endswith("/") else b + "/" for b in bases]


def fetch(
    filename: str,
    dest_dir: str | os.PathLike,
    verify: Callable[[Path], None],
    *,
    bases: Sequence[str] | None = None,
    retries: int = 2,
    timeout: float = 10.0,
    deadline: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``filename`` into ``dest_dir`` and return its final path.

    ``verify(tmp_path)`` must raise :class:`DataFormatError` when the content is wrong; such a
    file is deleted and the next mirror is tried (a wrong hash is not retried on the same
    mirror). Network errors are retried ``retries`` times per mirror with exponential back-off
    (0.5 s, 1 s, ...). ``timeout`` (seconds) bounds connecting and each read, so a stalled
    server fails; ``deadline`` (seconds) bounds the whole call. Raises :class:`DownloadError`
    listing what each mirror did.
    """
    import pooch  # lazy: only needed when downloading

    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / filename
    start = time.monotonic()
    failures: list[str] = []
    for base in bases if bases is not None else mirrors():
        url = base + filename
        if url.startswith("http://"):
            log.warning("trying plain-http mirror %s (content is verified by SHA-256)", url)
        for attempt in range(retries + 1):
            left = deadline - (time.monotonic() - start)
            if left <= 0:
                failures.append(f"{url}: gave up after the {deadline:.0f} s deadline")
                raise DownloadError(_summary(filename, failures))
            fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=dest_dir)
            os.close(fd)
            tmp_path = Path(tmp)
            try:
                downloader = pooch.HTTPDownloader(
                    progressbar=progress, timeout=min(timeout, left), allow_redirects=True
                )
                _no_https_downgrade(url)
                downloader(url, str(tmp_path), None)
                verify(tmp_path)
                os.replace(tmp_path, final)
                return final
            except DataFormatError as e:
                failures.append(f"{url}: wrong content ({e})")
                break  # same mirror would serve the same bytes: next mirror
            except Exception as e:  # noqa: BLE001 - network errors come in many types
                failures.append(f"{url}: {type(e).__name__}: {e}")
                if attempt < retries:
                    time.sleep(min(0.5 * 2**attempt, max(0.0, left - 1)))
            finally:
                tmp_path.unlink(missing_ok=True)
    raise DownloadError(_summary(filename, failures))


def _no_https_downgrade(url: str) -> None:
    """Refuse to follow an https URL that redirects to http (checked before the transfer)."""
    if not url.startswith("https://"):
        return
    import requests

    try:
        r = requests.head(url, allow_redirects=True, timeout=10)
    except requests.RequestException:
        return  # the real transfer reports the network error
    for hop in [*r.history, r]:
        if hop.url.startswith("http://"):
            raise DownloadError(f"{url} redirects to plain http ({hop.url}); refusing")


def _summary(filename: str, failures: list[str]) -> str:
    lines = "\n  ".join(failures) or "no mirror configured"
    return f"could not download {filename}:\n  {lines}"
