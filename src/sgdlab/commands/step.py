"""``sgdlab step``: exercises 2-3, one SGD iteration and one full-GD iteration, same start."""

from __future__ import annotations

import argparse
import copy
import time

from . import data_info, emit_json, load_data, positive_float, positive_int


def register(sub, parents) -> None:
    p = sub.add_parser(
        "step", parents=parents, help="exercises 2-3: one SGD and one full-GD iteration",
        description="From the same initial weights, take one SGD iteration on a minibatch "
        "(autograd: backward(), z.weight.grad, z.bias.grad) and one full-gradient iteration "
        "over the whole training set. Prints cost before/after, gradient norms and wall times "
        "(single runs; 'sgdlab bench' measures timings properly).",
    )
    p.add_argument("--batch-size", "-b", type=positive_int, default=16, help="default 16")
    p.add_argument("--lr", type=positive_float, default=0.005, help="step size α (default 0.005)")
    p.add_argument("--init", choices=("zeros", "uniform"), default="zeros",
                   help="initial weights (default zeros: C = log 10)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..data import to_float
    from ..errors import ConfigError
    from ..model import SoftmaxRegression, cost, evaluate
    from ..provenance import environment
    from ..sampler import MinibatchSampler
    from ..steps import gd_step, sgd_step
    from ..train import resolve_device

    ds = load_data(args)
    n = len(ds.train_labels)
    if args.batch_size > n:
        raise ConfigError(f"batch size must be in 1..{n}, got {args.batch_size}")
    dev = resolve_device(args.device)
    gen = torch.Generator().manual_seed(args.seed)
    start = SoftmaxRegression(init=args.init, generator=gen).to(dev)
    idx = next(iter(MinibatchSampler(n, args.batch_size, generator=gen)))
    images, labels = ds.train_images.to(dev), ds.train_labels.to(dev)
    x, y = images[idx.to(dev)], labels[idx.to(dev)]

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    results = {}
    for name in ("sgd", "gd"):
        model = copy.deepcopy(start)
        sync()
        t0 = time.perf_counter()
        if name == "sgd":
            before = sgd_step(model, x, y, lr=args.lr)
        else:
            before = gd_step(model, images, labels, lr=args.lr)
        sync()
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            after_mb = cost(model, to_float(x), y).item()
        after_full, _ = evaluate(model, images, labels)  # chunked: no (N,784) float copy
        results[name] = {
            "samples": len(y) if name == "sgd" else n, "cost_before": before,
            "minibatch_cost_after": after_mb if name == "sgd" else None,
            "full_cost_before": before if name == "gd" else None,  # gd_step returns C before
            "full_cost_after": after_full,
            "grad_norm_weight": model.z.weight.grad.norm().item(),
            "grad_norm_bias": model.z.bias.grad.norm().item(),
            "grad_weight_shape": list(model.z.weight.grad.shape),
            "grad_bias_shape": list(model.z.bias.grad.shape), "seconds": seconds,
        }  # fmt: skip
    out = {"seed": args.seed, "lr": args.lr, "batch_size": args.batch_size, "init": args.init,
           "indices": idx, "sgd": results["sgd"], "gd": results["gd"],
           "time_ratio_gd_over_sgd": results["gd"]["seconds"] / results["sgd"]["seconds"],
           "environment": environment(dev), "data": data_info(ds)}  # fmt: skip
    if args.json:
        emit_json(out)
        return 0
    s, g = results["sgd"], results["gd"]
    print(f"data: {ds.source}; lr={args.lr}, seed={args.seed}, init={args.init}, device={dev}")
    print(f"SGD iteration on a minibatch of {s['samples']} (autograd):")
    print(f"  minibatch cost  {s['cost_before']:.6f} -> {s['minibatch_cost_after']:.6f}")
    print(f"  full-set cost   -> {s['full_cost_after']:.6f}")
    print(f"  |z.weight.grad| = {s['grad_norm_weight']:.6f}  {tuple(s['grad_weight_shape'])}")
    print(f"  |z.bias.grad|   = {s['grad_norm_bias']:.6f}  {tuple(s['grad_bias_shape'])}")
    print(f"  wall time       {s['seconds'] * 1e3:.3f} ms")
    print(f"Full-gradient iteration over all {g['samples']} training samples:")
    print(f"  full-set cost   {g['cost_before']:.6f} -> {g['full_cost_after']:.6f}")
    print(f"  |z.weight.grad| = {g['grad_norm_weight']:.6f}")
    print(f"  |z.bias.grad|   = {g['grad_norm_bias']:.6f}")
    print(f"  wall time       {g['seconds'] * 1e3:.3f} ms")
    print(f"one GD iteration took {out['time_ratio_gd_over_sgd']:.0f}x one SGD iteration "
          "(one cold run each; see 'sgdlab bench' for warmed-up medians)")  # fmt: skip
    return 0
