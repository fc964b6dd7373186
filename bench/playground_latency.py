"""How fast the playground answers a click, measured in the browser (headless Debian chromium).

    python bench/playground_latency.py [--repeats 10] [--warmup 3] [--sample] [--json]

Starts ``sgdlab playground --port 0 --no-browser`` (the full data set unless ``--sample``), opens
the page, turns "retrain on every change" off, and clicks ``#train`` ``--repeats`` times with the
chapter's settings (b = 16, lr 0.005, 5 epochs), one run at a time. The page stamps
``performance.now()`` (``window.__sgdlab.marks``) at the click, when the first minibatch costs
are drawn (``first_point``: plotly's ``extendTraces`` has resolved) and when the finished run is
fully drawn (``drawn``: last epoch's curves, templates, confusion matrix). Prints the medians
(targets: first point ≤ 150 ms, the whole 5-epoch run drawn ≤ 1 s), every repeat, the CPU, the
server's workers and threads, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import urllib.request


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument(
        "--warmup", type=int, default=3, help="clicks first, not counted (JIT, caches; default 3)"
    )
    ap.add_argument("--sample", action="store_true", help="serve the bundled sample")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    load_before = os.getloadavg()
    cmd = [sys.executable, "-m", "sgdlab", "playground", "--port", "0", "--no-browser", "--quiet"]
    server = subprocess.Popen(
        cmd + (["--sample"] if args.sample else []),
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    first, drawn = [], []
    try:
        url = server.stdout.readline().split()[2] + "/"
        meta = json.load(urllib.request.urlopen(url + "api/meta"))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']")
            page.uncheck("#live")
            page.fill("input[name=batch-size]", str(args.batch_size))
            page.fill("input[name=epochs]", str(args.epochs))
            for _ in range(args.warmup + args.repeats):  # warm-up: page JIT, plotly's webgl
                page.evaluate("window.__sgdlab.marks = {}")
                page.click("#train")
                page.wait_for_function("window.__sgdlab.marks.drawn !== undefined", timeout=60000)
                m = page.evaluate("window.__sgdlab.marks")
                first.append(m["first_point"] - m["click"])
                drawn.append(m["drawn"] - m["click"])
                page.wait_for_timeout(300)
            browser.close()
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    finally:
        server.kill()
    first, drawn = first[args.warmup :], drawn[args.warmup :]
    doc = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "server_workers": meta["workers"],
        "threads_per_run": meta["threads"],
        "data": "sample" if meta["is_sample"] else f"full ({meta['n_train']} training images)",
        "run": f"b={args.batch_size} lr=0.005 epochs={args.epochs}",
        "repeats": args.repeats,
        "warmup": args.warmup,
        "first_point_ms": {"median": statistics.median(first), "all": first},
        "drawn_ms": {"median": statistics.median(drawn), "all": drawn},
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    if args.json:
        print(json.dumps(doc))
    else:
        print(
            f"{doc['cpu']}, {doc['cores']} cores, load {load_before[0]:.2f} -> "
            f"{doc['load_after'][0]:.2f}; server: {meta['workers']} workers x "
            f"{meta['threads']} thread(s); {doc['data']}; {doc['run']}, {args.repeats} clicks"
        )
        print(
            f"click -> first point: median {doc['first_point_ms']['median']:.0f} ms "
            f"(target <= 150); all {[round(x) for x in first]}"
        )
        print(
            f"click -> run drawn:   median {doc['drawn_ms']['median']:.0f} ms "
            f"(target <= 1000); all {[round(x) for x in drawn]}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
