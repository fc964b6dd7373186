#!/usr/bin/env python
"""sgdlab against what users would write instead: one run, same data, same machine.

Rows (all train the chapter's classifier, 784→10 linear + softmax cross-entropy, lr 0.005):

- A  the canonical tutorial loop: a torchvision-style Dataset that builds a PIL image per item
     and converts it (ToTensor + Normalize((0.2860,), (0.3530,))), DataLoader(shuffle=True),
     nn.Linear, CrossEntropyLoss, torch.optim.SGD (torchvision itself is not needed);
- B  the competent eager loop: the set preloaded as one float tensor, randperm minibatches,
     torch.optim.SGD;
- C  scikit-learn SGDClassifier(loss="log_loss"), one epoch (per-sample updates, its own
     schedule), and LogisticRegression (lbfgs) as the accuracy reference;
- D  every sgdlab engine available here, through the engine API (per-pixel standardization,
     zero init), plus its time to 84% test accuracy at b=16.

Every time is the median over --repeats of training seconds only (data loading, model creation
and evaluation are outside the timer; GPU work is synchronized before the clock is read).

    python bench/peers.py --json peers.json --markdown peers.md      # full set, ~1 min on 2 cores
    python bench/peers.py --tiny                                     # bundled sample, seconds
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import warnings
from itertools import islice
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

MEAN, STD = 0.2860, 0.3530  # the tutorials' Normalize((0.2860,), (0.3530,))
SEGMENT = 500  # steps per engine call (sgdlab.train then adapts its calls: sgdlab.training.stretch)
TARGET = 0.84


class TutorialFashionMNIST(Dataset):
    """What ``torchvision.datasets.FashionMNIST(transform=Compose([ToTensor(), Normalize]))``
    does per item: uint8 (28,28) -> PIL image -> float (1,28,28) in [0,1] -> (x-0.2860)/0.3530."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.data, self.targets = images, labels

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        img = Image.fromarray(self.data[i].numpy())  # mode "L"
        x = torch.from_numpy(np.array(img, np.uint8, copy=True))  # ToTensor ...
        x = x.view(img.size[1], img.size[0], 1).permute(2, 0, 1).contiguous()
        x = x.to(torch.float32).div(255)
        return x.sub_(MEAN).div_(STD), int(self.targets[i])  # Normalize


def tutorial_float(images: torch.Tensor) -> torch.Tensor:
    """The same preprocessing as :class:`TutorialFashionMNIST`, for a whole set at once (N,784)."""
    return images.reshape(len(images), -1).to(torch.float32).div(255).sub_(MEAN).div_(STD)


class Bench:
    """Shared state: data, device, repeats, and the timing/evaluation helpers."""

    def __init__(
        self,
        ds,
        *,
        device: torch.device,
        repeats: int,
        lr: float,
        seed: int,
        max_epochs: int,
        logreg_iter: int,
        quiet: bool,
    ):
        self.ds, self.dev, self.repeats, self.lr, self.seed = ds, device, repeats, lr, seed
        self.max_epochs, self.logreg_iter, self.quiet = max_epochs, logreg_iter, quiet
        self.n = len(ds.train_labels)
        self.xt = tutorial_float(ds.test_images).to(device)  # for A/B evaluation (untimed)
        self.yt = ds.test_labels.to(device)

    def sync(self) -> None:
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)

    def log(self, msg: str) -> None:
        if not self.quiet:
            print(msg, file=sys.stderr, flush=True)

    def timed(self, fn) -> float:
        self.sync()
        t0 = time.perf_counter()
        fn()
        self.sync()
        return time.perf_counter() - t0

    def measure(self, label: str, make, run, score=None) -> dict[str, Any]:
        """``repeats`` × (untimed ``state = make(r)``, timed ``run(state)``, untimed
        ``score(state)``): median seconds, raw seconds, and the scores (test accuracies)."""
        raw, scores = [], []
        for r in range(self.repeats):
            state = make(r)
            raw.append(self.timed(lambda s=state: run(s)))
            if score is not None:
                scores.append(float(score(state)))
        self.log(f"  {label}: {statistics.median(raw):.4f} s (median of {len(raw)})")
        out = {"median": statistics.median(raw), "raw": raw}
        return {**out, "accuracy": scores} if score is not None else out

    @torch.no_grad()
    def accuracy(self, model: nn.Module) -> float:
        return float((model(self.xt).argmax(1) == self.yt).float().mean())


