"""What a checkpoint directory holds and whether a run may start, resume or extend there.

The rules (``sgdlab train`` and :func:`sgdlab.train` follow them):

- **A new run never writes into a directory that holds checkpoints.** :func:`refuse_used_dir`
  names the run it found (seed, step, config) and the two ways out: resume it, or use an
  empty directory. Nothing in the directory is touched.
- **Resuming where there is nothing yet starts the run** (``resume="auto"``, what
  ``sgdlab train --resume DIR`` does), so one command line is crash-safe from its first
  second: run it again after any crash and it continues or starts, as the directory says.
- **On resume, every option given on purpose must agree with the checkpoint.**
  :func:`reconcile` compares the explicitly given fields of the config (generically, over the
  fields of :class:`~sgdlab.config.TrainConfig`) with the checkpoint's and refuses, naming
  each one that differs. The one exception: a larger ``epochs`` extends the run, unless the
  learning-rate schedule depends on the total length (:func:`length_dependent`), where an
  extended run would not be the run that was asked for. Options that cannot change the result
  (progress, output, checkpoint frequency, ``keep``, threads) are not config fields and are
  free to differ.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sgdlab import atomic
from sgdlab.config import CheckpointConfig, TrainConfig, flag
from sgdlab.errors import CheckpointError
from sgdlab.training import checkpoint

#: Config fields whose value "auto" accepts whatever the checkpoint resolved it to.
AUTO_FIELDS = ("engine", "device")


def summary(cfg: Mapping[str, Any]) -> str:
    """A short human description of a run's config, e.g. ``sgd batch=16 lr=0.005 epochs=5``."""
    skip = {"seed", "method"}
    parts = [str(cfg.get("method", "?"))]
    parts += [f"{k}={v}" for k, v in cfg.items() if k not in skip]
    return " ".join(parts)


def describe(state: Mapping[str, Any]) -> str:
    """The run a checkpoint belongs to: seed, step, epochs done and config."""
    cfg = state.get("config", {})
    done = len(state.get("history", []))
    return (
        f"seed {cfg.get('seed')}, step {state.get('step')}, {done} of {cfg.get('epochs')} "
        f"epochs done: {summary(cfg)}"
    )


def has_checkpoints(directory: str | os.PathLike | None) -> bool:
    """Whether ``directory`` holds at least one checkpoint file (valid or not)."""
    return directory is not None and bool(checkpoint.list_checkpoints(directory))


def refuse_used_dir(directory: str | os.PathLike) -> None:
    """Raise :class:`CheckpointError` when ``directory`` holds checkpoints (a new run would mix
    with them); return quietly when it is missing or holds none. Reads only."""
    files = checkpoint.list_checkpoints(directory)
    if not files:
        return
    found = f"{len(files)} damaged checkpoint file(s)"
    for path in reversed(files):
        try:
            found = f"the checkpoints of a run ({describe(checkpoint.load(path))})"
            break
        except CheckpointError:
            continue
    raise CheckpointError(
        f"{directory} already holds {found}; a new run would mix with it. Continue that run "
        f"with --resume {directory}, or start this one in an empty directory"
    )


def length_dependent(cfg: Mapping[str, Any]) -> str | None:
    """Why the run's result depends on its total length (so it cannot be extended), or None.

    A cosine schedule's lr depends on the total number of steps. (Averaging does not: the
    training loop averages every epoch's iterates afresh and evaluates each epoch's mean, so the
    last epoch's average is the same whichever epoch is last.) A field the config lacks is off.
    """
    if cfg.get("schedule") == "cosine":
        return "the cosine schedule's learning rate depends on the total number of steps"
    return None


def reconcile(
    saved: Mapping[str, Any], asked: Mapping[str, Any], explicit: Iterable[str], *, done_epochs: int
) -> dict[str, Any]:
    """The config to resume with: the checkpoint's, after checking the options given on purpose.

    ``saved`` is the checkpoint's config, ``asked`` the config the caller built from its
    arguments, ``explicit`` the names of the fields the caller set on purpose (others are
    ignored), ``done_epochs`` the epochs the checkpoint has finished. Equal values are fine;
    ``"auto"`` for engine/device accepts the checkpoint's; a larger ``epochs`` extends the run
    (unless :func:`length_dependent`). Anything else raises :class:`CheckpointError` naming
    every differing option.
    """
    cfg = dict(saved)
    conflicts: list[str] = []
    for name in sorted(set(explicit) & set(asked)):
        want, have = asked[name], saved.get(name)
        if want == have or (name in AUTO_FIELDS and want == "auto"):
            continue
        if name == "epochs":
            cfg["epochs"] = _extend(saved, want, done_epochs)
            continue
        conflicts.append(f"{flag(name)} {_show(want)} (the checkpoint has {_show(have)})")
    if conflicts:
        raise CheckpointError(
            "resuming a run with other options would not continue the same run: "
            + "; ".join(conflicts)
            + ". Drop these options (or pass the checkpoint's values), "
            "or start a new run in an empty directory"
        )
    return cfg


