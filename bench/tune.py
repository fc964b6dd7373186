"""A small, reproducible hyperparameter sweep of `sgdlab train` on a VALIDATION split.

    PYTHONPATH=src python bench/tune.py [--trials 40] [--validation 10000] [--seed 0]
                                        [--out bench/tune.json] [--write configs/tuned.toml]

Holds out ``--validation`` training images (split seed ``--validation-seed``, independent of the
training seed), trains on the rest with the fast engine and scores every configuration by its
validation accuracy after the last epoch. The test set is never loaded into a run: each run's
"test" split IS the validation set (so nothing here can be tuned on test). The configurations
are the chapter's plain SGD plus ``--trials`` draws (seeded by ``--seed``) from the grid in
:data:`GRID`; the learning rate is drawn as an *effective* step α/(1 − μ) so momentum and plain
runs cover the same range. Prints a Markdown table (best first), writes all results as JSON
(``--out``) and, with ``--write``, the best configuration as a TOML file for ``--config``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

GRID = {
    "batch_size": [16, 32, 64],
    "epochs": [5, 10, 20],
    "effective_lr": [0.0025, 0.005, 0.01, 0.02, 0.04],
    "momentum": [0.0, 0.9],
    "nesterov": [False, True],
    "schedule": ["constant", "cosine", "inverse"],
    "average": [False, True],
    "weight_decay": [0.0, 1e-5, 1e-4, 1e-3],
}
CHAPTER = {
    "batch_size": 16,
    "epochs": 5,
    "lr": 0.005,
    "momentum": 0.0,
    "nesterov": False,
    "schedule": "constant",
    "average": False,
    "weight_decay": 0.0,
}
KEYS = ("batch_size", "epochs", "lr", "momentum", "nesterov", "schedule", "average", "weight_decay")


def draw(rng: random.Random) -> dict:
    c = {k: rng.choice(v) for k, v in GRID.items()}
    if c["momentum"] == 0:
        c["nesterov"] = False
    c["lr"] = round(c.pop("effective_lr") * (1 - c["momentum"]), 10)
    if c["schedule"] == "inverse":
        c["t0"] = 2 * 60000 // c["batch_size"]  # the lr halves after ~2 epochs
    return c


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    p.add_argument("--trials", type=int, default=40, help="random configurations (40)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws and of training (0)")
    p.add_argument("--validation", type=int, default=10000, help="held-out images (10000)")
    p.add_argument("--validation-seed", type=int, default=0)
    p.add_argument("--engine", default="fast")
    p.add_argument("--sample", action="store_true", help="the bundled sample (a smoke test)")
    p.add_argument("--out", type=Path, help="write all results as JSON here")
    p.add_argument("--write", type=Path, help="write the best configuration as TOML here")
    args = p.parse_args(argv)

    from sgdlab.data import load, load_sample
    from sgdlab.data.split import hold_out
    from sgdlab.training.trainer import train

    ds = load_sample() if args.sample else load(download=False)
    fit, (vx, vy), split = hold_out(ds, args.validation, seed=args.validation_seed)
    tuning = replace(fit, test_images=vx, test_labels=vy)  # "test" = validation from here on
    rng = random.Random(args.seed)
    configs = [CHAPTER] + [draw(rng) for _ in range(args.trials)]
    rows = []
    for i, c in enumerate(configs):
        t = time.perf_counter()
        run = train(**c, seed=args.seed, engine=args.engine, data=tuning, progress=False)
        h = run.history[-1]
        rows.append(
            {
                **c,
                "val_accuracy": h["test_accuracy"],
                "val_cost": h["test_cost"],
                "train_cost": h["train_cost"],
                "train_seconds": sum(e["train_seconds"] for e in run.history),
                "wall_seconds": time.perf_counter() - t,
            }
        )
        print(f"[{i + 1}/{len(configs)}] val {h['test_accuracy']:.4f} {c}", file=sys.stderr)
    rows.sort(key=lambda r: (-r["val_accuracy"], r["val_cost"]))
    print(
        f"validation: {split['size']} images, split seed {split['seed']}, "
        f"sha256 {split['sha256']}; training on {fit.train_images.shape[0]}\n"
    )
    print("| rank | val acc | val C | " + " | ".join(KEYS) + " | train s |")
    print("|---" * (len(KEYS) + 4) + "|")
    for k, r in enumerate(rows, 1):
        print(
            f"| {k} | {r['val_accuracy']:.2%} | {r['val_cost']:.4f} | "
            + " | ".join(str(r.get(key)) for key in KEYS)
            + f" | {r['train_seconds']:.2f} |"
        )
    if args.out:
        args.out.write_text(
            json.dumps({"split": split, "seed": args.seed, "grid": GRID, "results": rows}, indent=1)
        )
    if args.write:
        best = rows[0]
        lines = [
            f"# Tuned by bench/tune.py --trials {args.trials} --seed {args.seed} on "
            f"{split['size']} validation images (split seed {split['seed']}): "
            f"val acc {best['val_accuracy']:.2%}. Never tuned on test."
        ]
        for key in (*KEYS, "t0"):
            if key in best:
                v = best[key]
                lines.append(
                    f"{key.replace('_', '-')} = "
                    + (json.dumps(v) if not isinstance(v, bool) else str(v).lower())
                )
        args.write.write_text("\n".join(lines) + "\n")
        print(f"\nwrote {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