def _torch_model(b: Bench, r: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(b.seed + r)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).to(b.dev)
    return model, torch.optim.SGD(model.parameters(), lr=b.lr)


def row_a(b: Bench) -> dict[str, Any]:
    """A: Dataset with a PIL image per item + DataLoader(shuffle=True), the tutorial loop."""
    data = TutorialFashionMNIST(b.ds.train_images, b.ds.train_labels)
    loss_fn = nn.CrossEntropyLoss()

    def make(bs):
        def mk(r):
            g = torch.Generator().manual_seed(b.seed + r)
            return (*_torch_model(b, r), DataLoader(data, batch_size=bs, shuffle=True, generator=g))

        return mk

    def epoch(state, limit=None):  # limit: batches (warm-up only)
        model, opt, loader = state
        running = 0.0
        for x, y in islice(loader, limit):
            x, y = x.to(b.dev), y.to(b.dev)
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            running += loss.item()

    def gd(state):  # one full-gradient step, accumulated over the loader's batches
        model, opt, loader = state
        opt.zero_grad()
        for x, y in loader:
            x, y = x.to(b.dev), y.to(b.dev)
            (F.cross_entropy(model(x), y, reduction="sum") / b.n).backward()
        opt.step()

    out = _torch_row(b, make, epoch, gd, gd_batch=1024)
    return {
        "id": "A",
        "name": "tutorial: PIL Dataset + DataLoader(shuffle) + optim.SGD",
        **out,
        "notes": "per-item PIL + ToTensor + Normalize; GD = gradient accumulated over a "
        "DataLoader(batch_size=1024), one optimizer step",
    }


def row_b(b: Bench) -> dict[str, Any]:
    """B: preloaded float tensor, randperm minibatches, torch.optim.SGD (eager autograd)."""
    x_all = tutorial_float(b.ds.train_images).to(b.dev)  # (N,784), loaded once, untimed
    y_all = b.ds.train_labels.to(b.dev)

    def make(bs):
        def mk(r):
            return (*_torch_model(b, r), torch.Generator().manual_seed(b.seed + r), bs)

        return mk

    def epoch(state, limit=None):  # limit: batches (warm-up only)
        model, opt, g, bs = state
        perm = torch.randperm(b.n, generator=g).to(b.dev)
        for i in range(0, b.n, bs)[:limit]:
            idx = perm[i : i + bs]
            loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

    def gd(state):
        model, opt, _, _ = state
        opt.zero_grad()
        F.cross_entropy(model(x_all), y_all).backward()
        opt.step()

    out = _torch_row(b, make, epoch, gd, gd_batch=b.n)
    return {
        "id": "B",
        "name": "eager torch: preloaded tensor + randperm + optim.SGD",
        **out,
        "notes": "the baseline of the ratios",
    }


def _torch_row(b: Bench, make, epoch, gd, *, gd_batch: int) -> dict[str, Any]:
    epoch(make(16)(0), limit=20)  # warm-up (allocator, first-call dispatch), untimed
    t16 = b.measure("epoch b=16", make(16), epoch, lambda st: b.accuracy(st[0]))
    t1024 = b.measure("epoch b=1024", make(1024), epoch)
    tgd = b.measure("full-GD iteration", make(gd_batch), gd)
    return {
        "epoch_b16": t16,
        "epoch_b1024": t1024,
        "gd_iteration": tgd,
        "test_accuracy": statistics.median(t16["accuracy"]),
    }


