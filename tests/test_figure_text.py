"""The figures' words: Hebrew drawn right to left with real glyphs, English unchanged."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sgdlab.figure_text import CLASS_NAMES_HE, HE, LANGS, class_names, visual, words


def _ink(text: str) -> np.ndarray:
    """The text drawn alone by matplotlib (Agg), as a boolean array of its inked columns."""
    from sgdlab.plots import _plt

    plt = _plt()
    fig = plt.figure(figsize=(4, 1), dpi=100)
    fig.text(0.05, 0.3, text, fontsize=40)
    fig.canvas.draw()
    a = np.asarray(fig.canvas.buffer_rgba())[..., 0] < 128
    plt.close(fig)
    cols = np.where(a.any(0))[0]
    return a[:, cols.min() : cols.max() + 1]


def _starts_with(drawn: np.ndarray, glyph: np.ndarray) -> bool:
    return drawn.shape[1] >= glyph.shape[1] and bool((drawn[:, : glyph.shape[1]] == glyph).all())


def test_hebrew_is_drawn_right_to_left():
    """matplotlib lays Hebrew out right to left: the first letter read is the rightmost; with
    :func:`visual`, a line that starts with a Latin name still reads from the right."""
    alef, bet, x = _ink("א"), _ink("ב"), _ink("X")
    assert _starts_with(_ink("אב"), bet) and not _starts_with(_ink("אב"), alef)
    assert _starts_with(_ink("Xא"), x)  # without the mark: a left-to-right line
    assert _starts_with(_ink(visual("Xא")), alef)  # with it: the Hebrew is at the left end


def test_every_hebrew_glyph_is_in_the_font():
    """No Hebrew letter of the figures' words falls back to a box (matplotlib warns then)."""
    text = " ".join([*HE.values(), *CLASS_NAMES_HE])
    letters = sorted({ch for ch in text if "\u0590" <= ch <= "\u05ff"})
    assert len(letters) >= 22
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font(s)" would raise
        _ink(visual("".join(letters)))


def test_words_translate_and_mark_direction():
    en, he = words("en"), words("he")
    assert en("GD, N = {n}", n="60,000") == "GD, N = 60,000"
    out = he("GD, N = {n}", n="60,000")
    assert out.startswith("\u200f") and "מורד הגרדיאנט" in out and "60,000" in out
    assert words("he", logical=True)("batch size") == HE["batch size"]
    assert "\n" in en(
        "training cost C along full-batch GD (training proceeds to the right)", width=30
    )
    with pytest.raises(ValueError, match="lang must be one of en, he"):
        words("fr")
    with pytest.raises(KeyError):  # never an English word left in a Hebrew figure silently
        he("a string nobody translated")
    assert visual("plain English") == "plain English"


def test_class_names():
    assert class_names("en")[0] == "T-shirt/top" and len(class_names("he")) == 10
    assert all(n.startswith("\u200f") for n in class_names("he"))
    assert LANGS == ("en", "he")


def test_every_hebrew_template_has_the_same_fields():
    import string

    for en, he in HE.items():
        fields = {f for _, f, _, _ in string.Formatter().parse(en) if f}
        assert fields == {f for _, f, _, _ in string.Formatter().parse(he) if f}, en
