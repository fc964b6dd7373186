"""The batch-size study: does a smaller minibatch converge faster? Steps and examples to a
target for every b, each b tuned on its own, the critical batch size fitted and compared with
the exact gradient noise scale.

The protocol (Shallue et al. 2019; McCandlish et al. 2018):

- data: train on 50,000 images, validate on 10,000 (split seed 0); the test set is only
  reported;
- b = 1, 2, 4, …, 32768 and the full batch N; plain SGD and Nesterov momentum (μ = 0.9);
  constant lr;
- per (optimizer, b): a log-spaced lr grid √2 apart, extended until the best lr is interior,
  chosen separately for each target (exact training cost C ≤ 0.45 over the 50,000; validation
  accuracy ≥ 83.5 %); diverged trials excluded;
- steps to target S(b): the first step at which the target holds, located to ≤ 5 % (a
  geometric evaluation schedule, then a replay of the crossing interval at finer points);
  median over seeds per lr, the best lr's per b; examples E(b) = b·S(b);
- fitted: S = S_min(1 + B_crit/b) per optimizer and target, with a bootstrap CI over seeds;
  compared with the exact noise scales B_simple, B_noise (:mod:`sgdlab.analysis.noise_scale`).

Modules: :mod:`.trials` (K models trained together on one minibatch order), :mod:`.fit` (the
McCandlish fit, bootstrap, regimes, lr scaling rules), :mod:`.estimator` (the two-batch
estimator of |G|², tr(Σ), B_simple).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgdlab.data import FashionMNIST
from sgdlab.study.protocol import FULL, MOMENTUM, TARGETS, Pass, StudySpec

SCHEMA = "sgdlab.study/1"

__all__ = ["FULL", "MOMENTUM", "TARGETS", "Pass", "StudySpec", "Study", "run_study", "SCHEMA"]


@dataclass
class Study:
    """The study's results (see :meth:`to_dict` for the JSON document)."""

    spec: StudySpec
    rows: list[dict[str, Any]]
    fits: dict[str, dict[str, Any]]
    noise: dict[str, Any] | None
    timing: dict[str, Any]
    lr_scaling: dict[str, dict[str, Any]]
    verdict: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    work: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, *, records: bool = False) -> dict[str, Any]:
        """JSON-ready: ``target``, ``scaling`` (one row per optimizer, target and batch size),
        ``fit``, ``noise``, ``lr_scaling``, ``timing``, ``verdict``, with the spec, the data's
        provenance, the environment and the work done (``records``: every pass's record)."""
        doc = {
            "schema": SCHEMA,
            "target": dict(self.spec.targets),
            "scaling": self.rows,
            "fit": self.fits,
            "noise": self.noise,
            "lr_scaling": self.lr_scaling,
            "timing": self.timing,
            "verdict": self.verdict,
            "spec": self.spec.to_dict(),
            "data": self.data,
            "environment": self.environment,
            "work": self.work,
        }
        if records:
            doc["records"] = self.records
        from sgdlab.formatting import finite_or_null

        return finite_or_null(doc)

    def markdown(self) -> str:
        """The scaling table, the fits and the noise scales as Markdown
        (:func:`sgdlab.study.report.markdown` of :meth:`to_dict`)."""
        from sgdlab.study.report import markdown

        return markdown(self.to_dict())


