"""The page of ``sgdlab report`` (:func:`render`) from one function per section: a section's
result -> HTML on a :class:`~sgdlab.report.page.Page` (which carries the language)."""

from __future__ import annotations

from typing import Any

from sgdlab._version import __version__
from sgdlab.formatting import fmt_seconds as fmt_s
from sgdlab.measure.machine import contamination
from sgdlab.report.page import Page, class_name, esc, table
from sgdlab.report.render_study import _n, render_convergence


def _f(v: float | None, spec: str = ".4f") -> str:
    return "–" if v is None else format(v, spec)


def render_minibatch(pg: Page, res: dict[str, Any], meta: dict[str, Any]) -> None:
    """Exercise 1: the grid of images and the table of labels."""
    pg.h2("ex1", "ex1_title")
    pg.qa("ex1_ask", "ex1_how")
    shape = "(" + ", ".join(str(s) for s in res["images_shape"]) + ")"
    pg.p("ex1_answer", seed=meta["seed"], shape=shape)
    pg.fig("fig-minibatch", res["figures"]["grid"], "ex1_caption", "alt_grid")
    rows = [
        [i, f"#{j}", c, class_name(c, name, pg.lang)]
        for i, (j, c, name) in enumerate(
            zip(res["indices"], res["labels"], res["class_names"], strict=True)
        )
    ]
    head = [pg.r(k) for k in ("col_pos", "col_sample", "col_label", "col_class")]
    pg.add(table(head, rows, numeric_from=4))
    pg.end()


def render_steps(pg: Page, res: dict[str, Any], data: dict[str, Any]) -> None:
    """Exercises 2-3: costs before/after, gradient norms, the gradient images."""
    s, g = res["sgd"], res["gd"]
    n = f"{data['n_train']:,}"
    pg.h2("ex23", "ex23_title")
    pg.qa("ex2_ask", "ex2_how")
    pg.p(
        "ex2_answer",
        sgd_before=_f(s["cost_before"]),
        sgd_after_mb=_f(s["minibatch_cost_after"]),
        sgd_after=_f(s["full_cost_after"]),
        gd_after=_f(g["full_cost_after"]),
        n=n,
        cosine=f"{res['cosine_sgd_gd']:.2f}",
        classes=len(set(res["labels"])),
    )
    head = [pg.r("col_quantity"), pg.r("col_sgd", b=res["batch_size"]), pg.r("col_gd", n=n)]
    rows = [
        (pg.r("row_cost_before"), _f(s["cost_before"]), _f(g["cost_before"])),
        (pg.r("row_mb_after"), _f(s["minibatch_cost_after"]), "–"),
        (pg.r("row_full_after"), _f(s["full_cost_after"]), _f(g["full_cost_after"])),
        (pg.r("row_gw"), _f(s["grad_norm_weight"]), _f(g["grad_norm_weight"])),
        (pg.r("row_gb"), _f(s["grad_norm_bias"]), _f(g["grad_norm_bias"])),
        (pg.r("row_time"), fmt_s(s["median_seconds"]), fmt_s(g["median_seconds"])),
    ]
    body = "".join(
        f'<tr><td>{q}</td><td class="n" dir="ltr">{esc(a)}</td>'
        f'<td class="n" dir="ltr">{esc(b)}</td></tr>'
        for q, a, b in rows
    )
    pg.add(
        f'<div class="scroll"><table><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}'
        f"</tr></thead><tbody>{body}</tbody></table></div>"
    )
    m = res.get("max_abs_grad")
    pg.fig(
        "fig-gradients",
        res["figures"]["gradients"],
        "ex23_caption",
        "alt_gradients",
        scale="–" if m is None else f"±{m:.3g}",
    )
    pg.end()


