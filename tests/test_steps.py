"""sgd_step (exercise 2) and gd_step / full_gradient (exercise 3)."""

import copy
import json

import pytest
import torch

from sgdlab.data.fashion import to_float
from sgdlab.model import SoftmaxRegression, cost
from sgdlab.steps import full_gradient, gd_step, sgd_step


def _model():
    return SoftmaxRegression(init="uniform", generator=torch.Generator().manual_seed(0))


def test_sgd_step_is_the_chapter_update(sample):
    x, y = sample.train_images[:16], sample.train_labels[:16]
    m = _model()
    ref = copy.deepcopy(m)
    c = cost(ref, to_float(x), y)
    gw, gb = torch.autograd.grad(c, [ref.z.weight, ref.z.bias])
    before = sgd_step(m, x, y, lr=0.1)
    assert before == pytest.approx(c.item())
    torch.testing.assert_close(m.z.weight, ref.z.weight - 0.1 * gw)
    torch.testing.assert_close(m.z.bias, ref.z.bias - 0.1 * gb)
    assert m.z.weight.grad is not None and torch.equal(m.z.weight.grad, gw)
    assert cost(m, to_float(x), y).item() < before  # a small step lowers the minibatch cost


@pytest.mark.parametrize("chunk", [1, 7, 100, 999, 1000, 5000])
def test_chunked_full_gradient_equals_one_shot(sample, chunk):
    m = _model()
    x, y = sample.train_images, sample.train_labels
    c, gw, gb = full_gradient(m, x, y, chunk_size=chunk)
    ref = copy.deepcopy(m)
    one = cost(ref, to_float(x), y)
    one.backward()
    assert c == pytest.approx(one.item(), rel=1e-6)
    torch.testing.assert_close(gw, ref.z.weight.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(gb, ref.z.bias.grad, rtol=1e-5, atol=1e-7)


def test_gd_step_moves_along_the_full_gradient(sample):
    m = _model()
    x, y = sample.train_images, sample.train_labels
    _, gw, gb = full_gradient(copy.deepcopy(m), x, y)
    w0, b0 = m.z.weight.detach().clone(), m.z.bias.detach().clone()
    before = gd_step(m, x, y, lr=0.05)
    torch.testing.assert_close(m.z.weight, w0 - 0.05 * gw)
    torch.testing.assert_close(m.z.bias, b0 - 0.05 * gb)
    after, _, _ = full_gradient(m, x, y)
    assert after < before


def test_full_gradient_never_materializes_more_than_a_chunk(monkeypatch):
    """Peak extra memory is O(chunk): no float copy larger than chunk_size rows is ever made."""
    import sgdlab.steps as steps

    seen = []
    real = steps.to_float
    monkeypatch.setattr(steps, "to_float", lambda x: seen.append(x.shape[0]) or real(x))
    n = 10_000
    x = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8)
    full_gradient(_model(), x, torch.randint(0, 10, (n,)), chunk_size=1024)
    assert max(seen) == 1024 and sum(seen) == n


def test_chunk_size_validated(sample):
    with pytest.raises(ValueError, match="chunk_size"):
        full_gradient(_model(), sample.train_images, sample.train_labels, chunk_size=0)


def test_compare_steps_times_warmed_medians_and_never_ratios_a_cold_run(sample):
    from sgdlab.steps import compare_steps

    res = compare_steps(sample.train_images, sample.train_labels, batch_size=16, repeats=5)
    for name in ("sgd", "gd"):
        r = res[name]
        assert r["repeats"] == 5 and r["median_seconds"] > 0 and r["cold_seconds"] > 0
        assert "seconds" not in r  # no unlabeled time
    want = res["gd"]["median_seconds"] / res["sgd"]["median_seconds"]
    assert res["time_ratio_gd_over_sgd"] == want
    with pytest.raises(ValueError, match="repeats"):
        compare_steps(sample.train_images, sample.train_labels, repeats=0)


def test_step_explains_a_zero_bias_gradient_and_answers_exercise_4(capsys):
    from sgdlab.cli.main import main

    assert main(["step", "--sample"]) == 0
    out = capsys.readouterr().out
    assert "|z.bias.grad| = 0 is no bug" in out and "classes are balanced" in out
    assert "Exercise 4: one GD iteration costs" in out and "N/b = 62" in out
    assert "cold run took" in out and max(len(line) for line in out.splitlines()) <= 100


def _cli(capsys, *argv):
    from sgdlab.cli.main import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_step_text_shows_C_before_and_after_for_both_steps(capsys):
    code, out, _ = _cli(capsys, "step", "--sample", "--json", "--device", "cpu")
    doc = json.loads(out)["result"]
    code, out, _ = _cli(capsys, "step", "--sample", "--device", "cpu")
    assert code == 0
    lines = [line.split() for line in out.splitlines() if "full-set cost C" in line]
    assert len(lines) == 2  # the SGD step's line, then the GD step's
    for words, name in zip(lines, ("sgd", "gd"), strict=True):
        before, arrow, after = words[-3:]
        assert arrow == "->" and float(before) == pytest.approx(doc[name]["full_cost_before"])
        assert float(after) == pytest.approx(doc[name]["full_cost_after"], abs=1e-6)
    # zero init on balanced classes: the GD bias gradient is 0, and the output says why
    assert doc["gd"]["grad_norm_bias"] < 1e-6 and "|z.bias.grad| = 0 is no bug" in out
    code, out, _ = _cli(capsys, "step", "--sample", "--device", "cpu", "--init", "uniform")
    assert code == 0 and "is no bug" not in out
