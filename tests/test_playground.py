"""``sgdlab playground``'s JSON API, served for real on 127.0.0.1 (uvicorn in a thread) over the
bundled sample: the runs are ``sgdlab train``'s bit for bit, every bad input is the CLI's one
line as a 422, cancellation, queueing, a closed event stream cancelling its run."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time

import pytest
import torch

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from sgdlab.cli.main import main  # noqa: E402
from sgdlab.cli.playground import config_converter  # noqa: E402
from sgdlab.config import TrainConfig  # noqa: E402
from sgdlab.data import load_sample  # noqa: E402
from sgdlab.playground import schema  # noqa: E402
from sgdlab.playground.app import create_app  # noqa: E402
from sgdlab.playground.server import Background  # noqa: E402
from sgdlab.training.trainer import train  # noqa: E402

# A run long enough to catch while it trains: the autograd engine, b = 1, 50 epochs (50,000 steps)
SLOW = {"batch-size": 1, "epochs": 50, "lr": 0.001, "engine": "reference"}


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture(scope="module")
def convert():
    return config_converter()


@contextlib.contextmanager
def serving(sample, convert, **kw):
    app = create_app(sample, convert=convert, **kw)
    with Background(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client, app.state.manager


@pytest.fixture(scope="module")
def api(sample, convert):
    with serving(sample, convert, workers=2) as (client, _):
        yield client


def events(client, run_id: str) -> list[tuple[str, dict]]:
    """Every server-sent event of a run, through ``done``."""
    out, kind = [], None
    with client.stream("GET", f"/api/runs/{run_id}/events") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                out.append((kind, json.loads(line[6:])))
                if kind == "done":
                    break
    return out


def wait_status(client, run_id: str, statuses, timeout: float = 60.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        doc = client.get(f"/api/runs/{run_id}").json()
        if doc["status"] in statuses:
            return doc
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} still {doc['status']}, wanted {statuses}")


def strip_seconds(history):
    return [{k: v for k, v in h.items() if k != "train_seconds"} for h in history]


def cli_json(argv: list[str]) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return json.loads(out.getvalue())


def test_a_run_is_sgdlab_train_bit_for_bit(api, sample, tmp_path):
    body = {"batch-size": 8, "lr": 0.01, "epochs": 2, "seed": 3, "momentum": 0.5}
    r = api.post("/api/runs", json=body)
    assert r.status_code == 201 and r.headers["location"] == f"/api/runs/{r.json()['id']}"
    run_id = r.json()["id"]
    evs = events(api, run_id)
    doc = api.get(f"/api/runs/{run_id}").json()
    assert doc["status"] == "done" and evs[-1] == ("done", {"status": "done", "error": None})
    cfg = TrainConfig(batch_size=8, lr=0.01, epochs=2, seed=3, momentum=0.5)
    ref = train(cfg, data=sample, progress=False)
    assert strip_seconds(doc["history"]) == strip_seconds(ref.history)
    assert doc["config"] == ref.config
    # one event per evaluation point, carrying the history's record
    epochs = [d for k, d in evs if k == "epoch"]
    assert strip_seconds([{k: v for k, v in e.items() if k != "seconds"} for e in epochs]) == (
        strip_seconds(ref.history)
    )
    steps = [s for k, d in evs if k == "steps" for s in d["step"]]
    costs = [c for k, d in evs if k == "steps" for c in d["cost"]]
    assert steps == list(range(1, ref.history[-1]["steps"] + 1))  # every step, in order
    epoch1 = ref.history[0]["steps"]
    assert sum(costs[:epoch1]) / epoch1 == pytest.approx(ref.history[0]["mean_minibatch_cost"])
    # the weights: safetensors, the same bits as train()'s and as sgdlab train --save-weights'
    from safetensors.torch import load, load_file

    w = api.get(f"/api/runs/{run_id}/weights")
    assert w.status_code == 200
    got = load(w.content)
    assert torch.equal(got["z.weight"], ref.model.z.weight.detach())
    assert torch.equal(got["z.bias"], ref.model.z.bias.detach())
    saved = tmp_path / "w.safetensors"
    argv = ["train", "--sample", "-b", "8", "--lr", "0.01", "-e", "2", "--seed", "3"]
    argv += ["--momentum", "0.5", "--json", "--quiet", "--threads", "1"]
    cli = cli_json([*argv, "--save-weights", str(saved)])
    assert strip_seconds(cli["result"]["history"]) == strip_seconds(doc["history"])
    assert cli["config"] == doc["config"]
    on_disk = load_file(saved)
    assert all(torch.equal(on_disk[k], got[k]) for k in ("z.weight", "z.bias"))


def test_events_show_the_templates_and_the_confusion_matrix(api, sample):
    run_id = api.post("/api/runs", json={"batch-size": 32, "epochs": 1}).json()["id"]
    evs = dict(events(api, run_id))  # the last of each kind
    w = torch.frombuffer(
        bytearray(__import__("base64").b64decode(evs["weights"]["w"])), dtype=torch.float32
    )
    ref = train(batch_size=32, epochs=1, data=sample, progress=False).model
    assert torch.equal(w.reshape(10, 784), ref.z.weight.detach())
    m = torch.tensor(evs["confusion"]["matrix"])
    assert m.sum() == sample.test_labels.numel()
    assert m.trace() / m.sum() == pytest.approx(evs["epoch"]["test_accuracy"])
    for item in evs["confusion"]["misclassified"]:
        assert item["true"] != item["predicted"] == int(ref(ref_x(sample, item["index"])).argmax())
        assert item["true"] == int(sample.test_labels[item["index"]])


def ref_x(sample, i):
    from sgdlab.data.fashion import to_float

    return to_float(sample.test_images[i : i + 1])


def cli_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    ("body", "cli_flags", "key"),
    [
        ({"batch-size": 5000}, ["-b", "5000"], "batch-size"),
        ({"method": "gd", "batch-size": 8}, ["--method", "gd", "-b", "8"], "batch-size"),
        ({"nesterov": True}, ["--nesterov"], "nesterov"),
        ({"validation": 1000}, ["--validation", "1000"], "validation"),
        ({"schedule": "cosine", "gamma": 0.5}, ["--schedule", "cosine", "--gamma", "0.5"], "gamma"),
    ],
)
def test_a_bad_value_is_the_clis_line_as_422(api, capsys, body, cli_flags, key):
    r = api.post("/api/runs", json=body)
    assert r.status_code == 422
    line = cli_error(["train", "--sample", "--quiet", *cli_flags], capsys)
    assert line == f"sgdlab train: error: {r.json()['error']}"
    assert r.json()["key"] == key


@pytest.mark.parametrize(
    ("toml", "body", "key"),
    [
        ("bach-size = 8", {"bach-size": 8}, "bach-size"),
        ("lr = -1", {"lr": -1}, "lr"),
        ('schedule = "sometimes"', {"schedule": "sometimes"}, "schedule"),
        ("momentum = 1.5", {"momentum": 1.5}, "momentum"),
        ('epochs = "five"', {"epochs": "five"}, "epochs"),
        ("nesterov = 1", {"nesterov": 1}, "nesterov"),
    ],
)
def test_a_bad_key_is_the_config_files_line_as_422(api, capsys, tmp_path, toml, body, key):
    r = api.post("/api/runs", json=body)
    assert r.status_code == 422
    f = tmp_path / "c.toml"
    f.write_text(toml + "\n")
    line = cli_error(["train", "--sample", "--quiet", "--config", str(f)], capsys)
    msg = r.json()["error"]
    assert msg.startswith("config: ")
    assert line == f"sgdlab train: error: --config {f}: {msg.removeprefix('config: ')}"
    assert r.json()["key"] == key


@pytest.mark.parametrize(
    ("raw", "status", "says"),
    [
        (b"{not json", 422, "not JSON"),
        (b"[1, 2]", 422, "JSON object"),
        (b'{"checkpoint-dir": "/tmp"}', 422, "not a training option"),
        (b'{"save-weights": "/tmp/x.pt"}', 422, "not a training option"),
        (b'{"data-dir": "/etc"}', 422, "not a training option"),
        (b'{"threads": 2}', 422, "not a training option"),
        (b'{"epochs": 51}', 422, "at most 50 epochs"),
        (b'{"lr": null}', 422, "key 'lr'"),
        (b'{"lr": 0.01, "pad": "' + b"x" * 5000 + b'"}', 413, "over 4096 bytes"),
    ],
)
def test_bad_requests_are_refused_in_one_line(api, raw, status, says):
    r = api.post("/api/runs", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == status
    assert says in r.json()["error"] and "\n" not in r.json()["error"]


def test_a_runs_work_is_capped_by_steps():
    convert = config_converter()
    with pytest.raises(schema.RequestError, match="300,000") as e:  # 6 × 60,000 steps
        schema.parse_run(b'{"batch-size": 1, "epochs": 6}', convert=convert, n=60_000)
    assert e.value.key == "batch-size"
    cfg, given = schema.parse_run(b'{"batch-size": 1, "epochs": 5}', convert=convert, n=60_000)
    assert cfg.batch_size == 1 and given == {"batch_size", "epochs"}


def test_unknown_runs_paths_and_methods(api):
    assert api.get("/api/runs/0123456789abcdef").status_code == 404
    assert api.get("/api/runs/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert api.delete("/api/runs/nope").status_code == 404
    assert api.get("/api/runs/nope/weights").status_code == 404
    assert api.get("/static/..%2Fapp.py").status_code == 404
    assert api.get("/nowhere").status_code == 404
    assert api.put("/api/runs").status_code == 405
    assert api.get("/").status_code == 200  # still serving


def test_delete_cancels_a_running_run(api):
    run_id = api.post("/api/runs", json=SLOW).json()["id"]
    wait_status(api, run_id, {"running"})
    r = api.delete(f"/api/runs/{run_id}")
    assert r.status_code == 200
    doc = wait_status(api, run_id, {"cancelled"}, timeout=10)
    assert len(doc["history"]) < 50
    assert api.get(f"/api/runs/{run_id}/weights").status_code == 409
    assert events(api, run_id)[-1] == ("done", {"status": "cancelled", "error": None})


def test_runs_queue_beyond_the_workers_and_show_their_place(sample, convert):
    with serving(sample, convert, workers=1, max_pending=3) as (client, manager):
        first = client.post("/api/runs", json=SLOW).json()["id"]
        wait_status(client, first, {"running"})
        second = client.post("/api/runs", json={"epochs": 1, "batch-size": 50})
        third = client.post("/api/runs", json={"epochs": 1, "batch-size": 100})
        assert (second.json()["position"], third.json()["position"]) == (1, 2)
        assert client.get(f"/api/runs/{third.json()['id']}").json()["position"] == 2
        full = client.post("/api/runs", json={"epochs": 1})
        assert full.status_code == 503 and full.headers["retry-after"] == "1"
        assert "busy" in full.json()["error"]
        client.delete(f"/api/runs/{second.json()['id']}")  # a queued run leaves the queue
        assert client.get(f"/api/runs/{third.json()['id']}").json()["position"] == 1
        client.delete(f"/api/runs/{first}")
        doc = wait_status(client, third.json()["id"], {"done"})
        assert len(doc["history"]) == 1 and doc["position"] is None
        statuses = {r.status for r in manager.runs.values()}
        assert statuses == {"cancelled", "done"}
        assert manager.workers == 1 and manager.threads == (os.cpu_count() or 1)  # alone: all cores


def test_a_closed_event_stream_cancels_its_run(api):
    run_id = api.post("/api/runs", json=SLOW).json()["id"]
    with api.stream("GET", f"/api/runs/{run_id}/events") as r:
        for line in r.iter_lines():
            if line == "event: steps":
                break  # the page goes away while its run trains
    doc = wait_status(api, run_id, {"cancelled"}, timeout=20)
    assert len(doc["history"]) < 50


def test_the_page_and_its_files(api):
    page = api.get("/").text
    for name in ("batch-size", "lr", "momentum", "nesterov", "weight-decay", "schedule", "epochs"):
        assert f'name="{name}"' in page
    assert 'id="train"' in page and 'data-metric="test_accuracy"' in page
    assert 'dir="ltr"' in page and 'dir="rtl"' in api.get("/?lang=he").text
    js = api.get("/static/plotly.min.js")
    assert js.status_code == 200 and b"plotly" in js.content[:2000].lower()
    meta = api.get("/api/meta").json()
    assert meta["n_train"] == 1000 and meta["max_epochs"] == schema.MAX_EPOCHS
    assert meta["defaults"]["batch-size"] == TrainConfig().batch_size
