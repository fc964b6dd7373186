"""Serving the playground: load the data once, warm the engine, run uvicorn until Ctrl-C."""

from __future__ import annotations

import socket
import sys
import threading
from typing import Any

from sgdlab.errors import SgdlabError
from sgdlab.playground import schema

#: Hosts that only this machine can reach.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
INSTALL_HINT = (
    "the playground needs its web server and plotting: pip install 'sgdlab[playground]' "
    "(or bash scripts/setup.sh --dev)"
)


class MissingExtra(SgdlabError):
    """The ``playground`` extra (starlette, uvicorn, plotly) is not installed."""


def require_extra() -> None:
    """Raise :class:`MissingExtra` (one line: how to install) unless the extra is importable."""
    import importlib.util

    missing = [m for m in ("starlette", "uvicorn", "plotly") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtra(f"{INSTALL_HINT}; missing: {', '.join(missing)}")


def warm_up(data) -> str:
    """Compile (or load from numba's cache) the engine and run one short training on one
    thread, so the first click trains at full speed; returns the engine's name."""
    import numba
    import torch

    from sgdlab.training.trainer import train

    old = torch.get_num_threads(), numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        result = train(batch_size=16, epochs=1, lr=0.005, data=data, progress=False)
    finally:
        torch.set_num_threads(old[0])
        numba.set_num_threads(old[1])
    return result.config["engine"]


def serve(
    data,
    *,
    convert: schema.Convert,
    host: str = "127.0.0.1",
    port: int = 8765,
    open_browser: bool = True,
    lang: str = "en",
    presets: dict[str, Any] | None = None,
    workers: int | None = None,
    log=print,
) -> None:
    """Serve the playground on ``host:port`` until Ctrl-C (then every run is cancelled and the
    server stops). Prints ``serving on http://HOST:PORT``; opens the browser unless told not to."""
    require_extra()
    import uvicorn

    from sgdlab.playground.app import create_app

    app = create_app(data, convert=convert, workers=workers, lang=lang, presets=presets)
    if host not in LOCAL_HOSTS:
        log(
            f"warning: serving on {host}: anyone who can reach this machine on the network can "
            "use the playground (and its CPU); use --host 127.0.0.1 to keep it local",
            file=sys.stderr,
        )
    sock = bind(host, port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"

    def announce() -> None:  # once the socket listens
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            log(f"serving on {url.rstrip('/')} (Ctrl-C stops)", flush=True)
            if open_browser:
                import webbrowser

                webbrowser.open(url + (f"?lang={lang}" if lang != "en" else ""))

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        pass
    finally:
        sock.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: a free port); :class:`SgdlabError` in one line
    when it cannot be had (port in use, unknown host, no permission)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as e:
        raise SgdlabError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise SgdlabError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock


class Background:
    """The playground served from a thread (for notebooks, tests and benchmarks)::

        with Background(app) as url:   # http://127.0.0.1:PORT/ on a free port
            ...

    Leaving the block stops the server (its runs are cancelled)."""

    def __init__(self, app, *, host: str = "127.0.0.1", port: int = 0) -> None:
        require_extra()
        import uvicorn

        self.sock = bind(host, port)
        self.url = f"http://{host}:{self.sock.getsockname()[1]}/"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise SgdlabError(f"the playground did not start on {self.url}")
            threading.Event().wait(0.02)
        return self.url

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
