"""The building blocks of ``sgdlab report``'s one self-contained HTML page (English or Hebrew):
:class:`Page`, tables, figures, escaping (the page itself: :func:`sgdlab.report.render.render`).

Everything interpolated is HTML-escaped; images are ``data:image/png;base64`` URIs; there is no
script, no external style sheet, font or request. The Hebrew page is ``dir="rtl"``; code,
formulas, numbers' tables and figures are set left to right.

On a phone (390 px) nothing scrolls the page sideways: tables scroll inside their own box
(``div.scroll``), long code wraps and short code scrolls in its box, and a figure with several
panels is a ``<picture>`` whose narrow source (the panels stacked) is chosen below 700 px.
"""

from __future__ import annotations

import html
import re
from string import Template
from typing import Any

from sgdlab.report.text import CLASS_NAMES_HE, TEXT

#: Below this viewport width (CSS px) a figure's narrow layout is shown (panels stacked).
NARROW_PX = 700

CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;max-width:1100px;margin:0 auto;padding:1em 2em;
line-height:1.5;color:#222;background:#fff}
h1{font-size:1.7em;border-bottom:2px solid #36c}h2{margin-top:2em;border-bottom:1px solid #ccc}
code{font-family:"DejaVu Sans Mono",monospace;background:#f3f3f3;padding:0 .25em;
unicode-bidi:isolate;overflow-wrap:anywhere}
.formula{font-family:"DejaVu Sans Mono",monospace;background:#f7f7fb;padding:.5em 1em;
display:block;text-align:left;overflow-x:auto}
.scroll{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.2em .6em}th{background:#eef}
td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums;
font-family:"DejaVu Sans Mono",monospace}
figure{margin:1em 0;text-align:center}figure img{max-width:100%;height:auto}
picture{display:block}
figcaption{font-size:.9em;color:#555}
.warn{background:#fff3cd;border:1px solid #e0b400;padding:.5em 1em}
.ask{background:#f4f8ff;border-inline-start:4px solid #36c;padding:.4em 1em}
.verdict{background:#f6fff4;border:1px solid #9c9;padding:.2em 1em;text-align:start}
.tables{display:flex;flex-wrap:wrap;column-gap:2em}
.tables>div{max-width:100%}
.tables h3{font-size:1em;margin:.8em 0 .3em;width:0;min-width:100%}
.tables table{font-size:.8em}.tables td,.tables th{padding:.15em .45em}
code.nw{white-space:nowrap;display:inline-block;max-width:100%;overflow-x:auto;
vertical-align:bottom}
table.env td{overflow-wrap:anywhere}
nav ol{columns:2;column-gap:2.5em}nav li{break-inside:avoid}
footer{margin-top:3em;font-size:.85em;color:#666}
@media (max-width:700px){body{padding:.5em .8em}h1{font-size:1.35em}nav ol{columns:1}
.verdict,.ask,.warn{padding-inline:.6em}}
"""


def esc(v: Any) -> str:
    """HTML-escape any value (quotes too)."""
    return html.escape(str(v), quote=True)


def rich(template: str, **values: Any) -> str:
    """Escape ``template``, turn ```x``` into LTR code and ``**x**`` into bold, then put the
    escaped ``values`` in for ``$name``."""
    s = esc(template)
    s = re.sub(r"`([^`]+)`", _code, s)
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    s = re.sub(r"\[([^\]]+)\]\(#([\w-]+)\)", r'<a href="#\2">\1</a>', s)  # [text](#anchor)
    # each value is isolated (<bdi>): "-0.502" or "1.29 ms" keep their order in Hebrew text
    return Template(s).safe_substitute({k: f"<bdi>{esc(v)}</bdi>" for k, v in values.items()})


def _code(m: re.Match) -> str:
    """A code span; short ones never break (a formula split across lines reads wrongly in RTL)."""
    cls = ' class="nw"' if len(m.group(1)) <= 40 else ""
    return f'<code dir="ltr"{cls}>{m.group(1)}</code>'


def table(
    head: list[str],
    rows: list[list[Any]],
    *,
    numeric_from: int = 1,
    ltr: bool = False,
    cls: str = "",
) -> str:
    """A table in its own horizontally scrolling box; ``head`` cells are trusted HTML (from
    :func:`rich`), body cells are escaped. Columns from ``numeric_from`` on are right-aligned
    figures."""
    d = (' dir="ltr"' if ltr else "") + (f' class="{esc(cls)}"' if cls else "")
    out = [f'<div class="scroll"><table{d}><thead><tr>']
    out += [*(f"<th>{h}</th>" for h in head), "</tr></thead><tbody>"]
    for r in rows:
        num = '<td class="n" dir="ltr">{}</td>'
        cells = (
            (num if i >= numeric_from else "<td>{}</td>").format(esc(c)) for i, c in enumerate(r)
        )
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def figure(
    figs: str | dict[str, str], caption: str, alt: str, *, lang: str = "en", anchor: str = ""
) -> str:
    """An embedded PNG with its caption (``caption`` trusted HTML, ``alt`` escaped). ``figs``:
    one base64 PNG, or a section's figure set ({lang: b64, lang_narrow: b64}, see
    :func:`sgdlab.report.sections.figure_set`): the image in ``lang``, and where a narrow layout
    exists a ``<picture>`` that shows it below :data:`NARROW_PX`."""
    if isinstance(figs, str):
        figs = {lang: figs}
    img = f'<img src="data:image/png;base64,{esc(figs[lang])}" alt="{esc(alt)}">'
    narrow = figs.get(f"{lang}_narrow")
    if narrow:
        img = (
            f'<picture><source media="(max-width: {NARROW_PX}px)" '
            f'srcset="data:image/png;base64,{esc(narrow)}">{img}</picture>'
        )
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<figure{ident}>{img}<figcaption>{caption}</figcaption></figure>"


class Page:
    """Builds the page section by section in one language."""

    def __init__(self, lang: str):
        self.lang, self.t = lang, TEXT[lang]
        self.parts: list[str] = []
        self.toc: list[tuple[str, str]] = []
        self.figures: list[str] = []

    def r(self, key: str, **values: Any) -> str:
        return rich(self.t[key], **values)

    def p(self, key: str, cls: str = "", **values: Any) -> None:
        c = f' class="{cls}"' if cls else ""
        self.parts.append(f"<p{c}>{self.r(key, **values)}</p>")

    def h2(self, anchor: str, key: str, **values: Any) -> None:
        title = self.r(key, **values)
        self.toc.append((anchor, title))
        self.parts.append(f'<section id="{esc(anchor)}"><h2>{title}</h2>')

    def end(self) -> None:
        self.parts.append("</section>")

    def qa(self, ask: str, how: str, **values: Any) -> None:
        """The exercise's question and the command that answers it."""
        self.parts.append(
            f'<div class="ask"><p><strong>{self.r("asks")}:</strong> '
            f"{self.r(ask, **values)}</p><p><strong>{self.r('how')}:</strong> "
            f"{self.r(how, **values)}</p></div>"
        )

    def add(self, html_: str) -> None:
        self.parts.append(html_)

    def fig(self, anchor: str, figs: str | dict[str, str], caption: str, alt: str, **values):
        """A figure with id ``anchor`` (text links to it as ``[words](#anchor)``); ``caption``
        and ``alt`` are text keys in this page's language."""
        self.figures.append(anchor)
        cap = self.r(caption, **values)
        self.add(figure(figs, cap, self.t[alt], lang=self.lang, anchor=anchor))

    def html(self, title: str, head_html: str) -> str:
        d = "rtl" if self.lang == "he" else "ltr"
        toc = "".join(f'<li><a href="#{esc(a)}">{t}</a></li>' for a, t in self.toc)
        return (
            f'<!DOCTYPE html>\n<html lang="{self.lang}" dir="{d}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{esc(title)}</title>'
            f"<style>{CSS}</style></head><body><header><h1>{esc(title)}</h1>{head_html}"
            f"<nav><strong>{self.r('contents')}</strong><ol>{toc}</ol></nav></header>"
            f"{''.join(self.parts)}</body></html>\n"
        )


def class_name(c: int, name: str, lang: str) -> str:
    return f"{CLASS_NAMES_HE[c]} ({name})" if lang == "he" else name
