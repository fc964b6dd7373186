"""The report's convergence section: the batch-size study (:mod:`sgdlab.study`): its figures,
per optimizer and target the tuned table, the fits next to the noise scales, and the verdict."""

from __future__ import annotations

from typing import Any

from sgdlab.formatting import fmt_seconds as fmt_s
from sgdlab.report.page import Page, esc, table


def _n(v: int | None) -> str:
    return "–" if v is None else f"{v:,}"


def render_convergence(pg: Page, res: dict[str, Any]) -> None:
    """The batch-size study (``sgdlab experiment``): the figures steps and examples to target,
    one table per optimizer and target, the fits next to the noise scales, the verdict."""
    pg.h2("convergence", "conv_title")
    spec, tgt = res["spec"], res["target"]
    rows = res["scaling"]
    n_fit = max((r["batch_size"] for r in rows if r.get("full_batch")), default=None)
    pg.qa(
        "conv_ask",
        "conv_how",
        flag=" --quick" if spec.get("name") == "quick" else "",
        bs=", ".join("N" if b == "full" else f"{b:,}" for b in spec["batch_sizes"]),
        seeds=len(spec["seeds"]),
        n=_n(n_fit),
        val=f"{spec['validation']:,}",
        cost=f"{tgt['train_cost']:g}",
        acc=f"{tgt['val_accuracy']:.1%}",
        ratio=f"{spec['lr_ratio']:.3g}",
        resolution=f"{spec['resolution'] - 1:.0%}",
    )
    figs = res["figures"]
    pg.fig("fig-steps", figs["steps"], "conv_steps_caption", "alt_steps")
    pg.fig("fig-examples", figs["examples"], "conv_examples_caption", "alt_examples")
    head = [pg.r(k) for k in ("col_b", "col_lr", "col_s", "col_examples", "col_to_seconds")]
    pg.add('<div class="tables">')  # side by side where the page is wide enough
    for o in spec["optimizers"]:
        for t in ("train_cost", "val_accuracy"):
            body = []
            for r in (r for r in rows if r["optimizer"] == o and r["target"] == t):
                b = f"GD {r['batch_size']:,}" if r.get("full_batch") else f"{r['batch_size']:,}"
                if r["steps"] is None:
                    body.append([b, pg.t["conv_not_reached"], "–", "–", "–"])
                    continue
                body.append(
                    [
                        b,
                        f"{r['lr']:.4g}" + (" *" if r["edge"] else ""),
                        _steps(r),
                        _num(r["examples"]),
                        fmt_s(r.get("seconds")),
                    ]
                )
            pg.add(f"<div><h3>{_opt_target(pg, o, t, tgt)}</h3>")
            pg.add(table(head, body, numeric_from=0) + "</div>")
    pg.add("</div>")
    pg.p("conv_table_note")
    if "lr" in figs:
        pg.fig("fig-lr", figs["lr"], "conv_lr_caption", "alt_lr")
    _render_fits(pg, res)
    pg.p("conv_verdict_intro")
    verdict = res.get(f"verdict_{pg.lang}") or res["verdict"]
    items = "".join(f"<li>{esc(v)}</li>" for v in verdict)
    if f"verdict_{pg.lang}" in res and pg.lang == "he":
        pg.add(f'<div class="verdict" lang="he"><ul>{items}</ul></div>')
    else:
        pg.add(f'<div class="verdict" dir="ltr" lang="en"><ul>{items}</ul></div>')
    pg.end()


def _render_fits(pg: Page, res: dict[str, Any]) -> None:
    """The fit S = S_min(1 + B_crit/b) per optimizer and target, with the exact noise scales
    where full-batch GD reaches the training-cost target (on the training-cost rows)."""
    noise = res.get("noise") or {}
    at = next((r for r in noise.get("rows", []) if r.get("at_target")), None)
    head = [
        pg.r(k)
        for k in ("col_optimizer", "col_target", "col_smin", "col_emin", "col_bcrit", "col_bnoise")
    ]
    body = []
    for o in res["spec"]["optimizers"]:
        for t in ("train_cost", "val_accuracy"):
            f = (res["fit"].get(o) or {}).get(t) or {}
            scales = "–"
            if at and t == "train_cost":
                scales = f"{at['B_noise']:,.0f} / {at['B_simple']:,.0f}"
            name, goal = _opt_name(pg, o), _target(pg, t, res["target"])
            if f.get("B_crit") is None:
                body.append([name, goal, "–", "–", "–", scales])
                continue
            ci = f.get("B_crit_ci") or [None, None]
            ci_txt = f" [{ci[0]:,.0f}–{ci[1]:,.0f}]" if None not in ci else ""
            body.append(
                [
                    name,
                    goal,
                    f"{f['S_min']:,.1f}",
                    f"{f['E_min']:,.0f}",
                    f"{f['B_crit']:,.0f}{ci_txt}",
                    scales,
                ]
            )
    pg.p("conv_fit_intro")
    pg.add(table(head, body, numeric_from=2))
    if at:
        est = (at.get("estimator") or {}).get("B_simple")
        pg.p(
            "conv_noise",
            lr=f"{noise['lr']:g}",
            step=f"{at['step']:,}",
            cost=f"{at['train_cost']:.4f}",
            b_noise=f"{at['B_noise']:,.1f}",
            b_simple=f"{at['B_simple']:,.1f}",
            estimate="–" if est is None else f"{est:,.1f}",
            b_small=f"{noise['b_small']:,}",
            b_big=f"{noise['b_big']:,}",
        )
        if "noise" in res.get("figures", {}):
            pg.fig("fig-noise", res["figures"]["noise"], "conv_noise_caption", "alt_noise")


def _goal(t: str, tgt: dict[str, float]) -> str:
    return f"{tgt[t]:g}" if t == "train_cost" else f"{tgt[t]:.1%}"


def _opt_name(pg: Page, o: str) -> str:
    return pg.t.get(f"opt_{o}", o)


def _target(pg: Page, t: str, tgt: dict[str, float]) -> str:
    """The target in words, as plain text (a table cell: escaped by :func:`table`)."""
    return pg.t[f"tgt_{t}"].replace("$goal", _goal(t, tgt)).replace("`", "")


def _opt_target(pg: Page, o: str, t: str, tgt: dict[str, float]) -> str:
    """A table's heading: the optimizer and the target (trusted HTML)."""
    return f"{esc(_opt_name(pg, o))}, {pg.r(f'tgt_{t}', goal=_goal(t, tgt))}"


def _num(x: float | None) -> str:
    """A count that may be a median of two (…​.5)."""
    if x is None:
        return "–"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def _steps(r: dict[str, Any]) -> str:
    """S, the median over seeds, with the seeds' [min–max] (∞: a seed that did not reach it)."""
    per = r.get("steps_per_seed") or []
    if len(per) < 2:
        return _num(r["steps"])
    got = [s for s in per if s is not None]
    hi = "∞" if len(got) < len(per) else _num(max(got))
    return f"{_num(r['steps'])} [{_num(min(got))}–{hi}]"
