"""The batch-size study: does a smaller minibatch converge faster? Steps and examples to a
target for every b, each b tuned on its own, the critical batch size fitted and compared with
the exact gradient noise scale.

The protocol (Shallue et al. 2019; McCandlish et al. 2018):

- data: train on 50,000 images, validate on 10,000 (split seed 0); the test set is only
  reported;
- b = 1, 2, 4, …, 32768 and the full batch N; plain SGD and Nesterov momentum (μ = 0.9);
  constant lr;
- per (optimizer, b): a log-spaced lr grid √2 apart, extended until the best lr is interior,
  chosen separately for each target (exact training cost C ≤ 0.45 over the 50,000; validation
  accuracy ≥ 83.5 %); diverged trials excluded;
- steps to target S(b): the first step at which the target holds, located to ≤ 5 % (a
  geometric evaluation schedule, then a replay of the crossing interval at finer points);
  median over seeds per lr, the best lr's per b; examples E(b) = b·S(b);
- fitted: S = S_min(1 + B_crit/b) per optimizer and target, with a bootstrap CI over seeds;
  compared with the exact noise scales B_simple, B_noise (:mod:`sgdlab.analysis.noise_scale`).

Modules: :mod:`.trials` (K models trained together on one minibatch order), :mod:`.fit` (the
McCandlish fit, bootstrap, regimes, lr scaling rules), :mod:`.estimator` (the two-batch
estimator of |G|², tr(Σ), B_simple).
"""
