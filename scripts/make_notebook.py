"""Write notebooks/sgd-walkthrough.ipynb (without outputs) from the cells below.

    python scripts/make_notebook.py          # rewrite the notebook
    python scripts/make_notebook.py --check  # exit 1 if the committed notebook differs

Edit the cells here, not in Jupyter: tests/test_notebook.py checks that the committed notebook is
exactly this script's output (so it carries no outputs) and executes it on the bundled sample.
"""

from __future__ import annotations

import sys
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "sgd-walkthrough.ipynb"

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# Minibatch SGD on Fashion-MNIST: the chapter's exercises, step by step

This notebook answers the exercises of the chapter *The training algorithm: stochastic gradient
descent* (מורד הגרדיאנט המקרי) with sgdlab's public API. The model is the previous chapter's
10-class classifier `y = softmax(z(x))` with one linear layer `z` (`z.weight` 10×784, `z.bias`
10) and the cost `C = 1/N·Σ H`, `H = −Σ_n y_tn·log y_n`.

It runs top to bottom on the bundled 1,000 + 1,000-image sample in about a minute. To run it on
the full data set (60,000 training images), set `FULL_DATA = True` below: the timings and the
batch-size study then take several minutes the first time (the study's passes are cached: a
second run reads them back).""",
    ),
    ("code", """FULL_DATA = False  # True: the full Fashion-MNIST set; False: the sample"""),
    (
        "code",
        """import tempfile
from pathlib import Path

import torch
from IPython.display import Image, display

import sgdlab
from sgdlab.data import load, load_sample

ds = load() if FULL_DATA else load_sample()
N = len(ds.train_labels)
print(f"sgdlab {sgdlab.__version__}, torch {torch.__version__}; data: {ds.source}, N = {N:,}")

FIGURES = Path(tempfile.mkdtemp(prefix="sgdlab-notebook-"))


def show(draw, *args):
    \"\"\"Draw a figure with one of sgdlab.plots' functions and display it here.\"\"\"
    display(Image(filename=str(draw(*args, FIGURES / f"{draw.__name__}.png"))))""",
    ),
    (
        "md",
        """## Exercise 1: load a minibatch of 16 training samples

`MinibatchSampler` cuts a random permutation of the training set into minibatches: sampling
*without replacement* (ללא החזרה), a fresh partition every epoch. Its first minibatch:""",
    ),
    (
        "code",
        """from sgdlab import CLASS_NAMES, MinibatchSampler
from sgdlab.data.fashion import to_float
from sgdlab.plots import image_grid

gen = torch.Generator().manual_seed(0)
idx = next(iter(MinibatchSampler(N, 16, generator=gen)))
images, labels = ds.train_images[idx], ds.train_labels[idx]
x = to_float(images)  # standardized per pixel, float32 (16, 784)
print("images", tuple(images.shape), images.dtype, "-> model input", tuple(x.shape), x.dtype)
print("labels", labels.tolist())
print([CLASS_NAMES[c] for c in labels.tolist()])
show(image_grid, images, labels)""",
    ),
    (
        "md",
        """## Exercise 2: one SGD iteration with `backward()`

Literally as the chapter asks: compute C on the minibatch, call `backward()`, read the gradient
from `z.weight.grad` and `z.bias.grad`, and step `(W, b) ← (W, b) − α·∇C_minibatch`.""",
    ),
    (
        "code",
        """from sgdlab import SoftmaxRegression, cost

lr = 0.005
model = SoftmaxRegression()  # zero weights: every class has probability 1/10, C = log 10
c = cost(model, x, labels)
c.backward()
print("C on the minibatch before:", round(c.item(), 4))
print("z.weight.grad", tuple(model.z.weight.grad.shape), "norm", model.z.weight.grad.norm().item())
print("z.bias.grad  ", tuple(model.z.bias.grad.shape), "norm", model.z.bias.grad.norm().item())
with torch.no_grad():
    model.z.weight -= lr * model.z.weight.grad
    model.z.bias -= lr * model.z.bias.grad
    print("C on the minibatch after: ", round(cost(model, x, labels).item(), 4))""",
    ),
    (
        "md",
        """## Exercise 3: one iteration of (full) gradient descent

`gd_step` accumulates the exact gradient over all N training samples (in chunks) and takes one
step. `compare_steps` runs exercises 2 and 3 from the same start and records both gradients.""",
    ),
    (
        "code",
        """from sgdlab import gd_step
from sgdlab.model import evaluate
from sgdlab.plots import gradient_images
from sgdlab.steps import compare_steps

model = SoftmaxRegression()
c_before = gd_step(model, ds.train_images, ds.train_labels, lr=lr)
c_after, accuracy = evaluate(model, ds.train_images, ds.train_labels)
print(f"C over all {N:,} samples: {c_before:.4f} -> {c_after:.4f}")

res = compare_steps(ds.train_images, ds.train_labels, batch_size=16, lr=lr, seed=0)
for name in ("sgd", "gd"):
    r = res[name]
    print(f"{name}: {r['samples']:>6,} samples, |dC/dW| = {r['grad_norm_weight']:.3f}, "
          f"C on the whole set after the step = {r['full_cost_after']:.4f}")
show(gradient_images, {"SGD, b = 16": res["sgd"]["grad_weight"],
                       f"GD, N = {N:,}": res["gd"]["grad_weight"]})""",
    ),
    (
        "md",
        """## Exercise 4: compare the run times of one iteration

`sgdlab.measure.bench.benchmark` times SGD iterations at several batch sizes and full-GD iterations,
after a warm-up, as the median of many timed blocks (the `reference` engine is autograd as in
exercise 2; `fast` is sgdlab's compiled engine). `timing["exercise4"]["answer"]` states how many
SGD iterations one GD iteration costs at b = 16, and why, from these medians; when other processes
loaded the machine, the reason is withheld (`timing["interpretation"]`). A batch size larger than
N is dropped (on the sample N = 1,000: b = 1,024).""",
    ),
    (
        "code",
        """from sgdlab.measure.bench import benchmark
from sgdlab.plots import bench_figure

timing = benchmark(ds, engine="reference,fast", batch_sizes=(1, 16, 256, 1024),
                   quick=not FULL_DATA)
for e in timing["results"]:
    gd = e["gd"]["per_iteration"]["median"]
    print(f"engine {e['engine']}: one GD iteration {gd * 1e3:.2f} ms")
    for r in e["sgd"]:
        print(f"  SGD b={r['batch_size']:>5}: {r['per_iteration']['median'] * 1e6:9.1f} µs "
              f"per iteration; GD/SGD = {r['ratio_gd_over_sgd_measured']:8.1f}, "
              f"N/b = {r['ratio_flops']:8.0f}")
print("dropped batch sizes (> N):", timing["dropped_batch_sizes"])
print(timing["exercise4"]["answer"])
show(bench_figure, timing)""",
    ),
    (
        "md",
        """## Exercise 5a: the likelihood L = exp(−N·C) and its gradient

`∂L/∂w_pq = −N·L·∂C/∂w_pq = −L·Σ_data (y_p − y_tp)·x_q`: the same direction as −∇C, scaled by
N·L, and L is a product of N probabilities: it is exactly 0 in floating point after a few
hundred samples. We look at the model after one epoch of SGD.""",
    ),
    (
        "code",
        """from sgdlab.analysis.likelihood import (
    ascent_vs_descent,
    gradient_figures,
    likelihood_figures,
    per_sample,
)
from sgdlab.plots import likelihood_figure

run = sgdlab.train(epochs=1, batch_size=16, lr=lr, seed=0, data=ds, device="cpu",
                   progress=False)
trained = run.model.cpu()
ps = per_sample(trained, ds.train_images, ds.train_labels)
lk = likelihood_figures(ps)
print(f"C = {lk['cost']:.4f} nats, log10 L = {lk['log10_L']:,.1f}")
for name, d in lk["dtypes"].items():
    print(f"{name}: exp(-N*C) = {d['L_exp']}, product = {d['L_prod']}, "
          f"0 from sample n = {d['underflow_n']}")
grad = gradient_figures(trained, ps, p=0, q=406)
print("autograd dL/dW in float64: zeros", grad["autograd"]["float64_exp"]["zeros"], "of 7850")
steps = ascent_vs_descent(trained, ps, lr=lr)
print("ascent on L moved:", steps["ascent_L"]["moved"], "| descent on C:",
      f"{steps['descent_C']['cost_before']:.4f} -> {steps['descent_C']['cost_after']:.4f}")
show(likelihood_figure, ps.h)""",
    ),
    (
        "md",
        """## Exercise 5b: estimating ∇C and ∇L from a minibatch

The minibatch gradient `g_B = 1/b·Σ_B ∇H` is an unbiased estimate of ∇C whose relative error
falls like 1/√b. An estimate of ∇L must guess `e^{−N·C}` from the minibatch's cost C_B, and an
error δ becomes a factor `e^{−N·δ}`: off by orders of magnitude. Measured by Monte Carlo:""",
    ),
    (
        "code",
        """from sgdlab.analysis.estimators import DEFAULT_BATCH_SIZES, monte_carlo
from sgdlab.plots import estimators_figure

mc = monte_carlo(ps, batch_sizes=[b for b in DEFAULT_BATCH_SIZES if b < N],
                 draws=1000 if FULL_DATA else 200, generator=torch.Generator().manual_seed(0))
print(f"fitted slope of log(error) against log(b): {mc['slope']:.3f} (1/sqrt(b): -0.5)")
for r in mc["rows"][::3]:
    print(f"b={r['batch_size']:>5}: grad C rel. error {r['cost_grad']['rms_rel_error']:.3f} "
          f"(formula {r['cost_grad']['formula_rms_rel_error']:.3f}); grad L estimate off by "
          f"10^{r['likelihood_grad']['plugin']['log10_rms_rel_error']:.0f}")
show(estimators_figure, mc)""",
    ),
    (
        "md",
        """## The convergence experiment: does a smaller minibatch converge faster?

The chapter claims that smaller minibatches, with more steps per epoch for the same compute,
usually converge faster. `sgdlab.study.run_study` answers it with a batch-size study (Shallue et
al. 2019; McCandlish et al. 2018): for every batch size b, with plain SGD and with Nesterov
momentum, each b gets its own constant step size, tuned separately for each target on a grid
√2 apart (extended until the best one is interior). It counts the steps S to a target (the
training cost C ≤ 0.45; a validation accuracy) over several seeds, and the examples E = b·S,
the compute spent (E/N epochs). Then it fits S = S_min(1 + B_crit/b), that is
E = E_min(1 + b/B_crit): in that model a smaller minibatch saves examples only while b is well
above the critical batch size B_crit, and below it every b needs about E_min examples. It also
computes the exact gradient noise scales B_noise and B_simple where C reaches the target
(McCandlish et al. predict B_crit ≈ B_noise).

The quick preset (used on the sample) has b = 1, 4, 16, 64, 256 and N, 2 seeds and a lower
accuracy target. Finished passes are cached, so running this cell again does not retrain
(`sgdlab experiment` shares the cache). The verdict below is computed from the rows above it:
read the examples figure for the chapter's claim (a smaller b is faster per epoch only where E
still falls as b falls).""",
    ),
    (
        "code",
        """from IPython.display import Markdown

from sgdlab.study import StudySpec, run_study
from sgdlab.study.plots import plot_steps
from sgdlab.study.report import markdown

spec = StudySpec.full() if FULL_DATA else StudySpec.quick()
study = run_study(spec, data=ds, workers=None if FULL_DATA else 1, progress=FULL_DATA)
doc = study.to_dict()
w = doc["work"]
print(f"targets {doc['target']}; {w['passes_trained']} passes trained, "
      f"{w['passes_cached']} read from the cache, {w['wall_seconds']:.0f} s")
display(Markdown(markdown(doc)))  # per b: tuned lr · S [seeds' range] · E; the fits; B_noise
show(plot_steps, doc)
display(Image(filename=str(plot_steps(doc, FIGURES / "examples.png", kind="examples"))))
display(Markdown("**Verdict**, computed from these rows:\\n\\n"
                 + "\\n".join(f"- {s}" for s in doc["verdict"])))""",
    ),
    (
        "md",
        """## Everything on one page

`sgdlab report` (or `sgdlab.report.build.write_report`) computes all of the above and writes one
self-contained HTML page, in English or in Hebrew (`--lang he`).""",
    ),
]


def build():
    """The notebook as an nbformat v4 object (no outputs)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    for i, (kind, src) in enumerate(CELLS):
        cell = (nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell)(src)
        cell.id = f"cell-{i:02d}"  # stable ids: the file only changes when a cell does
        nb.cells.append(cell)
    return nb


def text() -> str:
    import nbformat

    return nbformat.writes(build()) + "\n"


def main(argv: list[str]) -> int:
    if "--check" in argv:
        ok = NOTEBOOK.is_file() and NOTEBOOK.read_text(encoding="utf-8") == text()
        print(f"{NOTEBOOK}: {'up to date' if ok else 'differs: run scripts/make_notebook.py'}")
        return 0 if ok else 1
    NOTEBOOK.parent.mkdir(exist_ok=True)
    NOTEBOOK.write_text(text(), encoding="utf-8")
    print(f"wrote {NOTEBOOK}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
