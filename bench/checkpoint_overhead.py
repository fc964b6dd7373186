"""What checkpointing every epoch costs the training loop (issue: ≤ 5 % of epoch time).

    .venv/bin/python bench/checkpoint_overhead.py [--engine fast] [--epochs 8] [--sample]

Measures, in one run with checkpoints every epoch, the median training time of an epoch and the
time the training thread spends per checkpoint (snapshot + hand-off to the background writer,
including any wait for the previous write), plus the final wait for the last write. Prints the
ratio. The write itself (torch.save, fsync, rename, fsync of the directory) runs on the writer
thread; its duration is printed too.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import sgdlab
from sgdlab.data import load, load_sample
from sgdlab.training import checkpoint, trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--engine", default="fast")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--sample", action="store_true", help="bundled sample instead of full set")
    args = ap.parse_args()
    ds = load_sample() if args.sample else load()
    loop_cls = trainer._Loop
    main_thread, writes = [], []
    orig_save, orig_write = loop_cls.save, checkpoint.save

    def timed_save(self):
        t = time.perf_counter()
        orig_save(self)
        main_thread.append(time.perf_counter() - t)

    def timed_write(*a, **k):
        t = time.perf_counter()
        out = orig_write(*a, **k)
        writes.append(time.perf_counter() - t)
        return out

    loop_cls.save, checkpoint.save = timed_save, timed_write
    run = sgdlab.train(
        epochs=args.epochs,
        data=ds,
        engine=args.engine,
        progress=False,
        checkpoint_dir=tempfile.mkdtemp(),
        checkpoint_every="epoch",
    )
    epoch = statistics.median(h["train_seconds"] for h in run.history)
    cost = statistics.median(main_thread)
    print(f"engine {run.config['engine']}, {args.epochs} epochs, data {ds.source}")
    print(f"median epoch (training only)      {epoch * 1e3:8.2f} ms")
    worst = max(main_thread) * 1e3
    print(f"training-thread cost / checkpoint {cost * 1e3:8.3f} ms (max {worst:.3f})")
    print(f"background write / checkpoint     {statistics.median(writes) * 1e3:8.3f} ms")
    print(f"overhead                          {100 * cost / epoch:8.2f} % of epoch time")


if __name__ == "__main__":
    main()
