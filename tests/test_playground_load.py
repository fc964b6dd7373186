"""Load on the playground (slow: about 70 s): 20 clients posting runs for 60 s on 127.0.0.1
(``bench/playground_load.py``). The page still answers (p95 of ``GET /`` < 200 ms), the server's
memory stays bounded, every accepted run ends done or cancelled, and Ctrl-C stops it cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

BENCH = Path(__file__).resolve().parents[1] / "bench" / "playground_load.py"


@pytest.mark.slow
def test_twenty_clients_for_a_minute():
    cmd = [sys.executable, str(BENCH), "--clients", "20", "--seconds", "60", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(doc, indent=1))
    assert doc["get_root"]["requests"] > 300  # the prober ran the whole minute
    assert doc["get_root"]["p95_ms"] < 200
    assert doc["runs"] > 20 and set(doc["final_status"]) <= {"done", "cancelled"}
    assert set(doc["posts"]) <= {"201", "503"}
    rss = doc["rss_mib"]
    assert rss["peak"] < rss["start"] + 400  # bounded: no run's data piles up
    assert doc["server_exit"] == 0
