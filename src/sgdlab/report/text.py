"""The words of ``sgdlab report`` in English and in Hebrew (the course's language).

Hebrew follows the chapter's own terms: מורד הגרדיאנט המקרי (SGD), הגרדיאנט המקרי, פונקציית
המחיר C, פונקציית הנראות L, איטרציה, minibatch, epoch, סט האימון, ללא החזרה, זמני הריצה.

Markup inside a string (applied by :func:`sgdlab.report.page.rich` after HTML-escaping it):
```code or formula``` spans become left-to-right ``<code>``, ``**x**`` bold, ``$name`` a value
(escaped). Strings hold no HTML.
"""

from __future__ import annotations

#: Hebrew names of the ten classes (the figures keep Fashion-MNIST's English names).
CLASS_NAMES_HE = (
    "חולצת טי/טופ",
    "מכנסיים",
    "סוודר",
    "שמלה",
    "מעיל",
    "סנדל",
    "חולצה",
    "נעל ספורט",
    "תיק",
    "מגף",
)

EN: dict[str, str] = {
    "title": "sgdlab report: minibatch SGD on Fashion-MNIST",
    "intro": "The answers to the exercises of the chapter “The training algorithm: stochastic "
    "gradient descent”, computed by sgdlab on $source (N = $n training images, $n_test test "
    "images). Model: `y = softmax(z(x))`, `z(x) = W·x + b`; cost `C = 1/N·Σ H`, "
    "`H = −Σ_n y_tn·log y_n`; step `(W,b) ← (W,b) − α·∇C`.",
    "sample_warning": "Bundled 1,000 + 1,000-image sample, not the full data set: these figures "
    "illustrate the method, they are not Fashion-MNIST results.",
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
    "these weights; blue: negative). Top: from the 16-sample minibatch; bottom: from all N.",
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
    "col_engine": "engine",
    "col_b": "b",
    "col_steps": "steps/epoch",
    "col_iter": "per iteration [IQR]",
    "col_epoch": "per epoch",
    "col_ratio": "GD/SGD",
    "col_nb": "N/b",
    "ex4_busy": "Other processes used $share of the CPUs while this was measured: these "
    "timings are contaminated. Regenerate on a quiet machine: `sgdlab report --fresh`.",
    "ex4_noisy": "! marks a figure whose interquartile range exceeds 10% of its median: the "
    "machine was busy while it was measured.",
    "ex4_caption": "Time per iteration (left) and per epoch (right) against the batch size; "
    "dashed: one full-GD iteration.",
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
    "ex5b_caption": "Left: relative error of the minibatch gradient of C against b (measured "
    "and formula). Right: log10 relative error of two minibatch estimates of ∇L: off by "
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
    "weights is deterministic).",
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
    "$b_small and $b_big: $estimate). McCandlish et al. predict `B_crit ≈ B_noise`.",
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

HE: dict[str, str] = {
    "title": "דו״ח sgdlab: מורד הגרדיאנט המקרי על Fashion-MNIST",
    "intro": "התשובות לשאלות לתרגול של הפרק „אלגוריתם האימון – מורד הגרדיאנט המקרי”, כפי "
    "ש-sgdlab חישבה אותן על $source: ‏$n דגימות בסט האימון (N) ו-$n_test דגימות בסט הבדיקה. "
    "המודל: `y = softmax(z(x))`, `z(x) = W·x + b`; פונקציית המחיר `C = 1/N·Σ H`, "
    "`H = −Σ_n y_tn·log y_n`; הצעד `(W,b) ← (W,b) − α·∇C`.",
    "sample_warning": "זהו המדגם המצורף (1,000 + 1,000 תמונות), לא אוסף הנתונים המלא: המספרים "
    "כאן ממחישים את השיטה ואינם תוצאות על Fashion-MNIST.",
    "mode": "מצב $mode, `seed $seed`, נוצר ב-$generated.",
    "quick": "מהיר",
    "full": "מלא",
    "contents": "תוכן",
    "asks": "השאלה",
    "how": "איך sgdlab עונה עליה",
    "answer": "התשובה",
    "ex1_title": "שאלה 1: minibatch של 16 דגימות מסט האימון",
    "ex1_ask": "טענו minibatch של 16 דגימות מסט האימון של אוסף הנתונים Fashion-MNIST לזכרון.",
    "ex1_how": "‏`sgdlab minibatch --save grid.png`, או בפייתון "
    "`next(iter(MinibatchSampler(60000, 16, generator=torch.Generator().manual_seed(0))))`.",
    "ex1_answer": "ה-minibatch הראשון בחלוקה אקראית של סט האימון (דגימה ללא החזרה, `seed $seed`): "
    "התמונות `uint8 $shape`, מנורמלות לכל פיקסל לקלט float32 בצורה `(16, 784)`; התוויות "
    "`int64 (16,)`.",
    "ex1_caption": "16 התמונות של ה-minibatch ושמות המחלקות שלהן.",
    "col_pos": "#",
    "col_sample": "דגימה",
    "col_label": "תווית",
    "col_class": "מחלקה",
    "ex23_title": "שאלות 2 ו-3: איטרציה אחת של SGD ואיטרציה אחת של מורד הגרדיאנט",
    "ex2_ask": "שאלה 2: בצעו איטרציה אחת של SGD על הרשת (השתמשו במתודה `backward()`; פרמטרי "
    "המודל הם `z.weight` ו-`z.bias`; הגרדיאנט נמצא במאפיין `grad` שלהם). שאלה 3: בצעו איטרציה "
    "אחת של מורד הגרדיאנט (הגרדיאנט המלא).",
    "ex2_how": "‏`sgdlab step`, או `sgd_step(model, x, y, lr=0.005)` ו-"
    "`gd_step(model, images, labels, lr=0.005)` מאותם משקלים אפסיים.",
    "ex2_answer": "שתיהן מתחילות ב-`C = log 10 = 2.3026` (משקלים אפסיים: לכל מחלקה הסתברות "
    "1/10). איטרציית ה-SGD מורידה את המחיר על ה-minibatch מ-$sgd_before ל-$sgd_after_mb ואת "
    "פונקציית המחיר על כל סט האימון ל-$sgd_after; איטרציית מורד הגרדיאנט, עם הגרדיאנט המלא "
    "על כל $n הדגימות, מורידה אותה ל-$gd_after. הגרדיאנט המקרי והגרדיאנט המלא מצביעים "
    "בכיוונים דומים (קוסינוס $cosine) אך נבדלים בגודל ובפרטים: ה-minibatch מכיל $classes "
    "מתוך 10 המחלקות.",
    "col_quantity": "גודל",
    "col_sgd": "‏SGD, ‏minibatch של $b",
    "col_gd": "מורד הגרדיאנט, כל $n",
    "row_cost_before": "המחיר לפני (על הדגימות שבשימוש)",
    "row_mb_after": "המחיר על ה-minibatch אחרי",
    "row_full_after": "‏C על כל סט האימון אחרי",
    "row_gw": "`‖∂C/∂W‖` של `z.weight.grad` (`10×784`)",
    "row_gb": "`‖∂C/∂b‖` של `z.bias.grad` (`10`)",
    "row_time": "זמן ריצה (חציון של 20 הרצות חמות)",
    "ex23_caption": "`∂C/∂W` של כל מחלקה כתמונה 28×28 (אדום: חיובי, הצעד מקטין משקלים אלה; "
    "כחול: שלילי). למעלה: מה-minibatch של 16 דגימות; למטה: מכל N הדגימות.",
    "ex4_title": "שאלה 4: זמני הריצה של איטרציה אחת בשני האלגוריתמים",
    "ex4_ask": "השוו את זמני הריצה של איטרציה אחת בשני האלגוריתמים.",
    "ex4_how": "‏`sgdlab bench$flag`: לכל מנוע, חימום ואז החציון והטווח הבין-רבעוני של "
    "בלוקים רבים מתוזמנים; מורד הגרדיאנט המלא כאיטרציה אחת על כל N.",
    "ex4_answer": "במנוע `reference` (‏autograd, כמו בשאלה 2) איטרציית SGD אחת ב-`b = $b` "
    "נמשכת $t_sgd ואיטרציה אחת של מורד הגרדיאנט $t_gd: היא עולה כמו $ratio איטרציות SGD, "
    "ולא `N/b = $nb`, כי כל "
    "צעד משלם כ-$overhead של תקורה קבועה (Python, ‏dispatch, ‏autograd) מעבר ל-$per_sample "
    "לדגימה. epoch של SGD ב-`b = $b` נמשך $epoch: ‏$steps צעדים במחיר של $k איטרציות של "
    "מורד הגרדיאנט.",
    "col_engine": "מנוע",
    "col_b": "b",
    "col_steps": "צעדים ל-epoch",
    "col_iter": "לאיטרציה [IQR]",
    "col_epoch": "ל-epoch",
    "col_ratio": "GD/SGD",
    "col_nb": "N/b",
    "ex4_busy": "תהליכים אחרים השתמשו ב-$share ממעבדי המחשב בזמן המדידה: זמני הריצה האלה "
    "מזוהמים. צרו מחדש על מחשב שקט: `sgdlab report --fresh`.",
    "ex4_noisy": "הסימן ! מציין מדידה שהטווח הבין-רבעוני שלה גדול מ-10% מהחציון: המחשב היה "
    "עמוס בזמן המדידה.",
    "ex4_caption": "זמן לאיטרציה (משמאל) ול-epoch (מימין) כפונקציה של גודל ה-minibatch; "
    "מקווקו: איטרציה אחת של מורד הגרדיאנט המלא.",
    "ex5_title": "שאלה 5: פונקציית הנראות L מול פונקציית המחיר C",
    "ex5_ask": "פונקציית הנראות היא `L(W,b) = exp(−N·C) = Π_data Π_n y_n^y_tn`. (א) חשבו את "
    "`∂L/∂w_pq` והסבירו מדוע עדיף לחפש את המינימום של C על פני המקסימום של L. (ב) הסבירו "
    "למה קשה יותר לחשב קירוב ל-`∇L` על בסיס minibatch קטן מאשר ל-`∇C`.",
    "ex5_how": "‏`sgdlab likelihood --epochs 1 --plot exercise-5.png` (המודל אחרי epoch אחד "
    "של SGD עם `b = 16, α = 0.005`: דיוק על סט הבדיקה $acc); ראו docs/exercise-5.md.",
    "ex5a": "(א) לפי כלל השרשרת דרך exp, עם `∂H/∂w_pq = (y_p − y_tp)·x_q`:",
    "ex5a_formula": "∂L/∂w_pq = −N·L·∂C/∂w_pq = −L·Σ_data (y_p − y_tp)·x_q",
    "ex5a_answer": "`∇L` מצביע בכיוון `−∇C` (אותו מקסימום), מוכפל ב-`N·L`, ו-L היא מכפלה של N "
    "הסתברויות: כאן `log10 L = $log10_l`. היא שווה בדיוק 0 ב-float32 אחרי $n32 הדגימות "
    "הראשונות וב-float64 אחרי $n64, וכך גם כל חישוב של `∇L` בנקודה צפה (‏autograd: ‏$zeros "
    "מתוך 7,850 הרכיבים הם 0). צעד עלייה אחד על L אינו זז ($ascent), וצעד ירידה אחד על C "
    "מוריד אותה מ-$c_before ל-$c_after. עלייה על L הייתה דורשת `α ≈ 10^$lr_needed` לאותו "
    "צעד. מזעור C הוא סבירות מרבית בקואורדינטות היחידות שבהן אפשר לחשב.",
    "ex5_underflow_caption": "בכמה סדרי גודל נמוכה מ-1 הנראות של n הדגימות הראשונות: המספר "
    "גדל לינארית ב-n, ו-L שווה 0 בדיוק ב-float32 וב-float64 כבר אחרי מאות עד אלפי דגימות, "
    "הרבה לפני `n = N`.",
    "ex5b": "(ב) הממוצע על ה-minibatch ‏`g_B = 1/b·Σ_B ∇H` (הגרדיאנט המקרי) הוא אומדן חסר "
    "הטיה של `∇C`; השגיאה היחסית שלו יורדת כמו 1/√b (שיפוע מותאם $slope) ומתאימה לנוסחת "
    "האוכלוסייה הסופית. `∇L = −N·L·∇C` אינו ממוצע: אומדן חייב לנחש את `e^{−N·C}` מ-`C_B` של "
    "ה-minibatch, ושגיאה δ ב-C הופכת לגורם `e^{−N·δ}`. נמדד על $draws minibatches לכל גודל:",
    "col_rel_err": "שגיאה יחסית של `g_B`",
    "col_formula": "נוסחה",
    "col_plugin": "`log10` של השגיאה היחסית של `−N·e^{−N·C_B}·g_B`",
    "col_rescaled": "`log10` של השגיאה היחסית של `(N/b)·∇L_B`",
    "ex5b_caption": "משמאל: השגיאה היחסית של הגרדיאנט המקרי של C כפונקציה של b (מדידה "
    "ונוסחה). מימין: ‏log10 של השגיאה היחסית של שני אומדני minibatch ל-`∇L`: טעות בסדרי גודל.",
    "conv_title": "התכנסות: האם minibatch קטן יותר מתכנס מהר יותר?",
    "conv_ask": "הפרק: בהנחה שהזמן לעבור על כל סט האימון קבוע, חלוקתו ל-minibatches קטנים "
    "תאפשר לבצע יותר צעדים ב-epoch יחיד, באותו מחיר חישובי, דבר אשר יוביל לרוב להתכנסות מהירה "
    "יותר.",
    "conv_how": "‏`sgdlab experiment$flag`, מחקר גודל ה-minibatch (לפי Shallue ועמיתיו, "
    "2019, ו-McCandlish ועמיתיו, 2018): ‏`b = $bs` (‏N הוא כל סט האימון: מורד הגרדיאנט) על $n דגימות "
    "אימון, ועוד $val דגימות שהופרשו לאימות; SGD בלי תנע ועם תנע נסטרוב; לכל b גודל צעד "
    "קבוע α משלו, שנבחר בנפרד לכל יעד מרשת שבה כל α גדול פי $ratio מקודמו (מורחבת עד שה-α "
    "הטוב ביותר פנימי); ‏$seeds ערכי seed. ‏S הוא הצעד הראשון שבו היעד מתקיים (בדיוק של "
    "$resolution), החציון על ערכי ה-seed ב-α הטוב ביותר; מספר הדגימות `E = b·S` מודד את "
    "המחיר החישובי (‏E/N epochs). היעדים: `C ≤ $cost` על סט האימון, ודיוק אימות של לפחות $acc.",
    "conv_steps_caption": "מספר הצעדים S עד כל יעד כפונקציה של b (בסקאלה לוגריתמית): החציון "
    "על ערכי ה-seed ב-α שנבחר (הרצועה: הטווח על ערכי ה-seed), ההתאמה "
    "`S = S_min(1 + B_crit/b)` (מקווקו) וסקיילינג מושלם `S ∝ 1/b` (מנוקד). מוצללים: "
    "`b < B_crit/3` (סקיילינג מושלם) ו-`b > 3·B_crit` (מקביליות נתונים מרבית); × מסמן α "
    "שנשאר בקצה הרשת שלו.",
    "conv_examples_caption": "מספר הדגימות `E = b·S` עד כל יעד כפונקציה של b (בסקאלה "
    "לוגריתמית): אותן שורות כפול b, ההתאמה `E = E_min(1 + b/B_crit)`, וסקיילינג מושלם כקו "
    "אופקי. במחיר קבוע ל-epoch, minibatch קטן יותר מתכנס מהר יותר רק היכן ש-E עוד יורד כש-b "
    "קטן.",
    "col_lr": "α שנבחר",
    "col_s": "צעדים S [ערכי seed]",
    "col_examples": "דגימות b·S",
    "col_to_seconds": "שניות עד היעד",
    "conv_not_reached": "לא הושג בשום α",
    "opt_sgd": "מורד הגרדיאנט המקרי (SGD)",
    "opt_nesterov": "SGD עם תנע נסטרוב (μ = 0.9)",
    "tgt_train_cost": "`C ≤ $goal` על סט האימון",
    "tgt_val_accuracy": "דיוק אימות של לפחות $goal",
    "conv_table_note": "‏S: החציון על ערכי ה-seed ב-α שנבחר [המינימום–המקסימום על ערכי "
    "ה-seed; ∞: ערך seed שלא הגיע ליעד]; דגימות `E = b·S`; שניות: S × הזמן הנמדד לצעד של "
    "המנוע של `sgdlab train` על המחשב הזה (העדכונים בלבד). הסימן * מציין α שנשאר בקצה הרשת "
    "שלו (לא נכלל בהתאמה); GD: כל סט האימון, ערך seed אחד (מורד הגרדיאנט ממשקלים אפסיים "
    "דטרמיניסטי).",
    "conv_fit_intro": "ההתאמה `S = S_min(1 + B_crit/b)` לכל אלגוריתם ויעד (לפי McCandlish "
    "ועמיתיו, 2018; שורות שה-α שלהן בקצה הרשת לא נכללו), עם רווח סמך bootstrap של 95% על "
    "ערכי ה-seed ל-B_crit, לצד סקאלות הרעש המדויקות של הגרדיאנט בנקודה שבה C מגיעה ליעד:",
    "col_optimizer": "אלגוריתם",
    "col_target": "יעד",
    "col_smin": "S_min (צעדים)",
    "col_emin": "E_min (דגימות)",
    "col_bcrit": "B_crit [רווח סמך 95%]",
    "col_bnoise": "B_noise / B_simple ביעד",
    "conv_noise": "סקאלות הרעש מדויקות, לאורך מורד הגרדיאנט המלא ממשקלים אפסיים עם "
    "`α = $lr`: בצעד $step, שבו `C = $cost`, ‏`B_noise = tr(HΣ)/GᵀHG = $b_noise` ו-"
    "`B_simple = tr(Σ)/|G|² = $b_simple` (האומדן של McCandlish משני minibatches בגדלים "
    "$b_small ו-$b_big: ‏$estimate). לפי McCandlish ועמיתיו, `B_crit ≈ B_noise`.",
    "conv_verdict_intro": "המסקנה, כפי ש-sgdlab experiment חישבה אותה מהשורות ומההתאמות האלה "
    "(באנגלית):",
    "env_title": "הסביבה",
    "env_intro": "מאין באו המספרים. חלקים שנקראו מהמטמון חושבו קודם, בזמן ובקומיט המצוינים.",
    "col_key": "פריט",
    "col_value": "ערך",
    "col_section": "חלק",
    "col_created": "חושב",
    "col_cached": "מהמטמון",
    "col_seconds": "שניות",
    "col_commit": "קומיט",
    "yes": "כן",
    "no": "לא",
    "footer": "נוצר על ידי sgdlab $version. ליצירה מחדש: `sgdlab report$flag --lang he`; כל "
    "גרף ומספר מחושבים על ידי הספרייה.",
}

TEXT: dict[str, dict[str, str]] = {"en": EN, "he": HE}
