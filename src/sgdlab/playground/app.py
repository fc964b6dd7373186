"""The playground's web app (Starlette): the page, its static files and the JSON API.

Routes (documented in README.md#playground):

- ``GET /`` the page (``?lang=he`` for Hebrew); ``GET /static/{name}`` its files; ``GET
  /static/plotly.min.js`` plotly.js from the installed ``plotly`` wheel (no CDN);
- ``GET /api/meta`` data set, limits, option defaults and choices, presets;
- ``POST /api/runs`` a JSON object of ``--config``-style keys -> ``201 {"id": ...}``; a bad
  key or value -> ``422 {"error": one line, "key": option}``; a full queue -> 503;
- ``GET /api/runs/{id}`` status, queue position, config, history (the records of ``sgdlab
  train --json``'s ``result.history``); ``DELETE /api/runs/{id}`` cancels;
- ``GET /api/runs/{id}/events`` server-sent events: ``queued`` (position), ``start``, ``steps``,
  ``weights``, ``confusion``, ``epoch`` (one per evaluation point), then ``done``. A client that
  disconnects before the run finished cancels it (a closed page cancels its runs);
- ``GET /api/runs/{id}/weights`` ``z.weight``/``z.bias`` as safetensors (404 until done).

Run ids are 16 hex digits; nothing in a request names a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sgdlab.playground import schema
from sgdlab.playground.runs import Busy, Run, RunManager

_ID = re.compile(r"[0-9a-f]{16}")
#: Seconds between keep-alive comments on an idle event stream.
KEEPALIVE = 10.0
STATIC = ("index.html", "app.js", "plots.js", "style.css", "i18n.js")


def plotly_js() -> Path:
    """plotly.min.js as installed by the ``plotly`` wheel."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def create_app(
    data,
    *,
    convert: schema.Convert,
    workers: int | None = None,
    threads: int | None = None,
    lang: str = "en",
    presets: dict[str, Any] | None = None,
    max_pending: int = 32,
) -> Starlette:
    """The app over ``data`` (a loaded FashionMNIST). ``convert``: ``--config`` key/value
    conversion (see :mod:`sgdlab.playground.schema`); ``workers``/``threads``: see
    :class:`RunManager`; ``lang``: the page's default language (en, he)."""
    hub = _Hub()
    manager = RunManager(
        data, workers=workers, threads=threads, max_pending=max_pending, notify=hub.notify
    )
    static = resources.files("sgdlab.playground") / "static"
    meta = _meta(manager, lang, presets or {})

    async def page(request: Request) -> Response:
        html = (static / "index.html").read_text(encoding="utf-8")
        q = request.query_params.get("lang", lang)
        chosen = q if q in ("en", "he") else lang
        html = html.replace("{{lang}}", chosen).replace("{{dir}}", _dir(chosen))
        return Response(html, media_type="text/html; charset=utf-8")

    async def static_file(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return FileResponse(plotly_js(), headers={"Cache-Control": "max-age=3600"})
        if name not in STATIC:
            return _error("no such file", 404)
        kind = {"js": "text/javascript", "css": "text/css", "html": "text/html"}
        body = (static / name).read_bytes()
        return Response(body, media_type=kind[name.rsplit(".", 1)[1]] + "; charset=utf-8")

    async def get_meta(request: Request) -> Response:
        return JSONResponse(meta)

    async def post_run(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > schema.MAX_BODY):
            return _error(f"request body over {schema.MAX_BODY} bytes", 413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > schema.MAX_BODY:
                return _error(f"request body over {schema.MAX_BODY} bytes", 413)
        try:
            cfg, explicit = schema.parse_run(body, convert=convert, n=manager.n)
            run = manager.submit(cfg, explicit)
        except schema.RequestError as e:
            return _error(str(e), e.status, key=e.key)
        except Busy as e:
            return _error(str(e), 503, headers={"Retry-After": "1"})
        return JSONResponse(
            {"id": run.id, "position": manager.position(run)},
            status_code=201,
            headers={"Location": f"/api/runs/{run.id}"},
        )

    def _run(request: Request) -> Run | None:
        run_id = request.path_params["id"]
        return manager.get(run_id) if _ID.fullmatch(run_id) else None

    async def get_run(request: Request) -> Response:
        run = _run(request)
        if run is None:
            return _error("no such run (finished runs are kept for a while only)", 404)
        return JSONResponse(run.summary(manager.position(run)))

    async def delete_run(request: Request) -> Response:
        run = _run(request)
        if run is None:
            return _error("no such run", 404)
        if not run.finished:
            manager.cancel(run)
        return JSONResponse(run.summary(None))

    async def weights(request: Request) -> Response:
        run = _run(request)
        if run is None:
            return _error("no such run", 404)
        if run.status != "done":
            return _error(f"the run is {run.status}: weights come when it is done", 409)
        from safetensors.torch import save

        from sgdlab.training.weights import preprocessing_metadata

        m = run.result.model
        tensors = {
            "z.weight": m.z.weight.detach().cpu().contiguous(),
            "z.bias": m.z.bias.detach().cpu().contiguous(),
        }
        meta_ = {"config": json.dumps(run.result.config), **preprocessing_metadata()}
        return Response(
            save(tensors, metadata=meta_),
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="sgdlab-{run.id}.safetensors"'},
        )

    async def events(request: Request) -> Response:
        run = _run(request)
        if run is None:
            return _error("no such run", 404)
        return StreamingResponse(
            _stream(request, run, manager, hub),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @contextlib.asynccontextmanager
    async def lifespan(app):
        hub.loop = asyncio.get_running_loop()
        manager.start()
        try:
            yield
        finally:
            await asyncio.to_thread(manager.close)

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/static/{name}", static_file),
            Route("/api/meta", get_meta),
            Route("/api/runs", post_run, methods=["POST"]),
            Route("/api/runs/{id}", get_run, methods=["GET"]),
            Route("/api/runs/{id}", delete_run, methods=["DELETE"]),
            Route("/api/runs/{id}/events", events),
            Route("/api/runs/{id}/weights", weights),
        ],
        lifespan=lifespan,
        exception_handlers={Exception: _internal, 404: _not_found, 405: _not_allowed},
    )
    app.state.manager = manager
    return app


class _Hub:
    """Wakes the event streams of a run from the worker threads (thread-safe)."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.waiting: dict[str, set[asyncio.Event]] = {}

    def notify(self, run: Run) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake, run.id)

    def _wake(self, run_id: str) -> None:
        for ev in self.waiting.get(run_id, ()):
            ev.set()

    def watch(self, run_id: str) -> asyncio.Event:
        ev = asyncio.Event()
        self.waiting.setdefault(run_id, set()).add(ev)
        return ev

    def unwatch(self, run_id: str, ev: asyncio.Event) -> None:
        s = self.waiting.get(run_id)
        if s is not None:
            s.discard(ev)
            if not s:
                del self.waiting[run_id]


async def _stream(request: Request, run: Run, manager: RunManager, hub: _Hub):
    """The run's events as SSE; cancels the run when the client goes away first."""
    wake = hub.watch(run.id)
    sent, weights_v, conf_v, position = 0, -1, -1, None
    finished = False
    try:
        while True:
            wake.clear()
            finished = run.finished  # read before the events: nothing published is missed
            out = []
            pos = manager.position(run)
            if pos is not None and pos != position:
                out.append(_sse("queued", {"position": pos}))
            position = pos
            new = run.events[sent:]
            sent += len(new)
            if run.weights is not None and run.weights_version != weights_v:
                weights_v = run.weights_version
                out.append(_sse("weights", {"step": weights_v, **run.weights}))
            if run.confusion is not None and run.confusion_version != conf_v:
                conf_v = run.confusion_version
                out.append(_sse("confusion", {"step": conf_v, **run.confusion}))
            out.extend(_sse(kind, data) for kind, data in new)
            if finished and sent >= len(run.events):
                out.append(_sse("done", {"status": run.status, "error": run.error}))
            if out:
                yield "".join(out)
            if finished:
                return
            try:
                await asyncio.wait_for(wake.wait(), KEEPALIVE)
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    break
                yield ": keep-alive\n\n"
    finally:
        hub.unwatch(run.id, wake)
        if not run.finished:  # the page went away: its run stops
            manager.cancel(run)


def _sse(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, allow_nan=False, default=str)}\n\n"


def _dir(lang: str) -> str:
    return "rtl" if lang == "he" else "ltr"


def _error(msg: str, status: int, *, key: str | None = None, headers=None) -> JSONResponse:
    return JSONResponse({"error": msg, "key": key}, status_code=status, headers=headers)


async def _internal(request: Request, exc: Exception) -> Response:
    return _error(f"internal error: {type(exc).__name__}", 500)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error("not found", 404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return _error("method not allowed", 405)


def _meta(manager: RunManager, lang: str, presets: dict[str, Any]) -> dict[str, Any]:
    from sgdlab.config import TrainConfig
    from sgdlab.data.fashion import CLASS_NAMES

    ds = manager.data
    return {
        "n_train": manager.n,
        "n_test": int(ds.test_images.shape[0]),
        "is_sample": bool(ds.is_sample),
        "source": ds.source,
        "defaults": {k.replace("_", "-"): v for k, v in TrainConfig().to_dict().items()},
        "max_epochs": schema.MAX_EPOCHS,
        "max_steps": schema.MAX_STEPS,
        "workers": manager.workers,
        "threads": manager.threads,
        "class_names": list(CLASS_NAMES),
        "lang": lang,
        "presets": presets,
    }
