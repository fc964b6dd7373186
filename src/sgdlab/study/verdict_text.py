"""The sentences of the study's verdict (:mod:`sgdlab.study.verdict`) in English and Hebrew:
``str.format`` templates filled with the numbers the verdict computes (formatted there)."""

from __future__ import annotations

EN: dict[str, str] = {
    "sgd": "plain SGD",
    "nesterov": "Nesterov momentum (μ = 0.9)",
    "goal_train_cost": "C ≤ {goal:g} on the training images",
    "goal_val_accuracy": "validation accuracy ≥ {goal:.1%}",
    "b": "b = {b:,}",
    "n": "N = {b:,}",
    "too_few": "{name}, {goal}: fewer than two batch sizes reached it with an interior lr; no "
    "comparison.",
    "all_down": "examples to target grow with b from the smallest b on, so a smaller minibatch "
    "converges faster per epoch all the way down to {small}",
    "flat_from_small": "every b from {lo:,} to {hi:,} needs within {same:.0%} of that, so below "
    "b = {hi:,} a smaller minibatch is not faster per epoch, only as fast; above it examples "
    "grow with b",
    "none_close": "no other b comes within {same:.0%} of that",
    "span": "b from {lo:,} to {hi:,} need within {same:.0%} of that",
    "middle": "{span}; below b = {lo:,} a smaller minibatch needs more examples ({small}: "
    "{ratio:.1f}× the minimum), and above b = {hi:,} examples grow with b",
    "per_epoch": "{name}, {goal}. Per epoch (examples seen): the fewest examples, {e:,.0f} "
    "({epochs:.2f} epochs), at {best}; {per_epoch} (largest measured, {largest}: "
    "{ratio:.1f}× the minimum).",
    "per_step": "{name}, {goal}. Per step: steps fall as b grows, from {s0:,.0f} at {small} to "
    "{s_min:,.0f}; from {sat} on, more b saves less than {same:.0%} of the steps (maximal data "
    "parallelism).",
    "per_second": "{name}, {goal}. Per second on this machine: fastest at {fast} ({seconds} of "
    "updates): a step costs about the same up to a few hundred samples (fixed cost per step), "
    "so time follows steps there, and examples beyond.",
    "ci": " (95 % CI {lo:,.0f}–{hi:,.0f})",
    "fit": "{name}, {goal}. Fitted S = S_min(1 + B_crit/b): B_crit ≈ {bc:,.0f}{ci}, S_min ≈ "
    "{s_min:,.0f} steps, E_min ≈ {e_min:,.0f} examples. The chapter's claim (at a fixed cost "
    "per epoch, smaller is faster) holds above B_crit, where halving b cuts the examples "
    "needed; below it, it stops: every b needs about E_min examples.",
    "agrees": "agrees",
    "disagrees": "does not agree",
    "estimate": "; McCandlish's two-batch estimator gives B_simple ≈ {est:,.0f} ({ratio:.2f}× "
    "the exact value)",
    "noise": "Prediction against measurement (plain SGD, training cost): where C reaches the "
    "target, the exact noise scales are B_noise = {bn:,.1f} and B_simple = {bs:,.1f}; the "
    "fitted B_crit ≈ {bc:,.0f} is {r_n:.2f}× B_noise and {r_s:.2f}× B_simple, so this workload "
    "{agree} with McCandlish et al.'s B_crit ≈ B_noise within a factor 3{est}.",
    "fewer": "fewer",
    "more": "more",
    "as_many": "about as many",
    "old": "The old sweep said b = 16 is worse than b = 128 per epoch. Tuned for this target "
    "(lr {lr_a:g} and {lr_b:g}), b = 16 needs {e_a:,.0f} examples and b = 128 {e_b:,.0f}: "
    "b = 16 needs {word} ({ratio:.2f}×). The old verdict came from its protocol: one lr per b "
    "chosen for the 10-epoch validation cost on a grid √10 apart and then judged after one "
    "epoch.",
}

