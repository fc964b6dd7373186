"""The study as text: the protocol, the scaling tables, the fits, the noise scales, the lr rules,
the verdict and the work done (what ``sgdlab experiment`` prints)."""

from __future__ import annotations

from typing import Any

from sgdlab.formatting import fmt_seconds

_NAMES = {"sgd": "plain SGD", "nesterov": "Nesterov (μ = 0.9)"}


def format_study(doc: dict[str, Any]) -> str:
    """``doc``: :meth:`sgdlab.study.Study.to_dict` (plus ``peak`` when measured)."""
    spec, tgt = doc["spec"], doc["target"]
    out = [
        f"batch-size study ({spec['name']}): b = {', '.join(map(str, spec['batch_sizes']))}; "
        f"seeds {spec['seeds']}; {spec['validation']:,} validation images (split seed "
        f"{spec['validation_seed']}); lr grids {spec['lr_ratio']:.3g}× apart, extended until "
        f"the best lr is interior; targets C ≤ {tgt['train_cost']:g} (training images) and "
        f"validation accuracy ≥ {tgt['val_accuracy']:.1%}; budget min({spec['max_steps']:,} "
        f"steps, {spec['max_epochs']} epochs); S located to {spec['resolution'] - 1:.0%}.",
        "",
    ]
    for o in spec["optimizers"]:
        for t in ("train_cost", "val_accuracy"):
            rows = [r for r in doc["scaling"] if r["optimizer"] == o and r["target"] == t]
            out += _table(o, t, rows, doc["fit"].get(o, {}).get(t) or {})
            out.append("")
    out += _noise(doc.get("noise"))
    out += _lr_rules(doc.get("lr_scaling", {}))
    out.append("Verdict:")
    out += [f"- {s}" for s in doc["verdict"]]
    out.append("")
    out.append(_work(doc))
    return "\n".join(out)


def _table(o: str, t: str, rows: list[dict[str, Any]], fit: dict[str, Any]) -> list[str]:
    what = "C ≤ target" if t == "train_cost" else "val acc ≥ target"
    out = [
        f"{_NAMES.get(o, o)}, {what}:",
        f"{'b':>7} {'lr':>9} {'steps S':>9} {'seeds':>17} {'examples':>11} {'epochs':>7} "
        f"{'seconds':>9} {'lrs':>4}",
    ]
    for r in rows:
        b = f"{r['batch_size']:,}" + ("*" if r.get("full_batch") else "")
        if r["steps"] is None:
            out.append(f"{b:>7} {'—':>9} {'not reached':>9}  (grid {len(r['lr_grid'])} lrs)")
            continue
        seeds = ",".join("—" if s is None else str(s) for s in r["steps_per_seed"])
        flag = " edge" if r["edge"] else ""
        out.append(
            f"{b:>7} {r['lr']:>9.4g} {r['steps']:>9,.0f} {seeds:>17} {r['examples']:>11,.0f} "
            f"{r['epochs']:>7.3g} {fmt_seconds(r.get('seconds')):>9} "
            f"{len(r['lr_grid']):>4}{flag}"
        )
    if fit.get("B_crit") is not None:
        ci = fit.get("B_crit_ci") or [None, None]
        ci_txt = f" [{ci[0]:,.0f}, {ci[1]:,.0f}]" if None not in ci else ""
        out.append(
            f"fit S = S_min(1 + B_crit/b): S_min = {fit['S_min']:,.1f} steps, "
            f"E_min = {fit['E_min']:,.0f} examples, B_crit = {fit['B_crit']:,.0f}{ci_txt} "
            "(95 % bootstrap CI over seeds)"
        )
    elif fit.get("why"):
        out.append(f"no fit: {fit['why']}")
    out.append(
        "* = the full batch (GD). S: median over seeds at the best lr; seeds: each seed's S "
        "(— not reached); seconds: S × this machine's time per step of sgdlab train's engine; "
        "edge: best lr still at the grid's edge (left out of the fit)."
    )
    return out


def _noise(noise: dict[str, Any] | None) -> list[str]:
    if not noise:
        return []
    out = [
        f"Gradient noise scale along {noise['method']} at lr {noise['lr']:g} "
        f"(C reaches {noise['target']:g} at step {noise['steps_to_target']}); exact values "
        f"and McCandlish's two-batch estimate (B = {noise['b_small']}, {noise['b_big']}, "
        f"{noise['repeats']} pairs):",
        f"{'step':>6} {'C':>7} {'B_simple':>9} {'B_noise':>9} {'estimate':>9}",
    ]
    for r in noise["rows"]:
        est = r["estimator"].get("B_simple")
        mark = "  <- target" if r.get("at_target") else ""
        out.append(
            f"{r['step']:>6} {r['train_cost']:>7.4f} {r['B_simple']:>9.1f} "
            f"{r['B_noise']:>9.1f} {('—' if est is None else format(est, '.1f')):>9}{mark}"
        )
    return [*out, ""]


