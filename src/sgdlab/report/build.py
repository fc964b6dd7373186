"""``sgdlab report``: every exercise's answer on one self-contained HTML page.

The page has one section per exercise (1: the minibatch grid; 2-3: one SGD and one GD iteration;
4: the timing table and plot of ``sgdlab bench``; 5: the likelihood figures and the minibatch
estimator plot), then the batch-size study of ``sgdlab experiment`` (:mod:`sgdlab.study`: steps
and examples to target per b, the fitted critical batch size, the noise scales, the verdict) and
the environment. Plots are PNGs embedded as ``data:`` URIs:
the file opens offline, with no network request.

Each expensive section is cached as one JSON file under ``cache_dir`` (default
:func:`sgdlab.paths.report_cache_dir`: ``$SGDLAB_CACHE_DIR/report``, else
``~/.cache/sgdlab/report``), keyed by the section, sgdlab's version, the data's SHA-256s and the
options. A second report (in either language) reuses them; an interrupted one (Ctrl-C) keeps the
sections it finished. Files are written atomically (:func:`sgdlab.atomic.atomic_write`); the
temporaries of a killed writer are deleted by the next report. ``fresh=True`` recomputes
everything.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgdlab import paths, sealed
from sgdlab.atomic import atomic_write, remove_stale_temporaries
from sgdlab.data import FashionMNIST
from sgdlab.errors import ConfigError
from sgdlab.formatting import finite_or_null
from sgdlab.report.sections import (
    Options,
    compute_bench,
    compute_convergence,
    compute_environment,
    compute_likelihood,
    compute_minibatch,
    compute_steps,
    convergence_identity,
)

#: Bump when a section's JSON changes shape: old cache files are then ignored.
SCHEMA = 4  # 4: figures in both languages, narrow layouts, lr and noise figures
LANGS = ("en", "he")

#: Cached sections in page order: name -> compute(data, options).
SECTIONS: dict[str, Callable[[FashionMNIST, Options], dict[str, Any]]] = {
    "minibatch": compute_minibatch,
    "steps": compute_steps,
    "bench": compute_bench,
    "likelihood": compute_likelihood,
}


@dataclass
class Report:
    """A generated page: its ``html``, what each section cost (``seconds``, ``cached``)."""

    html: str
    lang: str
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    path: Path | None = None


def cache_key(name: str, ds: FashionMNIST, opts: Options, extra: Any = None) -> str:
    """Hex key of one section's result: section, schema, version, data hashes, options, and
    ``extra`` (whatever else the result depends on, JSON-ready)."""
    from sgdlab._version import __version__

    doc = {
        "section": name,
        "schema": SCHEMA,
        "sgdlab": __version__,
        "data": ds.sha256,
        "n": len(ds.train_labels),
        "options": opts.__dict__,
        "extra": extra,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:20]


def _load(path: Path) -> tuple[dict[str, Any] | None, bool]:
    """(the cached section document or None, whether the file failed its checksum)."""
    found = sealed.read(path)  # a crash mid-write cannot leave a half file: writes are atomic
    doc = found.content
    ok = isinstance(doc, dict) and doc.get("schema") == SCHEMA
    return (doc if ok else None), found.tampered


def _save(path: Path, doc: dict[str, Any]) -> None:
    sealed.write(path, finite_or_null(doc), what="report cache file")


def section(
    name: str,
    ds: FashionMNIST,
    opts: Options,
    *,
    cache_dir: Path | None,
    fresh: bool = False,
    compute: Callable[[FashionMNIST, Options], dict] | None = None,
    key_extra: Any = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One section's result, from the cache when it is there, else ``compute(ds, opts)``
    (default ``SECTIONS[name]``); returns (result, info) where info says ``cached``,
    ``seconds`` (to compute, or load) and ``created`` (UTC)."""
    from sgdlab.measure.provenance import git_commit

    t0 = time.perf_counter()
    path = cache_dir / f"{name}-{cache_key(name, ds, opts, key_extra)}.json" if cache_dir else None
    doc, tampered = (None, False) if fresh or path is None else _load(path)
    cached = doc is not None
    if doc is None:
        doc = {
            "schema": SCHEMA,
            "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "git_commit": git_commit(),
            "result": (compute or SECTIONS[name])(ds, opts),
        }
        doc["compute_seconds"] = time.perf_counter() - t0
        if path is not None:
            _save(path, doc)
        doc = finite_or_null(doc)
    info = {
        "cached": cached,
        "seconds": time.perf_counter() - t0,
        "created": doc["created"],
        "compute_seconds": doc.get("compute_seconds"),
        "git_commit": doc.get("git_commit"),
        "cache_file": str(path) if path else None,
        "tampered": tampered,  # the cached file failed its checksum and was recomputed
    }
    return doc["result"], info


