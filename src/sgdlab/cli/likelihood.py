"""``sgdlab likelihood``: exercise 5, why we minimise C = mean H and not maximise L = e^{−N·C}."""

from __future__ import annotations

import argparse
import math
from typing import Any

from sgdlab.cli.common import (
    IMAGE_SUFFIXES,
    batch_sizes,
    emit_json,
    load_data,
    nonneg_int,
    options,
    positive_float,
    positive_int,
    writable_file,
)


def register(sub, parents) -> None:
    p = sub.add_parser(
        "likelihood",
        parents=parents,
        help="exercise 5: minimise C, not maximise L",
        description="For a model on the training set (by default the one after 1 epoch of SGD; "
        "--train-epochs 0 = the fresh zero-init model, where every H = ln 10 and part (b) is "
        "degenerate; or --weights): C, log L = -N*C, L evaluated directly in float32/float64 "
        "(it underflows to 0), "
        "dL/dw_pq by autograd, in closed form -N*L*dC/dw_pq and in log-space, one ascent step "
        "on L vs one descent step on C, then a Monte Carlo over minibatches of each size: the "
        "minibatch gradient of C is unbiased with error ~ 1/sqrt(b) (checked against the "
        "finite-population formula) while minibatch estimates of grad L are off by orders of "
        "magnitude (reported as log10 ratios).",
    )
    m = p.add_argument_group("model")
    m.add_argument(
        "--train-epochs",
        "--epochs",
        "-e",
        dest="train_epochs",
        type=nonneg_int,
        default=None,
        metavar="N",
        help="train N epochs of SGD first (sgdlab train defaults: batch 16, lr 0.005) "
        "and study that model (default 1; 0 = the fresh model, see --init)",
    )
    m.add_argument(
        "--init",
        choices=("zeros", "uniform"),
        default=None,
        help="initial weights of a fresh model: zeros or uniform (default zeros: C = log 10; "
        "not with --weights)",
    )
    m.add_argument("--weights", metavar="PATH", help="load z.weight/z.bias (.safetensors/.pt)")
    p.add_argument("--p", type=nonneg_int, default=0, help="class index p of w_pq (default 0)")
    p.add_argument(
        "--q",
        type=nonneg_int,
        default=406,
        help="pixel index q of w_pq, 0..783 (default 406 = row 14, column 14)",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        default=0.005,
        help="step size of the ascent/descent comparison (default 0.005)",
    )
    p.add_argument(
        "--draws",
        type=positive_int,
        default=1000,
        help="Monte Carlo minibatches per batch size (default 1000)",
    )
    p.add_argument(
        "--batch-sizes",
        type=batch_sizes,
        default=None,
        metavar="B1,B2,...",
        help="batch sizes, each < N (default 1,2,4,...,4096 below N)",
    )
    p.add_argument(
        "--plot",
        metavar="PNG",
        type=lambda t: writable_file(t, IMAGE_SUFFIXES),
        help="save both error curves against b (.png, .pdf or .svg)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from sgdlab.analysis.estimators import DEFAULT_BATCH_SIZES, monte_carlo
    from sgdlab.analysis.likelihood import (
        ascent_vs_descent,
        check_pq,
        gradient_figures,
        likelihood_figures,
        per_sample,
    )
    from sgdlab.errors import ConfigError
    from sgdlab.measure.provenance import environment
    from sgdlab.model import SoftmaxRegression

    if args.weights and args.train_epochs:
        raise ConfigError("--weights and --train-epochs exclude each other")
    if args.weights and args.init:
        raise ConfigError("--init has no effect with --weights (the model is loaded); drop --init")
    if not args.weights:
        args.init = args.init or "zeros"
    epochs = args.train_epochs if args.train_epochs is not None else 0 if args.weights else 1
    if args.draws < 2:
        raise ConfigError(f"--draws must be ≥ 2, got {args.draws}")
    check_pq(args.p, args.q)
    ds = load_data(args)
    n = len(ds.train_labels)
    sizes = args.batch_sizes or tuple(b for b in DEFAULT_BATCH_SIZES if b < n)
    if max(sizes) >= n:
        raise ConfigError(f"--batch-sizes must be in 1..{n - 1} (N = {n}), got {max(sizes)}")
    gen = torch.Generator().manual_seed(args.seed)
    if args.weights:
        from sgdlab.training.weights import load_weights

        model, source = load_weights(args.weights), f"weights {args.weights}"
    elif epochs:
        from sgdlab.training.trainer import train

        run_ = train(
            epochs=epochs,
            seed=args.seed,
            init=args.init,
            data=ds,
            device="cpu",
            progress=not args.quiet,
        )
        model = run_.model.cpu()
        source = f"after {epochs} epoch(s) of SGD {_cfg(run_.config)} (--train-epochs {epochs})"
    else:
        model = SoftmaxRegression(init=args.init, generator=gen)
        source = f"fresh {args.init} init, untrained (--train-epochs 0)"
    ps = per_sample(model, ds.train_images, ds.train_labels)
    out: dict[str, Any] = {
        "model": source,
        "likelihood": likelihood_figures(ps),
        "gradient": gradient_figures(model, ps, p=args.p, q=args.q),
        "steps": ascent_vs_descent(model, ps, lr=args.lr),
        "monte_carlo": monte_carlo(
            ps,
            batch_sizes=sizes,
            draws=args.draws,
            generator=gen,
            p=args.p,
            q=args.q,
            progress=not args.quiet,
        ),
        "data": ds.provenance(),
    }
    if args.plot:
        out["plot"] = str(plot(out["monte_carlo"], args.plot))
    if args.json:
        config = options(args, "seed", "init", "weights", "p", "q", "lr", "draws")
        config.update(train_epochs=epochs, batch_sizes=list(sizes))
        emit_json("likelihood", config=config, environment=environment("cpu"), result=out)
    else:
        print(format_report(out, ds))
    return 0


def _cfg(c: dict) -> str:
    return f"(batch {c['batch_size']}, lr {c['lr']}, seed {c['seed']}, engine {c['engine']})"


def _e(x: float) -> str:
    """A log10 figure as a power of ten, e.g. 1e-11702.3."""
    return f"1e{x:+.1f}" if math.isfinite(x) else str(x)


def format_report(out: dict[str, Any], ds) -> str:
    lk, gr, st, mc = (out[k] for k in ("likelihood", "gradient", "steps", "monte_carlo"))
    n, p, q = lk["n"], gr["p"], gr["q"]
    f32, f64 = lk["dtypes"]["float32"], lk["dtypes"]["float64"]
    sample = "  (SAMPLE, not the full set)" if ds.is_sample else ""
    lines = [
        f"data: {ds.source}{sample}; N = {n:,} training samples; model: {out['model']}",
        "",
        "likelihood L = exp(-N*C) = prod_i y_(i,t_i)",
        f"  C = {lk['cost']:.6f} nats (sd of H {lk['sd_H']:.4f})   log L = -N*C = "
        f"{lk['log_L']:.1f} nats   L = {_e(lk['log10_L'])}",
        f"  directly in float32: exp(-N*C) = {f32['L_exp']:g}, product = {f32['L_prod']:g}"
        f"   (0 once N*C > {f32['zero_nats']:.2f}; here from N = {f32['underflow_n']})",
        f"  directly in float64: exp(-N*C) = {f64['L_exp']:g}, product = {f64['L_prod']:g}"
        f"   (0 once N*C > {f64['zero_nats']:.2f}; here from N = {f64['underflow_n']})",
        "",
        f"dL/dw_pq for p = {p}, q = {q}   (dC/dw_pq = {gr['dC_dw_pq']:+.6g})",
    ]
    for name, a in gr["autograd"].items():
        lines.append(
            f"  autograd, {name:<13} dL/dw_pq = {a['pq']:g}; whole gradient: "
            f"{a['zeros']} zeros, {a['nans']} NaN, {a['nonzero_finite']} nonzero "
            f"of {a['parameters']}"
        )
    cf, ls = gr["closed_form_float64"], gr["log_space"]
    lines += [
        f"  closed form -L*sum_i (y_ip - y_t,ip)*x_iq in float64 = {cf['pq']:g}; "
        f"{cf['nonzero_finite']} nonzero of {cf['parameters']}",
        f"  log-space: dL/dw_pq = {'-' if ls['sign_pq'] < 0 else '+'}{_e(ls['log10_abs_pq'])}"
        f";  |grad L| = {_e(ls['log10_norm'])};  max |dL/dw| = {_e(ls['log10_max_abs'])}",
        "",
        f"one step from the same weights, lr = {st['lr']}:",
    ]
    for name, label in (
        ("ascent_L", "ascent on L (autograd, float32)"),
        ("descent_C", "descent on C"),
    ):
        s = st[name]
        lines.append(
            f"  {label:<32} |grad| = {s['grad_norm']:.3g}  |step| = "
            f"{s['step_norm']:.3g}  C {s['cost_before']:.6f} -> {s['cost_after']:.6f}"
            f"{'' if s['moved'] else '  (did not move)'}"
        )
    lines += [
        f"  ascent on L would need lr = {_e(st['log10_lr_needed_for_ascent'])} to take the "
        f"same step (float64 max ~ 1e+308)",
        "",
        f"Monte Carlo: {mc['draws']} minibatches per size, drawn without replacement "
        f"(sigma^2 = {mc['sigma2']:.4g}, |grad C| = {mc['grad_norm']:.4g}, "
        f"{mc['seconds']:.1f} s)",
        "  minibatch grad C (unbiased): relative RMS error, the finite-population formula, "
        "their squared ratio +- its standard error,",
        "  relative error of the mean over the draws (and its expected size), how often "
        "sign(dC_B/dw_pq) is right",
        f"  {'b':>5} {'rel err':>9} {'formula':>9} {'mse/form':>9} {'+-':>6} "
        f"{'mean err':>9} {'expected':>9} {'sign pq':>7}",
    ]
    for r in mc["rows"]:
        c = r["cost_grad"]
        lines.append(
            f"  {r['batch_size']:>5} {c['rms_rel_error']:>9.4f} "
            f"{c['formula_rms_rel_error']:>9.4f} {c['mse_over_formula']:>9.4f} "
            f"{c['mse_over_formula_se']:>6.3f} {c['bias_rel']:>9.5f} "
            f"{c['bias_rel_expected']:>9.5f} {c['sign_agreement_pq']:>7.1%}"
        )
    slope = "n/a" if mc["slope"] is None else f"{mc['slope']:.3f}"
    lines += [
        f"  fitted slope d ln(rel err)/d ln b for b <= N/16: {slope} (1/sqrt(b): -0.5)",
        "  minibatch estimates of grad L, log10 of ratios to the true grad L "
        "(0 = right, 3 = 1000x too big):",
        f"  {'b':>5} {'sd N*dC':>8} {'formula':>8} {'E|est_pq|':>10} {'E|est|':>10} "
        f"{'rms err':>10} {'err of E':>10} {'ESS':>6} {'|typ.|':>8} {'E rescaled':>11}",
    ]
    for r in mc["rows"]:
        a, z = r["likelihood_grad"]["plugin"], r["likelihood_grad"]["rescaled"]
        lines.append(
            f"  {r['batch_size']:>5} {r['sd_log10_factor']:>8.1f} "
            f"{r['sd_log10_factor_formula']:>8.1f} "
            f"{a['log10_mean_abs_pq_ratio']:>10.1f} {a['log10_mean_norm_ratio']:>10.1f} "
            f"{a['log10_rms_rel_error']:>10.1f} {a['log10_rel_error_of_mean']:>10.1f} "
            f"{a['ess']:>6.2f} {a['median_abs_log10_norm_ratio']:>8.1f} "
            f"{z['log10_mean_norm_ratio']:>11.1f}"
        )
    lines += [
        "  plug-in est = -N*exp(-N*C_B)*grad C_B; 'sd N*dC' = sd of log10 e^{-N*(C_B - C)} "
        "(formula: N*sd(H)*sqrt((N-b)/(b(N-1)))/ln 10);",
        "  '|typ.|' = median over draws of |log10 |est|/|grad L||;",
        "  ESS = effective number of draws behind the mean; rescaled = (N/b)*grad L_B = "
        "-N*exp(-b*C_B)*grad C_B.",
    ]
    if lk["sd_H"] < 1e-9:
        lines.append(
            "  NOTE: every sample has the same H here (zero init: H = log 10), so C_B = C "
            "exactly and e^{-N*C} is known from any minibatch; train first "
            "(--train-epochs 1, the default) to see part (b)."
        )
    if "plot" in out:
        lines.append(f"saved {out['plot']} (Monte Carlo figure)")
    return "\n".join(lines)


def plot(mc: dict[str, Any], path: str):
    """Both error curves against b; see :func:`sgdlab.plots.estimators_figure`."""
    from sgdlab.plots import estimators_figure

    return estimators_figure(mc, path)