def _lr_rules(rules: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for o, per in rules.items():
        for t, r in per.items():
            rules = r.get("rules") or {}
            if not rules:
                continue
            parts = ", ".join(f"{k} {v['error']:.2f}×" for k, v in rules.items())
            out.append(
                f"lr vs b ({_NAMES.get(o, o)}, {t}): each rule misses the tuned lr by a typical "
                f"factor of {parts}"
            )
    return [*out, ""] if out else []


def _work(doc: dict[str, Any]) -> str:
    w, peak = doc["work"], doc.get("peak") or {}
    text = (
        f"{w['passes_trained']} passes trained now, {w['passes_cached']} from the cache, "
        f"{w['rounds']} round(s); {w['wall_seconds']:.0f} s wall in all "
        f"({w['passes_wall_seconds']:.0f} s of passes: updates {w['train_seconds']:.0f} s, "
        f"exact evaluations {w['eval_seconds']:.0f} s, replays {w['replay_seconds']:.0f} s, "
        "summed over workers)"
    )
    if peak.get("aggregate_gflops"):
        text += (
            f"; training at {peak['aggregate_gflops']:.1f} GFLOP/s aggregate, "
            f"{peak['fraction_of_peak']:.1%} of this machine's all-core sgemm peak "
            f"({peak['sgemm_gflops']:.0f} GFLOP/s)"
        )
    return text + "."


def markdown(doc: dict[str, Any]) -> str:
    """The scaling table (both optimizers and targets side by side per b), the fits next to the
    noise scales, and the noise rows, as Markdown (docs/experiments.md is made with it)."""
    opts, tg = doc["spec"]["optimizers"], ("train_cost", "val_accuracy")
    rows = {(r["optimizer"], r["target"], r["batch_size"]): r for r in doc["scaling"]}
    bs = sorted({r["batch_size"] for r in doc["scaling"]})
    head = "| b |" + "".join(
        f" {_NAMES.get(o, o)}, {'C' if t == 'train_cost' else 'val acc'}: lr · S · E |"
        for o in opts
        for t in tg
    )
    out = [head, "|---|" + "---|" * (len(opts) * 2)]
    for b in bs:
        cells = []
        for o in opts:
            for t in tg:
                r = rows.get((o, t, b))
                if r is None or r["steps"] is None:
                    cells.append("not reached")
                    continue
                edge = " (edge)" if r["edge"] else ""
                cells.append(
                    f"{r['lr']:.3g} · {r['steps']:,.0f} [{_spread(r)}] · {r['examples']:,.0f}{edge}"
                )
        full = "" if b != doc["data"].get("n_train", 0) - doc["spec"]["validation"] else " (N)"
        out.append(f"| {b:,}{full} | " + " | ".join(cells) + " |")
    out += [
        "",
        "| optimizer | target | S_min | E_min | B_crit [95 % CI] |",
        "|---|---|---|---|---|",
    ]
    for o in opts:
        for t in tg:
            f = doc["fit"].get(o, {}).get(t) or {}
            if f.get("B_crit") is None:
                out.append(f"| {_NAMES.get(o, o)} | {t} | — | — | — |")
                continue
            ci = f.get("B_crit_ci") or [None, None]
            ci_txt = f" [{ci[0]:,.0f}, {ci[1]:,.0f}]" if None not in ci else ""
            out.append(
                f"| {_NAMES.get(o, o)} | {t} | {f['S_min']:,.1f} | {f['E_min']:,.0f} | "
                f"{f['B_crit']:,.0f}{ci_txt} |"
            )
    noise = doc.get("noise")
    if noise:
        out += [
            "",
            "| step of GD | C | B_simple | B_noise | two-batch B_simple |",
            "|---|---|---|---|---|",
        ]
        for r in noise["rows"]:
            est = r["estimator"].get("B_simple")
            mark = " (target)" if r.get("at_target") else ""
            out.append(
                f"| {r['step']}{mark} | {r['train_cost']:.4f} | {r['B_simple']:,.1f} | "
                f"{r['B_noise']:,.1f} | {'—' if est is None else format(est, ',.1f')} |"
            )
    return "\n".join(out)


def _spread(r: dict[str, Any]) -> str:
    seeds = [s for s in r["steps_per_seed"] if s is not None]
    if len(seeds) < 2:
        return "1 seed"
    return f"{min(seeds):,}–{max(seeds):,}"
