"""The numbers and figures behind each section of ``sgdlab report``, computed by the library.

Each ``compute_*`` function takes the data set and the report's :class:`Options` and returns a
JSON-ready dict (language-independent: the page's words come from :mod:`sgdlab.report.text`).
Figures are PNG files drawn by :mod:`sgdlab.plots`, carried as base64 strings under
``"figures"`` so a cached section holds everything its part of the page needs: each figure in
both languages (``"en"``, ``"he"``) and, where it has several panels, also drawn for a phone's
screen (``"en_narrow"``, ``"he_narrow"``: the panels stacked), see :func:`figure_set`.
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sgdlab.data import CLASS_NAMES, FashionMNIST


@dataclass(frozen=True)
class Options:
    """What a report computes. ``quick``: fewer repeats and Monte Carlo draws (for the sample)."""

    quick: bool = False
    seed: int = 0
    batch_size: int = 16
    lr: float = 0.005

    @property
    def draws(self) -> int:
        """Monte Carlo minibatches per batch size in exercise 5(b)."""
        return 200 if self.quick else 1000


def figure_b64(draw: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """Run ``draw(*args, path, **kwargs)`` (a :mod:`sgdlab.plots` function) into a temporary
    PNG; return it base64-encoded."""
    with tempfile.TemporaryDirectory(prefix="sgdlab-fig-") as d:
        path = Path(d) / "figure.png"
        draw(*args, path, **kwargs)
        return base64.b64encode(_small_png(path)).decode("ascii")


def _small_png(path: Path) -> bytes:
    """The PNG at ``path`` with a 256-colour palette (no dithering): a third of the bytes for
    line plots and heat maps, which the page embeds twice (wide and narrow)."""
    import io

    from PIL import Image

    with Image.open(path) as im:
        pal = im.convert("RGB").quantize(
            256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    buf = io.BytesIO()
    pal.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def figure_set(
    draw: Callable[..., Any], *args: Any, narrow: bool = True, **kwargs: Any
) -> dict[str, str]:
    """``draw`` in each language (``lang=``), and with ``narrow`` also each language's narrow
    layout: {"en": b64, "he": b64[, "en_narrow": b64, "he_narrow": b64]}."""
    from sgdlab.figure_text import LANGS

    out = {}
    for lang in LANGS:
        out[lang] = figure_b64(draw, *args, lang=lang, **kwargs)
        if narrow:
            out[f"{lang}_narrow"] = figure_b64(draw, *args, lang=lang, narrow=True, **kwargs)
    return out


def _plain(o: Any) -> Any:
    """Tensors -> lists, recursively (JSON-ready)."""
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, dict):
        return {k: _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    return o


def compute_minibatch(ds: FashionMNIST, opts: Options) -> dict[str, Any]:
    """Exercise 1: the seeded sampler's first minibatch, its shapes, labels and a picture."""
    from sgdlab.plots import image_grid
    from sgdlab.sampler import MinibatchSampler

    gen = torch.Generator().manual_seed(opts.seed)
    idx = next(iter(MinibatchSampler(len(ds.train_labels), opts.batch_size, generator=gen)))
    images, labels = ds.train_images[idx], ds.train_labels[idx]
    return {
        "indices": idx.tolist(),
        "labels": labels.tolist(),
        "class_names": [CLASS_NAMES[i] for i in labels.tolist()],
        "images_shape": list(images.shape),
        "images_dtype": str(images.dtype),
        "figures": {"grid": figure_set(image_grid, images, labels)},
    }


