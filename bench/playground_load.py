"""Load on ``sgdlab playground``: many clients posting runs while a separate process times
``GET /``; the server's memory is sampled and every accepted run must end done or cancelled.

    python bench/playground_load.py [--clients 20] [--seconds 60] [--sample] [--json]

Starts its own server (``sgdlab playground --port 0 --no-browser``, the full data set unless
``--sample``) and stops it with Ctrl-C (SIGINT) at the end. Each client loops: POST a run
(b in 16..4096, 1-3 epochs), then at random watch its events to the end (60 %), close the event
stream after the first epoch (20 %: a closed page cancels its run) or DELETE it after 0.2 s
(20 %); a 503 (queue full) waits its Retry-After. The prober, in its own process so the
clients' work does not delay its clock, GETs / every 0.1 s over one keep-alive connection.
Prints the figures (p50/p95/max of GET /, runs accepted/refused, final statuses, server RSS).
``tests/test_playground_load.py`` (slow) runs it and checks p95 < 200 ms, bounded memory and that
every run finished or was cancelled.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time

import httpx


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def probe(url: str, seconds: float) -> None:
    """Time GET / every 0.1 s for ``seconds``; print the latencies (s) as JSON."""
    out = []
    end = time.monotonic() + seconds
    with httpx.Client(timeout=10) as c:
        while time.monotonic() < end:
            t = time.perf_counter()
            r = c.get(url)
            out.append(time.perf_counter() - t if r.status_code == 200 else float("inf"))
            time.sleep(0.1)
    print(json.dumps(out))


def client(url: str, seconds: float, seed: int, ids: list, counts: dict, lock) -> None:
    rng = random.Random(seed)
    end = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=30) as c:
        while time.monotonic() < end:
            b = rng.choice([16, 64, 128, 512, 4096])
            body = {"batch-size": b, "epochs": rng.randint(1, 3), "lr": min(0.2, 0.005 * b / 16)}
            r = c.post("/api/runs", json=body)
            with lock:
                counts[r.status_code] = counts.get(r.status_code, 0) + 1
            if r.status_code == 503:
                time.sleep(float(r.headers.get("retry-after", "1")))
                continue
            assert r.status_code == 201, r.text
            run_id = r.json()["id"]
            with lock:
                ids.append(run_id)
            mode = rng.random()
            if mode < 0.2:
                time.sleep(0.2)
                c.delete(f"/api/runs/{run_id}")
                continue
            with c.stream("GET", f"/api/runs/{run_id}/events", timeout=None) as s:
                for line in s.iter_lines():
                    if line == "event: done" or (mode < 0.4 and line == "event: epoch"):
                        break


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--sample", action="store_true", help="serve the bundled sample")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument("--probe", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        probe(args.probe, args.seconds)
        return 0
    cmd = [sys.executable, "-m", "sgdlab", "playground", "--port", "0", "--no-browser", "--quiet"]
    server = subprocess.Popen(
        cmd + (["--sample"] if args.sample else []),
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = server.stdout.readline()
        assert line.startswith("serving on "), line
        url = line.split()[2] + "/"
        rss = [rss_mib(server.pid)]
        prober = subprocess.Popen(
            [sys.executable, __file__, "--probe", url, "--seconds", str(args.seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        ids, counts, lock = [], {}, threading.Lock()
        threads = [
            threading.Thread(target=client, args=(url, args.seconds, i, ids, counts, lock))
            for i in range(args.clients)
        ]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            rss.append(rss_mib(server.pid))
            time.sleep(1)
        for t in threads:
            t.join()
        lat = json.loads(prober.communicate(timeout=60)[0])
        statuses = settle(url, ids)
        rss.append(rss_mib(server.pid))
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    finally:
        server.kill()
    q = statistics.quantiles(lat, n=20)
    doc = {
        "clients": args.clients,
        "seconds": args.seconds,
        "get_root": {
            "requests": len(lat),
            "p50_ms": 1000 * statistics.median(lat),
            "p95_ms": 1000 * q[18],
            "max_ms": 1000 * max(lat),
        },
        "posts": {str(k): v for k, v in sorted(counts.items())},
        "runs": len(ids),
        "final_status": {s: statuses.count(s) for s in sorted(set(statuses))},
        "rss_mib": {"start": rss[0], "peak": max(rss), "end": rss[-1]},
        "server_exit": server.returncode,
    }
    if args.json:
        print(json.dumps(doc))
    else:
        g = doc["get_root"]
        print(
            f"{args.clients} clients, {args.seconds:.0f} s: GET / p50 {g['p50_ms']:.1f} ms, "
            f"p95 {g['p95_ms']:.1f} ms, max {g['max_ms']:.1f} ms ({g['requests']} requests); "
            f"POST {doc['posts']}; runs {doc['runs']} -> {doc['final_status']}; server RSS "
            f"{rss[0]:.0f} -> peak {max(rss):.0f} -> end {rss[-1]:.0f} MiB"
        )
    return 0


def settle(url: str, ids: list[str], timeout: float = 120.0) -> list[str]:
    """Each run's status once no run is queued or running any more."""
    end = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=30) as c:
        while True:
            statuses = [c.get(f"/api/runs/{i}").json().get("status", "gone") for i in ids]
            if not {"queued", "running"} & set(statuses) or time.monotonic() > end:
                return statuses
            time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
