"""The tuned SGD recipe against the reference optimum and scikit-learn, in ONE run.

    PYTHONPATH=src python bench/recipe.py [--config configs/tuned.toml]
        [--json bench/recipe.json] [--markdown bench/recipe.md]

On the full Fashion-MNIST (60,000 train / 10,000 test, standardized pixels):

1. the recipe of ``--config`` (:func:`sgdlab.train`, fast engine, all 60,000 training images):
   test accuracy and training seconds (the updates only, as ``train_seconds``; and wall time
   including the per-epoch evaluations);
2. the L2-regularised optimum by full-batch L-BFGS
   (:func:`sgdlab.analysis.optimum.reference_optimum`,
   λ chosen on 10,000 held-out training images, refitted on all 60,000): test accuracy,
   seconds, λ;
3. ``sklearn.linear_model.LogisticRegression`` (multinomial, lbfgs) with the same penalty
   (C = 1/(λ·N), intercept unpenalised as sklearn does): test accuracy, fit seconds;
4. the gap: recipe − optimum in test-accuracy points.

Prints Markdown; ``--json``/``--markdown`` also write the figures, with the CPU model and
thread counts. The test set is used for these final figures only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sgdlab.measure import provenance


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("--config", type=Path, default=Path("configs/tuned.toml"))
    p.add_argument("--json", type=Path, help="write the figures as JSON here")
    p.add_argument("--markdown", type=Path, help="write the Markdown table here")
    p.add_argument("--skip-sklearn", action="store_true")
    args = p.parse_args(argv)

    import torch

    from sgdlab.analysis.optimum import reference_optimum
    from sgdlab.cli.configfile import load_toml
    from sgdlab.data import load
    from sgdlab.data.fashion import to_float
    from sgdlab.measure.provenance import environment
    from sgdlab.model import evaluate
    from sgdlab.training.trainer import train

    ds = load(download=False)
    recipe = {k.replace("-", "_"): v for k, v in load_toml(args.config).items()}
    t = time.perf_counter()
    run = train(**recipe, engine="fast", data=ds, progress=False)
    wall = time.perf_counter() - t
    out = {
        "recipe": {
            "config": run.config,
            "test_accuracy": run.history[-1]["test_accuracy"],
            "train_seconds": sum(h["train_seconds"] for h in run.history),
            "wall_seconds": wall,
        }
    }
    opt = reference_optimum(ds)
    _, opt_acc = evaluate(opt.model, ds.test_images, ds.test_labels)
    out["lbfgs"] = {
        "test_accuracy": opt_acc,
        "seconds": opt.seconds,
        "lambda": opt.lam,
        "objective": opt.objective,
        "path": opt.path,
    }
    if not args.skip_sklearn:
        from sklearn.linear_model import LogisticRegression

        x = to_float(ds.train_images).reshape(-1, 784).numpy()
        xt = to_float(ds.test_images).reshape(-1, 784).numpy()
        clf = LogisticRegression(C=1 / (opt.lam * len(x)), max_iter=1000, tol=1e-6)
        t = time.perf_counter()
        clf.fit(x, ds.train_labels.numpy())
        secs = time.perf_counter() - t
        acc = float((clf.predict(xt) == ds.test_labels.numpy()).mean())
        out["sklearn"] = {
            "test_accuracy": acc,
            "fit_seconds": secs,
            "C": clf.C,
            "iterations": int(clf.n_iter_.max()),
        }
    out["gap_points"] = 100 * (out["recipe"]["test_accuracy"] - opt_acc)
    env = environment("cpu")
    out["machine"] = {
        "cpu": provenance.cpu_model(),
        "torch_threads": torch.get_num_threads(),
        "numba_threads": _numba_threads(),
        "torch": env.get("torch_version"),
    }
    r, lb = out["recipe"], out["lbfgs"]
    md = [
        f"CPU: {out['machine']['cpu']}; torch threads {out['machine']['torch_threads']}, "
        f"numba threads {out['machine']['numba_threads']}.",
        "",
        "| method | test accuracy | seconds | notes |",
        "|---|---|---|---|",
        f"| tuned SGD recipe ({args.config}) | {r['test_accuracy']:.2%} | "
        f"{r['train_seconds']:.2f} (updates), {r['wall_seconds']:.2f} (wall, with per-epoch "
        f"evaluation) | {r['config']['epochs']} epochs, b={r['config']['batch_size']} |",
        f"| L-BFGS optimum (float64) | {lb['test_accuracy']:.2%} | {lb['seconds']:.1f} | "
        f"λ = {lb['lambda']:g} chosen on validation, incl. the λ path |",
    ]
    if "sklearn" in out:
        s = out["sklearn"]
        md.append(
            f"| scikit-learn LogisticRegression | {s['test_accuracy']:.2%} | "
            f"{s['fit_seconds']:.1f} | C = 1/(λN), {s['iterations']} lbfgs iterations |"
        )
    md += ["", f"Gap (recipe − optimum): {out['gap_points']:+.2f} points of test accuracy."]
    text = "\n".join(md)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


def _numba_threads() -> int | None:
    try:
        import numba
    except ImportError:
        return None
    return numba.get_num_threads()


if __name__ == "__main__":
    raise SystemExit(main())