def compute_steps(ds: FashionMNIST, opts: Options) -> dict[str, Any]:
    """Exercises 2 and 3: one SGD and one full-GD iteration from the same zero weights."""
    from sgdlab.plots import gradient_images
    from sgdlab.steps import compare_steps

    res = compare_steps(
        ds.train_images, ds.train_labels, batch_size=opts.batch_size, lr=opts.lr, seed=opts.seed
    )
    from sgdlab.figure_text import LANGS, words

    g_sgd, g_gd = res["sgd"].pop("grad_weight"), res["gd"].pop("grad_weight")
    cos = torch.nn.functional.cosine_similarity(g_sgd.reshape(1, -1), g_gd.reshape(1, -1))
    res["cosine_sgd_gd"] = float(cos)
    res["labels"] = ds.train_labels[res["indices"]].tolist()
    res["max_abs_grad"] = max(float(g_sgd.abs().max()), float(g_gd.abs().max()))
    figs = {}
    for lang in LANGS:  # the rows' labels in the figure's language
        tr = words(lang, logical=True)
        grads = {
            tr("SGD, b = {b}", b=opts.batch_size): g_sgd,
            tr("GD, N = {n}", n=f"{len(ds.train_labels):,}"): g_gd,
        }
        figs[lang] = figure_b64(gradient_images, grads, lang=lang)
        figs[f"{lang}_narrow"] = figure_b64(gradient_images, grads, lang=lang, narrow=True)
    res["figures"] = {"gradients": figs}
    return _plain(res)


def compute_bench(ds: FashionMNIST, opts: Options) -> dict[str, Any]:
    """Exercise 4: ``sgdlab bench`` (its quick mode when ``opts.quick``), every available engine."""
    from sgdlab.measure.bench import benchmark
    from sgdlab.plots import bench_figure

    res = benchmark(ds, engine="all", quick=opts.quick, seed=opts.seed)
    for engine in res["results"]:  # the raw per-block figures are not shown: keep the cache small
        for row in [*engine["sgd"], engine["gd"]]:
            row["per_iteration"].pop("raw", None)
            if row.get("epoch_measured"):
                row["epoch_measured"].pop("raw", None)
    res["figures"] = {"timing": figure_set(bench_figure, res)}
    return res


def compute_likelihood(ds: FashionMNIST, opts: Options) -> dict[str, Any]:
    """Exercise 5: L, ∇L three ways and ascent vs descent (a); the Monte Carlo over minibatches
    (b); for the model after one epoch of SGD (batch 16, lr 0.005), as docs/exercise-5.md."""
    from sgdlab.analysis.estimators import DEFAULT_BATCH_SIZES, monte_carlo
    from sgdlab.analysis.likelihood import (
        ascent_vs_descent,
        gradient_figures,
        likelihood_figures,
        per_sample,
    )
    from sgdlab.plots import estimators_figure, likelihood_figure
    from sgdlab.training.trainer import train

    run = train(
        epochs=1,
        batch_size=opts.batch_size,
        lr=opts.lr,
        seed=opts.seed,
        data=ds,
        device="cpu",
        progress=False,
    )
    model = run.model.cpu()
    ps = per_sample(model, ds.train_images, ds.train_labels)
    gen = torch.Generator().manual_seed(opts.seed)
    sizes = tuple(b for b in DEFAULT_BATCH_SIZES if b < ps.n)
    mc = monte_carlo(ps, batch_sizes=sizes, draws=opts.draws, generator=gen)
    return {
        "model": {
            "epochs": 1,
            "batch_size": opts.batch_size,
            "lr": opts.lr,
            "engine": run.config["engine"],
            "test_accuracy": run.history[-1]["test_accuracy"],
        },
        "likelihood": likelihood_figures(ps),
        "gradient": gradient_figures(model, ps, p=0, q=406),
        "steps": ascent_vs_descent(model, ps, lr=opts.lr),
        "monte_carlo": mc,
        "figures": {
            "underflow": figure_set(likelihood_figure, ps.h, narrow=False),
            "estimators": figure_set(estimators_figure, mc),
        },
    }