def rows_c(b: Bench) -> list[dict[str, Any]]:
    """C: scikit-learn SGDClassifier(log_loss) for one epoch; LogisticRegression as reference."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression, SGDClassifier
    except ImportError:
        note = "skipped: scikit-learn not installed (pip install 'sgdlab[bench]')"
        return [{"id": "C", "name": "scikit-learn", "notes": note}]
    x = tutorial_float(b.ds.train_images).numpy().astype(np.float64)  # converted once, untimed
    xt = tutorial_float(b.ds.test_images).numpy().astype(np.float64)
    y, yt = b.ds.train_labels.numpy(), b.ds.test_labels.numpy()
    classes = np.arange(10)

    def mk(r):
        return SGDClassifier(loss="log_loss", random_state=b.seed + r)

    t = b.measure(
        "SGDClassifier epoch",
        mk,
        lambda c: c.partial_fit(x, y, classes=classes),
        lambda c: c.score(xt, yt),
    )
    sgd = {
        "id": "C",
        "name": "scikit-learn SGDClassifier(loss='log_loss'), 1 epoch",
        "epoch_b1": t,
        "test_accuracy": statistics.median(t["accuracy"]),
        "notes": "per-sample updates (b=1), one-vs-rest, 'optimal' lr schedule; float64 input",
    }
    lr = LogisticRegression(max_iter=b.logreg_iter)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        secs = b.timed(lambda: lr.fit(x, y))
    conv = "converged" if not caught else f"not converged in {b.logreg_iter} iterations"
    b.log(f"  LogisticRegression fit: {secs:.2f} s ({conv})")
    ref = {
        "id": "C*",
        "name": "scikit-learn LogisticRegression (lbfgs): accuracy reference",
        "fit_seconds": secs,
        "test_accuracy": float(lr.score(xt, yt)),
        "notes": f"full fit, {int(np.max(lr.n_iter_))} lbfgs iterations, {conv}, C=1",
    }
    return [sgd, ref]


def rows_d(b: Bench) -> list[dict[str, Any]]:
    """D: each sgdlab engine available here, driven through the engine API."""
    from sgdlab import engines
    from sgdlab.model import SoftmaxRegression, evaluate

    ds, rows = b.ds, []
    for name in engines.engine_names():
        try:
            if not engines.available(name, b.dev):
                continue
        except ImportError as e:
            rows.append({"id": "D", "name": f"sgdlab engine={name}", "notes": f"skipped: {e}"})
            continue
        b.log(f"D sgdlab engine={name}")
        eng = engines.get_engine(name, ds.train_images, ds.train_labels, b.dev)

        def mk(r, bs=16):
            return SoftmaxRegression().to(b.dev), torch.Generator().manual_seed(b.seed + r), bs

        def epoch(state, eng=eng):
            model, g, bs = state
            perm, steps = torch.randperm(b.n, generator=g), math.ceil(b.n / bs)
            for s in range(0, steps, SEGMENT):
                eng.sgd_steps(model, perm, bs, b.lr, s, min(steps, s + SEGMENT))

        for bs in (16, 1024):  # warm-up: JIT compilation, graph capture, the short last batch
            model, g, _ = mk(0, bs)
            perm, steps = torch.randperm(b.n, generator=g), math.ceil(b.n / bs)
            eng.sgd_steps(model, perm, bs, b.lr, 0, min(3, steps))
            eng.sgd_steps(model, perm, bs, b.lr, steps - 1, steps)
        eng.gd_step(mk(0)[0], b.lr)
        t16 = b.measure(
            "epoch b=16", mk, epoch, lambda st: evaluate(st[0], ds.test_images, ds.test_labels)[1]
        )
        t1024 = b.measure("epoch b=1024", lambda r: mk(r, 1024), epoch)
        tgd = b.measure(
            "full-GD iteration", lambda r: mk(r)[0], lambda m, eng=eng: eng.gd_step(m, b.lr)
        )
        rows.append(
            {
                "id": "D",
                "name": f"sgdlab engine={name}",
                "epoch_b16": t16,
                "epoch_b1024": t1024,
                "gd_iteration": tgd,
                "test_accuracy": statistics.median(t16["accuracy"]),
                "time_to_target": _time_to_target(b, eng, mk(0)),
                "notes": "per-pixel standardization, zero init",
            }
        )
    return rows


def _time_to_target(b: Bench, eng, state) -> dict[str, Any]:
    """Training seconds (evaluation excluded) until test accuracy ≥ 84%, checked 4× per epoch."""
    from sgdlab.model import evaluate

    model, g, bs = state
    steps = math.ceil(b.n / bs)
    every, secs, done, acc = max(1, steps // 4), 0.0, 0, 0.0
    while done < b.max_epochs * steps:
        if done % steps == 0:
            perm = torch.randperm(b.n, generator=g)
        s = done % steps
        stop = min(steps, s + every)
        secs += b.timed(lambda s=s, stop=stop, p=perm: eng.sgd_steps(model, p, bs, b.lr, s, stop))
        done += stop - s
        acc = evaluate(model, b.ds.test_images, b.ds.test_labels)[1]
        if acc >= TARGET:
            b.log(f"  {TARGET:.0%} after {done / steps:.2f} epochs: {secs:.3f} s")
            return {"reached": True, "seconds": secs, "epochs": done / steps, "accuracy": acc}
    b.log(f"  {TARGET:.0%} not reached in {b.max_epochs} epochs (last {acc:.2%})")
    return {"reached": False, "seconds": None, "epochs": b.max_epochs, "accuracy": acc}


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """``ratio_to_B``: each timed column divided by row B's (1.0 for B itself)."""
    base = next((r for r in rows if r["id"] == "B"), {})
    for r in rows:
        r["ratio_to_B"] = {
            k: r[k]["median"] / base[k]["median"]
            for k in ("epoch_b16", "epoch_b1024", "gd_iteration")
            if k in r and k in base
        }
        if "epoch_b1" in r and "epoch_b16" in base:  # sklearn's only mode, against B at b=16
            r["ratio_to_B"]["epoch_b1_vs_B_b16"] = (
                r["epoch_b1"]["median"] / base["epoch_b16"]["median"]
            )


