"""The model and the chapter's cost C, checked against analytic formulas and finite differences."""

import torch
import torch.nn.functional as F

from sgdlab.model import SoftmaxRegression, cost, evaluate


def _batch(b=32, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 784, generator=g, dtype=dtype), torch.randint(0, 10, (b,), generator=g)


def _model(seed=1, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return SoftmaxRegression(init="uniform", generator=gen).to(dtype)


def test_layer_is_named_z_with_chapter_shapes():
    m = SoftmaxRegression()
    assert tuple(m.z.weight.shape) == (10, 784) and tuple(m.z.bias.shape) == (10,)
    assert [n for n, _ in m.named_parameters()] == ["z.weight", "z.bias"]


def test_forward_accepts_images_and_flat_and_proba_sums_to_one():
    m = _model(dtype=torch.float32)
    x = torch.rand(5, 28, 28)
    assert torch.equal(m(x), m(x.reshape(5, 784)))
    p = m.predict_proba(x)
    assert p.shape == (5, 10)
    torch.testing.assert_close(p.sum(1), torch.ones(5))


def test_cost_is_mean_of_minus_sum_yt_log_y():
    m, (x, y) = _model(), _batch()
    yprob = m.predict_proba(x)
    onehot = F.one_hot(y, 10).to(x.dtype)
    expected = -(onehot * yprob.log()).sum(1).mean()  # H = -Σ y_tn log y_n (not log y_tn)
    torch.testing.assert_close(cost(m, x, y), expected, rtol=1e-12, atol=0)


def test_cost_is_stable_for_huge_logits():
    m = SoftmaxRegression()
    with torch.no_grad():
        m.z.bias.copy_(torch.tensor([1e4] + [0.0] * 9))
    c = cost(m, torch.zeros(2, 784), torch.tensor([0, 1]))
    assert torch.isfinite(c) and abs(c.item() - 1e4 / 2) < 1e-2


def test_autograd_gradient_equals_analytic_formula():
    m, (x, y) = _model(), _batch()
    cost(m, x, y).backward()
    delta = m.predict_proba(x).detach() - F.one_hot(y, 10).to(x.dtype)  # (B,10)
    torch.testing.assert_close(m.z.weight.grad, delta.T @ x / len(y), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(m.z.bias.grad, delta.mean(0), rtol=1e-12, atol=1e-14)


def test_autograd_gradient_equals_central_finite_differences():
    m, (x, y) = _model(), _batch(b=8)
    cost(m, x, y).backward()
    g = torch.Generator().manual_seed(3)
    eps = 1e-6
    for _ in range(20):
        p, q = int(torch.randint(10, (1,), generator=g)), int(torch.randint(784, (1,), generator=g))
        w = m.z.weight.data
        old = w[p, q].item()
        w[p, q] = old + eps
        up = cost(m, x, y).item()
        w[p, q] = old - eps
        down = cost(m, x, y).item()
        w[p, q] = old
        fd = (up - down) / (2 * eps)
        assert abs(fd - m.z.weight.grad[p, q].item()) < 1e-7 * max(1.0, abs(fd))


def test_zero_init_starts_at_log_10_and_evaluate_counts():
    m = SoftmaxRegression()
    x, y = torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8), torch.arange(50) % 10
    c, acc = evaluate(m, x, y, chunk_size=7)
    assert abs(c - torch.log(torch.tensor(10.0)).item()) < 1e-6
    assert acc == 0.1  # all logits equal: argmax is class 0, 5 of 50 labels are 0


def test_bad_init_is_refused():
    import pytest

    with pytest.raises(ValueError, match="init"):
        SoftmaxRegression(init="ones")
