"""The words inside the figures, in English or Hebrew (the report's two languages).

Every figure function of :mod:`sgdlab.plots` and :mod:`sgdlab.study.plots` takes ``lang`` and
writes its titles, axis labels and legends through :func:`words`: ``tr = words(lang)`` then
``tr("time per iteration")`` or ``tr("full GD (N = {n})", n="1,000")``. English strings are the
keys; :data:`HE` holds their Hebrew. A key missing from :data:`HE` is an error on the Hebrew
figures (``KeyError``), never an English word left in a Hebrew figure by accident.

matplotlib >= 3.11 lays text out with libraqm (the Unicode bidirectional algorithm, brackets
mirrored): Hebrew is passed in reading order, with a right-to-left mark in front so that a line
that starts with a formula or a Latin name still reads from the right (:func:`visual`). The
glyphs come from DejaVu Sans (matplotlib's own copy, which has Hebrew).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

LANGS = ("en", "he")

#: Hebrew names of the ten classes, in label order.
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

#: English figure text -> Hebrew (``{name}`` fields are filled after translation).
HE: dict[str, str] = {
    # exercise 1
    "Fashion-MNIST minibatch of {b}": "minibatch של {b} תמונות מ-Fashion-MNIST",
    # exercises 2-3
    "∂C/∂W of each class (red: positive, blue: negative)": "∂C/∂W של כל מחלקה (אדום: חיובי, "
    "כחול: שלילי)",
    "SGD, b = {b}": "SGD, b = {b}",
    "GD, N = {n}": "מורד הגרדיאנט, N = {n}",
    "∂C/∂w_pq (the same scale for every panel)": "∂C/∂w_pq (אותה סקאלה לכל הלוחות)",
    # exercise 4
    "(a) time per iteration": "(א) זמן לאיטרציה",
    "(b) time per epoch": "(ב) זמן ל-epoch",
    "(c) measured / roofline time (1 = at the limit)": "(ג) זמן נמדד / זמן roofline (1 = בגבול)",
    "seconds": "שניות",
    "ratio": "יחס",
    "batch size b": "גודל ה-minibatch b",
    "SGD, {engine}": "SGD, {engine}",
    "full GD (N = {n}), {engine}": "מורד גרדיאנט מלא (N = {n}), {engine}",
    "SGD, {engine}: steps × step time": "SGD, {engine}: צעדים × זמן צעד",
    "SGD, {engine}: measured epoch": "SGD, {engine}: epoch נמדד",
    "full GD: 1 iteration, {engine}": "מורד גרדיאנט מלא: איטרציה אחת, {engine}",
    "SGD step, {engine}": "צעד SGD, {engine}",
    "SGD epoch, {engine}": "epoch של SGD, {engine}",
    "full GD, {engine}": "מורד גרדיאנט מלא, {engine}",
    "sgdlab bench on {where}, {threads} threads, N = {n}: median, IQR bars": "sgdlab bench על "
    "{where}, {threads} תהליכונים, N = {n}: חציון, פסי IQR",
    # exercise 5
    "measured  √E‖g_B − ∇C‖² / ‖∇C‖": "נמדד  √E‖g_B − ∇C‖² / ‖∇C‖",
    "formula  √((N−b)/(b(N−1))·σ²) / ‖∇C‖": "נוסחה  √((N−b)/(b(N−1))·σ²) / ‖∇C‖",
    "minibatch size b": "גודל ה-minibatch b",
    "relative RMS error": "שגיאת RMS יחסית",
    "(a) minibatch gradient of C: unbiased, ∝ 1/√b": "(א) הגרדיאנט המקרי של C: חסר הטיה, ∝ 1/√b",
    "∇L estimate {label}": "אומדן ל-∇L {label}",
    "∇C estimate g_B (panel a)": "אומדן ל-∇C g_B (לוח א)",
    "log10 relative RMS error": "log10 של שגיאת ה-RMS היחסית",
    "(b) estimating ∇L from a minibatch: off by 10ᵏ": "(ב) אומדן ל-∇L מ-minibatch: טעות של פי 10ᵏ",
    "Exercise 5: N = {n}, {draws} minibatches per size": "שאלה 5: N = {n}, {draws} minibatches "
    "לכל גודל",
    "−log10 Π_{{i≤n}} y_(i,t_i)  (= Σ H_i / ln 10)": (
        "−log10 Π_{{i≤n}} y_(i,t_i)  (= Σ H_i / ln 10)"
    ),
    "{dtype}: L = 0 exactly above this": "{dtype}: מעל הקו L = 0 בדיוק",
    "number of training samples n": "מספר דגימות האימון n",
    "decades below 1: −log10 L": "סדרי גודל מתחת ל-1: ‎−log10 L",
    "likelihood L of the first n samples (N = {n})": "הנראות L של n הדגימות הראשונות (N = {n})",
    # the batch-size study
    "plain SGD": "SGD",
    "Nesterov μ=0.9": "נסטרוב μ=0.9",
    "C ≤ {goal}": "C ≤ {goal}",
    "val. acc. ≥ {goal}": "דיוק אימות ≥ {goal}",
    "{title}: not reached": "{title}: לא הושג",
    "seeds' range": "טווח ערכי ה-seed",
    "measured (median, best lr)": "נמדד (חציון, α הטוב ביותר)",
    "fit, B_crit ≈ {b}": "התאמה, B_crit ≈ {b}",
    "perfect scaling": "סקיילינג מושלם",
    "batch size b (full batch at the right)": "גודל ה-minibatch b (כל סט האימון מימין)",
    "steps to target": "צעדים עד היעד",
    "examples to target": "דגימות עד היעד",
    "Steps to target against b (green: perfect scaling b < B_crit/3; grey: maximal data "
    "parallelism b > 3·B_crit; × = lr at the grid's edge)": "צעדים עד היעד לפי b (ירוק: "
    "סקיילינג מושלם b < B_crit/3; אפור: מקביליות נתונים מרבית b > 3·B_crit; × = α בקצה הרשת)",
    "Examples to target against b (green: perfect scaling b < B_crit/3; grey: maximal data "
    "parallelism b > 3·B_crit; × = lr at the grid's edge)": "דגימות עד היעד לפי b (ירוק: "
    "סקיילינג מושלם b < B_crit/3; אפור: מקביליות נתונים מרבית b > 3·B_crit; × = α בקצה הרשת)",
    "tuned lr": "α שנבחר",
    "linear (Goyal et al.)": "לינארי (Goyal ועמיתיו)",
    "square root": "שורש ריבועי",
    "ε_max/(1+B/b), B={b}": "ε_max/(1+B/b), B={b}",
    "learning rate": "גודל הצעד α",
    "The tuned learning rate against b, and the scaling rules": "גודל הצעד שנבחר לפי b, "
    "וכללי ההתאמה",
    "B_simple = tr Σ / |G|² (exact)": "B_simple = tr Σ / |G|² (מדויק)",
    "B_noise = tr HΣ / GᵀHG (exact)": "B_noise = tr HΣ / GᵀHG (מדויק)",
    "B_simple, two-batch estimate": "B_simple, אומדן משני minibatches",
    "fitted B_crit ≈ {b}": "B_crit מותאם ≈ {b}",
    "target C": "C היעד",
    "training cost C along full-batch GD (training proceeds to the right)": "פונקציית המחיר C "
    "לאורך מורד הגרדיאנט המלא (האימון מתקדם ימינה)",
    "batch size": "גודל minibatch",
    "Gradient noise scale along training": "סקאלת הרעש של הגרדיאנט לאורך האימון",
}


def check_lang(lang: str) -> str:
    """``lang`` if it is one of :data:`LANGS`, else ``ValueError``."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    return lang


