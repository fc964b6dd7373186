"""The words of ``sgdlab report`` in English and in Hebrew (the course's language).

Hebrew follows the chapter's own terms: מורד הגרדיאנט המקרי (SGD), הגרדיאנט המקרי, פונקציית
המחיר C, פונקציית הנראות L, איטרציה, minibatch, epoch, סט האימון, ללא החזרה, זמני הריצה.

Markup inside a string (applied by :func:`sgdlab.report.page.rich` after HTML-escaping it):
```code or formula``` spans become left-to-right ``<code>``, ``**x**`` bold, ``$name`` a value
(escaped). Strings hold no HTML.
"""

from __future__ import annotations

from sgdlab.figure_text import CLASS_NAMES_HE
from sgdlab.report.text_he import HE

__all__ = ["CLASS_NAMES_HE", "EN", "HE", "TEXT"]

#: How long the full report took to build from an empty cache on this project's 2-core machine
#: (README, "See it"); the quick report's advice says so before it points there.
FULL_REPORT_TIME = "about 9 minutes"

EN: dict[str, str] = {
    "title": "sgdlab report: minibatch SGD on Fashion-MNIST",
    "intro": "The answers to the exercises of the chapter “The training algorithm: stochastic "
    "gradient descent”, computed by sgdlab on $source (N = $n training images, $n_test test "
    "images). Model: `y = softmax(z(x))`, `z(x) = W·x + b`; cost `C = 1/N·Σ H`, "
    "`H = −Σ_n y_tn·log y_n`; step `(W,b) ← (W,b) − α·∇C`.",
    "sample_warning": "Bundled 1,000 + 1,000-image sample, not the full data set: these figures "
    "illustrate the method, they are not Fashion-MNIST results.",
    "quick_warning": "Quick report: fewer timing repeats and Monte Carlo draws, and the quick "
    "batch-size study, meant for the bundled sample. The full report on all the data is "
    "`sgdlab report`: " + FULL_REPORT_TIME + " on this project's 2-core machine with an empty "
    "cache (each section is cached, so only the first build takes that long).",
    "mode": "$mode mode, seed $seed, generated $generated.",
    "quick": "Quick",
    "full": "Full",
    "contents": "Contents",
    "asks": "The exercise",
    "how": "How sgdlab answers it",
    "answer": "The answer",
    "ex1_title": "Exercise 1: a minibatch of 16 training samples",
    "ex1_ask": "Load a minibatch of 16 samples of the Fashion-MNIST training set into memory.",
    "ex1_how": "`sgdlab minibatch --save grid.png`, or in Python "
    "`next(iter(MinibatchSampler(60000, 16, generator=torch.Generator().manual_seed(0))))`.",
    "ex1_answer": "The first minibatch of a random partition of the training set (drawn without "
    "replacement, seed $seed): images `uint8 $shape`, standardized per pixel into a float32 "
    "`(16, 784)` model input; labels `int64 (16,)`.",
    "ex1_caption": "The 16 images of the minibatch with their class names.",
    "col_pos": "#",
    "col_sample": "sample",
    "col_label": "label",
    "col_class": "class",
    "ex23_title": "Exercises 2 and 3: one SGD iteration and one gradient-descent iteration",
    "ex2_ask": "Exercise 2: perform one SGD iteration on the network (use `backward()`; the "
    "parameters are `z.weight` and `z.bias`; the gradient is in their `grad` attribute). "
    "Exercise 3: perform one iteration of (full) gradient descent.",
    "ex2_how": "`sgdlab step`, or `sgd_step(model, x, y, lr=0.005)` and "
    "`gd_step(model, images, labels, lr=0.005)` from the same zero weights.",
    "ex2_answer": "Both start at `C = log 10 = 2.3026` (zero weights: every class has "
    "probability 1/10). The SGD iteration lowers the minibatch's cost from $sgd_before to "
    "$sgd_after_mb and the cost on the whole training set to $sgd_after; the GD iteration, with "
    "the exact gradient over all $n samples, lowers it to $gd_after. The two gradients point "
    "in similar directions (cosine $cosine) but differ in size and detail: the minibatch holds "
    "$classes of the 10 classes.",
    "col_quantity": "quantity",
    "col_sgd": "SGD, minibatch of $b",
    "col_gd": "GD, all $n",
    "row_cost_before": "cost before (on the samples used)",
    "row_mb_after": "minibatch cost after",
    "row_full_after": "C on the whole training set after",
    "row_gw": "`‖∂C/∂W‖` of `z.weight.grad` (`10×784`)",
    "row_gb": "`‖∂C/∂b‖` of `z.bias.grad` (`10`)",
    "row_time": "wall time (median of 20 warmed runs)",
    "ex23_caption": "∂C/∂W of each class as a 28×28 image (red: positive, the step lowers "
    "these weights; blue: negative). Top: from the 16-sample minibatch; bottom: from all N. "
    "**One colour scale for every panel** ($scale, the colour bar), so the two gradients' sizes "
    "compare directly (their norms are in the table).",
    "ex4_title": "Exercise 4: the run time of one iteration of each",
    "ex4_ask": "Compare the run times of one iteration of the two algorithms.",
    "ex4_how": "`sgdlab bench$flag`: per engine, warm-up, then the median and interquartile "
    "range of many timed blocks; full GD as one iteration over all N.",
    "ex4_answer": "With the `reference` engine (autograd, as in exercise 2), one SGD iteration "
    "at b = $b takes $t_sgd and one GD iteration $t_gd: one GD iteration costs as much as "
    "$ratio SGD iterations, not N/b = $nb, because each step pays about $overhead of fixed "
    "overhead (Python, dispatch, autograd) besides $per_sample per sample. Per epoch, SGD at "
    "b = $b takes $epoch: "
    "$steps steps for the price of $k GD iterations.",
    "ex4_answer_withheld": "With the `reference` engine (autograd, as in exercise 2), one SGD "
    "iteration at b = $b takes $t_sgd and one GD iteration $t_gd: one GD iteration costs as "
    "much as $ratio SGD iterations (N/b = $nb). Other processes loaded the machine while this "
    "was measured (see the warning below), so no explanation is drawn from these timings. Per "
    "epoch, SGD at b = $b takes $epoch: $steps steps for the price of $k GD iterations.",
    "col_engine": "engine",
    "col_b": "b",
    "col_steps": "steps/epoch",
    "col_iter": "per iteration [IQR]",
    "col_epoch": "per epoch",
    "col_ratio": "GD/SGD",
    "col_nb": "N/b",
    "ex4_busy": "Other processes used $share of the CPUs while this was measured: these "
    "timings are contaminated. Regenerate on a quiet machine: `sgdlab report --fresh`.",
    "ex4_busy_quick": "Other processes used $share of the CPUs while this was measured: these "
    "timings are contaminated. Regenerate this quick report on a quiet machine: "
    "`sgdlab report --quick --fresh` (a few minutes).",
    "ex4_noisy": "! marks a figure whose interquartile range exceeds 10% of its median: the "
    "machine was busy while it was measured.",
    "ex4_caption": "(a) Time per iteration and (b) per epoch against the batch size, and (c) "
    "the measured time over the roofline model's (1 = at the hardware's limit); dashed: one "
    "full-GD iteration.",
    "ex4_caption_2": "(a) Time per iteration and (b) per epoch against the batch size; dashed: "
    "one full-GD iteration.",
    "ex5_title": "Exercise 5: the likelihood L against the cost C",
    "ex5_ask": "The likelihood is `L(W,b) = exp(−N·C) = Π_data Π_n y_n^y_tn`. (a) Compute "
    "`∂L/∂w_pq` and explain why minimising C beats maximising L. (b) Explain why ∇L is much "
    "harder to approximate from a small minibatch than ∇C.",
    "ex5_how": "`sgdlab likelihood --epochs 1 --plot exercise-5.png` (the model after one "
    "epoch of SGD, b = 16, α = 0.005: test accuracy $acc); see docs/exercise-5.md.",
    "ex5a": "(a) By the chain rule through exp, with `∂H/∂w_pq = (y_p − y_tp)·x_q`:",
    "ex5a_formula": "∂L/∂w_pq = −N·L·∂C/∂w_pq = −L·Σ_data (y_p − y_tp)·x_q",
    "ex5a_answer": "∇L points along −∇C (same maximiser), scaled by N·L, and L is a product "
    "of N probabilities: here `log10 L = $log10_l`. It is exactly 0 in float32 after the first "
    "$n32 samples and in float64 after $n64, and so is every floating-point ∇L (autograd: "
    "$zeros of 7,850 entries are 0). One ascent step on L does not move ($ascent), while one "
    "descent step on C lowers it from $c_before to $c_after. Ascent on L would need "
    "`α ≈ 10^$lr_needed` for the same step. Minimising C is maximum likelihood in the only "
    "numerically sane coordinates.",
    "ex5_underflow_caption": "How many decades the likelihood of the first n training "
    "samples lies below 1: it grows linearly in n, and L is exactly 0 in float32 and float64 "
    "after a few hundred to a few thousand samples, long before n = N.",
    "ex5b": "(b) The minibatch mean `g_B = 1/b·Σ_B ∇H` is an unbiased estimate of ∇C; its "
    "relative error falls like 1/√b (fitted slope $slope) and matches the finite-population "
    "formula. ∇L = −N·L·∇C is not a mean: an estimate must guess `e^{−N·C}` from the "
    "minibatch's C_B, and an error δ in C becomes a factor `e^{−N·δ}`. Measured over $draws "
    "minibatches per size:",
    "col_rel_err": "rel. error of g_B",
    "col_formula": "formula",
    "col_plugin": "log10 rel. error, −N·e^{−N·C_B}·g_B",
    "col_rescaled": "log10 rel. error, (N/b)·∇L_B",
    "ex5b_caption": "(a) Relative error of the minibatch gradient of C against b (measured "
    "and formula). (b) log10 relative error of two minibatch estimates of ∇L: off by "
    "orders of magnitude.",
    "conv_title": "Convergence: does a smaller minibatch converge faster?",
    "conv_ask": "The chapter: with the time to pass over the training set fixed, smaller "
    "minibatches allow more steps per epoch for the same compute, which usually leads to "
    "faster convergence.",
    "conv_how": "`sgdlab experiment$flag`, the batch-size study (Shallue et al. 2019, "
    "McCandlish et al. 2018): b = $bs (N: the full batch, GD) on $n training images, $val "
    "more held out for validation; plain SGD and Nesterov momentum; every b gets its own "
    "constant step size α, tuned separately for each target on a grid $ratio× apart (extended "
    "until the best α is interior); $seeds seeds. S is the first step at which the target "
    "holds (located to $resolution), the median over the seeds at the best α; the examples "
    "`E = b·S` measure the compute (E/N epochs). Targets: `C ≤ $cost` on the training "
    "images, validation accuracy ≥ $acc.",
    "conv_steps_caption": "Steps S to each target against b (log-log): the median over the "
    "seeds at the tuned α (band: the seeds' range), the fit `S = S_min(1 + B_crit/b)` "
    "(dashed) and perfect scaling `S ∝ 1/b` (dotted). Shaded: `b < B_crit/3` (perfect "
    "scaling) and `b > 3·B_crit` (maximal data parallelism); × marks an α still at the edge "
    "of its grid.",
    "conv_examples_caption": "Examples `E = b·S` to each target against b (log-log): the same "
    "rows times b, the fit `E = E_min(1 + b/B_crit)`, and perfect scaling as a flat line. At "
    "a fixed cost per epoch, a smaller minibatch converges faster only where E still falls "
    "as b falls.",
    "conv_lr_caption": "The tuned α against b (log-log), per optimizer and target, next to "
    "linear scaling (α ∝ b) and square-root scaling (α ∝ √b) through the smallest b.",
    "conv_noise_caption": "The exact gradient noise scales B_simple and B_noise, and "
    "McCandlish's two-batch estimate of B_simple, along full-batch GD from zero weights, "
    "against the training cost C (training proceeds to the right); dashed: the fitted B_crit; "
    "dotted: the target C.",
    "alt_grid": "The 16 images of the first minibatch, each titled with its class",
    "alt_gradients": "∂C/∂W as ten 28×28 images per gradient, SGD above GD, one colour scale",
    "alt_timing": "Time per iteration and per epoch against the batch size, per engine",
    "alt_underflow": "Decades below 1 of the likelihood of the first n samples against n",
    "alt_estimators": "Relative error of minibatch estimates of ∇C and ∇L against b",
    "alt_steps": "Steps to each target against the batch size, with the fit",
    "alt_examples": "Examples to each target against the batch size, with the fit",
    "alt_lr": "The tuned learning rate against the batch size, with scaling rules",
    "alt_noise": "Gradient noise scales along training against the training cost",
    "col_lr": "tuned α",
    "col_s": "steps S [seeds]",
    "col_examples": "examples b·S",
    "col_to_seconds": "seconds to target",
    "conv_not_reached": "not reached at any α",
    "opt_sgd": "plain SGD",
    "opt_nesterov": "Nesterov momentum (μ = 0.9)",
    "tgt_train_cost": "`C ≤ $goal` on the training images",
    "tgt_val_accuracy": "validation accuracy ≥ $goal",
    "conv_table_note": "S: the median over the seeds at the tuned α [the seeds' min–max; ∞: "
    "a seed that did not reach the target]; examples `E = b·S`; seconds: S × the measured "
    "time per step of `sgdlab train`'s engine on this machine (updates only). * = α still at "
    "the edge of its grid (left out of the fit); GD = the full batch, one seed (GD from zero "
    "weights is deterministic). The tuned α against b: [the learning-rate figure](#fig-lr).",
    "conv_fit_intro": "The fit `S = S_min(1 + B_crit/b)` per optimizer and target (McCandlish "
    "et al. 2018; rows with α at an edge left out), with a 95% bootstrap interval over the "
    "seeds for B_crit, next to the exact gradient noise scales where C reaches its target:",
    "col_optimizer": "optimizer",
    "col_target": "target",
    "col_smin": "S_min (steps)",
    "col_emin": "E_min (examples)",
    "col_bcrit": "B_crit [95% CI]",
    "col_bnoise": "B_noise / B_simple at the target",
    "conv_noise": "The noise scales are exact, along full-batch GD from zero weights at "
    "`α = $lr`: at step $step, where `C = $cost`, `B_noise = tr(HΣ)/GᵀHG = $b_noise` and "
    "`B_simple = tr(Σ)/|G|² = $b_simple` (McCandlish's two-batch estimate from minibatches of "
    "$b_small and $b_big: $estimate). McCandlish et al. predict `B_crit ≈ B_noise`. Along "
    "training: [the noise-scale figure](#fig-noise).",
    "conv_verdict_intro": "The verdict, computed by sgdlab experiment from these rows and fits:",
    "env_title": "Environment",
    "env_intro": "Where these figures come from. Sections read from the cache were computed "
    "earlier, at the time and commit shown.",
    "col_key": "item",
    "col_value": "value",
    "col_section": "section",
    "col_created": "computed",
    "col_cached": "from cache",
    "col_seconds": "seconds",
    "col_commit": "commit",
    "yes": "yes",
    "no": "no",
    "footer": "Generated by sgdlab $version. Regenerate with `sgdlab report$flag`; every figure "
    "is computed by the library.",
}

TEXT: dict[str, dict[str, str]] = {"en": EN, "he": HE}