def render_bench(pg: Page, res: dict[str, Any], flag: str) -> None:
    """Exercise 4: the summary sentence, one timing table for all engines, the plot. Under
    foreign load (the bench's ``interpretation``) the sentence gives the ratio without the
    fitted overhead's explanation."""
    pg.h2("ex4", "ex4_title")
    pg.qa("ex4_ask", "ex4_how", flag=flag)
    n = res["n_train"]
    by_engine = {e["engine"]: e for e in res["results"]}
    ref = by_engine.get("reference") or res["results"][0]
    row = next((r for r in ref["sgd"] if r["batch_size"] == 16), ref["sgd"][0])
    fit = ref.get("overhead_fit") or {}
    ep = (
        row["epoch_measured"]["median"]
        if row.get("epoch_measured")
        else row["epoch_estimate_seconds"]
    )
    load = contamination(res)
    share, busy = load["other_cpu_share"], load["contaminated"]
    withheld = (res.get("interpretation") or {}).get("withheld", busy)  # absent before bench/3
    pg.p(
        "ex4_answer_withheld" if withheld else "ex4_answer",
        b=row["batch_size"],
        t_sgd=fmt_s(row["per_iteration"]["median"]),
        t_gd=fmt_s(ref["gd"]["per_iteration"]["median"]),
        ratio=_ratio(row["ratio_gd_over_sgd_measured"]),
        nb=f"{row['ratio_flops']:,.0f}",
        overhead=fmt_s(fit.get("overhead_seconds")),
        per_sample=fmt_s(fit.get("seconds_per_sample")),
        epoch=fmt_s(ep),
        steps=f"{row['steps_per_epoch']:,}",
        k=_ratio(ep / ref["gd"]["per_iteration"]["median"]),
    )
    head = [
        pg.r(k)
        for k in (
            "col_engine",
            "col_b",
            "col_steps",
            "col_iter",
            "col_epoch",
            "col_ratio",
            "col_nb",
        )
    ]
    rows, noisy = [], False
    for e in res["results"]:
        for r in e["sgd"]:
            it, em = r["per_iteration"], r.get("epoch_measured")
            noisy |= it["noisy"]
            rows.append(
                [
                    e["engine"],
                    f"{r['batch_size']:,}",
                    f"{r['steps_per_epoch']:,}",
                    _iqr(it),
                    fmt_s(em["median"] if em else r["epoch_estimate_seconds"]),
                    _ratio(r["ratio_gd_over_sgd_measured"]),
                    f"{r['ratio_flops']:,.0f}",
                ]
            )
        it = e["gd"]["per_iteration"]
        noisy |= it["noisy"]
        rows.append([e["engine"], f"GD {n:,}", "1", _iqr(it), fmt_s(it["median"]), "1", "1"])
    if busy:
        pg.p("ex4_busy_quick" if flag else "ex4_busy", "warn", share=f"{share:.0%}")
    pg.add(table(head, rows))
    if noisy:
        pg.p("ex4_noisy")
    peak = any(e["sgd"] and e["sgd"][0].get("vs_peak") for e in res["results"])
    cap = "ex4_caption" if peak else "ex4_caption_2"
    pg.fig("fig-timing", res["figures"]["timing"], cap, "alt_timing")
    pg.end()


def _iqr(it: dict[str, Any]) -> str:
    """median [q1–q3], with "!" when the IQR exceeds 10% of the median (a busy machine)."""
    return f"{fmt_s(it['median'])} [{fmt_s(it['q1'])}–{fmt_s(it['q3'])}]" + (
        "!" if it["noisy"] else ""
    )


def _ratio(q: float) -> str:
    return f"{q:,.0f}" if q >= 10 else f"{q:.2g}"