def has_hebrew(s: str) -> bool:
    return any("\u0590" <= ch <= "\u05ff" for ch in s)


#: RIGHT-TO-LEFT and LEFT-TO-RIGHT MARK: strong direction characters, drawn as nothing
_RLM, _LRM = "\u200f", "\u200e"


def visual(s: str) -> str:
    """``s`` as matplotlib must be given it: each line with Hebrew starts with a right-to-left
    mark, so its base direction is right to left (the title reads from the right, a formula or
    a number inside it keeps its own order); text without Hebrew is returned unchanged.
    matplotlib (>= 3.11, text laid out by libraqm) does the bidirectional reordering and the
    mirroring of brackets itself: the string stays in logical (reading) order."""
    if not has_hebrew(s):
        return s
    s = s.replace(_RLM, "").replace(_LRM, "")
    return "\n".join(
        _RLM + " ".join(_ltr(t) for t in line.split(" ")) if has_hebrew(line) else line
        for line in s.split("\n")
    )


def _ltr(word: str) -> str:
    """A word without Hebrew that holds a Latin letter or a digit (``∂C/∂W``, ``(N``) between
    left-to-right marks, so its symbols stay with it (a leading ``∂`` would otherwise be taken
    into the right-to-left text around it); its trailing punctuation stays outside, in the
    sentence's direction."""
    if has_hebrew(word) or not any(ch.isascii() and ch.isalnum() for ch in word):
        return word
    core = word.rstrip(",;:.")  # a trailing comma belongs to the sentence: it reads after it
    return f"{_LRM}{core}{_LRM}{word[len(core) :]}"


def words(lang: str, *, logical: bool = False) -> Callable[..., str]:
    """A translator for one language: ``tr(english, **fields)`` -> the text to draw;
    ``tr(..., width=40)`` also breaks it into lines of at most 40 characters.
    ``logical=True``: the translation without the direction mark, to be put inside another
    string that is drawn."""
    check_lang(lang)

    def tr(english: str, *, width: int = 0, **fields: Any) -> str:
        template = english if lang == "en" else HE[english]
        text = template.format(**fields)
        if width:
            text = "\n".join(textwrap.wrap(text, width))
        return text if logical else visual(text)

    return tr


def class_names(lang: str) -> tuple[str, ...]:
    """The ten class names to draw, in label order (Hebrew: visual order)."""
    from sgdlab.data import CLASS_NAMES

    if check_lang(lang) == "en":
        return tuple(CLASS_NAMES)
    return tuple(visual(n) for n in CLASS_NAMES_HE)