def compute_convergence(
    ds: FashionMNIST, opts: Options, *, cache_dir: Path | None = None, progress: bool = False
) -> dict[str, Any]:
    """The batch-size study of ``sgdlab experiment`` (:func:`sgdlab.study.run_study`,
    ``StudySpec.quick()`` when ``opts.quick`` else ``StudySpec.full()``, with the gradient noise
    scales): its rows per optimizer, target and b, the fits, the noise scales at the target, the
    verdict, and the figures steps and examples to target. Passes already in the experiments'
    cache (``cache_dir``, default :func:`sgdlab.paths.experiment_cache_dir`) are not retrained."""
    from sgdlab.study import run_study
    from sgdlab.study.plots import plot_lr, plot_noise, plot_steps
    from sgdlab.study.verdict import verdict

    spec = convergence_spec(opts)
    study = run_study(
        spec,
        data=ds,
        cache_dir=cache_dir,
        workers=1 if opts.quick else None,
        progress=progress,
        noise=True,
    )
    full = study.to_dict()
    doc = _compact_study(full)
    doc["verdict_he"] = verdict(  # the same sentences in Hebrew, for the Hebrew page
        full["scaling"],
        full["fit"],
        noise=full.get("noise"),
        optimizers=tuple(full["spec"]["optimizers"]),
        targets=full["target"],
        lang="he",
    )
    doc["figures"] = {
        "steps": figure_set(plot_steps, doc),
        "examples": figure_set(plot_steps, doc, kind="examples"),
        "lr": figure_set(plot_lr, doc),
        "noise": figure_set(plot_noise, doc, narrow=False),
    }
    return doc


#: The study document's parts the section keeps (and :func:`sgdlab.study.plots.plot_steps` reads).
_STUDY_KEYS = ("schema", "target", "scaling", "fit", "noise", "timing", "verdict", "spec", "work")
_NOISE_ROW_KEYS = ("step", "train_cost", "B_simple", "B_noise", "at_target")


def _compact_study(doc: dict[str, Any]) -> dict[str, Any]:
    """The study's document without what the page does not show: the noise rows' intermediate
    figures and the two-batch estimator's per-draw arrays, the lr rules, the data and the
    environment (the report has its own)."""
    out = {k: doc.get(k) for k in _STUDY_KEYS}
    noise = doc.get("noise")
    if noise:
        rows = [
            {
                **{k: r.get(k) for k in _NOISE_ROW_KEYS},
                "estimator": {"B_simple": (r.get("estimator") or {}).get("B_simple")},
            }
            for r in noise.get("rows", [])
        ]
        out["noise"] = {**{k: v for k, v in noise.items() if k != "rows"}, "rows": rows}
    return out


def convergence_spec(opts: Options) -> Any:
    """The study the report runs: ``StudySpec.quick()`` when ``opts.quick``, else ``.full()``."""
    from sgdlab.study import StudySpec

    return StudySpec.quick() if opts.quick else StudySpec.full()


def convergence_identity(opts: Options) -> dict[str, Any]:
    """What the convergence section's result depends on besides the data and the options: the
    study's spec, its document's schema and the experiments' record format (part of its cache
    key)."""
    from sgdlab.experiments.cache import RECORD_FORMAT
    from sgdlab.study import SCHEMA

    return {
        "study": convergence_spec(opts).to_dict(),
        "schema": SCHEMA,
        "record_format": RECORD_FORMAT,
        "noise": True,
    }


def compute_environment(ds: FashionMNIST, opts: Options) -> dict[str, Any]:
    """Versions, CPU/GPU, threads, git commit and the data's SHA-256s (never cached)."""
    import platform

    from sgdlab._version import __version__
    from sgdlab.measure.machine import thread_info
    from sgdlab.measure.provenance import cpu_model, environment

    env = {
        **environment("cpu"),
        **thread_info(),
        "cpu_model": cpu_model(),
        "machine": platform.machine(),
    }
    env["sgdlab_version"] = __version__
    env["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    for mod in ("numpy", "numba", "matplotlib"):
        try:
            env[f"{mod}_version"] = __import__(mod).__version__
        except ImportError:
            env[f"{mod}_version"] = None
    return {"environment": env, "data": ds.provenance()}
