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
descent* (מורד הגרדיאנט המקרי) with sgdlab's public API: every `sgdlab` name below is in
`sgdlab.__all__`. The model is the previous chapter's 10-class classifier `y = softmax(z(x))`
with one linear layer `z` (`z.weight` 10×784, `z.bias` 10) and the cost `C = 1/N·Σ H`,
`H = −Σ_n y_tn·log y_n`.

Every sentence that depends on a measured number is printed by the code cell that measured it,
from that number, so it cannot contradict it; the text between the cells only says what is
measured and how.

It runs top to bottom on the bundled 1,000 + 1,000-image sample in a minute or two. To run it on
the full data set (60,000 training images), set `FULL_DATA = True` below: the timings and the
batch-size study then take longer the first time (the study's passes are cached: a second run
reads them back).""",
    ),
    ("code", """FULL_DATA = False  # True: the full Fashion-MNIST set; False: the sample"""),
    (
        "code",
        """import tempfile
from pathlib import Path

import torch
from IPython.display import Image, display

import sgdlab

ds = sgdlab.load_dataset(sample=not FULL_DATA)  # both splits, uint8 images and int64 labels
N = len(ds.train_labels)
print(f"sgdlab {sgdlab.__version__}, torch {torch.__version__}; data: {ds.source}, N = {N:,}")

FIGURES = Path(tempfile.mkdtemp(prefix="sgdlab-notebook-"))


def show(draw, *args):
    \"\"\"Draw a figure with one of sgdlab's figure functions and display it here.\"\"\"
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
        """from sgdlab import CLASS_NAMES, MinibatchSampler, image_grid, to_float

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

`gd_step` accumulates the exact gradient over all N training samples (in chunks), leaves it in
`z.weight.grad` and takes one step. From the same zero start, exercise 2's minibatch gradient
is an estimate of it; both are drawn below on one colour scale.""",
    ),
    (
        "code",
        """from sgdlab import gd_step, gradient_images

sgd_model, gd_model = SoftmaxRegression(), SoftmaxRegression()  # the same zero start
cost(sgd_model, x, labels).backward()  # exercise 2's gradient, on the 16 samples
c_before = gd_step(gd_model, ds.train_images, ds.train_labels, lr=lr)  # on all N
with torch.no_grad():
    c_after = cost(gd_model, to_float(ds.train_images), ds.train_labels).item()
print(f"C over all {N:,} samples: {c_before:.4f} -> {c_after:.4f} after one GD step")
grads = {"SGD, b = 16": sgd_model.z.weight.grad, f"GD, N = {N:,}": gd_model.z.weight.grad}
for name, g in grads.items():
    print(f"{name}: |dC/dW| = {g.norm():.3f}")
show(gradient_images, grads)""",
    ),
    (
        "md",
        """## Exercise 4: compare the run times of one iteration

`sgdlab.benchmark` (what `sgdlab bench` runs) times SGD iterations at several batch sizes and
full-GD iterations, after a warm-up, as the median of many timed blocks (the `reference` engine
is autograd as in exercise 2; `fast` is sgdlab's compiled engine). In FLOPs one GD iteration is
N/b SGD iterations, so N/b is what the ratio GD/SGD would be if time followed the FLOPs; the
measured ratio differs by what an iteration costs besides its arithmetic.

While it measures, the benchmark also records how much CPU other processes used. The cell after
the table applies `sgdlab bench`'s own check to it (`sgdlab.contamination`): only clean timings
are interpreted, and the sentences comparing GD/SGD with N/b are built from the printed numbers.
`timing["exercise4"]["answer"]` states in one line how many SGD iterations one GD iteration
costs at b = 16, and why (withheld under foreign load). A batch size larger than N is dropped
(on the sample N = 1,000: b = 1,024).""",
    ),
    (
        "code",
        """from sgdlab import bench_figure, benchmark

timing = benchmark(ds, engine="reference,fast", batch_sizes=(1, 16, 256, 1024),
                   quick=not FULL_DATA)
noisy = False
for e in timing["results"]:
    gd = e["gd"]["per_iteration"]
    noisy |= gd["noisy"]
    print(f"engine {e['engine']}: one GD iteration {gd['median'] * 1e3:.2f} ms"
          + ("!" if gd["noisy"] else ""))
    for r in e["sgd"]:
        it = r["per_iteration"]
        noisy |= it["noisy"]
        print(f"  SGD b={r['batch_size']:>5}: {it['median'] * 1e6:9.1f} µs per iteration"
              f"{'!' if it['noisy'] else ''}; GD/SGD = {r['ratio_gd_over_sgd_measured']:,.1f}, "
              f"N/b = {r['ratio_flops']:,.1f}" + (f" ({r['note']})" if r["note"] else ""))
if noisy:
    print("! = its timed blocks spread by more than 10% of their median (interquartile range)")
print("dropped batch sizes (> N):", timing["dropped_batch_sizes"] or "none")
print(timing["exercise4"]["answer"])
show(bench_figure, timing)""",
    ),
    (
        "code",
        """load = sgdlab.contamination(timing)  # the check of `sgdlab bench` and `sgdlab report`
share, limit = load["other_cpu_share"], load["threshold"]
if share is None:
    print("Contamination check: not measurable on this system (it reads Linux's /proc/stat); "
          "the timings are read as they are.")
elif load["contaminated"]:
    print(f"Contamination check: CONTAMINATED: other processes used {share:.0%} of the CPUs "
          f"while this was timed (the limit is {limit:.0%}). No interpretation is drawn from "
          "these timings: rerun the cell above on a quiet machine.")
else:
    print(f"Contamination check: clean: other processes used {share:.1%} of the CPUs while "
          f"this was timed (the limit is {limit:.0%}).")


def compared(ratio, nb):
    \"\"\"GD/SGD against N/b in words, from the two numbers as printed.\"\"\"
    q = ratio / nb
    if q == 1:
        return "equal to"
    if q < 1:
        return "far below" if q < 0.5 else "below"
    return "far above" if q > 2 else "above"


if not load["contaminated"]:
    print("GD/SGD against N/b ('far': by more than a factor 2):")
    for e in timing["results"]:
        words = {}
        for r in e["sgd"]:
            b = r["batch_size"]
            ratio, nb = round(r["ratio_gd_over_sgd_measured"], 1), round(r["ratio_flops"], 1)
            words[b] = compared(ratio, nb)
            print(f"engine {e['engine']}, b = {b}: GD/SGD = {ratio:,.1f} is {words[b]} "
                  f"N/b = {nb:,.1f}")
        r = min(e["sgd"], key=lambda r: r["batch_size"])
        b, fit = r["batch_size"], e["overhead_fit"]
        sgd_ns, gd_ns = r["per_sample_seconds"] * 1e9, e["gd"]["per_sample_seconds"] * 1e9
        why = (f"engine {e['engine']}: at b = {b}, GD/SGD is {words[b]} N/b: per sample, an SGD "
               f"step costs {sgd_ns:,.1f} ns and a GD iteration {gd_ns:,.1f} ns")
        if "below" in words[b] and fit:
            part = fit["overhead_seconds"] / r["per_iteration"]["median"]
            why += (f". Fitting t(b) = t0 + b·c to the SGD medians gives a fixed cost "
                    f"t0 = {fit['overhead_seconds'] * 1e6:,.2f} µs per step, {part:.0%} of the "
                    f"b = {b} step; GD pays it once per {N:,} samples, SGD once per b")
            why += (": that fixed cost is what keeps GD/SGD below N/b here." if part >= 0.5 else
                    ": most of the gap is in the cost per sample, not in the fixed cost.")
        elif "above" in words[b]:
            why += ": GD costs more per sample here, so SGD's cost per step does not show."
        else:
            why += "."
        print(why)""",
    ),
    (
        "md",
        """## Exercise 5a: the likelihood L = exp(−N·C) and its gradient

`∂L/∂w_pq = −N·L·∂C/∂w_pq = −L·Σ_data (y_p − y_tp)·x_q`: the same direction as −∇C, scaled by
N·L, and L is a product of N probabilities, so `log L = −N·C` grows in size with N while
`e^{−x}` rounds to exactly 0 above a fixed x per floating-point type. Whether L computed
directly is 0 for this N is printed below, for the model after one epoch of SGD.""",
    ),
    (
        "code",
        """from sgdlab import (
    ascent_vs_descent,
    gradient_figures,
    likelihood_figure,
    likelihood_figures,
    per_sample,
)

run = sgdlab.train(epochs=1, batch_size=16, lr=lr, seed=0, data=ds, device="cpu",
                   progress=False)
trained = run.model.cpu()
ps = per_sample(trained, ds.train_images, ds.train_labels)
lk = likelihood_figures(ps)
nc = -lk["log_L"]  # N·C, nats
print(f"C = {lk['cost']:.4f} nats, N·C = {nc:,.1f} nats, log10 L = {lk['log10_L']:,.1f}")
for name, d in lk["dtypes"].items():
    print(f"{name}: exp(-N*C) = {d['L_exp']}, product = {d['L_prod']}, "
          f"0 from sample n = {d['underflow_n']}")
for name, d in lk["dtypes"].items():
    z = d["zero_nats"]
    side = "above" if nc > z else "not above"
    if d["L_exp"] == 0:
        print(f"In {name}, L computed directly is exactly 0: N·C = {nc:,.1f} nats is {side} "
              f"{z:.2f}, where e^(-x) rounds to 0.")
    else:
        print(f"In {name}, L computed directly is {d['L_exp']:.3g}, not 0: N·C = {nc:,.1f} "
              f"nats is {side} {z:.2f}, where e^(-x) would round to 0.")
grad = gradient_figures(trained, ps, p=0, q=406)
print("autograd dL/dW in float64: zeros", grad["autograd"]["float64_exp"]["zeros"], "of 7850")
steps = ascent_vs_descent(trained, ps, lr=lr)
up, down = steps["ascent_L"], steps["descent_C"]
print("ascent on L moved:", up["moved"], "| descent on C:",
      f"{down['cost_before']:.4f} -> {down['cost_after']:.4f}")
print("One ascent step on L (float32, autograd) "
      + (f"moved the weights by {up['step_norm']:.3g}" if up["moved"]
         else "left every weight exactly where it was (its step lr·∇L is 0 in float32)")
      + "; one descent step on C "
      + ("lowered C." if down["cost_after"] < down["cost_before"] else "did not lower C."))
show(likelihood_figure, ps.h)""",
    ),
    (
        "md",
        """## Exercise 5b: estimating ∇C and ∇L from a minibatch

The minibatch gradient `g_B = 1/b·Σ_B ∇H` is an unbiased estimate of ∇C; drawn without
replacement, its rms error is `σ·√((N−b)/(b·(N−1)))` (the "formula" column), which falls like
1/√b while b ≪ N. An estimate of ∇L must guess `e^{−N·C}` from the minibatch's cost C_B, and an
error δ = C_B − C becomes a factor `e^{−N·δ}`. Both measured by Monte Carlo; the sentences
after the table are computed from it.""",
    ),
    (
        "code",
        """from sgdlab import estimators_figure, monte_carlo

sizes = [2**k for k in range(13) if 2**k < N]  # b = 1, 2, 4, …, 4096, below N
mc = monte_carlo(ps, batch_sizes=sizes, draws=1000 if FULL_DATA else 200,
                 generator=torch.Generator().manual_seed(0))
slope = mc["slope"]
print(f"fitted slope of log(error) against log(b), b ≤ N/16: {slope:.3f} (1/sqrt(b): -0.5)")
for r in mc["rows"][::3]:
    print(f"b={r['batch_size']:>5}: grad C rel. error {r['cost_grad']['rms_rel_error']:.3f} "
          f"(formula {r['cost_grad']['formula_rms_rel_error']:.3f}); grad L estimate off by "
          f"10^{r['likelihood_grad']['plugin']['log10_rms_rel_error']:.0f}")
near = abs(round(slope, 3) + 0.5) <= 0.05
print(f"∇C: the fitted slope {slope:.3f} is {'within' if near else 'outside'} ±0.05 of -0.5: "
      + ("the error falls like 1/√b here." if near else "1/√b does not describe it well here."))
err = {r["batch_size"]: round(r["likelihood_grad"]["plugin"]["log10_rms_rel_error"], 1)
       for r in mc["rows"]}
lo, hi = min(err, key=err.get), max(err, key=err.get)
print(f"∇L: the minibatch estimate's rms relative error is 10^{err[lo]:.1f} at best (b = {lo}) "
      f"and 10^{err[hi]:.1f} at worst (b = {hi}): "
      + ("more than 10 times |∇L| itself at every b." if err[lo] > 1 else
         f"about 10 times |∇L| itself at b = {lo}." if err[lo] == 1 else
         f"less than 10 times |∇L| itself at b = {lo}."))
show(estimators_figure, mc)""",
    ),
    (
        "md",
        """## The convergence experiment: does a smaller minibatch converge faster?

The chapter claims that smaller minibatches, with more steps per epoch for the same compute,
usually converge faster. `sgdlab.run_study` answers it with a batch-size study (Shallue et
al. 2019; McCandlish et al. 2018): for every batch size b, with plain SGD and with Nesterov
momentum, each b gets its own constant step size, tuned separately for each target on a grid
√2 apart (extended until the best one is interior). It counts the steps S to a target (a
training cost; a validation accuracy) over several seeds, and the examples E = b·S, the compute
spent (E/N epochs). Then it fits S = S_min(1 + B_crit/b), that is E = E_min(1 + b/B_crit): in
that model a smaller minibatch saves examples only while b is well above the critical batch
size B_crit, and below it every b needs about E_min examples. It also computes the exact
gradient noise scales B_noise and B_simple where C reaches the target (McCandlish et al.
predict B_crit ≈ B_noise).

On the sample the cell uses the quick preset (fewer batch sizes and seeds, targets the sample
can reach; it prints them). Finished passes are cached, so running this cell again does not
retrain (`sgdlab experiment` shares the cache). The verdict is computed from the rows above
it: read the examples figure for the chapter's claim (a smaller b is faster per epoch only where
E still falls as b falls). Its per-second sentence rests on the study's own timing of a step,
which is not checked for foreign load as exercise 4 is.""",
    ),
    (
        "code",
        """from IPython.display import Markdown

from sgdlab import StudySpec, plot_steps, run_study

spec = StudySpec.full() if FULL_DATA else StudySpec.quick()
print(f"preset {spec.name}: b = {', '.join(str(b) for b in spec.batch_sizes)}; "
      f"seeds {', '.join(str(s) for s in spec.seeds)}")
study = run_study(spec, data=ds, workers=None if FULL_DATA else 1, progress=FULL_DATA)
doc = study.to_dict()
w = doc["work"]
print(f"targets {doc['target']}; {w['passes_trained']} passes trained, "
      f"{w['passes_cached']} read from the cache, {w['wall_seconds']:.0f} s")
display(Markdown(study.markdown()))  # per b: tuned lr · S [seeds' range] · E; the fits; B_noise
show(plot_steps, doc)
display(Image(filename=str(plot_steps(doc, FIGURES / "examples.png", kind="examples"))))
display(Markdown("**Verdict**, computed from these rows:\\n\\n"
                 + "\\n".join(f"- {s}" for s in doc["verdict"])))""",
    ),
    (
        "md",
        """## Everything on one page

`sgdlab report` computes all of the above and writes one self-contained HTML page, in English
or in Hebrew (`--lang he`).""",
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
