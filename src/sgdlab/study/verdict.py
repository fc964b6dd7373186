"""The study's answer in words, computed from its rows and fits (nothing here is hard-coded but
the thresholds, which are stated in the sentences they produce). English or Hebrew: the
sentences are the templates of :mod:`sgdlab.study.verdict_text`."""

from __future__ import annotations

import math
from typing import Any

from sgdlab.formatting import fmt_seconds
from sgdlab.study.verdict_text import TEXT

#: Two figures within this factor count as equal ("about the same").
SAME = 1.15


def _usable(rows: list[dict[str, Any]], optimizer: str, target: str) -> list[dict[str, Any]]:
    return [
        r
        for r in rows
        if r["optimizer"] == optimizer
        and r["target"] == target
        and r["steps"] is not None
        and not r["edge"]
    ]


def verdict(
    rows: list[dict[str, Any]],
    fits: dict[str, dict[str, Any]],
    *,
    noise: dict[str, Any] | None,
    optimizers: tuple[str, ...],
    targets: dict[str, float],
    lang: str = "en",
) -> list[str]:
    """Sentences: per epoch, per step and per second, where the chapter's claim holds, how
    B_crit compares with the noise scales, and the old sweep's verdict re-examined; in
    ``lang`` (``"en"`` or ``"he"``)."""
    if lang not in TEXT:
        raise ValueError(f"lang must be one of {', '.join(TEXT)}, got {lang!r}")
    t = TEXT[lang]
    out: list[str] = []
    goal = {k: t[f"goal_{k}"].format(goal=targets[k]) for k in ("train_cost", "val_accuracy")}
    for o in optimizers:
        name = t["sgd"] if o == "sgd" else t["nesterov"]
        for tg in ("train_cost", "val_accuracy"):
            rs = sorted(_usable(rows, o, tg), key=lambda r: r["batch_size"])
            if len(rs) < 2:
                out.append(t["too_few"].format(name=name, goal=goal[tg]))
                continue
            out += _one(t, name, goal[tg], rs, fits.get(o, {}).get(tg))
    out += _noise(t, fits, noise)
    out += _old_verdict(t, rows)
    return out


def _one(
    t: dict[str, str],
    name: str,
    goal: str,
    rs: list[dict[str, Any]],
    fit: dict[str, Any] | None,
) -> list[str]:
    def fb(r: dict[str, Any]) -> str:
        return t["n" if r.get("full_batch") else "b"].format(b=r["batch_size"])

    e_min = min(r["examples"] for r in rs)
    best_e = min(rs, key=lambda r: r["examples"])
    flat = [r for r in rs if r["examples"] <= SAME * e_min]
    lo, hi = flat[0], flat[-1]
    small = rs[0]
    s_min = min(r["steps"] for r in rs)
    sat = next(r for r in rs if r["steps"] <= SAME * s_min)
    same = SAME - 1
    if hi is small:
        per_epoch = t["all_down"].format(small=fb(small))
    elif lo is small:
        per_epoch = t["flat_from_small"].format(lo=lo["batch_size"], hi=hi["batch_size"], same=same)
    else:
        span = (
            t["none_close"].format(same=same)
            if lo is hi
            else t["span"].format(lo=lo["batch_size"], hi=hi["batch_size"], same=same)
        )
        per_epoch = t["middle"].format(
            span=span,
            lo=lo["batch_size"],
            hi=hi["batch_size"],
            small=fb(small),
            ratio=small["examples"] / e_min,
        )
    out = [
        t["per_epoch"].format(
            name=name,
            goal=goal,
            e=best_e["examples"],
            epochs=best_e["epochs"],
            best=fb(best_e),
            per_epoch=per_epoch,
            largest=fb(rs[-1]),
            ratio=rs[-1]["examples"] / e_min,
        )
    ]
    out.append(
        t["per_step"].format(
            name=name,
            goal=goal,
            s0=small["steps"],
            small=fb(small),
            s_min=s_min,
            sat=fb(sat),
            same=same,
        )
    )
    timed = [r for r in rs if r.get("seconds") is not None]
    if timed:
        fast = min(timed, key=lambda r: r["seconds"])
        out.append(
            t["per_second"].format(
                name=name, goal=goal, fast=fb(fast), seconds=fmt_seconds(fast["seconds"])
            )
        )
    if fit and fit.get("B_crit") is not None:
        ci = fit.get("B_crit_ci") or [None, None]
        ci_txt = t["ci"].format(lo=ci[0], hi=ci[1]) if None not in ci else ""
        out.append(
            t["fit"].format(
                name=name,
                goal=goal,
                bc=fit["B_crit"],
                ci=ci_txt,
                s_min=fit["S_min"],
                e_min=fit["E_min"],
            )
        )
    return out


def _noise(
    t: dict[str, str], fits: dict[str, dict[str, Any]], noise: dict[str, Any] | None
) -> list[str]:
    if not noise:
        return []
    at = next((r for r in noise["rows"] if r.get("at_target")), None)
    fit = fits.get("sgd", {}).get("train_cost") or {}
    if at is None or fit.get("B_crit") is None:
        return []
    bn, bs, bc = at["B_noise"], at["B_simple"], fit["B_crit"]
    agree = t["agrees"] if 1 / 3 <= bc / bn <= 3 else t["disagrees"]
    est = (at.get("estimator") or {}).get("B_simple")
    est_txt = t["estimate"].format(est=est, ratio=est / bs) if est and math.isfinite(est) else ""
    return [
        t["noise"].format(bn=bn, bs=bs, bc=bc, r_n=bc / bn, r_s=bc / bs, agree=agree, est=est_txt)
    ]


def _old_verdict(t: dict[str, str], rows: list[dict[str, Any]]) -> list[str]:
    def get(b: int) -> dict[str, Any] | None:
        return next(
            (
                r
                for r in rows
                if r["optimizer"] == "sgd"
                and r["target"] == "train_cost"
                and r["batch_size"] == b
                and r["steps"] is not None
            ),
            None,
        )

    a, b = get(16), get(128)
    if a is None or b is None:
        return []
    ratio = a["examples"] / b["examples"]
    word = t["fewer"] if ratio < 1 / SAME else (t["more"] if ratio > SAME else t["as_many"])
    return [
        t["old"].format(
            lr_a=a["lr"],
            lr_b=b["lr"],
            e_a=a["examples"],
            e_b=b["examples"],
            word=word,
            ratio=ratio,
        )
    ]