def _extend(saved: Mapping[str, Any], epochs: int, done: int) -> int:
    have = saved["epochs"]
    if epochs < done:
        raise CheckpointError(
            f"--epochs {epochs} is fewer than the {done} epochs this run has "
            "already done; a run cannot be shortened"
        )
    if epochs < have:
        raise CheckpointError(
            f"--epochs {epochs} is fewer than the run's {have} epochs; a run "
            f"cannot be shortened (drop --epochs, or pass {have} or more)"
        )
    why = length_dependent(saved)
    if why:
        raise CheckpointError(
            f"cannot extend this run from {have} to {epochs} epochs: {why}, "
            f"so the first {done} epochs would not be those of a {epochs}-epoch "
            "run; start a new run in an empty directory"
        )
    return epochs


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


#: Engines whose steps are torch operations: their bits depend on torch's thread count (its
#: GEMMs block the work by thread). The ``fast`` engine's do not (tests/test_numba_threads.py).
THREAD_DEPENDENT = ("reference", "torch")


def check_environment(saved: Mapping[str, Any], data_sha256: Any, *, engine: str) -> None:
    """Refuse a resume on other data, or with another torch thread count where the engine's
    results depend on it; warn when the torch or sgdlab version differs. (Engine, device and
    the other options are checked by :func:`reconcile`.) Call after the engine is built:
    numba's start-up can change torch's thread count."""
    import torch

    from sgdlab.measure.provenance import environment

    prov = saved.get("provenance", {})
    if prov.get("data", {}).get("sha256") != data_sha256:
        raise CheckpointError(
            "the checkpoint was written for other data "
            f"({prov.get('data', {}).get('source')}); resume on the same data"
        )
    threads, had = torch.get_num_threads(), prov.get("torch_threads")
    if engine in THREAD_DEPENDENT and had is not None and had != threads:
        raise CheckpointError(
            f"--threads {threads} differs from the checkpoint's {had} torch threads: the "
            f"{engine} engine's results depend on the thread count, so the resumed run would "
            f"not be the same run. Resume with --threads {had}"
        )
    here = environment("cpu")
    for key in ("torch_version", "sgdlab_version"):
        if key in prov and prov[key] != here[key]:
            warnings.warn(
                f"resuming with {key}={here[key]} but the checkpoint was written with "
                f"{prov[key]}: the result may differ from an uninterrupted run",
                stacklevel=3,
            )


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete half-written checkpoint files (``.ckpt-*.sgdlab.PID.RANDOM.tmp``, or
    ``.ckpt-*.sgdlab.PID.tmp`` from older sgdlab) left by a killed writer whose process is gone;
    return them. They are never read, only disk space. One named with this process's id is
    stale unless this process is writing it now (see :func:`sgdlab.atomic.stale_temporaries`)."""
    return atomic.remove_stale_temporaries(directory, _TMP)


#: Temporaries of :func:`checkpoint.save`; the random part is missing in older ones.
_TMP = re.compile(r"^\.ckpt-\d{10,}\.sgdlab\.(?P<pid>\d+)(?:\.[A-Za-z0-9_]+)?\.tmp$")


def saved_config(saved: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's config over :class:`TrainConfig`'s fields: a field it lacks (written
    before the option existed) ran with the default; a field unknown here is refused."""
    unknown = sorted(set(saved["config"]) - set(TrainConfig.field_names()))
    if unknown:
        raise CheckpointError(
            f"the checkpoint has options this sgdlab does not know "
            f"({', '.join(unknown)}): written by a newer version?"
        )
    return {**TrainConfig().to_dict(), **saved["config"]}


def configs(
    cfg: TrainConfig | None, checkpoints: CheckpointConfig | None, options: dict[str, Any]
) -> tuple[TrainConfig, CheckpointConfig]:
    """The run's config and checkpoint options from :func:`sgdlab.train`'s arguments."""
    names, ck_names = set(TrainConfig.field_names()), set(CheckpointConfig.field_names())
    unknown = sorted(set(options) - names - ck_names)
    if unknown:
        raise TypeError(f"train() got an unexpected keyword argument {unknown[0]!r}")
    if checkpoints is not None and set(options) & ck_names:
        raise TypeError("train(): give checkpoint options in checkpoints= or as keywords")
    kw = {k: v for k, v in options.items() if k in names}
    if kw and cfg is not None:
        cfg = dataclasses.replace(cfg, **kw)
    ck_kw = {k: v for k, v in options.items() if k in ck_names}
    return cfg or TrainConfig(**kw), checkpoints or CheckpointConfig(**ck_kw)