def build_report(
    ds: FashionMNIST,
    *,
    quick: bool = False,
    lang: str = "en",
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    fresh: bool = False,
    progress: bool = False,
) -> Report:
    """Compute (or load from the cache) every section and render the page in ``lang``.

    ``quick``: the bench's quick mode, 200 instead of 1,000 Monte Carlo draws and the quick
    batch-size study (meant for the bundled sample). ``cache_dir``: default
    :func:`sgdlab.paths.report_cache_dir` (the study's passes then go to the experiments' own
    cache, :func:`sgdlab.paths.experiment_cache_dir`; with an explicit ``cache_dir``, to
    ``cache_dir/experiments``); ``use_cache=False`` neither reads nor
    writes the report's cache; ``fresh=True`` recomputes its sections and overwrites them (the
    study's passes stay cached: delete them to retrain). ``progress``: progress over the
    sections on stderr (:mod:`sgdlab.progress`).
    """
    from sgdlab.report.render import render

    if lang not in LANGS:
        raise ConfigError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    t0 = time.perf_counter()
    opts = Options(quick=quick, seed=seed)
    cdir = (Path(cache_dir) if cache_dir else paths.report_cache_dir()) if use_cache else None
    if cdir is not None:  # what killed writers left (never read, only disk space)
        remove_stale_temporaries(cdir)
    computes = dict(SECTIONS)  # the study reuses (and fills) the experiments' pass cache
    computes["convergence"] = functools.partial(
        compute_convergence,
        progress=progress,
        cache_dir=cdir / "experiments" if cache_dir and cdir else None,
    )
    bar = _bar(progress, len(computes))
    results: dict[str, Any] = {}
    infos: dict[str, dict[str, Any]] = {}
    try:
        for name, compute in computes.items():
            if bar is not None:
                bar.set_description(f"report: {name}")
            extra = convergence_identity(opts) if name == "convergence" else None
            results[name], infos[name] = section(
                name, ds, opts, cache_dir=cdir, fresh=fresh, compute=compute, key_extra=extra
            )
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    bad = [i["cache_file"] for i in infos.values() if i.get("tampered")]
    if bad:  # told once, however many
        print(
            f"sgdlab: warning: {len(bad)} cached report section(s) did not match their checksum "
            f"(edited or damaged), e.g. {bad[0]}; recomputed",
            file=sys.stderr,
        )
    results["environment"] = compute_environment(ds, opts)
    meta = {
        "quick": quick,
        "seed": seed,
        "sections": infos,
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    html = render(results, meta, lang)
    return Report(html=html, lang=lang, sections=infos, seconds=time.perf_counter() - t0)


def write_report(path: str | os.PathLike, ds: FashionMNIST, **kwargs: Any) -> Report:
    """:func:`build_report`, then write the page to ``path`` atomically (UTF-8)."""
    path = Path(path)
    rep = build_report(ds, **kwargs)
    try:
        atomic_write(path, rep.html)
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None
    rep.path = path
    return rep


def _bar(enabled: bool, total: int):
    if not enabled:
        return None
    from sgdlab.progress import bar

    return bar(total=total, unit="section", desc="report")