def _cell(r: dict[str, Any], key: str) -> str:
    from sgdlab.formatting import fmt_seconds

    if key not in r:
        return "—"
    t, q = r[key]["median"], r["ratio_to_B"].get(key)
    return f"{fmt_seconds(t)} ({q:.2g}×)" if q is not None else fmt_seconds(t)


def markdown(doc: dict[str, Any]) -> str:
    """The table: seconds (median) and, in parentheses, the ratio to row B."""
    from sgdlab.formatting import fmt_seconds

    env, cfg = doc["environment"], doc["config"]
    out = [
        f"| row | implementation | epoch, b=16 | epoch, b=1024 | one full-GD iteration | "
        f"test acc. (1 epoch) | time to {TARGET:.0%} (b=16) | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        b16 = _cell(r, "epoch_b16")
        if "epoch_b1" in r:
            q = r["ratio_to_B"].get("epoch_b1_vs_B_b16")
            b16 = f"{fmt_seconds(r['epoch_b1']['median'])} at b=1" + (f" ({q:.2g}×)" if q else "")
        if "fit_seconds" in r:
            b16 = f"fit: {fmt_seconds(r['fit_seconds'])}"
        acc = f"{r['test_accuracy']:.2%}" if "test_accuracy" in r else "—"
        tt = r.get("time_to_target")
        ttt = (
            "—"
            if tt is None
            else (
                f"{fmt_seconds(tt['seconds'])} ({tt['epochs']:.2f} ep.)"
                if tt["reached"]
                else f"not in {tt['epochs']} ep."
            )
        )
        out.append(
            f"| {r['id']} | {r['name']} | {b16} | {_cell(r, 'epoch_b1024')} | "
            f"{_cell(r, 'gd_iteration')} | {acc} | {ttt} | {r.get('notes', '')} |"
        )
    data = doc["data"]
    out += [
        "",
        f"Data: {data['source']} (N = {data['n_train']:,} train, {data['n_test']:,} test)"
        f". Median of {cfg['repeats']} runs (time and test accuracy), training seconds only; "
        "(×) = ratio to row B. "
        f"lr {cfg['lr']}, device {cfg['device']}.",
        f"Machine: {env['cpu_model']}, {env['cpu_count']} CPUs, torch {env['torch_version']}"
        f" ({env['torch_threads']} threads). Command: `{doc['command']}`",
    ]
    share = env["machine_load"]["other_cpu_share"]
    if share is not None and share > 0.05:
        out.append(
            f"WARNING: other processes used {share:.0%} of the CPUs during this run: "
            "the timings are contaminated; rerun on a quiet machine."
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="bundled sample, 1 repeat: seconds")
    p.add_argument("--repeats", type=int, default=None, help="runs per figure (default 3)")
    p.add_argument("--json", metavar="PATH", help="write every raw figure and the environment")
    p.add_argument("--markdown", metavar="PATH", help="write the table")
    p.add_argument("--data-dir", metavar="DIR", help="Fashion-MNIST directory (see sgdlab)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (sklearn: always cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch (and numba) threads")
    p.add_argument("--lr", type=float, default=0.005, help="step size of every SGD (0.005)")
    p.add_argument("--max-epochs", type=int, default=None, help="cap for time to 84%% (10)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    args = p.parse_args(argv)
    from sgdlab.config import resolve_device
    from sgdlab.data import load, load_sample
    from sgdlab.errors import SgdlabError
    from sgdlab.measure.machine import LoadMonitor, set_threads, thread_info
    from sgdlab.measure.provenance import cpu_model, environment

    try:
        repeats = args.repeats if args.repeats is not None else (1 if args.tiny else 3)
        for what, v in (
            ("--repeats", repeats),
            ("--threads", args.threads),
            ("--max-epochs", args.max_epochs),
        ):
            if v is not None and v < 1:
                p.error(f"{what} must be ≥ 1")
        if not math.isfinite(args.lr) or args.lr <= 0:
            p.error("--lr must be finite and > 0")
        set_threads(args.threads)
        dev = resolve_device(args.device)
        ds = load_sample() if args.tiny else load(args.data_dir, download=False)
        monitor = LoadMonitor().start()
        b = Bench(
            ds,
            device=dev,
            repeats=repeats,
            lr=args.lr,
            seed=0,
            max_epochs=args.max_epochs or (2 if args.tiny else 10),
            logreg_iter=50 if args.tiny else 100,
            quiet=args.quiet,
        )
        rows = []
        for label, fn in (("A tutorial loop", row_a), ("B eager torch", row_b)):
            b.log(label)
            rows.append(fn(b))
        b.log("C scikit-learn")
        rows += rows_c(b)
        rows += rows_d(b)
    except SgdlabError as e:
        print(f"peers: error: {e}", file=sys.stderr)
        return 2
    add_ratios(rows)
    doc = {
        "schema": "sgdlab.peers/1",
        "command": " ".join(
            ["python bench/peers.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "config": {
            "tiny": args.tiny,
            "repeats": repeats,
            "lr": args.lr,
            "device": str(dev),
            "max_epochs": b.max_epochs,
            "target_accuracy": TARGET,
            "seed": 0,
        },
        "environment": {
            **environment(dev),
            **thread_info(),
            "cpu_model": cpu_model(),
            "machine_load": monitor.stop(),
        },
        "data": ds.provenance(),
        "rows": rows,
    }
    table = markdown(doc)
    print(table)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(table + "\n")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
