"""sgdlab evaluate: saved weights on the test set (cost, accuracy, per class, confusions, plot)."""

from __future__ import annotations

import json

import pytest
import torch

import sgdlab
from sgdlab.cli.main import main
from sgdlab.data.fashion import CLASS_NAMES
from sgdlab.inference.evaluation import (
    confident_mistakes,
    confusion_matrix,
    evaluate_classifier,
    per_class_accuracy,
    top_confusions,
)
from sgdlab.model import evaluate
from sgdlab.training.weights import load_weights, save_weights


@pytest.fixture(scope="module")
def weights(sample, tmp_path_factory):
    """Weights after 1 epoch on the sample (the reference engine: no compilation)."""
    run = sgdlab.train(
        data=sample, epochs=1, batch_size=16, engine="reference", seed=0, progress=False
    )
    return save_weights(run.model, tmp_path_factory.mktemp("w") / "w.safetensors")


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_confusion_matrix_counts_true_rows_predicted_columns():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    preds = torch.tensor([0, 1, 1, 2, 0, 0])
    cm = confusion_matrix(labels, preds, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [2, 0, 1]]
    assert per_class_accuracy(cm) == [0.5, 1.0, 1 / 3]
    assert per_class_accuracy(confusion_matrix(torch.tensor([0]), torch.tensor([0]), 2)) == [
        1.0,
        None,
    ]
    top = top_confusions(cm, ("a", "b", "c"), k=5)
    assert [(t["true"], t["predicted"], t["count"]) for t in top] == [("c", "a", 2), ("a", "b", 1)]
    probs = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4]])
    assert confident_mistakes(probs, torch.tensor([0, 0, 0, 1]), 5) == [2, 1, 3]
    assert confident_mistakes(probs, torch.tensor([0, 0, 0, 1]), 1) == [2]


def test_library_matches_model_evaluate_and_rows_sum_to_class_counts(weights, sample):
    model = sgdlab.load_model(weights)
    ev = evaluate_classifier(model, sample.test_images, sample.test_labels)
    cost, acc = evaluate(load_weights(weights), sample.test_images, sample.test_labels)
    assert ev.accuracy == acc and ev.cost == pytest.approx(cost, rel=1e-6)
    counts = torch.bincount(sample.test_labels, minlength=10).tolist()
    assert ev.confusion.sum(1).tolist() == counts == ev.class_counts
    assert int(ev.confusion.trace()) == ev.correct == round(acc * ev.n)
    assert ev.confusion.sum(0).tolist() == torch.bincount(ev.predictions, minlength=10).tolist()


def test_cli_json_agrees_with_model_evaluate(weights, sample, capsys):
    code, out, _ = _run(capsys, "evaluate", "--sample", "--json", "--weights", str(weights))
    doc = json.loads(out)
    assert code == 0 and {"config", "environment", "result"} <= set(doc)
    r = doc["result"]
    cost, acc = evaluate(load_weights(weights), sample.test_images, sample.test_labels)
    assert r["accuracy"] == acc and r["cost"] == pytest.approx(cost, rel=1e-6)
    assert r["n"] == 1000 and r["data"]["is_sample"] is True
    assert doc["config"] == {"weights": str(weights), "top": 5}
    cm = torch.tensor(r["confusion_matrix"])
    assert cm.shape == (10, 10)
    assert cm.sum(1).tolist() == torch.bincount(sample.test_labels, minlength=10).tolist()
    assert [c["class"] for c in r["per_class"]] == list(CLASS_NAMES)
    assert [c["accuracy"] for c in r["per_class"]] == [
        cm[c, c].item() / cm[c].sum().item() for c in range(10)
    ]
    top = r["top_confusions"]
    assert len(top) == 5 and top == sorted(top, key=lambda t: -t["count"])
    assert top[0]["count"] == max(cm[t, p].item() for t in range(10) for p in range(10) if t != p)


def test_cli_text_lists_classes_matrix_and_top_confusions(weights, capsys):
    code, out, _ = _run(capsys, "evaluate", "--sample", "--weights", str(weights), "--top", "3")
    assert code == 0
    assert "accuracy" in out and "cost C = " in out
    for name in CLASS_NAMES:
        assert name in out
    assert "confusion matrix (rows: true class" in out
    listed = [line for line in out.splitlines() if " -> " in line and line.startswith("  ")]
    assert len(listed) == 3 and all(line.split(": ")[-1].isdigit() for line in listed)


def test_plot_is_a_png(weights, tmp_path, capsys):
    png = tmp_path / "eval.png"
    code, out, _ = _run(
        capsys, "evaluate", "--sample", "--weights", str(weights), "--plot", str(png)
    )
    assert code == 0 and f"saved {png} (" in out
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--weights", "{tmp}/missing.safetensors"], "cannot read weights"),
        (["--weights", "{tmp}/junk.pt"], "not a PyTorch weights file"),
        ([], "--weights"),
        (["--weights", "{w}", "--plot", "{tmp}/x.txt"], "--plot"),
        (["--weights", "{w}", "--top", "0"], "--top"),
    ],
)
def test_bad_input_is_one_line_exit_2(weights, tmp_path, capsys, argv, words):
    (tmp_path / "junk.pt").write_bytes(b"not a weights file")
    argv = [a.format(tmp=tmp_path, w=weights) for a in argv]
    with pytest.raises(SystemExit) as e:
        raise SystemExit(main(["evaluate", "--sample", *argv]))
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.startswith("sgdlab evaluate: error: ") and len(err.strip().splitlines()) == 1
    assert words in err and "Traceback" not in err