def run_study(
    spec: StudySpec,
    *,
    data: FashionMNIST,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
    noise: bool = True,
    scheduler: str | None = None,
) -> Study:
    """Run the study ``spec`` on ``data`` (cached passes are read back, the others run in
    ``workers`` single-thread processes, default one per core, or on a Dask cluster:
    ``scheduler`` ``"local"`` or ``"tcp://HOST:PORT"``, see :mod:`sgdlab.study.cluster`); see
    the module docstring."""
    from sgdlab.data.split import hold_out
    from sgdlab.errors import ConfigError
    from sgdlab.measure.provenance import environment
    from sgdlab.study import fit as fitmod
    from sgdlab.study.noise import trajectory
    from sgdlab.study.run import run_passes, scaling_rows
    from sgdlab.study.timing import seconds_per_step

    t0 = time.perf_counter()
    passes = run_passes(
        spec,
        data=data,
        cache_dir=cache_dir,
        workers=workers,
        progress=progress,
        scheduler=scheduler,
    )
    fit_ds, _, split = hold_out(data, spec.validation, seed=spec.validation_seed)
    n = int(fit_ds.train_images.shape[0])
    rows = scaling_rows(passes, spec, n)
    images = fit_ds.train_images.reshape(-1, 784)
    t1 = time.perf_counter()
    timing = seconds_per_step(images, fit_ds.train_labels, sorted({r["batch_size"] for r in rows}))
    timing["wall_seconds"] = time.perf_counter() - t1
    for r in rows:
        per = timing["seconds"].get(r["batch_size"])
        r["seconds"] = None if r["steps"] is None or per is None else r["steps"] * per
    fits = _per_curve(
        rows,
        spec,
        lambda use: fitmod.bootstrap_fit(
            [r["batch_size"] for r in use], [r["steps_per_seed"] for r in use]
        ),
    )
    for r in rows:
        r["regime"] = None
    for o, per in fits.items():  # Shallue's regime of each row, from its curve's fit
        for t, f in per.items():
            use = [
                r
                for r in rows
                if r["optimizer"] == o and r["target"] == t and r["steps"] is not None
            ]
            if f.get("B_crit") is None or len({r["batch_size"] for r in use}) < 2:
                continue
            labels = fitmod.regimes([r["batch_size"] for r in use], [r["steps"] for r in use], f)
            for r, label in zip(use, labels, strict=True):
                r["regime"] = label
    for t in TARGETS:
        if not any(r["steps"] is not None for r in rows if r["target"] == t):
            raise ConfigError(
                f"no batch size reached the target {t} = {spec.targets[t]:g} within the budget "
                f"(min({spec.max_steps} steps, {spec.max_epochs} epochs)); choose a reachable "
                "target"
            )
    noise_doc = None
    if noise:
        t1 = time.perf_counter()
        gd = next(
            (
                r
                for r in rows
                if r["optimizer"] == "sgd"
                and r["target"] == "train_cost"
                and r.get("full_batch")
                and r["lr"] is not None
            ),
            None,
        )
        lr = gd["lr"] if gd else 0.1
        from sgdlab.data import to_float

        noise_doc = trajectory(
            images,
            fit_ds.train_labels,
            to_float(images),
            lr=lr,
            target=spec.targets["train_cost"],
            max_steps=min(spec.max_epochs, spec.max_steps),
        )
        noise_doc["wall_seconds"] = time.perf_counter() - t1
    b_noise = None
    if noise_doc:
        at = next((p for p in noise_doc["rows"] if p.get("at_target")), None)
        b_noise = at["B_noise"] if at else None
    lr_rules = _per_curve(
        rows,
        spec,
        lambda use: fitmod.lr_scaling(
            [r["batch_size"] for r in use], [r["lr"] for r in use], b_noise=b_noise
        ),
    )
    from sgdlab.study.verdict import verdict

    words = verdict(rows, fits, noise=noise_doc, optimizers=spec.optimizers, targets=spec.targets)
    work = {
        "passes_trained": passes.trained,
        "passes_cached": passes.cached,
        "rounds": passes.rounds,
        "passes_wall_seconds": passes.wall_seconds,
        "wall_seconds": time.perf_counter() - t0,
        "train_seconds": sum(r["train_seconds"] for r in passes.records),
        "eval_seconds": sum(r["eval_seconds"] for r in passes.records),
        "replay_seconds": sum(r["replay_seconds"] for r in passes.records),
        "model_steps": sum(_model_steps(r) for r in passes.records),
        "model_examples": sum(_model_steps(r) * r["batch"] for r in passes.records),
    }
    data_info = {**data.provenance(), "validation": split}
    return Study(
        spec,
        rows,
        fits,
        noise_doc,
        timing,
        lr_rules,
        words,
        data_info,
        environment("cpu"),
        work,
        passes.records,
    )


def _per_curve(rows, spec: StudySpec, fn) -> dict[str, dict[str, Any]]:
    """``fn(rows)`` per (optimizer, target) on the rows that reached it with an interior lr;
    a ``ValueError`` (too few points) becomes ``{"B_crit": None, "why": …}``."""
    out: dict[str, dict[str, Any]] = {}
    for o in spec.optimizers:
        for t in TARGETS:
            use = [
                r
                for r in rows
                if r["optimizer"] == o
                and r["target"] == t
                and r["steps"] is not None
                and not r["edge"]
            ]
            try:
                out.setdefault(o, {})[t] = fn(use)
            except ValueError as e:
                out.setdefault(o, {})[t] = {"B_crit": None, "why": str(e)}
    return out


def _model_steps(record: dict[str, Any]) -> int:
    """Steps trained in a pass, summed over its trials (replays not counted)."""
    return sum(int(t["stopped_at"]) for t in record["trials"])
