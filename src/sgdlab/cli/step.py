"""``sgdlab step``: exercises 2-3, one SGD iteration and one full-GD iteration, same start."""

from __future__ import annotations

import argparse

from sgdlab.cli.common import emit_json, load_data, options, positive_float, positive_int


def register(sub, parents) -> None:
    p = sub.add_parser(
        "step",
        parents=parents,
        help="exercises 2-3: one SGD and one full-GD iteration",
        description="From the same initial weights, take one SGD iteration on a minibatch "
        "(autograd: backward(), z.weight.grad, z.bias.grad) and one full-gradient iteration "
        "over the whole training set. Prints cost before/after, gradient norms and wall times "
        "(single runs; 'sgdlab bench' measures timings properly).",
    )
    p.add_argument("--batch-size", "-b", type=positive_int, default=16, help="default 16")
    p.add_argument("--lr", type=positive_float, default=0.005, help="step size α (default 0.005)")
    p.add_argument(
        "--init",
        choices=("zeros", "uniform"),
        default="zeros",
        help="initial weights: zeros or uniform (nn.Linear's default) (default zeros: C = log 10)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="cpu, cuda, cuda:N or auto (cuda when there is one; default auto, as in train)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sgdlab.config import resolve_device
    from sgdlab.errors import ConfigError
    from sgdlab.measure.provenance import environment
    from sgdlab.steps import compare_steps

    ds = load_data(args)
    n = len(ds.train_labels)
    if args.batch_size > n:
        raise ConfigError(f"batch size must be in 1..{n}, got {args.batch_size}")
    dev = resolve_device(args.device)
    res = compare_steps(
        ds.train_images,
        ds.train_labels,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        init=args.init,
        device=dev,
    )
    results = {k: {f: v for f, v in res[k].items() if f != "grad_weight"} for k in ("sgd", "gd")}
    out = {
        "indices": res["indices"],
        "sgd": results["sgd"],
        "gd": results["gd"],
        "time_ratio_gd_over_sgd": res["time_ratio_gd_over_sgd"],
        "data": ds.provenance(),
    }
    if args.json:
        config = {**options(args, "seed", "batch_size", "lr", "init"), "device": str(dev)}
        emit_json("step", config=config, environment=environment(dev), result=out)
        return 0
    s, g = results["sgd"], results["gd"]
    print(f"data: {ds.source}; lr={args.lr}, seed={args.seed}, init={args.init}, device={dev}")
    print(f"SGD iteration on a minibatch of {s['samples']} (autograd):")
    print(f"  minibatch cost  {s['cost_before']:.6f} -> {s['minibatch_cost_after']:.6f}")
    print(f"  full-set cost C {s['full_cost_before']:.6f} -> {s['full_cost_after']:.6f}")
    print(f"  |z.weight.grad| = {s['grad_norm_weight']:.6f}  {tuple(s['grad_weight_shape'])}")
    print(f"  |z.bias.grad|   = {s['grad_norm_bias']:.6f}  {tuple(s['grad_bias_shape'])}")
    _times(s)
    print(f"Full-gradient iteration over all {g['samples']} training samples:")
    print(f"  full-set cost C {g['full_cost_before']:.6f} -> {g['full_cost_after']:.6f}")
    print(f"  |z.weight.grad| = {g['grad_norm_weight']:.6f}")
    print(f"  |z.bias.grad|   = {g['grad_norm_bias']:.6f}")
    _times(g)
    if g["grad_norm_bias"] < 1e-6 and args.init == "zeros":
        print(
            "  |z.bias.grad| = 0 is no bug: at zero weights every class gets y = 1/10, and the\n"
            "  classes are balanced, so Σ (y − y_t) over all N samples is 0 for every class"
        )
    b, ratio = s["samples"], out["time_ratio_gd_over_sgd"]
    print(
        f"Exercise 4: one GD iteration costs {ratio:.0f} SGD iterations at b = {b} "
        f"(N/b = {g['samples'] / b:,.0f}; warmed medians),\n  because every iteration pays a "
        "fixed overhead (Python, autograd) besides its per-sample work;\n  'sgdlab bench' "
        "measures both across b"
    )
    return 0


def _times(r: dict) -> None:
    print(
        f"  wall time       {r['median_seconds'] * 1e3:.3f} ms (median of {r['repeats']} warmed "
        f"runs; the first, cold run took {r['cold_seconds'] * 1e3:.3f} ms)"
    )