HE: dict[str, str] = {
    "sgd": "SGD בלי תנע",
    "nesterov": "SGD עם תנע נסטרוב (μ = 0.9)",
    "goal_train_cost": "C ≤ {goal:g} על סט האימון",
    "goal_val_accuracy": "דיוק אימות של לפחות {goal:.1%}",
    "b": "b = {b:,}",
    "n": "N = {b:,}",
    "too_few": "{name}, {goal}: פחות משני גדלי minibatch הגיעו ליעד עם α פנימי ברשת; אין השוואה.",
    "all_down": "מספר הדגימות עד היעד גדל עם b כבר מה-b הקטן ביותר, כך ש-minibatch קטן יותר "
    "מתכנס מהר יותר לכל epoch עד {small}",
    "flat_from_small": "כל b מ-{lo:,} עד {hi:,} צריך עד {same:.0%} יותר מזה, כך שמתחת "
    "ל-b = {hi:,} ‏minibatch קטן יותר אינו מהיר יותר לכל epoch, רק מהיר באותה מידה; מעליו מספר "
    "הדגימות גדל עם b",
    "none_close": "אף b אחר אינו מתקרב לזה בטווח של {same:.0%}",
    "span": "כל b מ-{lo:,} עד {hi:,} צריך עד {same:.0%} יותר מזה",
    "middle": "{span}; מתחת ל-b = {lo:,} ‏minibatch קטן יותר צריך יותר דגימות ({small}: פי "
    "{ratio:.1f} מהמינימום), ומעל b = {hi:,} מספר הדגימות גדל עם b",
    "per_epoch": "{name}, {goal}. לכל epoch (דגימות שנראו): הכי מעט דגימות, {e:,.0f} "
    "({epochs:.2f} epochs), ב-{best}; {per_epoch} (הגדול ביותר שנמדד, {largest}: פי {ratio:.1f} "
    "מהמינימום).",
    "per_step": "{name}, {goal}. לכל צעד: מספר הצעדים יורד כש-b גדל, מ-{s0:,.0f} ב-{small} "
    "עד {s_min:,.0f}; מ-{sat} והלאה, b גדול יותר חוסך פחות מ-{same:.0%} מהצעדים (מקביליות "
    "נתונים מרבית).",
    "per_second": "{name}, {goal}. לכל שנייה על המחשב הזה: המהיר ביותר ב-{fast} ({seconds} של "
    "עדכונים): צעד עולה בערך אותו זמן עד כמה מאות דגימות (מחיר קבוע לצעד), ולכן הזמן הולך "
    "אחרי מספר הצעדים שם, ואחרי מספר הדגימות מעבר לזה.",
    "ci": " (רווח סמך 95%: {lo:,.0f}–{hi:,.0f})",
    "fit": "{name}, {goal}. ההתאמה S = S_min(1 + B_crit/b): ‏B_crit ≈ {bc:,.0f}{ci}, "
    "S_min ≈ {s_min:,.0f} צעדים, E_min ≈ {e_min:,.0f} דגימות. הטענה של הפרק (במחיר קבוע "
    "ל-epoch, קטן יותר מהיר יותר) מתקיימת מעל B_crit, שם חציית b מקטינה את מספר הדגימות "
    "הדרוש; מתחתיו היא נעצרת: כל b צריך בערך E_min דגימות.",
    "agrees": "מתאימה",
    "disagrees": "אינה מתאימה",
    "estimate": "; האומדן של McCandlish משני minibatches נותן B_simple ≈ {est:,.0f} (פי "
    "{ratio:.2f} מהערך המדויק)",
    "noise": "תחזית מול מדידה (SGD בלי תנע, המחיר על סט האימון): בנקודה שבה C מגיעה ליעד, "
    "סקאלות הרעש המדויקות הן B_noise = {bn:,.1f} ו-B_simple = {bs:,.1f}; ‏B_crit המותאם ≈ "
    "{bc:,.0f} הוא פי {r_n:.2f} מ-B_noise ופי {r_s:.2f} מ-B_simple, כך שהבעיה הזאת {agree} "
    "לתחזית של McCandlish ועמיתיו, B_crit ≈ B_noise, בטווח של פי 3{est}.",
    "fewer": "פחות",
    "more": "יותר",
    "as_many": "בערך אותו מספר",
    "old": "הסריקה הישנה קבעה ש-b = 16 גרוע מ-b = 128 לכל epoch. כשגודל הצעד נבחר ליעד הזה "
    "(α = {lr_a:g} ו-{lr_b:g}), ‏b = 16 צריך {e_a:,.0f} דגימות ו-b = 128 צריך {e_b:,.0f}: "
    "‏b = 16 צריך {word} (פי {ratio:.2f}). המסקנה הישנה נבעה מהפרוטוקול שלה: α אחד לכל b, "
    "שנבחר לפי מחיר האימות אחרי 10 epochs על רשת שבה כל ערך גדול פי √10 מקודמו, ואז נשפט אחרי "
    "epoch אחד.",
}

TEXT = {"en": EN, "he": HE}