def render_likelihood(pg: Page, res: dict[str, Any]) -> None:
    """Exercise 5: (a) the formula and the underflow; (b) the Monte Carlo table and plot."""
    lk, gr, st, mc = res["likelihood"], res["gradient"], res["steps"], res["monte_carlo"]
    pg.h2("ex5", "ex5_title")
    pg.qa("ex5_ask", "ex5_how", acc=f"{res['model']['test_accuracy']:.1%}")
    pg.p("ex5a")
    pg.add(f'<p class="formula" dir="ltr">{esc(pg.t["ex5a_formula"])}</p>')
    auto = gr["autograd"]["float64_exp"]
    asc = st["ascent_L"]
    ascent = f"|step| = {asc['step_norm']:.3g}" if asc["moved"] else "|step| = 0"
    pg.p(
        "ex5a_answer",
        log10_l=f"{lk['log10_L']:,.1f}",
        n32=_n(lk["dtypes"]["float32"]["underflow_n"]),
        n64=_n(lk["dtypes"]["float64"]["underflow_n"]),
        zeros=f"{auto['zeros']:,}",
        ascent=ascent,
        c_before=_f(st["descent_C"]["cost_before"], ".6f"),
        c_after=_f(st["descent_C"]["cost_after"], ".6f"),
        lr_needed=f"{st['log10_lr_needed_for_ascent']:,.1f}",
    )
    pg.fig("fig-underflow", res["figures"]["underflow"], "ex5_underflow_caption", "alt_underflow")
    pg.p("ex5b", slope=_f(mc["slope"], ".3f"), draws=f"{mc['draws']:,}")
    head = [pg.r(k) for k in ("col_b", "col_rel_err", "col_formula", "col_plugin", "col_rescaled")]
    rows = [
        [
            f"{r['batch_size']:,}",
            f"{r['cost_grad']['rms_rel_error']:.3f}",
            f"{r['cost_grad']['formula_rms_rel_error']:.3f}",
            _f(r["likelihood_grad"]["plugin"]["log10_rms_rel_error"], ",.1f"),
            _f(r["likelihood_grad"]["rescaled"]["log10_rms_rel_error"], ",.1f"),
        ]
        for r in mc["rows"]
    ]
    pg.add(table(head, rows, numeric_from=0))
    pg.fig("fig-estimators", res["figures"]["estimators"], "ex5b_caption", "alt_estimators")
    pg.end()


def render_environment(pg: Page, env: dict[str, Any], meta: dict[str, Any]) -> None:
    """Versions, machine, data hashes; where each section came from."""
    pg.h2("environment", "env_title")
    pg.p("env_intro")
    e, d = env["environment"], env["data"]
    keys = (
        "sgdlab_version",
        "git_commit",
        "torch_version",
        "numpy_version",
        "numba_version",
        "matplotlib_version",
        "python_version",
        "platform",
        "cpu_model",
        "gpu",
        "torch_threads",
        "numba_threads",
    )
    rows = [[k, "–" if e.get(k) is None else e.get(k)] for k in keys if k in e]
    rows += [["data", d["source"]], ["N train / test", f"{d['n_train']:,} / {d['n_test']:,}"]]
    rows += [[f"sha256 {stem}", h] for stem, h in d["sha256"].items()]
    head = [pg.r("col_key"), pg.r("col_value")]
    pg.add(table(head, rows, numeric_from=9, ltr=True, cls="env"))
    head = [
        pg.r(k) for k in ("col_section", "col_created", "col_cached", "col_seconds", "col_commit")
    ]
    rows = [
        [
            name,
            i["created"],
            pg.t["yes" if i["cached"] else "no"],
            f"{i['compute_seconds']:.1f}" if i.get("compute_seconds") else "–",
            (i.get("git_commit") or "–")[:12],
        ]
        for name, i in meta["sections"].items()
    ]
    pg.add(table(head, rows, numeric_from=3))
    pg.end()


def render(results: dict[str, Any], meta: dict[str, Any], lang: str) -> str:
    """The whole page from the sections' results (see :mod:`sgdlab.report.sections`)."""
    pg = Page(lang)
    env = results["environment"]
    data = env["data"]
    head = [
        pg.r("intro", source=data["source"], n=f"{data['n_train']:,}", n_test=f"{data['n_test']:,}")
    ]
    head.append(
        pg.r(
            "mode",
            mode=pg.t["quick" if meta["quick"] else "full"],
            seed=meta["seed"],
            generated=meta["generated"],
        )
    )
    head_html = "".join(f"<p>{h}</p>" for h in head)
    if data["is_sample"]:
        head_html += f'<p class="warn">{pg.r("sample_warning")}</p>'
    if meta["quick"]:
        head_html += f'<p class="warn">{pg.r("quick_warning")}</p>'
    flag = " --quick" if meta["quick"] else ""
    render_minibatch(pg, results["minibatch"], meta)
    render_steps(pg, results["steps"], data)
    render_bench(pg, results["bench"], flag)
    render_likelihood(pg, results["likelihood"])
    if "convergence" in results:
        render_convergence(pg, results["convergence"])
    render_environment(pg, env, meta)
    pg.add(f"<footer><p>{pg.r('footer', version=__version__, flag=flag)}</p></footer>")
    return pg.html(pg.t["title"], head_html)
